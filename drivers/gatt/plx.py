"""Pulse Oximeter Service (0x1822): spot-check and continuous measurements, features.

Pure codecs: bytes from the device in, frozen dataclasses out, and back again for the emulator
and tests. A parser either returns its dataclass or raises `MalformedPacket` naming the
characteristic and the defect (never the values: messages may be logged, values are patient
data). Reserved flag and status bits are ignored, so a device built against a newer revision of
the specification still parses; a packet whose length does not match what its flags promise is
rejected, because then no field can be trusted.

SpO2, pulse rate and PAI are IEEE 11073 SFLOATs: a `SpecialValue` (NaN, NRes, ...) is "no value,
with a reason", never a reading. Range checks (SpO2 above 100 %, ...) are the domain's business,
not the codec's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drivers.gatt.datetime import DATE_TIME_SIZE, encode_date_time
from drivers.gatt.ieee11073 import Number, encode_sfloat
from drivers.gatt.reader import check_consistent, check_uint, flags_of, open_frame, optional_size, raw_of

PLX_SERVICE_UUID = "00001822-0000-1000-8000-00805f9b34fb"
PLX_SPOT_CHECK_UUID = "00002a5e-0000-1000-8000-00805f9b34fb"
PLX_CONTINUOUS_UUID = "00002a5f-0000-1000-8000-00805f9b34fb"
PLX_FEATURES_UUID = "00002a60-0000-1000-8000-00805f9b34fb"
RACP_UUID = "00002a52-0000-1000-8000-00805f9b34fb"

_SPOT_CHECK = "PLX Spot-check Measurement"
_CONTINUOUS = "PLX Continuous Measurement"
_FEATURES = "PLX Features"

# Field sizes on the wire.
_FLAGS = 1
_SFLOAT = 2
_MEASUREMENT_STATUS = 2
_DEVICE_STATUS = 3
_FEATURE_BITS = 2

# Spot-check flags.
_SPOT_TIMESTAMP = 1 << 0
_SPOT_MEASUREMENT_STATUS = 1 << 1
_SPOT_DEVICE_STATUS = 1 << 2
_SPOT_PAI = 1 << 3
_SPOT_CLOCK_NOT_SET = 1 << 4

# Continuous flags.
_CONT_FAST = 1 << 0
_CONT_SLOW = 1 << 1
_CONT_MEASUREMENT_STATUS = 1 << 2
_CONT_DEVICE_STATUS = 1 << 3
_CONT_PAI = 1 << 4

# Supported-features bits, in field order.
_FEATURE_FIELDS = (
    "measurement_status_supported",
    "device_sensor_status_supported",
    "spot_check_storage",
    "spot_check_timestamp",
    "fast_metric",
    "slow_metric",
    "pulse_amplitude_index",
    "multiple_bonds",
)

_MEASUREMENT_STATUS_BITS = (
    ("measurement_ongoing", 5),
    ("early_estimate", 6),
    ("validated", 7),
    ("fully_qualified", 8),
    ("from_storage", 9),
    ("demo_data", 10),
    ("testing_data", 11),
    ("calibration_ongoing", 12),
    ("unavailable", 13),
    ("questionable", 14),
    ("invalid", 15),
)

_DEVICE_STATUS_BITS = (
    ("extended_display_update_ongoing", 0),
    ("equipment_malfunction", 1),
    ("signal_processing_irregularity", 2),
    ("inadequate_signal", 3),
    ("poor_signal", 4),
    ("low_perfusion", 5),
    ("erratic_signal", 6),
    ("nonpulsatile_signal", 7),
    ("questionable_pulse", 8),
    ("signal_analysis_ongoing", 9),
    ("sensor_interference", 10),
    ("sensor_unconnected_to_user", 11),
    ("unknown_sensor_connected", 12),
    ("sensor_displaced", 13),
    ("sensor_malfunctioning", 14),
    ("sensor_disconnected", 15),
)
# Everything defined except "work in progress" bits (b0 display update, b9 signal analysis).
_DEVICE_FAULT_MASK = 0xFFFF & ~((1 << 0) | (1 << 9))


# --- value types --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlxMeasurementStatus:
    """The Measurement Status field (u16): how far to trust this particular measurement.

    `raw` keeps every bit, reserved ones (b0–b4) included, so nothing a device says is lost.
    Build one with `from_raw` or `from_flags`; the bool fields must agree with `raw`.
    """

    raw: int
    measurement_ongoing: bool
    early_estimate: bool
    validated: bool
    fully_qualified: bool
    from_storage: bool
    demo_data: bool
    testing_data: bool
    calibration_ongoing: bool
    unavailable: bool
    questionable: bool
    invalid: bool

    def __post_init__(self) -> None:
        check_consistent(self, _MEASUREMENT_STATUS_BITS, 16, "PLX measurement status")

    @classmethod
    def from_raw(cls, raw: int) -> PlxMeasurementStatus:
        check_uint(raw, 16, "PLX measurement status")
        return cls(raw, **flags_of(raw, _MEASUREMENT_STATUS_BITS))

    @classmethod
    def from_flags(cls, **flags: bool) -> PlxMeasurementStatus:
        """E.g. `PlxMeasurementStatus.from_flags(from_storage=True, validated=True)`."""
        return cls.from_raw(raw_of(flags, _MEASUREMENT_STATUS_BITS, "PLX measurement status"))


@dataclass(frozen=True, slots=True)
class PlxDeviceSensorStatus:
    """The Device and Sensor Status field (u24): what the oximeter thinks of its own signal.

    `raw` keeps all 24 bits, the reserved b16–b23 included.
    """

    raw: int
    extended_display_update_ongoing: bool
    equipment_malfunction: bool
    signal_processing_irregularity: bool
    inadequate_signal: bool
    poor_signal: bool
    low_perfusion: bool
    erratic_signal: bool
    nonpulsatile_signal: bool
    questionable_pulse: bool
    signal_analysis_ongoing: bool
    sensor_interference: bool
    sensor_unconnected_to_user: bool
    unknown_sensor_connected: bool
    sensor_displaced: bool
    sensor_malfunctioning: bool
    sensor_disconnected: bool

    def __post_init__(self) -> None:
        check_consistent(self, _DEVICE_STATUS_BITS, 24, "PLX device and sensor status")

    @property
    def any_fault(self) -> bool:
        """True when any defined problem bit is set; "update/analysis ongoing" are not faults."""
        return bool(self.raw & _DEVICE_FAULT_MASK)

    @classmethod
    def from_raw(cls, raw: int) -> PlxDeviceSensorStatus:
        check_uint(raw, 24, "PLX device and sensor status")
        return cls(raw, **flags_of(raw, _DEVICE_STATUS_BITS))

    @classmethod
    def from_flags(cls, **flags: bool) -> PlxDeviceSensorStatus:
        """E.g. `PlxDeviceSensorStatus.from_flags(low_perfusion=True)`."""
        return cls.from_raw(raw_of(flags, _DEVICE_STATUS_BITS, "PLX device and sensor status"))


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """One PLX Spot-check Measurement (0x2A5E): a single, settled SpO2 and pulse-rate reading.

    `timestamp` is None both when the field is absent and when the device sends the all-zero
    "unknown" Date Time; `timestamp_present` tells the two apart. Passing a `timestamp` implies
    `timestamp_present`. When `device_clock_not_set` is true the timestamp (if any) comes from a
    clock nobody set: keep it for ordering, do not believe it as wall-clock time.
    """

    spo2: Number
    pulse_rate: Number
    timestamp: datetime | None = None
    timestamp_present: bool = False
    measurement_status: PlxMeasurementStatus | None = None
    device_status: PlxDeviceSensorStatus | None = None
    pulse_amplitude_index: Number | None = None
    device_clock_not_set: bool = False

    def __post_init__(self) -> None:
        if self.timestamp is not None and not self.timestamp_present:
            object.__setattr__(self, "timestamp_present", True)


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """One PLX Continuous Measurement (0x2A5F): the live value, ~1 Hz while the finger is in.

    The fast and slow pairs are averages over shorter / longer windows; each pair is both-or-none.
    """

    spo2: Number
    pulse_rate: Number
    spo2_fast: Number | None = None
    pulse_rate_fast: Number | None = None
    spo2_slow: Number | None = None
    pulse_rate_slow: Number | None = None
    measurement_status: PlxMeasurementStatus | None = None
    device_status: PlxDeviceSensorStatus | None = None
    pulse_amplitude_index: Number | None = None

    def __post_init__(self) -> None:
        if (self.spo2_fast is None) != (self.pulse_rate_fast is None):
            raise ValueError("PLX continuous: spo2_fast and pulse_rate_fast come as a pair")
        if (self.spo2_slow is None) != (self.pulse_rate_slow is None):
            raise ValueError("PLX continuous: spo2_slow and pulse_rate_slow come as a pair")


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """PLX Features (0x2A60): what the oximeter can report; read once after connecting.

    `supported_measurement_status` / `supported_device_status` are masks of the status bits the
    device actually uses, present exactly when the first / second feature bit is set. Passing a
    mask implies its feature bit; setting the bit without a mask is refused.
    """

    measurement_status_supported: bool = False
    device_sensor_status_supported: bool = False
    spot_check_storage: bool = False
    spot_check_timestamp: bool = False
    fast_metric: bool = False
    slow_metric: bool = False
    pulse_amplitude_index: bool = False
    multiple_bonds: bool = False
    supported_measurement_status: int | None = None
    supported_device_status: int | None = None

    def __post_init__(self) -> None:
        for flag, mask in (
            ("measurement_status_supported", "supported_measurement_status"),
            ("device_sensor_status_supported", "supported_device_status"),
        ):
            if getattr(self, mask) is not None:
                object.__setattr__(self, flag, True)
            elif getattr(self, flag):
                raise ValueError(f"PLX features: {flag} needs {mask}")


# --- reading ------------------------------------------------------------------------------------


def parse_spot_check(data: bytes) -> PlxSpotCheck:
    """Decode a PLX Spot-check Measurement indication (live or from storage via RACP)."""
    reader, flags = open_frame(data, _SPOT_CHECK, _FLAGS)
    reader.expect_length(
        _FLAGS
        + 2 * _SFLOAT
        + optional_size(flags, _SPOT_TIMESTAMP, DATE_TIME_SIZE)
        + optional_size(flags, _SPOT_MEASUREMENT_STATUS, _MEASUREMENT_STATUS)
        + optional_size(flags, _SPOT_DEVICE_STATUS, _DEVICE_STATUS)
        + optional_size(flags, _SPOT_PAI, _SFLOAT)
    )
    spo2 = reader.sfloat()
    pulse_rate = reader.sfloat()
    timestamp = reader.date_time() if flags & _SPOT_TIMESTAMP else None
    status = reader.uint(_MEASUREMENT_STATUS) if flags & _SPOT_MEASUREMENT_STATUS else None
    device_status = reader.uint(_DEVICE_STATUS) if flags & _SPOT_DEVICE_STATUS else None
    pai = reader.sfloat() if flags & _SPOT_PAI else None
    return PlxSpotCheck(
        spo2=spo2,
        pulse_rate=pulse_rate,
        timestamp=timestamp,
        timestamp_present=bool(flags & _SPOT_TIMESTAMP),
        measurement_status=None if status is None else PlxMeasurementStatus.from_raw(status),
        device_status=None if device_status is None else PlxDeviceSensorStatus.from_raw(device_status),
        pulse_amplitude_index=pai,
        device_clock_not_set=bool(flags & _SPOT_CLOCK_NOT_SET),
    )


def parse_continuous(data: bytes) -> PlxContinuous:
    """Decode a PLX Continuous Measurement notification."""
    reader, flags = open_frame(data, _CONTINUOUS, _FLAGS)
    reader.expect_length(
        _FLAGS
        + 2 * _SFLOAT
        + optional_size(flags, _CONT_FAST, 2 * _SFLOAT)
        + optional_size(flags, _CONT_SLOW, 2 * _SFLOAT)
        + optional_size(flags, _CONT_MEASUREMENT_STATUS, _MEASUREMENT_STATUS)
        + optional_size(flags, _CONT_DEVICE_STATUS, _DEVICE_STATUS)
        + optional_size(flags, _CONT_PAI, _SFLOAT)
    )
    spo2 = reader.sfloat()
    pulse_rate = reader.sfloat()
    spo2_fast, pulse_rate_fast = (reader.sfloat(), reader.sfloat()) if flags & _CONT_FAST else (None, None)
    spo2_slow, pulse_rate_slow = (reader.sfloat(), reader.sfloat()) if flags & _CONT_SLOW else (None, None)
    status = reader.uint(_MEASUREMENT_STATUS) if flags & _CONT_MEASUREMENT_STATUS else None
    device_status = reader.uint(_DEVICE_STATUS) if flags & _CONT_DEVICE_STATUS else None
    pai = reader.sfloat() if flags & _CONT_PAI else None
    return PlxContinuous(
        spo2=spo2,
        pulse_rate=pulse_rate,
        spo2_fast=spo2_fast,
        pulse_rate_fast=pulse_rate_fast,
        spo2_slow=spo2_slow,
        pulse_rate_slow=pulse_rate_slow,
        measurement_status=None if status is None else PlxMeasurementStatus.from_raw(status),
        device_status=None if device_status is None else PlxDeviceSensorStatus.from_raw(device_status),
        pulse_amplitude_index=pai,
    )


def parse_features(data: bytes) -> PlxFeatures:
    """Decode the PLX Features value read from the oximeter."""
    reader, bits = open_frame(data, _FEATURES, _FEATURE_BITS)
    reader.expect_length(
        _FEATURE_BITS + optional_size(bits, 1 << 0, _MEASUREMENT_STATUS) + optional_size(bits, 1 << 1, _DEVICE_STATUS)
    )
    supported_status = reader.uint(_MEASUREMENT_STATUS) if bits & (1 << 0) else None
    supported_device_status = reader.uint(_DEVICE_STATUS) if bits & (1 << 1) else None
    return PlxFeatures(
        **{name: bool(bits >> bit & 1) for bit, name in enumerate(_FEATURE_FIELDS)},
        supported_measurement_status=supported_status,
        supported_device_status=supported_device_status,
    )


# --- writing (emulator and tests) ---------------------------------------------------------------


def _sfloat_bytes(value: Number) -> bytes:
    return encode_sfloat(value).to_bytes(_SFLOAT, "little")


def _status_bytes(status: PlxMeasurementStatus | PlxDeviceSensorStatus, size: int) -> bytes:
    return status.raw.to_bytes(size, "little")


def encode_spot_check(measurement: PlxSpotCheck) -> bytes:
    """The bytes a standard oximeter would indicate for this spot-check; flags follow the fields."""
    flags = 0
    body = _sfloat_bytes(measurement.spo2) + _sfloat_bytes(measurement.pulse_rate)
    if measurement.timestamp_present:
        flags |= _SPOT_TIMESTAMP
        body += encode_date_time(measurement.timestamp)
    if measurement.measurement_status is not None:
        flags |= _SPOT_MEASUREMENT_STATUS
        body += _status_bytes(measurement.measurement_status, _MEASUREMENT_STATUS)
    if measurement.device_status is not None:
        flags |= _SPOT_DEVICE_STATUS
        body += _status_bytes(measurement.device_status, _DEVICE_STATUS)
    if measurement.pulse_amplitude_index is not None:
        flags |= _SPOT_PAI
        body += _sfloat_bytes(measurement.pulse_amplitude_index)
    if measurement.device_clock_not_set:
        flags |= _SPOT_CLOCK_NOT_SET
    return bytes([flags]) + body


def encode_continuous(measurement: PlxContinuous) -> bytes:
    """The bytes a standard oximeter would notify for this continuous measurement."""
    flags = 0
    body = _sfloat_bytes(measurement.spo2) + _sfloat_bytes(measurement.pulse_rate)
    if measurement.spo2_fast is not None and measurement.pulse_rate_fast is not None:
        flags |= _CONT_FAST
        body += _sfloat_bytes(measurement.spo2_fast) + _sfloat_bytes(measurement.pulse_rate_fast)
    if measurement.spo2_slow is not None and measurement.pulse_rate_slow is not None:
        flags |= _CONT_SLOW
        body += _sfloat_bytes(measurement.spo2_slow) + _sfloat_bytes(measurement.pulse_rate_slow)
    if measurement.measurement_status is not None:
        flags |= _CONT_MEASUREMENT_STATUS
        body += _status_bytes(measurement.measurement_status, _MEASUREMENT_STATUS)
    if measurement.device_status is not None:
        flags |= _CONT_DEVICE_STATUS
        body += _status_bytes(measurement.device_status, _DEVICE_STATUS)
    if measurement.pulse_amplitude_index is not None:
        flags |= _CONT_PAI
        body += _sfloat_bytes(measurement.pulse_amplitude_index)
    return bytes([flags]) + body


def encode_features(features: PlxFeatures) -> bytes:
    """The PLX Features value an oximeter would serve for these capabilities."""
    bits = sum(1 << bit for bit, name in enumerate(_FEATURE_FIELDS) if getattr(features, name))
    body = b""
    if features.supported_measurement_status is not None:
        check_uint(features.supported_measurement_status, 16, "PLX features supported_measurement_status")
        body += features.supported_measurement_status.to_bytes(_MEASUREMENT_STATUS, "little")
    if features.supported_device_status is not None:
        check_uint(features.supported_device_status, 24, "PLX features supported_device_status")
        body += features.supported_device_status.to_bytes(_DEVICE_STATUS, "little")
    return bits.to_bytes(_FEATURE_BITS, "little") + body


__all__ = [
    "PLX_CONTINUOUS_UUID",
    "PLX_FEATURES_UUID",
    "PLX_SERVICE_UUID",
    "PLX_SPOT_CHECK_UUID",
    "RACP_UUID",
    "PlxContinuous",
    "PlxDeviceSensorStatus",
    "PlxFeatures",
    "PlxMeasurementStatus",
    "PlxSpotCheck",
    "encode_continuous",
    "encode_features",
    "encode_spot_check",
    "parse_continuous",
    "parse_features",
    "parse_spot_check",
]
