"""Glucose Service (0x1808): blood glucose records, their context, and the meter's features.

Pure codecs in the style of `drivers.gatt.plx` (see there for the rules). Stored records are
fetched through the Record Access Control Point (`drivers.gatt.racp`) and arrive as Glucose
Measurement notifications, each followed by a Glucose Measurement Context notification with the
same sequence number when its "context follows" flag is set.

Concentration is an SFLOAT in kg/L or mol/L as the meter chose (flag bit 2); a `SpecialValue`
is "no value, with a reason". `mmol_per_l` and `mg_per_dl` convert:

- mol/L → mmol/L is × 1000 and kg/L → mg/dL is × 100 000, both exact (done in `Decimal`);
- across the two (mass ↔ amount of substance) they use the molar mass of anhydrous D-glucose,
  C6H12O6, `GLUCOSE_MOLAR_MASS` = 180.156 g/mol, so 1 mmol/L = 18.0156 mg/dL. Results are not
  rounded: display rounding belongs to the UI (mmol/L to 1 decimal, mg/dL to whole numbers).

Nibble pairs follow the GATT definitions: the field listed first is the least significant
nibble. So Type is bits 0–3 and Sample Location bits 4–7 of their octet, and Tester bits 0–3 and
Health bits 4–7 of theirs. (Several open parsers, Nordic's Android one among them, read Tester
from the high nibble.) Reserved enumeration values are kept as plain ints, never guessed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from drivers.gatt.datetime import DATE_TIME_SIZE, encode_date_time
from drivers.gatt.ieee11073 import Number, SpecialValue, encode_sfloat
from drivers.gatt.reader import check_consistent, check_uint, flags_of, open_frame, optional_size, raw_of

GLUCOSE_SERVICE_UUID = "00001808-0000-1000-8000-00805f9b34fb"
GLUCOSE_MEASUREMENT_UUID = "00002a18-0000-1000-8000-00805f9b34fb"
GLUCOSE_MEASUREMENT_CONTEXT_UUID = "00002a34-0000-1000-8000-00805f9b34fb"
GLUCOSE_FEATURE_UUID = "00002a51-0000-1000-8000-00805f9b34fb"
RACP_UUID = "00002a52-0000-1000-8000-00805f9b34fb"

GLUCOSE_MOLAR_MASS = Decimal("180.156")
"""g/mol, anhydrous D-glucose; used only to convert between kg/L and mol/L readings."""

EXERCISE_DURATION_OVERRUN = 0xFFFF
"""Exercise duration 65535 s means "longer than the field can say"."""

_MEASUREMENT = "Glucose Measurement"
_CONTEXT = "Glucose Measurement Context"
_FEATURE = "Glucose Feature"

_FLAGS = 1
_SEQUENCE = 2
_TIME_OFFSET = 2
_SFLOAT = 2
_NIBBLES = 1
_STATUS = 2
_FEATURE_BITS = 2

# Glucose Measurement flags.
_TIME_OFFSET_PRESENT = 1 << 0
_CONCENTRATION_PRESENT = 1 << 1
_UNIT_MOL_PER_L = 1 << 2
_STATUS_PRESENT = 1 << 3
_CONTEXT_FOLLOWS = 1 << 4

# Glucose Measurement Context flags.
_CARBOHYDRATE_PRESENT = 1 << 0
_MEAL_PRESENT = 1 << 1
_TESTER_HEALTH_PRESENT = 1 << 2
_EXERCISE_PRESENT = 1 << 3
_MEDICATION_PRESENT = 1 << 4
_MEDICATION_LITRES = 1 << 5
_HBA1C_PRESENT = 1 << 6
_EXTENDED_FLAGS_PRESENT = 1 << 7


class GlucoseConcentrationUnit(enum.Enum):
    KG_PER_L = "kg/L"
    MOL_PER_L = "mol/L"


class GlucoseSampleType(enum.IntEnum):
    CAPILLARY_WHOLE_BLOOD = 1
    CAPILLARY_PLASMA = 2
    VENOUS_WHOLE_BLOOD = 3
    VENOUS_PLASMA = 4
    ARTERIAL_WHOLE_BLOOD = 5
    ARTERIAL_PLASMA = 6
    UNDETERMINED_WHOLE_BLOOD = 7
    UNDETERMINED_PLASMA = 8
    INTERSTITIAL_FLUID = 9
    CONTROL_SOLUTION = 10


class GlucoseSampleLocation(enum.IntEnum):
    FINGER = 1
    ALTERNATE_SITE_TEST = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    NOT_AVAILABLE = 15


class CarbohydrateId(enum.IntEnum):
    BREAKFAST = 1
    LUNCH = 2
    DINNER = 3
    SNACK = 4
    DRINK = 5
    SUPPER = 6
    BRUNCH = 7


class Meal(enum.IntEnum):
    PREPRANDIAL = 1
    POSTPRANDIAL = 2
    FASTING = 3
    CASUAL = 4
    BEDTIME = 5


class GlucoseTester(enum.IntEnum):
    SELF = 1
    HEALTH_CARE_PROFESSIONAL = 2
    LAB_TEST = 3
    NOT_AVAILABLE = 15


class GlucoseHealth(enum.IntEnum):
    MINOR_HEALTH_ISSUES = 1
    MAJOR_HEALTH_ISSUES = 2
    DURING_MENSES = 3
    UNDER_STRESS = 4
    NO_HEALTH_ISSUES = 5
    NOT_AVAILABLE = 15


class MedicationId(enum.IntEnum):
    RAPID_ACTING_INSULIN = 1
    SHORT_ACTING_INSULIN = 2
    INTERMEDIATE_ACTING_INSULIN = 3
    LONG_ACTING_INSULIN = 4
    PRE_MIXED_INSULIN = 5


class MedicationUnit(enum.Enum):
    KILOGRAMS = "kg"
    LITRES = "L"


_E = TypeVar("_E", bound=enum.IntEnum)


def _known(enum_type: type[_E], value: int | None) -> _E | int | None:
    """The enum member for a defined value; a reserved value stays the int the device sent."""
    if value is None or isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        return value


_SENSOR_STATUS_BITS = (
    ("battery_low", 0),
    ("sensor_malfunction", 1),
    ("sample_size_insufficient", 2),
    ("strip_insertion_error", 3),
    ("strip_type_incorrect", 4),
    ("result_too_high", 5),
    ("result_too_low", 6),
    ("temperature_too_high", 7),
    ("temperature_too_low", 8),
    ("read_interrupted", 9),
    ("general_device_fault", 10),
    ("time_fault", 11),
)

_FEATURE_FIELDS = (
    "low_battery_detection",
    "sensor_malfunction_detection",
    "sample_size_detection",
    "strip_insertion_error_detection",
    "strip_type_error_detection",
    "result_high_low_detection",
    "temperature_high_low_detection",
    "read_interrupt_detection",
    "general_device_fault",
    "time_fault",
    "multiple_bonds",
)


# --- value types --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GlucoseSensorStatus:
    """Sensor Status Annunciation (u16): what went wrong, if anything, at measurement time.

    `raw` keeps every bit, the reserved b12–b15 included. Build with `from_raw` / `from_flags`.
    """

    raw: int
    battery_low: bool
    sensor_malfunction: bool
    sample_size_insufficient: bool
    strip_insertion_error: bool
    strip_type_incorrect: bool
    result_too_high: bool
    result_too_low: bool
    temperature_too_high: bool
    temperature_too_low: bool
    read_interrupted: bool
    general_device_fault: bool
    time_fault: bool

    def __post_init__(self) -> None:
        check_consistent(self, _SENSOR_STATUS_BITS, 16, "Glucose sensor status")

    @classmethod
    def from_raw(cls, raw: int) -> GlucoseSensorStatus:
        check_uint(raw, 16, "Glucose sensor status")
        return cls(raw, **flags_of(raw, _SENSOR_STATUS_BITS))

    @classmethod
    def from_flags(cls, **flags: bool) -> GlucoseSensorStatus:
        """E.g. `GlucoseSensorStatus.from_flags(result_too_high=True)`."""
        return cls.from_raw(raw_of(flags, _SENSOR_STATUS_BITS, "Glucose sensor status"))


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """One Glucose Measurement (0x2A18): a stored or live record, keyed by `sequence_number`.

    `base_time` is None when the meter sent the all-zero "unknown" time. `time_offset` (minutes)
    is what the user's clock adjustments added since; `time` is their sum, the time the meter
    shows. Concentration, sample type and sample location come together.
    `concentration_unit` is the unit bit as sent; it only means something with a concentration.
    """

    sequence_number: int
    base_time: datetime | None
    time_offset: int | None = None
    concentration: Number | None = None
    concentration_unit: GlucoseConcentrationUnit = GlucoseConcentrationUnit.KG_PER_L
    sample_type: GlucoseSampleType | int | None = None
    sample_location: GlucoseSampleLocation | int | None = None
    sensor_status: GlucoseSensorStatus | None = None
    context_follows: bool = False

    def __post_init__(self) -> None:
        present = {self.concentration is not None, self.sample_type is not None, self.sample_location is not None}
        if len(present) != 1:
            raise ValueError("Glucose Measurement: concentration, sample_type and sample_location come together")
        object.__setattr__(self, "sample_type", _known(GlucoseSampleType, self.sample_type))
        object.__setattr__(self, "sample_location", _known(GlucoseSampleLocation, self.sample_location))

    @property
    def time(self) -> datetime | None:
        """Base time plus time offset: the user-facing time of the record, if known.

        None also when the sum falls outside what a datetime can hold (an offset of days
        added to 9999-12-31): such a time is nonsense, not a time to store.
        """
        if self.base_time is None:
            return None
        try:
            return self.base_time + timedelta(minutes=self.time_offset or 0)
        except OverflowError:
            return None

    @property
    def is_control_solution(self) -> bool:
        """A control-solution test (type 10 or location 4): a meter check, not the patient's blood."""
        return (
            self.sample_type == GlucoseSampleType.CONTROL_SOLUTION
            or self.sample_location == GlucoseSampleLocation.CONTROL_SOLUTION
        )

    @property
    def mmol_per_l(self) -> Number | None:
        """The concentration in mmol/L (see the module notes for the kg/L conversion)."""
        if self.concentration_unit is GlucoseConcentrationUnit.MOL_PER_L:
            return _convert(self.concentration, Decimal(1000))
        return _convert(self.concentration, Decimal(1_000_000) / GLUCOSE_MOLAR_MASS)

    @property
    def mg_per_dl(self) -> Number | None:
        """The concentration in mg/dL (see the module notes for the mol/L conversion)."""
        if self.concentration_unit is GlucoseConcentrationUnit.KG_PER_L:
            return _convert(self.concentration, Decimal(100_000))
        return _convert(self.concentration, GLUCOSE_MOLAR_MASS * 100)


