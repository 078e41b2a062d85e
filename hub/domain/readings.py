"""What a device (or the patient, by hand) reports, before the hub has made it a measurement.

Pure value types: no I/O, no clock reads. A `Reading` is either a number with a UCUM unit or
"no value" with a reason — never both, never an error code dressed as a number. A panel (blood
pressure) has no value of its own: its `components` carry the numbers, each under the same rule.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.domain.oximetry import SampledSeries


class MeasurementKind(enum.StrEnum):
    """What was measured. The value is stored in the database and must never change."""

    OXYGEN_SATURATION = "oxygen-saturation"
    PULSE_RATE = "pulse-rate"  # from an oximeter
    BLOOD_PRESSURE = "blood-pressure"  # a panel: systolic, diastolic, mean arterial components
    SYSTOLIC_PRESSURE = "systolic-pressure"  # component of BLOOD_PRESSURE
    DIASTOLIC_PRESSURE = "diastolic-pressure"  # component of BLOOD_PRESSURE
    MEAN_ARTERIAL_PRESSURE = "mean-arterial-pressure"  # component of BLOOD_PRESSURE
    CUFF_PULSE_RATE = "cuff-pulse-rate"  # pulse rate measured by a blood-pressure cuff
    BODY_WEIGHT = "body-weight"
    BODY_HEIGHT = "body-height"
    BODY_MASS_INDEX = "body-mass-index"
    BODY_FAT = "body-fat"
    BLOOD_GLUCOSE = "blood-glucose"
    BODY_TEMPERATURE = "body-temperature"
    # Continuous oximetry (hub.domain.oximetry): chunks of a recording, and its summary panel
    OXYGEN_SATURATION_SERIES = "oxygen-saturation-series"  # samples; value = the chunk's mean
    PULSE_RATE_SERIES = "pulse-rate-series"
    OXIMETRY_SUMMARY = "oximetry-summary"  # a panel: the components below
    OXYGEN_SATURATION_LOWEST = "oxygen-saturation-lowest"
    OXYGEN_SATURATION_MEAN = "oxygen-saturation-mean"
    TIME_BELOW_90_PERCENT = "time-below-90-percent"  # minutes with SpO2 < 90 %
    VALID_RECORDING_TIME = "valid-recording-time"  # minutes with a valid SpO2
    PULSE_RATE_MEAN = "pulse-rate-mean"


class AbsentReason(enum.StrEnum):
    """Why a reading carries no number (FHIR data-absent-reason codes where one fits)."""

    NOT_A_NUMBER = "not-a-number"  # IEEE 11073 NaN
    NOT_AT_THIS_RESOLUTION = "not-at-this-resolution"  # NRes
    POSITIVE_INFINITY = "positive-infinity"
    NEGATIVE_INFINITY = "negative-infinity"
    RESERVED = "reserved-value"  # a reserved special value: the device said "not a number"
    ERROR = "error"  # the device marked the measurement invalid
    UNSUCCESSFUL = "unsuccessful"  # e.g. a scale's "measurement unsuccessful"
    IMPLAUSIBLE = "implausible"  # a number no body can have (hub.domain.plausibility): a device fault


class QualityFlag(enum.StrEnum):
    """What the device (or the hub) says about how far to trust a value or its time."""

    MEASUREMENT_ONGOING = "measurement-ongoing"
    EARLY_ESTIMATE = "early-estimate"
    VALIDATED = "validated"
    FULLY_QUALIFIED = "fully-qualified"
    FROM_STORAGE = "from-storage"
    DEMO_DATA = "demo-data"
    TESTING_DATA = "testing-data"
    CALIBRATION_ONGOING = "calibration-ongoing"
    UNAVAILABLE = "unavailable"
    QUESTIONABLE = "questionable"
    INVALID = "invalid"
    DEVICE_CLOCK_NOT_SET = "device-clock-not-set"
    TIME_QUESTIONABLE = "time-questionable"  # could not be placed on the hub's timeline
    HUB_CLOCK_UNTRUSTED = "hub-clock-untrusted"  # received before the hub's own clock was trusted
    SENSOR_PROBLEM = "sensor-problem"  # device/sensor status reported a fault
    # Blood pressure status (measure again when one of these is set)
    BODY_MOVEMENT = "body-movement"
    CUFF_LOOSE = "cuff-loose"
    IRREGULAR_PULSE = "irregular-pulse"
    PULSE_RATE_OUT_OF_RANGE = "pulse-rate-out-of-range"
    IMPROPER_POSITION = "improper-position"
    # Glucose sensor status
    SAMPLE_TOO_SMALL = "sample-too-small"
    STRIP_ERROR = "strip-error"  # strip insertion error or wrong strip type
    RESULT_TOO_HIGH = "result-too-high"  # higher than the device can measure
    RESULT_TOO_LOW = "result-too-low"
    TEMPERATURE_OUT_OF_RANGE = "temperature-out-of-range"
    READ_INTERRUPTED = "read-interrupted"
    DEVICE_FAULT = "device-fault"
    DEVICE_TIME_FAULT = "device-time-fault"
    BATTERY_LOW = "battery-low"
    CONTROL_SOLUTION = "control-solution"  # a meter check, not the patient's value
    TECHNICIAN_TEST = "technician-test"  # taken by a technician pairing a kit, not the patient's value
    # Set by the hub (hub.domain.plausibility), with QUESTIONABLE: a value bodies rarely have or
    # devices are not shown to measure; kept, and the patient is asked to measure again.
    UNLIKELY_VALUE = "unlikely-value"


class Provenance(enum.StrEnum):
    """How a value came to the hub."""

    DEVICE = "device"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Who measured: the Bluetooth address plus what Device Information told us."""

    address: str
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    system_id: str | None = None  # EUI-64 as 16 hex digits

    @property
    def stable_id(self) -> str:
        """The identity a natural key is built on: the serial when known, else the address."""
        return self.serial or self.address


