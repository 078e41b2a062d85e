"""The example check-ins Heima ships (packaging/examples/questionnaires): written by us, in bokmål
with nynorsk and English translations, answered as a patient would."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire as R4BQuestionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from hub.domain.questionnaire import submit

from .answers import EXAMPLES, TYPICAL, answered, c, example
from .forms import NOW

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


def raw(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def test_the_three_check_ins_are_there_each_with_a_typical_answer_set():
    assert NAMES == ["diabetes-innsjekk", "hjertesvikt-daglig", "kols-daglig"] == sorted(TYPICAL)


def _texts(node, where=""):  # noqa: ANN001
    """(where, the bokmål text, its translations) for every text a patient reads."""
    if isinstance(node, dict):
        for key in ("text", "title", "display"):
            if isinstance(node.get(key), str):
                langs = {
                    next(x["valueCode"] for x in e["extension"] if x["url"] == "lang"): next(x["valueString"] for x in e["extension"] if x["url"] == "content")
                    for e in node.get("_" + key, {}).get("extension", []) if e.get("url") == TRANSLATION
                }
                yield f"{where}/{key}", node[key], langs
        for key, child in node.items():
            if not key.startswith("_") and key != "code":  # codes are for machines
                yield from _texts(child, f"{where}/{node.get('linkId', key)}")
    elif isinstance(node, list):
        for child in node:
            yield from _texts(child, where)


@pytest.mark.parametrize("name", NAMES)
def test_every_text_the_patient_reads_is_in_bokmal_nynorsk_and_english(name):
    form = raw(name)
    assert form["language"] == "nb"
    texts = list(_texts(form))
    assert len(texts) > 20
    missing = [where for where, _, langs in texts if set(langs) != {"nn", "en"} or not all(langs.values())]
    assert missing == []
    # an English text is not the bokmål one copied (yes/no in nynorsk are the same words)
    assert sum(nb != langs["en"] for _, nb, langs in texts) > 0.9 * len(texts)


@pytest.mark.parametrize("name", NAMES)
def test_each_form_is_valid_r4_and_named_by_url_and_version(name):
    form = raw(name)
    R4BQuestionnaire.model_validate(form)
    q = example(name)
    assert q.canonical == f"https://oppfolging.example.no/fhir/Questionnaire/{name}|1.0"
    assert q.status == "active" and "Ikke et validert klinisk instrument" in form["copyright"]


@pytest.mark.parametrize("name", NAMES)
def test_a_typical_day_gives_its_score_and_a_valid_response(name):
    answers, total = TYPICAL[name]
    s = answered(example(name), answers, now=NOW)
    assert s.problems() == ()
    assert s.scores().total == total
    assert s.answers("sum") == (total,)
    response = s.response(now=NOW)
    QuestionnaireResponse.model_validate(response)
    sub = submit(s, now=NOW)
    assert [(x.value, x.link_id) for x in sub.scores] == [(total, "sum")]


def test_kols_asks_about_the_colour_only_when_there_is_more_phlegm_and_advises_on_a_bad_day():
    s = answered(example("kols-daglig"), {"pust": c("som-vanlig"), "hoste": c("nei"), "slim": c("nei"),
                                          "anfallsmedisin": c("nei"), "sovn": c("nei")}, now=NOW)
    shown = [v.link_id for v in s.visible_items()]
    assert "slim-farge" not in shown and "anfallsmedisin-antall" not in shown and "rad-verre" not in shown
    assert "sum" not in shown  # the score is for the nurse (hidden), not a question
    assert s.answers("sum") == (0,) and s.problems() == ()
    worse = s.answer("pust", c("mye-verre")).answer("hoste", c("mye-mer")).answer("slim", c("ja"))
    assert "slim-farge" in [p.link_id for p in worse.problems()]  # now asked, and required
    worse = worse.answer("slim-farge", c("gult-gront"))
    assert worse.answers("sum") == (6,)
    assert "rad-verre" in [v.link_id for v in worse.visible_items()]


def test_heart_failure_says_call_113_at_chest_pain_whatever_the_score():
    s = answered(example("hjertesvikt-daglig"), {"brystsmerter": c("ja")}, now=NOW)
    shown = [v.link_id for v in s.visible_items()]
    assert "rad-brystsmerter" in shown and "rad-verre" in shown  # 3 points alone
    assert "vanndrivende-hvorfor" not in shown


def test_diabetes_asks_about_hypos_after_low_values_and_takes_a_question_to_the_centre():
    s = answered(example("diabetes-innsjekk"), {"blodsukker": c("hoye")}, now=NOW)
    assert {"foling-antall", "foling-hjelp", "sporsmal"}.isdisjoint(v.link_id for v in s.visible_items())
    s = s.answer("blodsukker", c("hoye-og-lave")).answer("har-sporsmal", True)
    missing = {p.link_id for p in s.problems() if p.kind == "required"}
    assert {"foling-antall", "foling-hjelp", "sporsmal", "svar-hvordan"} <= missing
    s = s.answer("foling-antall", 0)
    assert ("foling-antall", "min-value") in {(p.link_id, p.kind) for p in s.problems()}