def _convert(value: Number | None, factor: Decimal) -> Number | None:
    if value is None or isinstance(value, SpecialValue):
        return value
    return float(Decimal(repr(value)) * factor)


@dataclass(frozen=True, slots=True)
class GlucoseMeasurementContext:
    """Glucose Measurement Context (0x2A34): what the user told the meter about one record.

    `sequence_number` is that of its measurement. Pairs come together: `carbohydrate_id` with
    `carbohydrate` (kg), `tester` with `health`, `exercise_duration` (s, 65535 = overrun) with
    `exercise_intensity` (%), `medication_id` with `medication` (kg, or litres when
    `medication_unit` is LITRES; the unit bit is kept as sent). `hba1c` is in %.
    `extended_flags` is the reserved extension octet, kept as sent when present.
    """

    sequence_number: int
    extended_flags: int | None = None
    carbohydrate_id: CarbohydrateId | int | None = None
    carbohydrate: Number | None = None
    meal: Meal | int | None = None
    tester: GlucoseTester | int | None = None
    health: GlucoseHealth | int | None = None
    exercise_duration: int | None = None
    exercise_intensity: int | None = None
    medication_id: MedicationId | int | None = None
    medication: Number | None = None
    medication_unit: MedicationUnit = MedicationUnit.KILOGRAMS
    hba1c: Number | None = None

    def __post_init__(self) -> None:
        for a, b in (
            ("carbohydrate_id", "carbohydrate"),
            ("tester", "health"),
            ("exercise_duration", "exercise_intensity"),
            ("medication_id", "medication"),
        ):
            if (getattr(self, a) is None) != (getattr(self, b) is None):
                raise ValueError(f"Glucose Measurement Context: {a} and {b} come as a pair")
        for name, enum_type in (
            ("carbohydrate_id", CarbohydrateId),
            ("meal", Meal),
            ("tester", GlucoseTester),
            ("health", GlucoseHealth),
            ("medication_id", MedicationId),
        ):
            object.__setattr__(self, name, _known(enum_type, getattr(self, name)))


