"""Answer sets for the example check-ins (packaging/examples/questionnaires) and a filler that
answers every question a form shows, for the forms written by others."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hub.domain.questionnaire import Coding, FormState, Questionnaire, load_questionnaire
from hub.domain.questionnaire.errors import AnswerError

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "packaging" / "examples" / "questionnaires"
FIXTURES = ROOT / "tests" / "fixtures" / "questionnaires"
CS = "https://oppfolging.example.no/fhir/CodeSystem/heima-innsjekk"


def c(code: str) -> Coding:
    return Coding(code, CS)


# A typical day's answers per example, and the score each gives (by hand: the options' ordinalValue).
TYPICAL: dict[str, tuple[dict[str, Any], int]] = {
    "kols-daglig": (
        {"pust": c("litt-verre"), "hoste": c("litt-mer"), "slim": c("ja"), "slim-farge": c("gult-gront"),
         "anfallsmedisin": c("ja"), "anfallsmedisin-antall": 4, "sovn": c("nei"), "melding": "Tyngre i trappene enn før."},
        5,
    ),
    "hjertesvikt-daglig": (
        {"pust": c("tyngre-aktivitet"), "puter": c("nei"), "hevelse": c("litt"), "svimmel": c("nei"),
         "brystsmerter": c("nei"), "vanndrivende": c("nei"), "vanndrivende-hvorfor": "Glemte den i går kveld."},
        3,
    ),
    "diabetes-innsjekk": (
        {"blodsukker": c("lave"), "foling-antall": 2, "foling-hjelp": c("nei"), "torst": c("nei"), "foter": c("nei"),
         "syk": c("nei"), "har-sporsmal": True, "sporsmal": "Kan jeg vente med insulinet når jeg har hatt føling om morgenen?",
         "svar-hvordan": c("melding")},
        1,
    ),
}


def example(name: str) -> Questionnaire:
    return load_questionnaire(json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8")))


def answered(q: Questionnaire, answers: dict[str, Any], *, now: datetime) -> FormState:
    s = FormState.start(q, now=now)
    for link_id, value in answers.items():
        s = s.answer(link_id, value)
    return s


def fill_everything(q: Questionnaire, *, now: datetime) -> FormState:
    """Every question the form shows answered with a value its rules take (the first option, the
    lowest allowed number, ...), round after round until nothing more appears."""
    s = FormState.start(q, now=now)
    tried: set = set()
    for _ in range(20):
        todo = [v for v in s.visible_items() if v.item.is_question and not v.read_only and not v.answers and v.path not in tried]
        if not todo:
            break
        for v in todo:
            tried.add(v.path)
            value = _plausible(v.item, now)
            if value is None:
                continue
            try:
                s = s.answer(v.path, value)
            except AnswerError:
                continue
    return s


def _plausible(item, now: datetime) -> Any:  # noqa: ANN001
    if item.options:
        return item.options[0].value
    low = item.min_value
    return {
        "boolean": True,
        "integer": low if isinstance(low, int) else 1,
        "decimal": Decimal(low) if isinstance(low, (int, Decimal)) else Decimal("1.5"),
        "date": now.date() - timedelta(days=1),
        "dateTime": now,
        "time": time(8, 30),
        "string": "tekst",
        "text": "tekst",
        "url": "https://example.org/",
        "quantity": Decimal(70),
    }.get(item.type)
