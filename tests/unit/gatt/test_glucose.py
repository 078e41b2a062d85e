"""Glucose Service codecs: records, their context and the meter's features, as a meter sends them."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.glucose import (
    GLUCOSE_FEATURE_UUID,
    GLUCOSE_MEASUREMENT_CONTEXT_UUID,
    GLUCOSE_MEASUREMENT_UUID,
    GLUCOSE_SERVICE_UUID,
    RACP_UUID,
    CarbohydrateId,
    GlucoseConcentrationUnit,
    GlucoseFeature,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    GlucoseSampleLocation,
    GlucoseSampleType,
    GlucoseSensorStatus,
    GlucoseHealth,
    Meal,
    MedicationId,
    MedicationUnit,
    GlucoseTester,
    encode_glucose_context,
    encode_glucose_feature,
    encode_glucose_measurement,
    parse_glucose_context,
    parse_glucose_feature,
    parse_glucose_measurement,
)
from drivers.gatt.ieee11073 import SpecialValue, decode_sfloat

MEASUREMENT = "Glucose Measurement"
CONTEXT = "Glucose Measurement Context"
FEATURE = "Glucose Feature"


def packet(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# --- fixtures as a meter sends them --------------------------------------------------------------

# flags 07: time offset, concentration + type/location, unit mol/L. Sequence 1,
# base time 2026-11-20 07:30:00, offset +60 min, 0.0056 mol/L (SFLOAT 56e-4) = 5.6 mmol/L,
# nibbles 0x11: type 1 capillary whole blood (low), location 1 finger (high)
MMOL_RECORD = packet("07 0100 EA070B14071E00 3C00 38C0 11")

# flags 1A: concentration + type/location in kg/L, sensor status, context follows. Sequence 258,
# 0.00101 kg/L (SFLOAT 101e-5) = 101 mg/dL, capillary plasma (2) on an alternate site (2),
# status b0 battery low
MG_RECORD = packet("1A 0201 EA070B14071E00 65B0 22 0100")

# flags 0A: a control-solution test: type 10, location 4, no sensor problems
CONTROL_RECORD = packet("0A 0300 EA070B14080000 65B0 4A 0000")

# Context for sequence 1, flags FF: every field, medication in litres.
# Extended flags 00; carbohydrate 1 breakfast, 0.05 kg (SFLOAT 5e-2); meal 1 preprandial;
# tester 1 self (low nibble) + health 5 no health issues (high nibble); exercise 1800 s at 50 %;
# medication 1 rapid-acting insulin, 0.0001 L (SFLOAT 1e-4, 10 IU); HbA1c 6.5 % (SFLOAT 65e-1)
FULL_CONTEXT = packet("FF 0100 00 01 05E0 01 51 0807 32 01 01C0 41F0")


def test_uuids_are_full_lowercase_128_bit_strings_as_bleak_reports_them() -> None:
    base = "-0000-1000-8000-00805f9b34fb"
    assert GLUCOSE_SERVICE_UUID == "00001808" + base
    assert GLUCOSE_MEASUREMENT_UUID == "00002a18" + base
    assert GLUCOSE_MEASUREMENT_CONTEXT_UUID == "00002a34" + base
    assert GLUCOSE_FEATURE_UUID == "00002a51" + base
    assert RACP_UUID == "00002a52" + base


def test_a_record_in_mol_per_litre_from_a_finger() -> None:
    record = parse_glucose_measurement(MMOL_RECORD)

    assert record.sequence_number == 1
    assert record.base_time == datetime(2026, 11, 20, 7, 30, 0)
    assert record.time_offset == 60
    assert record.time == datetime(2026, 11, 20, 8, 30, 0)  # what the meter shows
    assert record.concentration == 0.0056
    assert record.concentration_unit is GlucoseConcentrationUnit.MOL_PER_L
    assert record.mmol_per_l == 5.6
    assert record.mg_per_dl == pytest.approx(100.887, abs=0.001)  # × 18.0156
    assert record.sample_type is GlucoseSampleType.CAPILLARY_WHOLE_BLOOD
    assert record.sample_location is GlucoseSampleLocation.FINGER
    assert record.sensor_status is None and not record.context_follows
    assert not record.is_control_solution
    assert encode_glucose_measurement(record) == MMOL_RECORD


def test_a_record_in_kg_per_litre_with_status_and_context_following() -> None:
    record = parse_glucose_measurement(MG_RECORD)

    assert record.sequence_number == 258
    assert record.time_offset is None and record.time == record.base_time
    assert record.concentration_unit is GlucoseConcentrationUnit.KG_PER_L
    assert record.mg_per_dl == 101.0
    assert record.mmol_per_l == pytest.approx(5.606, abs=0.001)  # ÷ 18.0156
    assert record.sample_type is GlucoseSampleType.CAPILLARY_PLASMA
    assert record.sample_location is GlucoseSampleLocation.ALTERNATE_SITE_TEST
    assert record.sensor_status == GlucoseSensorStatus.from_flags(battery_low=True)
    assert record.context_follows
    assert encode_glucose_measurement(record) == MG_RECORD


def test_a_control_solution_test_is_recognised() -> None:
    record = parse_glucose_measurement(CONTROL_RECORD)

    assert record.sample_type is GlucoseSampleType.CONTROL_SOLUTION
    assert record.sample_location is GlucoseSampleLocation.CONTROL_SOLUTION
    assert record.is_control_solution
    # Either marker alone is enough.
    assert parse_glucose_measurement(packet("02 0300 EA070B14080000 65B0 1A")).is_control_solution
    assert parse_glucose_measurement(packet("02 0300 EA070B14080000 65B0 41")).is_control_solution


def test_the_smallest_record_is_a_sequence_number_and_a_base_time() -> None:
    record = parse_glucose_measurement(packet("00 0500 EA070B14071E00"))

    assert record == GlucoseMeasurement(sequence_number=5, base_time=datetime(2026, 11, 20, 7, 30))
    assert record.concentration is None and record.mmol_per_l is None and record.mg_per_dl is None


def test_a_user_facing_time_beyond_year_9999_is_not_a_time() -> None:
    record = parse_glucose_measurement(packet("01 0600 0F270C1F173B3B FF7F"))  # 9999-12-31 23:59:59 + 32767 min

    assert record.base_time == datetime(9999, 12, 31, 23, 59, 59)
    assert record.time is None


def test_a_negative_time_offset_and_an_unknown_base_time() -> None:
    record = parse_glucose_measurement(packet("01 0600 00000000000000 C4FF"))

    assert record.time_offset == -60
    assert record.base_time is None and record.time is None


def test_an_error_reading_is_a_special_value_in_every_unit() -> None:
    record = parse_glucose_measurement(packet("06 0700 EA070B14071E00 FF07 11"))

    assert record.concentration is SpecialValue.NAN
    assert record.mmol_per_l is SpecialValue.NAN and record.mg_per_dl is SpecialValue.NAN


def test_reserved_type_and_location_values_stay_plain_ints() -> None:
    record = parse_glucose_measurement(packet("02 0800 EA070B14071E00 65B0 70"))

    assert record.sample_type == 0 and not isinstance(record.sample_type, GlucoseSampleType)
    assert record.sample_location == 7 and not isinstance(record.sample_location, GlucoseSampleLocation)
    assert encode_glucose_measurement(record) == packet("02 0800 EA070B14071E00 65B0 70")


def test_sensor_status_bits_follow_the_glucose_specification() -> None:
    names = [
        "battery_low",
        "sensor_malfunction",
        "sample_size_insufficient",
        "strip_insertion_error",
        "strip_type_incorrect",
        "result_too_high",
        "result_too_low",
        "temperature_too_high",
        "temperature_too_low",
        "read_interrupted",
        "general_device_fault",
        "time_fault",
    ]
    for bit, name in enumerate(names):
        status = GlucoseSensorStatus.from_raw(1 << bit)
        assert [n for n in names if getattr(status, n)] == [name]
        assert GlucoseSensorStatus.from_flags(**{name: True}).raw == 1 << bit
    reserved = GlucoseSensorStatus.from_raw(0xF000)
    assert not any(getattr(reserved, n) for n in names) and reserved.raw == 0xF000


def test_a_hand_built_record_must_be_consistent() -> None:
    with pytest.raises(ValueError):
        GlucoseMeasurement(1, None, concentration=0.0056)
    with pytest.raises(ValueError):
        GlucoseSensorStatus(0, *([True] + [False] * 11))
    with pytest.raises(TypeError):
        GlucoseSensorStatus.from_flags(no_such_flag=True)
    with pytest.raises(ValueError):
        encode_glucose_measurement(GlucoseMeasurement(1, None, time_offset=40_000))


def test_a_context_with_every_field() -> None:
    context = parse_glucose_context(FULL_CONTEXT)

    assert context.sequence_number == 1
    assert context.extended_flags == 0
    assert context.carbohydrate_id is CarbohydrateId.BREAKFAST and context.carbohydrate == 0.05
    assert context.meal is Meal.PREPRANDIAL
    assert context.tester is GlucoseTester.SELF and context.health is GlucoseHealth.NO_HEALTH_ISSUES
    assert (context.exercise_duration, context.exercise_intensity) == (1800, 50)
    assert context.medication_id is MedicationId.RAPID_ACTING_INSULIN and context.medication == 0.0001
    assert context.medication_unit is MedicationUnit.LITRES
    assert context.hba1c == 6.5
    assert encode_glucose_context(context) == FULL_CONTEXT


def test_tester_is_the_low_nibble_and_health_the_high_one() -> None:
    context = parse_glucose_context(packet("04 0100 F2"))

    assert context.tester is GlucoseTester.HEALTH_CARE_PROFESSIONAL
    assert context.health is GlucoseHealth.NOT_AVAILABLE


def test_the_smallest_context_is_just_a_sequence_number() -> None:
    context = parse_glucose_context(packet("00 0900"))

    assert context == GlucoseMeasurementContext(sequence_number=9)
    assert context.medication_unit is MedicationUnit.KILOGRAMS


def test_a_context_with_medication_in_kilograms() -> None:
    # flags 10: medication in kg. Id 2 short-acting insulin, 0.000002 kg = 2 mg (SFLOAT 2e-6)
    context = parse_glucose_context(packet("10 0A00 02 02A0"))

    assert context.medication_id is MedicationId.SHORT_ACTING_INSULIN
    assert context.medication == 0.000002
    assert context.medication_unit is MedicationUnit.KILOGRAMS


def test_context_pairs_come_together() -> None:
    with pytest.raises(ValueError):
        GlucoseMeasurementContext(1, tester=GlucoseTester.SELF)
    with pytest.raises(ValueError):
        GlucoseMeasurementContext(1, exercise_duration=60)


def test_features_with_every_bit_and_multiple_bonds() -> None:
    feature = parse_glucose_feature(packet("FF07"))

    assert all(getattr(feature, name) for name in GlucoseFeature.__dataclass_fields__)
    assert encode_glucose_feature(feature) == packet("FF07")
    assert parse_glucose_feature(packet("0004")) == GlucoseFeature(multiple_bonds=True)
    assert parse_glucose_feature(packet("00F8")) == GlucoseFeature()  # reserved bits ignored


# --- malformed packets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "data", "characteristic", "problem"),
    [
        (parse_glucose_measurement, b"", MEASUREMENT, "too short for its flags field"),
        (parse_glucose_measurement, packet("00 0100"), MEASUREMENT, "too short for the fields its flags promise"),
        (parse_glucose_measurement, MMOL_RECORD[:-1], MEASUREMENT, "too short for the fields its flags promise"),
        (
            parse_glucose_measurement,
            packet("08 0100 EA070B14071E00"),  # sensor status promised
            MEASUREMENT,
            "too short for the fields its flags promise",
        ),
        (parse_glucose_measurement, MMOL_RECORD + b"\x00", MEASUREMENT, "1 trailing byte(s)"),
        (parse_glucose_context, packet("00 01"), CONTEXT, "too short for the fields its flags promise"),
        (parse_glucose_context, packet("40 0100"), CONTEXT, "too short for the fields its flags promise"),
        (parse_glucose_context, packet("00 0100 00"), CONTEXT, "1 trailing byte(s)"),
        (parse_glucose_feature, packet("FF"), FEATURE, "too short for its flags field"),
        (parse_glucose_feature, packet("FF0700"), FEATURE, "1 trailing byte(s)"),
    ],
)
def test_a_packet_that_does_not_match_its_flags_is_malformed(parse, data, characteristic, problem) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse(data)
    assert caught.value.characteristic == characteristic
    assert caught.value.problem.startswith(problem)


@pytest.mark.parametrize("base_time", ["EA070D14071E00", "EA07021E071E00", "2D0601010000 00"])
def test_an_impossible_base_time_is_malformed_and_the_message_hides_the_values(base_time: str) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_glucose_measurement(packet("00 0100" + base_time))
    assert caught.value.characteristic == MEASUREMENT
    assert caught.value.problem in {"date time fields out of range", "year outside 1582..9999"}


# --- properties ---------------------------------------------------------------------------------

sfloats = st.integers(0, 0xFFFF).map(decode_sfloat)
nibbles = st.integers(0, 15)
base_times = st.none() | st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda t: t.replace(microsecond=0))


@st.composite
def measurements(draw: st.DrawFn) -> GlucoseMeasurement:
    concentration = draw(st.none() | st.tuples(sfloats, nibbles, nibbles)) or (None, None, None)
    return GlucoseMeasurement(
        sequence_number=draw(st.integers(0, 0xFFFF)),
        base_time=draw(base_times),
        time_offset=draw(st.none() | st.integers(-0x8000, 0x7FFF)),
        concentration=concentration[0],
        concentration_unit=draw(st.sampled_from(GlucoseConcentrationUnit)),
        sample_type=concentration[1],
        sample_location=concentration[2],
        sensor_status=draw(st.none() | st.integers(0, 0xFFFF).map(GlucoseSensorStatus.from_raw)),
        context_follows=draw(st.booleans()),
    )


@st.composite
def contexts(draw: st.DrawFn) -> GlucoseMeasurementContext:
    def pair(first, second):
        return draw(st.none() | st.tuples(first, second)) or (None, None)

    carbohydrate = pair(st.integers(0, 255), sfloats)
    tester_health = pair(nibbles, nibbles)
    exercise = pair(st.integers(0, 0xFFFF), st.integers(0, 255))
    medication = pair(st.integers(0, 255), sfloats)
    return GlucoseMeasurementContext(
        sequence_number=draw(st.integers(0, 0xFFFF)),
        extended_flags=draw(st.none() | st.integers(0, 255)),
        carbohydrate_id=carbohydrate[0],
        carbohydrate=carbohydrate[1],
        meal=draw(st.none() | st.integers(0, 255)),
        tester=tester_health[0],
        health=tester_health[1],
        exercise_duration=exercise[0],
        exercise_intensity=exercise[1],
        medication_id=medication[0],
        medication=medication[1],
        medication_unit=draw(st.sampled_from(MedicationUnit)),
        hba1c=draw(st.none() | sfloats),
    )


features = st.builds(GlucoseFeature, **{name: st.booleans() for name in GlucoseFeature.__dataclass_fields__})

CODECS = [
    pytest.param(parse_glucose_measurement, encode_glucose_measurement, measurements(), 1, id="measurement"),
    pytest.param(parse_glucose_context, encode_glucose_context, contexts(), 1, id="context"),
    pytest.param(parse_glucose_feature, encode_glucose_feature, features, 2, id="feature"),
]

# The laws every codec here obeys (any bytes, scrambled fields, round trip, truncation) are
# checked for all characteristics at once in test_codec_laws.py, from CODECS.


@settings(max_examples=60)
@given(flags=st.integers(0, 0xFF))
def test_flags_promising_fields_that_are_absent_are_malformed(flags: int) -> None:
    measurement = bytes([flags]) + packet("0100 EA070B14071E00")
    context = bytes([flags]) + packet("0100")
    if flags & 0b1011:  # time offset, concentration, status
        with pytest.raises(MalformedPacket):
            parse_glucose_measurement(measurement)
    else:
        assert parse_glucose_measurement(measurement).sequence_number == 1
    if flags & 0b1101_1111:  # every presence bit but the medication unit
        with pytest.raises(MalformedPacket):
            parse_glucose_context(context)
    else:
        assert parse_glucose_context(context).sequence_number == 1