@dataclass(frozen=True, slots=True)
class GlucoseFeature:
    """Glucose Feature (0x2A51): which sensor-status conditions the meter can detect, and bonds."""

    low_battery_detection: bool = False
    sensor_malfunction_detection: bool = False
    sample_size_detection: bool = False
    strip_insertion_error_detection: bool = False
    strip_type_error_detection: bool = False
    result_high_low_detection: bool = False
    temperature_high_low_detection: bool = False
    read_interrupt_detection: bool = False
    general_device_fault: bool = False
    time_fault: bool = False
    multiple_bonds: bool = False


# --- reading ------------------------------------------------------------------------------------


def parse_glucose_measurement(data: bytes) -> GlucoseMeasurement:
    """Decode a Glucose Measurement notification."""
    reader, flags = open_frame(data, _MEASUREMENT, _FLAGS)
    reader.expect_length(
        _FLAGS
        + _SEQUENCE
        + DATE_TIME_SIZE
        + optional_size(flags, _TIME_OFFSET_PRESENT, _TIME_OFFSET)
        + optional_size(flags, _CONCENTRATION_PRESENT, _SFLOAT + _NIBBLES)
        + optional_size(flags, _STATUS_PRESENT, _STATUS)
    )
    sequence_number = reader.uint(_SEQUENCE)
    base_time = reader.date_time()
    time_offset = None
    if flags & _TIME_OFFSET_PRESENT:
        raw_offset = reader.uint(_TIME_OFFSET)
        time_offset = raw_offset - 0x10000 if raw_offset & 0x8000 else raw_offset
    concentration = sample_type = sample_location = None
    if flags & _CONCENTRATION_PRESENT:
        concentration = reader.sfloat()
        nibbles = reader.uint(_NIBBLES)
        sample_type, sample_location = nibbles & 0x0F, nibbles >> 4
    status = reader.uint(_STATUS) if flags & _STATUS_PRESENT else None
    return GlucoseMeasurement(
        sequence_number=sequence_number,
        base_time=base_time,
        time_offset=time_offset,
        concentration=concentration,
        concentration_unit=(
            GlucoseConcentrationUnit.MOL_PER_L if flags & _UNIT_MOL_PER_L else GlucoseConcentrationUnit.KG_PER_L
        ),
        sample_type=sample_type,
        sample_location=sample_location,
        sensor_status=None if status is None else GlucoseSensorStatus.from_raw(status),
        context_follows=bool(flags & _CONTEXT_FOLLOWS),
    )


