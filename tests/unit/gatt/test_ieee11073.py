"""IEEE 11073 SFLOAT / FLOAT: the numbers inside almost every health characteristic.

The check vectors come from the specification; the properties pin down that an error code can
never come out as a number and that every number a device can send survives our encoder.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.ieee11073 import SpecialValue, decode_float, decode_sfloat, encode_float, encode_sfloat

SFLOAT_SPECIALS = {
    0x07FF: SpecialValue.NAN,
    0x0800: SpecialValue.NRES,
    0x07FE: SpecialValue.POSITIVE_INFINITY,
    0x0802: SpecialValue.NEGATIVE_INFINITY,
    0x0801: SpecialValue.RESERVED,
}
FLOAT_SPECIALS = {
    0x007FFFFF: SpecialValue.NAN,
    0x00800000: SpecialValue.NRES,
    0x007FFFFE: SpecialValue.POSITIVE_INFINITY,
    0x00800002: SpecialValue.NEGATIVE_INFINITY,
    0x00800001: SpecialValue.RESERVED,
}


@pytest.mark.parametrize(
    ("word", "value"),
    [
        (0xF014, 2.0),  # mantissa 20, exponent -1: the exponent must be sign-extended
        (0x0B2E, -1234.0),  # the 12-bit mantissa 0xB2E is negative
        (0x1002, 20.0),  # mantissa 2, exponent +1
        (0x0000, 0.0),
        (0xF177, 37.5),
        (0xF3DA, 98.6),  # 0.1-steps come out exact, not 98.59999
    ],
)
def test_sfloat_check_vectors_decode_to_the_spec_values(word: int, value: float) -> None:
    assert decode_sfloat(word) == value


@pytest.mark.parametrize(
    ("word", "value"),
    [(0xFF000014, 2.0), (0x00000000, 0.0), (0xFF000175, 37.3), (0x00FFFB2E, -1234.0), (0x02000007, 700.0)],
)
def test_float_check_vectors_decode_to_the_spec_values(word: int, value: float) -> None:
    assert decode_float(word) == value


@pytest.mark.parametrize(("word", "special"), SFLOAT_SPECIALS.items())
def test_every_sfloat_special_value_is_no_value_with_a_reason(word: int, special: SpecialValue) -> None:
    assert decode_sfloat(word) is special
    assert encode_sfloat(special) == word


@pytest.mark.parametrize(("word", "special"), FLOAT_SPECIALS.items())
def test_every_float_special_value_is_no_value_with_a_reason(word: int, special: SpecialValue) -> None:
    assert decode_float(word) is special
    assert encode_float(special) == word


def test_a_special_value_is_falsy_so_if_value_never_treats_it_as_present() -> None:
    assert not SpecialValue.NAN
    assert all(not special for special in SpecialValue)


def test_sfloat_specials_need_exponent_zero_elsewhere_those_mantissas_are_numbers() -> None:
    # IEEE 11073-20601: 0x17FE is 2046 x 10^1, not +INF.
    assert decode_sfloat(0x17FE) == 20460.0
    assert decode_sfloat(0x1800) == -20480.0


def test_encoding_the_check_values_gives_words_that_decode_back() -> None:
    assert encode_sfloat(-1234) == 0x0B2E
    assert encode_sfloat(20) == 0x1002
    assert decode_sfloat(encode_sfloat(2.0)) == 2.0
    assert decode_float(encode_float(2.0)) == 2.0


def test_encoding_a_number_next_to_the_special_range_never_yields_an_error_code() -> None:
    # -2046 with exponent 0 would be the -INF word 0x0802; the encoder must pick another form.
    for value in (-2046, -2047, -2048, 2046, 2047):
        assert not isinstance(decode_sfloat(encode_sfloat(value)), SpecialValue)
    for value in (-8388606, -8388607, -8388608, 8388606, 8388607):
        assert not isinstance(decode_float(encode_float(value)), SpecialValue)


def test_encoding_rounds_extra_digits_half_to_even() -> None:
    assert decode_sfloat(encode_sfloat(98.65)) == 98.6  # 9865 does not fit 12 bits: 986|5 -> 986
    assert decode_sfloat(encode_sfloat(98.75)) == 98.8


def test_encoding_nan_or_infinity_as_a_float_is_refused_say_which_special_value_you_mean() -> None:
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            encode_sfloat(value)
        with pytest.raises(ValueError):
            encode_float(value)


def test_encoding_a_bool_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        encode_sfloat(True)


def test_encoding_a_number_beyond_the_range_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_sfloat(1e30)
    with pytest.raises(ValueError):
        encode_sfloat(1e-20)  # would round to zero
    with pytest.raises(ValueError):
        encode_float(1e200)


def test_decoding_a_word_outside_its_width_is_malformed() -> None:
    with pytest.raises(MalformedPacket):
        decode_sfloat(0x10000)
    with pytest.raises(MalformedPacket):
        decode_float(-1)


def test_every_sfloat_word_is_a_special_value_or_a_finite_float_that_encodes_back() -> None:
    """Exhaustive over all 65 536 words: cheaper than sampling and proves it for all of them."""
    for word in range(0x10000):
        value = decode_sfloat(word)
        if word in SFLOAT_SPECIALS:
            assert value is SFLOAT_SPECIALS[word]
            continue
        assert isinstance(value, float) and math.isfinite(value)
        assert decode_sfloat(encode_sfloat(value)) == value


@settings(max_examples=500)
@given(st.integers(0, 0xFFFFFFFF))
def test_every_float_word_is_a_special_value_or_a_finite_float_that_encodes_back(word: int) -> None:
    value = decode_float(word)
    if word in FLOAT_SPECIALS:
        assert value is FLOAT_SPECIALS[word]
        return
    assert isinstance(value, float) and math.isfinite(value)
    assert decode_float(encode_float(value)) == value


@settings(max_examples=300)
@given(st.integers(-2045, 2045))
def test_whole_numbers_that_fit_the_sfloat_mantissa_encode_exactly(value: int) -> None:
    assert decode_sfloat(encode_sfloat(value)) == value


@settings(max_examples=300)
@given(
    st.floats(min_value=1e-5, max_value=2e10, allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-2e10, max_value=-1e-5, allow_nan=False, allow_infinity=False)
)
def test_any_number_in_the_sfloat_range_encodes_to_a_nearby_number_never_an_error_code(value: float) -> None:
    try:
        word = encode_sfloat(value)
    except ValueError:  # only at the very top of the range (beyond 2047 x 10^7)
        assert abs(value) > 2.04e10
        return
    decoded = decode_sfloat(word)
    assert isinstance(decoded, float)
    assert math.isclose(decoded, value, rel_tol=0.005)
