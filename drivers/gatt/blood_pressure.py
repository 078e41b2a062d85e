"""Blood Pressure Service (0x1810): cuff measurements, live cuff pressure, and features.

Pure codecs in the style of `drivers.gatt.plx` (see there for the rules). Blood Pressure
Measurement (0x2A35, indicated once per reading) and Intermediate Cuff Pressure (0x2A36,
notified during inflation) share one layout and one dataclass: in an intermediate cuff pressure
the current cuff pressure is in the systolic field (`cuff_pressure`) and the diastolic and MAP
fields are NaN by specification.

Pressures and pulse rate are IEEE 11073 SFLOATs: any of them may be a `SpecialValue` (an
"Err" reading is NaN, never a pressure of 2047). Units are mmHg, or kPa when `kpa` is set; no
conversion happens here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from drivers.gatt.datetime import DATE_TIME_SIZE, encode_date_time
from drivers.gatt.ieee11073 import Number, encode_sfloat
from drivers.gatt.reader import check_consistent, check_uint, flags_of, open_frame, optional_size, raw_of

BLOOD_PRESSURE_SERVICE_UUID = "00001810-0000-1000-8000-00805f9b34fb"
BLOOD_PRESSURE_MEASUREMENT_UUID = "00002a35-0000-1000-8000-00805f9b34fb"
INTERMEDIATE_CUFF_PRESSURE_UUID = "00002a36-0000-1000-8000-00805f9b34fb"
BLOOD_PRESSURE_FEATURE_UUID = "00002a49-0000-1000-8000-00805f9b34fb"

_MEASUREMENT = "Blood Pressure Measurement"
_INTERMEDIATE = "Intermediate Cuff Pressure"
_FEATURE = "Blood Pressure Feature"

_FLAGS = 1
_SFLOAT = 2
_USER = 1
_STATUS = 2
_FEATURE_BITS = 2

_KPA = 1 << 0
_TIMESTAMP = 1 << 1
_PULSE_RATE = 1 << 2
_USER_ID = 1 << 3
_MEASUREMENT_STATUS = 1 << 4

UNKNOWN_USER = 0xFF


class PulseRateRange(enum.IntEnum):
    """Measurement Status bits 3–4."""

    WITHIN_RANGE = 0
    EXCEEDS_UPPER_LIMIT = 1
    BELOW_LOWER_LIMIT = 2
    RESERVED = 3


_STATUS_BITS = (
    ("body_movement", 0),
    ("cuff_too_loose", 1),
    ("irregular_pulse", 2),
    ("improper_measurement_position", 5),
)
_PULSE_RANGE_SHIFT = 3
_PULSE_RANGE_MASK = 0b11 << _PULSE_RANGE_SHIFT

_FEATURE_FIELDS = (
    "body_movement_detection",
    "cuff_fit_detection",
    "irregular_pulse_detection",
    "pulse_rate_range_detection",
    "measurement_position_detection",
    "multiple_bonds",
)


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurementStatus:
    """The Measurement Status field (u16): what the monitor noticed during the measurement.

    `raw` keeps every bit, the reserved b6–b15 included. Build with `from_raw` / `from_flags`.
    """

    raw: int
    body_movement: bool
    cuff_too_loose: bool
    irregular_pulse: bool
    pulse_rate_range: PulseRateRange
    improper_measurement_position: bool

    def __post_init__(self) -> None:
        check_consistent(self, _STATUS_BITS, 16, "Blood pressure measurement status")
        if self.pulse_rate_range != (self.raw & _PULSE_RANGE_MASK) >> _PULSE_RANGE_SHIFT:
            raise ValueError("Blood pressure measurement status: pulse_rate_range disagrees with raw")

    @property
    def any_problem(self) -> bool:
        """True when any defined condition is flagged (movement, cuff, pulse, position)."""
        return any(getattr(self, name) for name, _ in _STATUS_BITS) or (
            self.pulse_rate_range is not PulseRateRange.WITHIN_RANGE
        )

    @classmethod
    def from_raw(cls, raw: int) -> BloodPressureMeasurementStatus:
        check_uint(raw, 16, "Blood pressure measurement status")
        return cls(
            raw,
            pulse_rate_range=PulseRateRange((raw & _PULSE_RANGE_MASK) >> _PULSE_RANGE_SHIFT),
            **flags_of(raw, _STATUS_BITS),
        )

    @classmethod
    def from_flags(
        cls, pulse_rate_range: PulseRateRange = PulseRateRange.WITHIN_RANGE, **flags: bool
    ) -> BloodPressureMeasurementStatus:
        """E.g. `BloodPressureMeasurementStatus.from_flags(cuff_too_loose=True)`."""
        raw = raw_of(flags, _STATUS_BITS, "Blood pressure measurement status")
        return cls.from_raw(raw | PulseRateRange(pulse_rate_range) << _PULSE_RANGE_SHIFT)


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """One Blood Pressure Measurement (0x2A35) or Intermediate Cuff Pressure (0x2A36).

    Pressures in mmHg, or kPa when `kpa`; pulse rate in beats per minute. `timestamp` is None
    both when absent and when the monitor sent the all-zero "unknown" time;
    `timestamp_present` tells them apart. `user_id` 255 means "unknown user".
    """

    systolic: Number
    diastolic: Number
    mean_arterial_pressure: Number
    kpa: bool = False
    timestamp: datetime | None = None
    timestamp_present: bool = False
    pulse_rate: Number | None = None
    user_id: int | None = None
    measurement_status: BloodPressureMeasurementStatus | None = None

    def __post_init__(self) -> None:
        if self.timestamp is not None and not self.timestamp_present:
            object.__setattr__(self, "timestamp_present", True)

    @property
    def cuff_pressure(self) -> Number:
        """For an Intermediate Cuff Pressure: the current cuff pressure (the systolic field)."""
        return self.systolic

    @property
    def unknown_user(self) -> bool:
        return self.user_id == UNKNOWN_USER


@dataclass(frozen=True, slots=True)
class BloodPressureFeature:
    """Blood Pressure Feature (0x2A49): which status conditions the monitor detects, and bonds."""

    body_movement_detection: bool = False
    cuff_fit_detection: bool = False
    irregular_pulse_detection: bool = False
    pulse_rate_range_detection: bool = False
    measurement_position_detection: bool = False
    multiple_bonds: bool = False


# --- reading ------------------------------------------------------------------------------------


def _parse(data: bytes, characteristic: str) -> BloodPressureMeasurement:
    reader, flags = open_frame(data, characteristic, _FLAGS)
    reader.expect_length(
        _FLAGS
        + 3 * _SFLOAT
        + optional_size(flags, _TIMESTAMP, DATE_TIME_SIZE)
        + optional_size(flags, _PULSE_RATE, _SFLOAT)
        + optional_size(flags, _USER_ID, _USER)
        + optional_size(flags, _MEASUREMENT_STATUS, _STATUS)
    )
    systolic, diastolic, mean = reader.sfloat(), reader.sfloat(), reader.sfloat()
    timestamp = reader.date_time() if flags & _TIMESTAMP else None
    pulse_rate = reader.sfloat() if flags & _PULSE_RATE else None
    user_id = reader.uint(_USER) if flags & _USER_ID else None
    status = reader.uint(_STATUS) if flags & _MEASUREMENT_STATUS else None
    return BloodPressureMeasurement(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean,
        kpa=bool(flags & _KPA),
        timestamp=timestamp,
        timestamp_present=bool(flags & _TIMESTAMP),
        pulse_rate=pulse_rate,
        user_id=user_id,
        measurement_status=None if status is None else BloodPressureMeasurementStatus.from_raw(status),
    )


def parse_bp_measurement(data: bytes) -> BloodPressureMeasurement:
    """Decode a Blood Pressure Measurement indication (live, or a stored reading sent on connect)."""
    return _parse(data, _MEASUREMENT)


def parse_intermediate_cuff_pressure(data: bytes) -> BloodPressureMeasurement:
    """Decode an Intermediate Cuff Pressure notification (same layout; see `cuff_pressure`)."""
    return _parse(data, _INTERMEDIATE)


def parse_bp_feature(data: bytes) -> BloodPressureFeature:
    """Decode the Blood Pressure Feature value (u16; bits 6–15 are reserved and ignored)."""
    reader, bits = open_frame(data, _FEATURE, _FEATURE_BITS)
    reader.expect_length(_FEATURE_BITS)
    return BloodPressureFeature(**{name: bool(bits >> bit & 1) for bit, name in enumerate(_FEATURE_FIELDS)})


# --- writing (emulator and tests) ---------------------------------------------------------------


def _sfloat_bytes(value: Number) -> bytes:
    return encode_sfloat(value).to_bytes(_SFLOAT, "little")


def encode_bp_measurement(measurement: BloodPressureMeasurement) -> bytes:
    """The bytes a standard monitor would send for this reading (either characteristic)."""
    flags = _KPA if measurement.kpa else 0
    body = b"".join(
        _sfloat_bytes(v) for v in (measurement.systolic, measurement.diastolic, measurement.mean_arterial_pressure)
    )
    if measurement.timestamp_present:
        flags |= _TIMESTAMP
        body += encode_date_time(measurement.timestamp)
    if measurement.pulse_rate is not None:
        flags |= _PULSE_RATE
        body += _sfloat_bytes(measurement.pulse_rate)
    if measurement.user_id is not None:
        check_uint(measurement.user_id, 8, "Blood Pressure Measurement user_id")
        flags |= _USER_ID
        body += bytes([measurement.user_id])
    if measurement.measurement_status is not None:
        flags |= _MEASUREMENT_STATUS
        body += measurement.measurement_status.raw.to_bytes(_STATUS, "little")
    return bytes([flags]) + body


def encode_bp_feature(feature: BloodPressureFeature) -> bytes:
    """The Blood Pressure Feature value a monitor would serve for these capabilities."""
    bits = sum(1 << bit for bit, name in enumerate(_FEATURE_FIELDS) if getattr(feature, name))
    return bits.to_bytes(_FEATURE_BITS, "little")


__all__ = [
    "BLOOD_PRESSURE_FEATURE_UUID",
    "BLOOD_PRESSURE_MEASUREMENT_UUID",
    "BLOOD_PRESSURE_SERVICE_UUID",
    "INTERMEDIATE_CUFF_PRESSURE_UUID",
    "UNKNOWN_USER",
    "BloodPressureFeature",
    "BloodPressureMeasurement",
    "BloodPressureMeasurementStatus",
    "PulseRateRange",
    "encode_bp_feature",
    "encode_bp_measurement",
    "parse_bp_feature",
    "parse_bp_measurement",
    "parse_intermediate_cuff_pressure",
]
