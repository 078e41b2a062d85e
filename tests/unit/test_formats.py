"""ui.formats writes numbers and dates from CLDR's names without Babel's locale data (the touch
app's memory, docs/performance.md part M1): held here to Babel's own output for every language,
every day of four centuries and any number the screens show."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from hypothesis import given
from hypothesis import strategies as st

from ui import formats

LOCALES = {"nb": "nb", "nn": "nn", "en": "en_GB"}
languages = st.sampled_from(sorted(LOCALES))


def babel_number(value: float, decimals: int, lang: str) -> str:
    """What ui.i18n wrote with Babel before part M1."""
    fmt = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(round(value, decimals), format=fmt, locale=LOCALES[lang]).replace(" ", "\u00a0")


@given(
    value=st.one_of(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False), st.integers(-(10**6), 10**6).map(float)),
    decimals=st.integers(0, 3),
    lang=languages,
)
def test_numbers_are_babels(value, decimals, lang):
    assert formats.number(value, decimals, lang) == babel_number(value, decimals, lang)


def test_halves_negative_zero_and_thousands_as_babel():
    for value in (0.5, 1.5, 2.5, -0.0, -0.04, 999.95, 1234.5, 1000000.0, 36.65, 37.05):
        for decimals in (0, 1, 2):
            for lang in LOCALES:
                assert formats.number(value, decimals, lang) == babel_number(value, decimals, lang), (value, decimals, lang)


@given(d=st.dates(min_value=date(1900, 1, 1), max_value=date(2299, 12, 31)), lang=languages)
def test_dates_are_babels(d, lang):
    full = format_date(d, format="EEEE d MMMM y", locale="en_GB") if lang == "en" else format_date(d, format="full", locale=lang)
    short = format_date(d, format="d MMM" if lang == "en" else "d. MMM", locale=LOCALES[lang])
    assert (formats.day(d, lang), formats.short_day(d, lang)) == (full, short)


@given(t=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)), lang=languages)
def test_times_are_babels(t, lang):
    assert formats.clock(t, lang) == format_time(t, format="HH:mm" if lang == "en" else "HH.mm", locale=LOCALES[lang])


def test_every_month_and_weekday_reads_as_on_a_norwegian_calendar():
    assert formats.day(date(2026, 11, 21), "nb") == "lørdag 21. november 2026"
    assert formats.day(date(2026, 11, 23), "nn") == "måndag 23. november 2026"
    assert formats.short_day(date(2026, 9, 1), "en") == "1 Sept"
    assert formats.short_day(date(2026, 3, 1), "nb") == "1. mars"
    assert formats.number(1234.5, 1, "nb") == "1\u00a0234,5" and formats.number(1234.5, 1, "en") == "1,234.5"
