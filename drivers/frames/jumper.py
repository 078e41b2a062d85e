"""Jumper JPD-500F oximeter frames. Pure.

Service CDEACB80-5235-4C07-8846-93A37EE6B86D, notify …CB81 (public: two open gateways). A
notification is one frame; byte 0 is its type. 0x81 = values: PR, SpO2, PI; 0x80 = plethysmogram
samples (not stored). *Guessed*: PI in 0.1 % units; the markers (SpO2 0, 127 or 255 and PR 0 or
255 = no finger / no value); that a values frame has exactly these three bytes after the type
(longer ones: extra bytes ignored); that the pleth samples are plain bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.frames import MalformedFrame
from drivers.gatt.reader import as_bytes, check_uint

JUMPER_SERVICE_UUID = "cdeacb80-5235-4c07-8846-93a37ee6b86d"
JUMPER_NOTIFY_UUID = "cdeacb81-5235-4c07-8846-93a37ee6b86d"

JUMPER_VALUES = 0x81
JUMPER_PLETH = 0x80
JUMPER_VALUES_LENGTH = 4
JUMPER_SPO2_MARKERS = frozenset({0, 127, 255})
JUMPER_PULSE_RATE_MARKERS = frozenset({0, 255})
JUMPER_PI_MARKERS = frozenset({0, 255})
JUMPER_SPO2_MAX = 100

_JUMPER = "Jumper oximeter frame"


@dataclass(frozen=True, slots=True)
class JumperValues:
    """A 0x81 frame: the device's current values (None = the device's "no value" marker)."""

    pulse_rate: int | None
    spo2: int | None
    perfusion_index_raw: int | None  # PI × 10 (%), guessed unit


@dataclass(frozen=True, slots=True)
class JumperPleth:
    """A 0x80 frame: plethysmogram samples for a live curve; never stored."""

    samples: tuple[int, ...]


JumperFrame = JumperValues | JumperPleth


def parse_jumper_frame(data: bytes) -> JumperFrame:
    """One Jumper notification -> `JumperValues` or `JumperPleth`, or `MalformedFrame`."""
    data = as_bytes(data, _JUMPER)
    if not data:
        raise MalformedFrame(_JUMPER, "empty notification")
    kind = data[0]
    if kind == JUMPER_PLETH:
        if len(data) < 2:
            raise MalformedFrame(_JUMPER, "pleth frame without samples")
        return JumperPleth(tuple(data[1:]))
    if kind != JUMPER_VALUES:
        raise MalformedFrame(_JUMPER, f"unknown frame type 0x{kind:02X}")
    if len(data) < JUMPER_VALUES_LENGTH:
        raise MalformedFrame(_JUMPER, f"values frame of {len(data)} bytes, at least {JUMPER_VALUES_LENGTH} expected")
    pulse, spo2, pi = data[1], data[2], data[3]
    if spo2 not in JUMPER_SPO2_MARKERS and spo2 > JUMPER_SPO2_MAX:
        raise MalformedFrame(_JUMPER, "SpO2 above 100 and not a no-value marker")
    return JumperValues(
        pulse_rate=None if pulse in JUMPER_PULSE_RATE_MARKERS else pulse,
        spo2=None if spo2 in JUMPER_SPO2_MARKERS else spo2,
        perfusion_index_raw=None if pi in JUMPER_PI_MARKERS else pi,
    )


def _byte_or_none(value: int | None, markers: frozenset[int], maximum: int, what: str) -> None:
    """A value is a byte up to `maximum` that is not one of the device's no-value markers."""
    if value is None:
        return
    check_uint(value, 8, f"Jumper values {what}")
    if value in markers or value > maximum:
        raise ValueError(f"Jumper values {what} must be None or 1..{maximum} (the others mean 'no value')")


def encode_jumper_values(values: JumperValues) -> bytes:
    """The 4 bytes of a values frame (emulator, tests); refuses a value the device's markers hide."""
    _byte_or_none(values.pulse_rate, JUMPER_PULSE_RATE_MARKERS, 254, "pulse_rate")
    _byte_or_none(values.spo2, JUMPER_SPO2_MARKERS, JUMPER_SPO2_MAX, "spo2")
    _byte_or_none(values.perfusion_index_raw, JUMPER_PI_MARKERS, 254, "perfusion_index_raw")
    return bytes(
        [
            JUMPER_VALUES,
            255 if values.pulse_rate is None else values.pulse_rate,
            127 if values.spo2 is None else values.spo2,
            0 if values.perfusion_index_raw is None else values.perfusion_index_raw,
        ]
    )


def encode_jumper_pleth(pleth: JumperPleth) -> bytes:
    """A pleth frame (emulator, tests): at least one sample, each a byte."""
    if not pleth.samples:
        raise ValueError("Jumper pleth frame needs at least one sample")
    for sample in pleth.samples:
        check_uint(sample, 8, "Jumper pleth sample")
    return bytes([JUMPER_PLETH, *pleth.samples])


def encode_jumper_frame(frame: JumperFrame) -> bytes:
    """Either kind of frame (the codec laws treat the two as one codec)."""
    if isinstance(frame, JumperValues):
        return encode_jumper_values(frame)
    return encode_jumper_pleth(frame)


__all__ = [
    "JUMPER_NOTIFY_UUID",
    "JUMPER_PLETH",
    "JUMPER_PI_MARKERS",
    "JUMPER_PULSE_RATE_MARKERS",
    "JUMPER_SERVICE_UUID",
    "JUMPER_SPO2_MARKERS",
    "JUMPER_VALUES",
    "JumperFrame",
    "JumperPleth",
    "JumperValues",
    "encode_jumper_frame",
    "encode_jumper_pleth",
    "encode_jumper_values",
    "parse_jumper_frame",
]
