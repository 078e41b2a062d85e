"""Fødselsnummer and D-number: valid numbers are built by computing their check digits; any
single changed digit is caught; errors never contain the number."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hub.domain.identifiers import (
    InvalidNationalId,
    NationalIdKind,
    check_digits,
    parse_national_id,
)

REASONS = {
    "must be exactly 11 digits",
    "the first six digits are not a date of birth (DDMMYY)",
    "the check digits do not match; check it was typed correctly",
}
DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@st.composite
def national_ids(draw, *, d_number: bool | None = None, month_offset: int | None = None) -> str:
    """A valid number: a date of birth (+40 on the day for a D-number, +40/+80 on the month for a
    synthetic one), an individual number, and the two check digits computed for them."""
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, DAYS[month - 1]))
    if d_number if d_number is not None else draw(st.booleans()):
        day += 40
    month += month_offset if month_offset is not None else draw(st.sampled_from([0, 40, 80]))
    nine = f"{day:02d}{month:02d}{draw(st.integers(0, 99)):02d}{draw(st.integers(0, 999)):03d}"
    digits = check_digits(nine)
    assume(digits is not None)  # about 1 in 6 have no valid check digit
    return nine + digits


@given(national_ids(d_number=False, month_offset=0))
def test_a_fodselsnummer_is_recognised(number):
    assert parse_national_id(number).kind is NationalIdKind.FODSELSNUMMER
    assert not parse_national_id(number).synthetic


@given(national_ids(d_number=True, month_offset=0))
def test_a_d_number_is_the_day_plus_forty(number):
    assert parse_national_id(number).kind is NationalIdKind.D_NUMBER


@given(national_ids(month_offset=80))
def test_skatteetatens_synthetic_numbers_are_accepted_as_synthetic(number):
    assert parse_national_id(number).synthetic


@given(national_ids(month_offset=40))
def test_navs_synthetic_numbers_are_accepted_as_synthetic(number):
    assert parse_national_id(number).synthetic


@given(national_ids(), st.integers(0, 10), st.integers(1, 9))
def test_any_single_changed_digit_is_refused_without_echoing_the_number(number, position, shift):
    digits = list(number)
    digits[position] = str((int(digits[position]) + shift) % 10)
    changed = "".join(digits)
    with pytest.raises(InvalidNationalId) as err:
        parse_national_id(changed)
    assert changed not in str(err.value) and number not in str(err.value)


@given(national_ids(), st.integers(0, 9))
def test_two_swapped_neighbouring_digits_are_refused(number, position):
    digits = list(number)
    assume(digits[position] != digits[position + 1])
    digits[position], digits[position + 1] = digits[position + 1], digits[position]
    with pytest.raises(InvalidNationalId):
        parse_national_id("".join(digits))


@given(st.text(max_size=14))
def test_anything_else_is_refused_or_is_a_valid_number(text):
    try:
        parse_national_id(text)
    except InvalidNationalId as err:
        assert str(err) in REASONS  # fixed sentences: nothing of the input in them
    else:
        assert len(text) == 11 and text.isdigit() and check_digits(text[:9]) == text[9:]


@pytest.mark.parametrize(
    "number, why",
    [
        ("1311690021", "11 digits"),
        ("131169002166", "11 digits"),
        ("1311690021a", "11 digits"),
        ("１３１１６９００２１６", "11 digits"),  # full-width digits are digits to Python, not to anyone else
        ("13116900217", "check digits"),
        ("32016900216", "date of birth"),
        ("30026900216", "date of birth"),
        ("13136900216", "date of birth"),
    ],
)
def test_known_bad_numbers_say_why(number, why):
    with pytest.raises(InvalidNationalId, match=why):
        parse_national_id(number)


def test_a_known_fodselsnummer():
    assert parse_national_id("13116900216").kind is NationalIdKind.FODSELSNUMMER
