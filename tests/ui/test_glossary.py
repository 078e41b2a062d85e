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


def _sentences_naming(root, names: set[str]) -> list[str]:
    """Visible texts that hold a device's own name inside other words (a line that is the name
    alone, the small line telling two devices apart, is allowed)."""
    shown = [str(w.text) for w in root.walk(restrict=True) if getattr(w, "text", "") and getattr(w, "opacity", 1) > 0]
    return [t for t in shown if t.strip() not in names and any(name in t for name in names)]


async def test_no_patient_sentence_holds_a_devices_advertised_name(run_app, example):
    """"Batteriet i Heima BP 1 er nesten tomt" mixed the maker's English name into a Norwegian
    sentence: every screen and dialog, in every language, says the device by its kind, and so
    does what is read aloud."""
    from ui.scenes import SCENES, leave, set_look, settle

    hub, _ = example
    names = {v.device_name for v in await hub.api.recent(limit=1000) if v.device_name}
    names |= {"Heima PLX 1", "Heima BP 1", "Heima Scale 1"}  # the pairing scenes' devices
    assert "Heima BP 1" in names

    async def work(app):
        found: list[str] = []
        ctx = dict(app.example_ids)
        try:
            for language in LANGUAGES:
                await set_look(app, language, "normal")
                for scene in SCENES:
                    await scene.enter(app, ctx)
                    await settle(app)
                    dialog = app.passkey.waiting
                    where = app.passkey if dialog else app.root
                    spoken = app.passkey.spoken() if dialog else app.screen.spoken()
                    found += [f"{scene.name}/{language}: {t!r}" for t in _sentences_naming(where, names)]
                    found += [f"{scene.name}/{language} read aloud: {spoken!r}" for n in names if n in spoken][:1]
                    await leave(app, ctx)
        finally:
            await set_look(app, "nb", "normal")
        assert not found, "\n".join(found)

    await run_app(work)


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("nb", "Batteriet i blodtrykksmåleren er nesten tomt. Be om et nytt. Batteriet i vekta er nesten tomt. Be om et nytt."),
        ("nn", "Batteriet i blodtrykksmålaren er nesten tomt. Be om eit nytt. Batteriet i vekta er nesten tomt. Be om eit nytt."),
        ("en", "The battery in the blood pressure monitor is low. Ask for a new one. The battery in the scale is low. Ask for a new one."),
    ],
)
def test_low_batteries_are_said_by_kind_and_names_only_tell_two_of_a_kind_apart(language, sentence):
    from hub.api import DeviceFamily
    from ui.i18n import Translator
    from ui.models.today import battery_texts

    tr = Translator(language)
    names = ("Heima BP 1", "Heima Scale 1", "Heima BP 2")
    families = (DeviceFamily.BLOOD_PRESSURE, DeviceFamily.WEIGHT, DeviceFamily.BLOOD_PRESSURE)
    assert battery_texts(tr, names, families) == (sentence, "Heima BP 1, Heima BP 2")
    assert battery_texts(tr, names[:2], families[:2]) == (sentence, "")  # one of each: no names
    unknown = battery_texts(tr, ("Heima X",), (None,))[0]
    assert "Heima X" not in unknown and tr._("the device") in unknown
