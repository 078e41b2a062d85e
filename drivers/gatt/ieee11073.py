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


def _encode(value: Number, *, mantissa_bits: int, exponent_bits: int, specials: dict, name: str) -> int:
    if isinstance(value, SpecialValue):
        return specials[value]
    lo, hi = -(1 << (mantissa_bits - 1)) + 2, (1 << (mantissa_bits - 1)) - 3  # keep clear of specials
    exp_lo, exp_hi = -(1 << (exponent_bits - 1)), (1 << (exponent_bits - 1)) - 1
    d = Decimal(str(value)).normalize()
    sign, digits, exponent = d.as_tuple()
    mantissa = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    while mantissa != 0 and mantissa % 10 == 0 and exponent < exp_hi:
        mantissa //= 10
        exponent += 1
    while not lo <= mantissa <= hi and exponent < exp_hi:  # too many digits: drop precision
        mantissa = int(Decimal(mantissa).scaleb(-1).to_integral_value())
        exponent += 1
    while exponent > exp_hi and lo <= mantissa * 10 <= hi:
        mantissa *= 10
        exponent -= 1
    if mantissa == 0:
        exponent = 0
    if not (lo <= mantissa <= hi and exp_lo <= exponent <= exp_hi):
        raise ValueError(f"{name}: {value!r} cannot be represented")
    return ((exponent & ((1 << exponent_bits) - 1)) << mantissa_bits) | (mantissa & ((1 << mantissa_bits) - 1))


def encode_sfloat(value: Number) -> int:
    """Encode a number (or special value) as an SFLOAT word; for the emulator and tests."""
    return _encode(value, mantissa_bits=12, exponent_bits=4, specials=_SFLOAT_SPECIAL_RAW, name="SFLOAT")


def encode_float(value: Number) -> int:
    """Encode a number (or special value) as a FLOAT word; for the emulator and tests."""
    return _encode(value, mantissa_bits=24, exponent_bits=8, specials=_FLOAT_SPECIAL_RAW, name="FLOAT")
