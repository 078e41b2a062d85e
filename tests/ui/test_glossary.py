"""The catalogs use the words docs/glossary.md chose: a form in its "Not" column fails the test,
with the string it is in and the word to write instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from ui.i18n import LANGUAGES, LOCALE_DIR

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"
ROW = re.compile(r"^\|\s*(nb|nn|en)\s*\|([^|]*)\|([^|]*)\|([^|]*)\|\s*$")


def rejected(language: str, glossary: str | None = None) -> list[tuple[str, str]]:
    """(rejected form, chosen words) for one language, from the glossary's table."""
    text = GLOSSARY.read_text(encoding="utf-8") if glossary is None else glossary
    rules = []
    for line in text.splitlines():
        m = ROW.match(line)
        if m and m.group(1) == language:
            for form in m.group(3).split(" / "):
                if form.strip():
                    rules.append((form.strip(), m.group(2).strip()))
    return rules


def offences(strings: list[str], rules: list[tuple[str, str]]) -> list[str]:
    found = []
    for form, chosen in rules:
        pattern = re.compile(r"(?<!\w)" + re.escape(form) + r"(?!\w)", re.IGNORECASE)
        for s in strings:
            if pattern.search(s):
                found.append(f"{form!r} in {s!r}: write {chosen!r}")
    return found


def translations(language: str) -> list[str]:
    with open(LOCALE_DIR / language / "LC_MESSAGES" / "heima.po", "rb") as f:
        catalog = read_po(f, locale=language)
    out: list[str] = []
    for m in catalog:
        if m.id:
            out.extend(m.string if isinstance(m.string, tuple) else [m.string])
    return out


def test_the_glossary_names_the_forms_the_issue_rejected():
    forms = {lang: {f.lower() for f, _ in rejected(lang)} for lang in LANGUAGES}
    assert {"vekten", "oksygen", "huben", "ja, det samme"} <= forms["nb"]
    assert {"bli send", "blir ikkje send", "når ho er på", "huben"} <= forms["nn"]
    assert "hub" in forms["en"]


def test_the_check_finds_a_rejected_form_as_a_word_and_only_as_a_word():
    rules = rejected("nb", "| nb | vekta | vekten | one form |\n| nb | oksygenmetning | oksygen | x |")
    assert offences(["Stå stille på vekten."], rules) == ["'vekten' in 'Stå stille på vekten.': write 'vekta'"]
    assert offences(["Oksygen"], rules) and not offences(["Oksygenmetning og puls", "Stå på vekta."], rules)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalog_uses_the_chosen_words(language):
    problems = offences(translations(language), rejected(language))
    assert not problems, f"{language}: " + "; ".join(problems)
