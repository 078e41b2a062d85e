"""Catalogs: every string of every .py and .kv in ui/ translated in nb, nn and en, with the same
placeholders; Norwegian numbers and dates through babel; a bad translation never crashes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from ui.i18n import LANGUAGES, LOCALE_DIR, Translator, compile_catalogs

UI = Path(__file__).resolve().parents[2] / "ui"
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def extracted(tmp_path) -> list:
    """What pybabel finds in ui/ now (not the committed .pot): a new string fails until translated."""
    pot = tmp_path / "heima.pot"
    pybabel = shutil.which("pybabel", path=str(Path(sys.executable).parent))
    assert pybabel, "babel's pybabel is installed with Heima"
    subprocess.run(
        [pybabel, "-q", "extract", "-F", str(UI / "babel.cfg"), "-k", "N_", "-k", "f", "-k", "n:1,2", "-o", str(pot), str(UI)],
        check=True,
    )
    with open(pot, "rb") as f:
        return [m for m in read_po(f) if m.id]


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_is_translated_with_the_same_placeholders(tmp_path, lang):
    messages = extracted(tmp_path)
    assert len(messages) > 100  # the .kv files are read too
    assert any(m.id == "Start measuring" for m in messages)  # a string only a .kv has
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "heima.po", "rb") as f:
        catalog = read_po(f, locale=lang)
    problems = []
    for m in messages:
        entry = catalog.get(m.id)
        if entry is None or not entry.string or (isinstance(entry.string, tuple) and not all(entry.string)):
            problems.append(f"missing: {m.id!r}")
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = placeholders(ids[-1])
        for s in strings:
            if placeholders(s) != wanted:
                problems.append(f"placeholders differ: {ids[0]!r} -> {s!r}")
        if entry.fuzzy:
            problems.append(f"fuzzy: {m.id!r}")
    assert not problems, f"{lang}: " + "; ".join(problems)


def test_a_translation_with_wrong_placeholders_shows_english_instead_of_crashing(tmp_path):
    src = tmp_path / "locale"
    po = src / "nb" / "LC_MESSAGES" / "heima.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Done at {time}: {values}"\nmsgstr "Gjort klokka {tid}: {values}"\n',
        encoding="utf-8",
    )
    folder = compile_catalogs(src)
    tr = Translator("en")
    tr._folder = folder
    tr.switch("nb")
    assert tr.f("Done at {time}: {values}", time="10:30", values="96 %") == "Done at 10:30: 96 %"


def test_numbers_and_dates_are_norwegian():
    tr = Translator("nb")
    assert tr.number(37.5, 1) == "37,5" and tr.number(1234.5, 1) == "1\u00a0234,5"
    assert tr.day(date(2026, 11, 21)) == "lørdag 21. november 2026"
    tr.switch("nn")
    assert tr.day(date(2026, 11, 21)) == "laurdag 21. november 2026"
    assert tr._("Settings") == "Innstillingar"
    tr.switch("en")
    assert tr.number(37.5, 1) == "37.5" and tr._("Settings") == "Settings"
    tr.switch("xx")  # an unknown language: the default
    assert tr.lang == "nb"


def test_times_are_written_as_sprakradet_says_and_english_dates_are_british():
    tr = Translator("nb")
    assert tr.time(datetime(2026, 11, 21, 9, 5)) == "09.05"  # "klokka 10.30", not "10:30"
    tr.switch("nn")
    assert tr.time(datetime(2026, 11, 21, 10, 30)) == "10.30"
    tr.switch("en")
    assert tr.time(datetime(2026, 11, 21, 10, 30)) == "10:30"
    assert tr.day(date(2026, 11, 21)) == "Saturday 21 November 2026"  # not "November 21, 2026"
    assert tr.short_day(date(2026, 11, 21)) == "21 Nov"


def test_temperature_reads_with_a_decimal_comma_and_unit():
    from hub.domain.readings import MeasurementKind
    from ui.kinds import number_text

    tr = Translator("nb")
    assert number_text(tr, MeasurementKind.BODY_TEMPERATURE, 37.5, "Cel") == "37,5\u00a0°C"
    assert number_text(tr, MeasurementKind.OXYGEN_SATURATION, 97, "%") == "97\u00a0%"
    assert number_text(tr, MeasurementKind.BODY_WEIGHT, 123.4, "kg") == "123,4\u00a0kg"
    assert number_text(tr, MeasurementKind.BLOOD_GLUCOSE, None, "mmol/L") == "—"
    tr.switch("en")
    assert number_text(tr, MeasurementKind.OXYGEN_SATURATION, 97, "%") == "97%"
