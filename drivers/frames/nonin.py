"""Nonin 3230 continuous oximetry frames (the proprietary ≈1 Hz stream). Pure.

Service 46A970E0-0D5F-11E2-8B5E-0002A5D5C51B, notify characteristic
0AAD7EA0-0D60-11E2-8E3C-0002A5D5C51B (public: open decoders citing Nonin's spec 113142-000-02,
and a Nonin sample). Big-endian. Byte 0 frame length (10), 1 status (b1 weak signal / low
perfusion, b2 SmartPoint, b3 searching, b4 sensor on the finger, b5 low battery, b6 encrypted
link), 2 battery voltage × 0.1 V, 3-4 pulse amplitude index × 0.01 %, 5-6 frame counter, 7 SpO2
(127 = missing), 8-9 pulse rate (511 = missing). *Guessed*: longer frames from newer firmware
(accepted when byte 0 matches, extra bytes ignored), the valid ranges (SpO2 0..100, PR 0..321),
that no other marker exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.frames import MalformedFrame
from drivers.gatt.reader import as_bytes, check_uint

NONIN_OXIMETRY_SERVICE_UUID = "46a970e0-0d5f-11e2-8b5e-0002a5d5c51b"
NONIN_CONTINUOUS_OXIMETRY_UUID = "0aad7ea0-0d60-11e2-8e3c-0002a5d5c51b"

NONIN_FRAME_LENGTH = 10
NONIN_SPO2_MISSING = 127
NONIN_PULSE_RATE_MISSING = 511
NONIN_SPO2_MAX = 100
NONIN_PULSE_RATE_MAX = 321

_NONIN = "Nonin continuous oximetry frame"


@dataclass(frozen=True, slots=True)
class NoninStatus:
    """The status byte of a Nonin continuous oximetry frame."""

    raw: int

    @property
    def weak_signal(self) -> bool:
        """Pulse signal weak (low perfusion)."""
        return bool(self.raw & 0x02)

    @property
    def smartpoint(self) -> bool:
        """The data passed Nonin's SmartPoint algorithm."""
        return bool(self.raw & 0x04)

    @property
    def searching(self) -> bool:
        """Searching for consecutive pulse signals."""
        return bool(self.raw & 0x08)

    @property
    def sensor_connected(self) -> bool:
        """The finger is correctly in the sensor."""
        return bool(self.raw & 0x10)

    @property
    def low_battery(self) -> bool:
        return bool(self.raw & 0x20)

    @property
    def encrypted(self) -> bool:
        """The link is encrypted (the device's own view)."""
        return bool(self.raw & 0x40)

    @classmethod
    def from_flags(
        cls,
        *,
        weak_signal: bool = False,
        smartpoint: bool = False,
        searching: bool = False,
        sensor_connected: bool = False,
        low_battery: bool = False,
        encrypted: bool = False,
    ) -> NoninStatus:
        bits = (weak_signal, smartpoint, searching, sensor_connected, low_battery, encrypted)
        return cls(sum(1 << (i + 1) for i, on in enumerate(bits) if on))


@dataclass(frozen=True, slots=True)
class NoninFrame:
    """One ≈1 Hz notification of the Nonin continuous oximetry characteristic."""

    status: NoninStatus
    battery_decivolts: int  # battery voltage × 10
    pulse_amplitude_raw: int  # pulse amplitude index × 100 (%)
    counter: int
    spo2: int | None  # %, None = missing
    pulse_rate: int | None  # /min, None = missing

    @property
    def battery_volts(self) -> float:
        return self.battery_decivolts / 10

    @property
    def pulse_amplitude_index(self) -> float:
        return self.pulse_amplitude_raw / 100


def parse_nonin_frame(data: bytes) -> NoninFrame:
    """Bytes of one Nonin continuous oximetry notification -> `NoninFrame`, or `MalformedFrame`."""
    data = as_bytes(data, _NONIN)
    if len(data) < NONIN_FRAME_LENGTH:
        raise MalformedFrame(_NONIN, f"{len(data)} bytes, at least {NONIN_FRAME_LENGTH} expected")
    if data[0] != len(data):
        raise MalformedFrame(_NONIN, f"length byte {data[0]} but {len(data)} bytes received")
    spo2_raw = data[7]
    pulse_raw = int.from_bytes(data[8:10], "big")
    if spo2_raw != NONIN_SPO2_MISSING and spo2_raw > NONIN_SPO2_MAX:
        raise MalformedFrame(_NONIN, "SpO2 outside 0..100 and not the missing marker")
    if pulse_raw != NONIN_PULSE_RATE_MISSING and pulse_raw > NONIN_PULSE_RATE_MAX:
        raise MalformedFrame(_NONIN, "pulse rate outside 0..321 and not the missing marker")
    return NoninFrame(
        status=NoninStatus(data[1]),
        battery_decivolts=data[2],
        pulse_amplitude_raw=int.from_bytes(data[3:5], "big"),
        counter=int.from_bytes(data[5:7], "big"),
        spo2=None if spo2_raw == NONIN_SPO2_MISSING else spo2_raw,
        pulse_rate=None if pulse_raw == NONIN_PULSE_RATE_MISSING else pulse_raw,
    )


def _check_optional(value: int | None, maximum: int, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum):
        raise ValueError(f"Nonin frame: {what} must be None or an int in 0..{maximum}")


def encode_nonin_frame(frame: NoninFrame) -> bytes:
    """The 10 bytes of a `NoninFrame` (emulator, tests); refuses what no frame can carry."""
    check_uint(frame.status.raw, 8, "Nonin frame status")
    check_uint(frame.battery_decivolts, 8, "Nonin frame battery_decivolts")
    check_uint(frame.pulse_amplitude_raw, 16, "Nonin frame pulse_amplitude_raw")
    check_uint(frame.counter, 16, "Nonin frame counter")
    _check_optional(frame.spo2, NONIN_SPO2_MAX, "spo2")
    _check_optional(frame.pulse_rate, NONIN_PULSE_RATE_MAX, "pulse_rate")
    spo2 = NONIN_SPO2_MISSING if frame.spo2 is None else frame.spo2
    pulse = NONIN_PULSE_RATE_MISSING if frame.pulse_rate is None else frame.pulse_rate
    return (
        bytes([NONIN_FRAME_LENGTH, frame.status.raw, frame.battery_decivolts])
        + frame.pulse_amplitude_raw.to_bytes(2, "big")
        + frame.counter.to_bytes(2, "big")
        + bytes([spo2])
        + pulse.to_bytes(2, "big")
    )


__all__ = [
    "NONIN_CONTINUOUS_OXIMETRY_UUID",
    "NONIN_FRAME_LENGTH",
    "NONIN_OXIMETRY_SERVICE_UUID",
    "NONIN_PULSE_RATE_MAX",
    "NONIN_PULSE_RATE_MISSING",
    "NONIN_SPO2_MAX",
    "NONIN_SPO2_MISSING",
    "NoninFrame",
    "NoninStatus",
    "encode_nonin_frame",
    "parse_nonin_frame",
]