def parse_glucose_context(data: bytes) -> GlucoseMeasurementContext:
    """Decode a Glucose Measurement Context notification."""
    reader, flags = open_frame(data, _CONTEXT, _FLAGS)
    reader.expect_length(
        _FLAGS
        + _SEQUENCE
        + optional_size(flags, _EXTENDED_FLAGS_PRESENT, 1)
        + optional_size(flags, _CARBOHYDRATE_PRESENT, 1 + _SFLOAT)
        + optional_size(flags, _MEAL_PRESENT, 1)
        + optional_size(flags, _TESTER_HEALTH_PRESENT, _NIBBLES)
        + optional_size(flags, _EXERCISE_PRESENT, 2 + 1)
        + optional_size(flags, _MEDICATION_PRESENT, 1 + _SFLOAT)
        + optional_size(flags, _HBA1C_PRESENT, _SFLOAT)
    )
    sequence_number = reader.uint(_SEQUENCE)
    extended_flags = reader.uint(1) if flags & _EXTENDED_FLAGS_PRESENT else None
    carbohydrate_id, carbohydrate = (
        (reader.uint(1), reader.sfloat()) if flags & _CARBOHYDRATE_PRESENT else (None, None)
    )
    meal = reader.uint(1) if flags & _MEAL_PRESENT else None
    tester = health = None
    if flags & _TESTER_HEALTH_PRESENT:
        nibbles = reader.uint(_NIBBLES)
        tester, health = nibbles & 0x0F, nibbles >> 4
    exercise_duration, exercise_intensity = (
        (reader.uint(2), reader.uint(1)) if flags & _EXERCISE_PRESENT else (None, None)
    )
    medication_id, medication = (reader.uint(1), reader.sfloat()) if flags & _MEDICATION_PRESENT else (None, None)
    hba1c = reader.sfloat() if flags & _HBA1C_PRESENT else None
    return GlucoseMeasurementContext(
        sequence_number=sequence_number,
        extended_flags=extended_flags,
        carbohydrate_id=carbohydrate_id,
        carbohydrate=carbohydrate,
        meal=meal,
        tester=tester,
        health=health,
        exercise_duration=exercise_duration,
        exercise_intensity=exercise_intensity,
        medication_id=medication_id,
        medication=medication,
        medication_unit=MedicationUnit.LITRES if flags & _MEDICATION_LITRES else MedicationUnit.KILOGRAMS,
        hba1c=hba1c,
    )


