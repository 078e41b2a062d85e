"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) medical numbers.

A special value (NaN, NRes, ±INF, reserved) is returned as a `SpecialValue`, which is not a
number: code that wants a float must check for it, so an error code can never pass as a reading.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from drivers.gatt import MalformedPacket


class SpecialValue(enum.Enum):
    NAN = "NaN"
    NRES = "NRes"
    POSITIVE_INFINITY = "+INF"
    NEGATIVE_INFINITY = "-INF"
    RESERVED = "reserved"

    def __bool__(self) -> bool:  # "if value:" must not treat a special value as present
        return False


Number = float | SpecialValue

_SFLOAT_SPECIALS = {
    0x07FF: SpecialValue.NAN,
    0x0800: SpecialValue.NRES,
    0x07FE: SpecialValue.POSITIVE_INFINITY,
    0x0802: SpecialValue.NEGATIVE_INFINITY,
    0x0801: SpecialValue.RESERVED,
}
_FLOAT_SPECIALS = {
    0x007FFFFF: SpecialValue.NAN,
    0x00800000: SpecialValue.NRES,
    0x007FFFFE: SpecialValue.POSITIVE_INFINITY,
    0x00800002: SpecialValue.NEGATIVE_INFINITY,
    0x00800001: SpecialValue.RESERVED,
}
_SFLOAT_SPECIAL_RAW = {v: k for k, v in _SFLOAT_SPECIALS.items()}
_FLOAT_SPECIAL_RAW = {v: k for k, v in _FLOAT_SPECIALS.items()}


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scaled(mantissa: int, exponent: int) -> float:
    # Decimal keeps 0.1-steps exact before the one rounding to float (37.5, not 37.499999).
    return float(Decimal(mantissa).scaleb(exponent))


def decode_sfloat(raw: int) -> Number:
    """Decode a 16-bit SFLOAT word (already read little-endian into an int)."""
    if not isinstance(raw, int) or not 0 <= raw <= 0xFFFF:
        raise MalformedPacket("SFLOAT", "raw word must be an int in 0..0xFFFF")
    if raw in _SFLOAT_SPECIALS:
        return _SFLOAT_SPECIALS[raw]
    return _scaled(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))


def decode_float(raw: int) -> Number:
    """Decode a 32-bit FLOAT word (already read little-endian into an int)."""
    if not isinstance(raw, int) or not 0 <= raw <= 0xFFFFFFFF:
        raise MalformedPacket("FLOAT", "raw word must be an int in 0..0xFFFFFFFF")
    if raw in _FLOAT_SPECIALS:
        return _FLOAT_SPECIALS[raw]
    return _scaled(_signed(raw & 0x00FFFFFF, 24), _signed(raw >> 24, 8))


def _round_div_pow10(mantissa: int, k: int) -> int:
    """mantissa / 10**k rounded half to even, in one step (no double rounding)."""
    quotient, remainder = divmod(mantissa, 10**k)  # floor division: 0 <= remainder < 10**k
    twice = 2 * remainder
    if twice > 10**k or (twice == 10**k and quotient % 2 == 1):
        quotient += 1
    return quotient


def _encode(value: Number, *, mantissa_bits: int, exponent_bits: int, specials: dict, name: str) -> int:
    """Pick m and e with m·10^e == value (or the nearest with fewer digits) and pack them.

    Per IEEE 11073-20601 the special values are the five mantissas next to the ends of the range
    *with exponent 0*; with any other exponent those mantissas are ordinary numbers (0x17FE is
    20460). So exponent 0 keeps clear of them, other exponents may use the whole range, and
    every non-special word's value encodes back to the same value.
    """
    if isinstance(value, SpecialValue):
        return specials[value]
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"{name}: expected a number or a SpecialValue")
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)  # repr: 0.1 -> "0.1"
    if not exact.is_finite():
        raise ValueError(f"{name}: NaN and infinities must be given as a SpecialValue")
    m_lo, m_hi = -(1 << (mantissa_bits - 1)), (1 << (mantissa_bits - 1)) - 1
    e_lo, e_hi = -(1 << (exponent_bits - 1)), (1 << (exponent_bits - 1)) - 1

    def fits(m: int, e: int) -> bool:
        if not e_lo <= e <= e_hi:
            return False
        if e == 0:  # keep clear of NaN, NRes, +INF, -INF and the reserved word
            return m_lo + 3 <= m <= m_hi - 2
        return m_lo <= m <= m_hi

    def pack(m: int, e: int) -> int:
        e_mask, m_mask = (1 << exponent_bits) - 1, (1 << mantissa_bits) - 1
        return ((e & e_mask) << mantissa_bits) | (m & m_mask)

    sign, digits, exponent = exact.as_tuple()
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    if mantissa == 0:
        return 0
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    # Exact representations first: the shortest mantissa, then padded with zeros if the
    # exponent is too large for the field.
    m, e = mantissa, exponent
    while m_lo <= m <= m_hi:
        if fits(m, e):
            return pack(m, e)
        m, e = m * 10, e - 1
    # Too many digits (or too small an exponent): round off as few digits as needed.
    k = 1
    while True:
        if exponent + k > e_hi:
            raise ValueError(f"{name}: {value!r} is too large to be represented")
        rounded = _round_div_pow10(mantissa, k)
        if rounded == 0:
            raise ValueError(f"{name}: {value!r} is too small to be represented")
        if fits(rounded, exponent + k):
            return pack(rounded, exponent + k)
        k += 1


def encode_sfloat(value: Number) -> int:
    """Encode a number (or special value) as an SFLOAT word; for the emulator and tests."""
    return _encode(value, mantissa_bits=12, exponent_bits=4, specials=_SFLOAT_SPECIAL_RAW, name="SFLOAT")


def encode_float(value: Number) -> int:
    """Encode a number (or special value) as a FLOAT word; for the emulator and tests."""
    return _encode(value, mantissa_bits=24, exponent_bits=8, specials=_FLOAT_SPECIAL_RAW, name="FLOAT")


__all__ = ["Number", "SpecialValue", "decode_float", "decode_sfloat", "encode_float", "encode_sfloat"]
