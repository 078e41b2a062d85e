"""Numbers, dates and times in the three languages the screens speak (nb, nn, British English),
written from the few CLDR names they use rather than Babel's locale data.

Babel's `format_date`/`format_decimal` load its global data and the locale's full CLDR file: 3.7 MB
of the touch app's memory for twelve month names, seven weekdays and two separators
(docs/performance.md, part M1). The tables below are CLDR's (Babel 2.19), and a test holds every
function to Babel's own output (tests/unit/ui/test_formats.py); Babel stays for compiling the
catalogs and for that test.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

_NB_MONTHS = ("januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober", "november", "desember")
_NB_SHORT = ("jan.", "feb.", "mars", "apr.", "mai", "juni", "juli", "aug.", "sep.", "okt.", "nov.", "des.")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
_EN_SHORT = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept", "Oct", "Nov", "Dec")

# Per language: wide months, abbreviated months, weekdays from Monday (date.weekday()).
MONTHS = {"nb": _NB_MONTHS, "nn": _NB_MONTHS, "en": _EN_MONTHS}
SHORT_MONTHS = {"nb": _NB_SHORT, "nn": _NB_SHORT, "en": _EN_SHORT}
WEEKDAYS = {
    "nb": ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"),
    "nn": ("måndag", "tysdag", "onsdag", "torsdag", "fredag", "laurdag", "søndag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
# (decimal mark, thousands separator): Norwegian "1 234,5" with a no-break space, English "1,234.5".
SEPARATORS = {"nb": (",", "\u00a0"), "nn": (",", "\u00a0"), "en": (".", ",")}


def number(value: float, decimals: int, lang: str) -> str:
    """`value` rounded to `decimals` places (half to even, as Babel), thousands grouped."""
    point, group = SEPARATORS[lang]
    quantum = Decimal(1).scaleb(-decimals)
    text = f"{Decimal(str(round(value, decimals))).quantize(quantum, rounding=ROUND_HALF_EVEN):f}"
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    groups = [whole[max(0, end - 3):end] for end in range(len(whole), 0, -3)][::-1]
    return sign + group.join(groups) + (point + fraction if fraction else "")


def day(d: date, lang: str) -> str:
    """The full date: "lørdag 21. november 2026", "Saturday 21 November 2026"."""
    dot = "" if lang == "en" else "."
    return f"{WEEKDAYS[lang][d.weekday()]} {d.day}{dot} {MONTHS[lang][d.month - 1]} {d.year}"


def short_day(d: date, lang: str) -> str:
    """"21. nov.", "21 Nov"."""
    dot = "" if lang == "en" else "."
    return f"{d.day}{dot} {SHORT_MONTHS[lang][d.month - 1]}"


def clock(t: datetime, lang: str) -> str:
    """The time of day as shown on the clock: "10.30" (Språkrådet's full stop), English "10:30"."""
    return f"{t.hour:02d}{':' if lang == 'en' else '.'}{t.minute:02d}"