def parse_glucose_feature(data: bytes) -> GlucoseFeature:
    """Decode the Glucose Feature value (u16; bits 11–15 are reserved and ignored)."""
    reader, bits = open_frame(data, _FEATURE, _FEATURE_BITS)
    reader.expect_length(_FEATURE_BITS)
    return GlucoseFeature(**{name: bool(bits >> bit & 1) for bit, name in enumerate(_FEATURE_FIELDS)})


# --- writing (emulator and tests) ---------------------------------------------------------------


def _sfloat_bytes(value: Number) -> bytes:
    return encode_sfloat(value).to_bytes(_SFLOAT, "little")


def _nibbles(low: int, high: int, what: str) -> bytes:
    check_uint(low, 4, f"{what} low nibble")
    check_uint(high, 4, f"{what} high nibble")
    return bytes([int(high) << 4 | int(low)])


def encode_glucose_measurement(measurement: GlucoseMeasurement) -> bytes:
    """The bytes a standard meter would notify for this record; flags follow the fields."""
    check_uint(measurement.sequence_number, 16, "Glucose Measurement sequence_number")
    flags = _UNIT_MOL_PER_L if measurement.concentration_unit is GlucoseConcentrationUnit.MOL_PER_L else 0
    body = measurement.sequence_number.to_bytes(_SEQUENCE, "little") + encode_date_time(measurement.base_time)
    if measurement.time_offset is not None:
        if isinstance(measurement.time_offset, bool) or not -0x8000 <= measurement.time_offset <= 0x7FFF:
            raise ValueError("Glucose Measurement time_offset must be an int in -32768..32767")
        flags |= _TIME_OFFSET_PRESENT
        body += measurement.time_offset.to_bytes(_TIME_OFFSET, "little", signed=True)
    if (
        measurement.concentration is not None
        and measurement.sample_type is not None
        and measurement.sample_location is not None
    ):
        flags |= _CONCENTRATION_PRESENT
        body += _sfloat_bytes(measurement.concentration)
        body += _nibbles(measurement.sample_type, measurement.sample_location, "Glucose Measurement type-location")
    if measurement.sensor_status is not None:
        flags |= _STATUS_PRESENT
        body += measurement.sensor_status.raw.to_bytes(_STATUS, "little")
    if measurement.context_follows:
        flags |= _CONTEXT_FOLLOWS
    return bytes([flags]) + body


