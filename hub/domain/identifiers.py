"""Norwegian national identity numbers: fødselsnummer and D-number, checked before any data is
sent with one as the patient's subject.

Eleven digits: DDMMYY, a three-digit individual number, two mod-11 check digits. A D-number
(for people without a fødselsnummer) has 4 added to the first digit (day 41-71). Test numbers
are recognised as *synthetic*: Skatteetaten's (Tenor) have 80 added to the month, NAV's (Dolly)
40. Only the date's shape is checked, not the calendar of a particular year (the century lies in
the individual number, and 29 February is accepted).

Errors never contain the number: it identifies a patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
D_NUMBER_DAY_OFFSET = 40
SYNTHETIC_MONTH_OFFSETS = (80, 40)  # Skatteetaten/Tenor, NAV/Dolly (largest first)


class NationalIdKind(Enum):
    FODSELSNUMMER = "fødselsnummer"
    D_NUMBER = "D-number"


class InvalidNationalId(ValueError):
    """Not a fødselsnummer or D-number; the message says why, never the number."""


@dataclass(frozen=True, slots=True)
class NationalId:
    kind: NationalIdKind
    synthetic: bool  # a test number (month + 40 or + 80), never a real person's


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    """The mod-11 check digit for `digits`, or None when none exists (remainder 1: no number)."""
    digit = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    if digit == 11:
        return 0
    return None if digit == 10 else digit


def check_digits(first_nine: str) -> str | None:
    """The two check digits that complete these nine digits, or None when no number can end them."""
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError("nine digits are needed")
    k1 = _check_digit(first_nine, _K1_WEIGHTS)
    if k1 is None:
        return None
    k2 = _check_digit(first_nine + str(k1), _K2_WEIGHTS)
    if k2 is None:
        return None
    return f"{k1}{k2}"


def parse_national_id(value: str) -> NationalId:
    """What kind of number this is; InvalidNationalId (without the number) when it is none."""
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        raise InvalidNationalId("must be exactly 11 digits")
    day, month = int(value[0:2]), int(value[2:4])
    kind = NationalIdKind.FODSELSNUMMER
    if day > D_NUMBER_DAY_OFFSET:
        kind, day = NationalIdKind.D_NUMBER, day - D_NUMBER_DAY_OFFSET
    synthetic = False
    for offset in SYNTHETIC_MONTH_OFFSETS:
        if month > offset:
            synthetic, month = True, month - offset
            break
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS_IN_MONTH[month - 1]:
        raise InvalidNationalId("the first six digits are not a date of birth (DDMMYY)")
    if check_digits(value[:9]) != value[9:]:
        raise InvalidNationalId("the check digits do not match; check it was typed correctly")
    return NationalId(kind=kind, synthetic=synthetic)