@dataclass(frozen=True, slots=True)
class Component:
    """One value inside a panel (systolic inside blood pressure): a number or a reason."""

    kind: MeasurementKind
    value: float | None
    unit: str
    absent_reason: AbsentReason | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.absent_reason is None):
            raise ValueError("a Component has either a value or an absent_reason, exactly one")


@dataclass(frozen=True, slots=True)
class Reading:
    """One value as reported, with everything needed to trust (or distrust) it."""

    kind: MeasurementKind
    value: float | None
    unit: str  # UCUM
    received_at: datetime  # hub clock, timezone-aware, when the hub received it
    absent_reason: AbsentReason | None = None
    device: DeviceIdentity | None = None
    device_time: datetime | None = None  # the device's own clock, naive local time as sent
    flags: frozenset[QualityFlag] = field(default_factory=frozenset)
    record_id: str | None = None  # the device's own record number/sequence, when it has one
    components: tuple[Component, ...] = ()  # a panel's values; then value and absent_reason are None
    body_site: str | None = None  # where it was measured, e.g. "ear", "finger" (device's own words)
    context: tuple[tuple[str, str], ...] = ()  # e.g. (("meal", "preprandial"), ("specimen", ...))
    device_user: int | None = None  # the user number on a shared scale or cuff
    device_clock_offset: timedelta | None = None  # hub clock − device clock, read in this session
    samples: SampledSeries | None = None  # a continuous recording's chunk (hub.domain.oximetry)
    duration: timedelta | None = None  # a reading over a period (a recording's summary)

    def __post_init__(self) -> None:
        if self.components:
            if self.value is not None or self.absent_reason is not None:
                raise ValueError("a panel Reading carries its values in components, not in value")
        elif (self.value is None) == (self.absent_reason is None):
            raise ValueError("a Reading has either a value or an absent_reason, exactly one")
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")

    @property
    def has_value(self) -> bool:
        return self.value is not None or any(c.value is not None for c in self.components)


def belongs_to_patient(reading: Reading, device_users: dict[str, int], *, default_user: int = 1) -> bool:
    """Whether a reading from a shared device is the patient's.

    Devices without user numbers, and readings whose user the device does not know, are the
    patient's. Otherwise the device's user number must be the one configured for that device
    (by serial, else address), or `default_user` when none is configured.
    """
    if reading.device_user is None or reading.device is None:
        return True
    d = reading.device
    wanted = device_users.get(d.serial or "", device_users.get(d.address, default_user))
    return reading.device_user == wanted