def encode_glucose_context(context: GlucoseMeasurementContext) -> bytes:
    """The bytes a standard meter would notify as the context of one record."""
    check_uint(context.sequence_number, 16, "Glucose Measurement Context sequence_number")
    flags = _MEDICATION_LITRES if context.medication_unit is MedicationUnit.LITRES else 0
    body = context.sequence_number.to_bytes(_SEQUENCE, "little")
    if context.extended_flags is not None:
        check_uint(context.extended_flags, 8, "Glucose Measurement Context extended_flags")
        flags |= _EXTENDED_FLAGS_PRESENT
        body += bytes([context.extended_flags])
    if context.carbohydrate_id is not None and context.carbohydrate is not None:
        check_uint(context.carbohydrate_id, 8, "Glucose Measurement Context carbohydrate_id")
        flags |= _CARBOHYDRATE_PRESENT
        body += bytes([context.carbohydrate_id]) + _sfloat_bytes(context.carbohydrate)
    if context.meal is not None:
        check_uint(context.meal, 8, "Glucose Measurement Context meal")
        flags |= _MEAL_PRESENT
        body += bytes([context.meal])
    if context.tester is not None and context.health is not None:
        flags |= _TESTER_HEALTH_PRESENT
        body += _nibbles(context.tester, context.health, "Glucose Measurement Context tester-health")
    if context.exercise_duration is not None and context.exercise_intensity is not None:
        check_uint(context.exercise_duration, 16, "Glucose Measurement Context exercise_duration")
        check_uint(context.exercise_intensity, 8, "Glucose Measurement Context exercise_intensity")
        flags |= _EXERCISE_PRESENT
        body += context.exercise_duration.to_bytes(2, "little") + bytes([context.exercise_intensity])
    if context.medication_id is not None and context.medication is not None:
        check_uint(context.medication_id, 8, "Glucose Measurement Context medication_id")
        flags |= _MEDICATION_PRESENT
        body += bytes([context.medication_id]) + _sfloat_bytes(context.medication)
    if context.hba1c is not None:
        flags |= _HBA1C_PRESENT
        body += _sfloat_bytes(context.hba1c)
    return bytes([flags]) + body


def encode_glucose_feature(feature: GlucoseFeature) -> bytes:
    """The Glucose Feature value a meter would serve for these capabilities."""
    bits = sum(1 << bit for bit, name in enumerate(_FEATURE_FIELDS) if getattr(feature, name))
    return bits.to_bytes(_FEATURE_BITS, "little")


__all__ = [
    "EXERCISE_DURATION_OVERRUN",
    "GLUCOSE_FEATURE_UUID",
    "GLUCOSE_MEASUREMENT_CONTEXT_UUID",
    "GLUCOSE_MEASUREMENT_UUID",
    "GLUCOSE_MOLAR_MASS",
    "GLUCOSE_SERVICE_UUID",
    "RACP_UUID",
    "CarbohydrateId",
    "GlucoseConcentrationUnit",
    "GlucoseFeature",
    "GlucoseMeasurement",
    "GlucoseMeasurementContext",
    "GlucoseSampleLocation",
    "GlucoseSampleType",
    "GlucoseSensorStatus",
    "GlucoseHealth",
    "Meal",
    "MedicationId",
    "MedicationUnit",
    "GlucoseTester",
    "encode_glucose_context",
    "encode_glucose_feature",
    "encode_glucose_measurement",
    "parse_glucose_context",
    "parse_glucose_feature",
    "parse_glucose_measurement",
]
