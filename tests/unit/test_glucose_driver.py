"""The glucose driver's pure parts: record -> Reading, what to request, measurement + context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.protocol.glucose_clock import clock_offset
from drivers.protocol.glucose import (
    LAST_UNKNOWN,
    DownloadPlan,
    GlucoseRecord,
    RecordAssembler,
    glucose_reading,
    plan_download,
)
from drivers.gatt import MalformedPacket
from drivers.gatt.glucose import (
    GlucoseConcentrationUnit,
    GlucoseHealth,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    GlucoseSampleLocation,
    GlucoseSampleType,
    GlucoseSensorStatus,
    GlucoseTester,
    Meal,
    encode_glucose_context,
    encode_glucose_measurement,
    parse_glucose_measurement,
)
from drivers.gatt.ieee11073 import SpecialValue
from drivers.gatt.racp import report_all_records, report_records_from_sequence
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, QualityFlag

NOW = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
DEVICE = DeviceIdentity(address="F0:11:22:33:55:01", name="Heima Glucose 1", serial="GLU1-1")
TAKEN = datetime(2025, 5, 6, 8, 0, 0)
MOL = GlucoseConcentrationUnit.MOL_PER_L


def measurement(concentration=0.0056, *, seq=7, status=None, sample_type=1, location=1, **fields) -> GlucoseMeasurement:
    present = concentration is not None
    return GlucoseMeasurement(
        sequence_number=seq,
        base_time=fields.pop("base_time", TAKEN),
        concentration=concentration,
        concentration_unit=fields.pop("unit", MOL),
        sample_type=sample_type if present else None,
        sample_location=location if present else None,
        sensor_status=None if status is None else GlucoseSensorStatus.from_flags(**status),
        **fields,
    )


def reading(m: GlucoseMeasurement, context: GlucoseMeasurementContext | None = None, **options):
    return glucose_reading(m, context, device=DEVICE, received_at=NOW, **options)


# --- record -> Reading ------------------------------------------------------------------------


def test_a_plain_record_becomes_one_blood_glucose_reading() -> None:
    r = reading(measurement(), clock_offset=timedelta(minutes=-3))
    assert (r.kind, r.value, r.unit, r.record_id) == (MeasurementKind.BLOOD_GLUCOSE, 5.6, "mmol/L", "7")
    assert r.device == DEVICE and r.received_at == NOW and r.device_time == TAKEN
    assert r.flags == {QualityFlag.FROM_STORAGE} and r.absent_reason is None
    assert r.body_site == "finger" and r.context == (("specimen", "capillary-whole-blood"),)
    assert r.device_clock_offset == timedelta(minutes=-3)


def test_the_exact_bytes_of_a_mg_per_dl_record_with_a_time_offset() -> None:
    # flags 0x03 (time offset, concentration; kg/L), seq 1, 2025-05-06 08:00:00, offset +60 min,
    # SFLOAT 0xD001 = 1 × 10^-3 kg/L = 100 mg/dL, type 1 (capillary whole blood) / location 2 (AST)
    data = bytes.fromhex("03" "0100" "e907" "05" "06" "08" "00" "00" "3c00" "01d0" "21")
    r = reading(parse_glucose_measurement(data))
    assert r.record_id == "1" and r.device_time == TAKEN + timedelta(hours=1)
    assert r.value == pytest.approx(100 / 18.0156)
    assert r.body_site == "alternate-site"


@pytest.mark.parametrize(
    ("status", "flag"),
    [
        ({"sample_size_insufficient": True}, QualityFlag.SAMPLE_TOO_SMALL),
        ({"strip_insertion_error": True}, QualityFlag.STRIP_ERROR),
        ({"strip_type_incorrect": True}, QualityFlag.STRIP_ERROR),
        ({"sensor_malfunction": True}, QualityFlag.DEVICE_FAULT),
        ({"general_device_fault": True}, QualityFlag.DEVICE_FAULT),
    ],
)
def test_statuses_that_make_the_number_meaningless_give_no_value(status, flag) -> None:
    r = reading(measurement(0.0021, status=status))
    assert (r.value, r.absent_reason) == (None, AbsentReason.ERROR)
    assert flag in r.flags


@pytest.mark.parametrize(
    ("status", "flag"),
    [
        ({"battery_low": True}, QualityFlag.BATTERY_LOW),
        ({"result_too_high": True}, QualityFlag.RESULT_TOO_HIGH),
        ({"result_too_low": True}, QualityFlag.RESULT_TOO_LOW),
        ({"temperature_too_high": True}, QualityFlag.TEMPERATURE_OUT_OF_RANGE),
        ({"temperature_too_low": True}, QualityFlag.TEMPERATURE_OUT_OF_RANGE),
        ({"read_interrupted": True}, QualityFlag.READ_INTERRUPTED),
    ],
)
def test_statuses_that_qualify_a_number_keep_it_flagged(status, flag) -> None:
    r = reading(measurement(0.0333, status=status))
    assert r.value == 33.3 and flag in r.flags


@pytest.mark.parametrize("status", [{"result_too_high": True}, {"result_too_low": True}])
def test_high_or_low_without_a_number_is_an_error_not_an_infinity(status) -> None:
    for special in (SpecialValue.POSITIVE_INFINITY, SpecialValue.NAN):
        r = reading(measurement(special, status=status))
        assert (r.value, r.absent_reason) == (None, AbsentReason.ERROR)
    r = reading(measurement(None, status=status))
    assert (r.value, r.absent_reason) == (None, AbsentReason.ERROR)


def test_special_values_without_a_status_keep_their_own_reason() -> None:
    assert reading(measurement(SpecialValue.NAN)).absent_reason is AbsentReason.NOT_A_NUMBER
    assert reading(measurement(SpecialValue.NRES)).absent_reason is AbsentReason.NOT_AT_THIS_RESOLUTION
    assert reading(measurement(None)).absent_reason is AbsentReason.ERROR  # no concentration field


@pytest.mark.parametrize(
    ("sample_type", "location"),
    [(GlucoseSampleType.CONTROL_SOLUTION, GlucoseSampleLocation.FINGER), (1, GlucoseSampleLocation.CONTROL_SOLUTION)],
)
def test_control_solution_keeps_its_value_and_is_marked(sample_type, location) -> None:
    r = reading(measurement(0.0061, sample_type=sample_type, location=location))
    assert r.value == 6.1 and QualityFlag.CONTROL_SOLUTION in r.flags


def test_context_terms_and_what_is_left_out() -> None:
    context = GlucoseMeasurementContext(
        sequence_number=7, meal=Meal.POSTPRANDIAL, tester=GlucoseTester.SELF, health=GlucoseHealth.UNDER_STRESS
    )
    r = reading(measurement(sample_type=GlucoseSampleType.VENOUS_PLASMA, location=GlucoseSampleLocation.EARLOBE), context)
    assert dict(r.context) == {"specimen": "venous-plasma", "meal": "postprandial", "tester": "self", "health": "under-stress"}
    assert r.body_site == "earlobe"
    unknowns = GlucoseMeasurementContext(
        sequence_number=7, meal=9, tester=GlucoseTester.NOT_AVAILABLE, health=GlucoseHealth.NOT_AVAILABLE
    )
    r = reading(measurement(sample_type=12, location=GlucoseSampleLocation.NOT_AVAILABLE), unknowns)
    assert r.context == () and r.body_site is None  # reserved and "not available": nothing guessed


def test_unknown_times_and_clock_faults_are_flagged_never_guessed() -> None:
    unknown = reading(measurement(base_time=None))
    assert unknown.device_time is None
    assert {QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE} <= unknown.flags
    not_set = reading(measurement(), clock_not_set=True)
    assert not_set.device_time == TAKEN and QualityFlag.DEVICE_CLOCK_NOT_SET in not_set.flags
    fault = reading(measurement(status={"time_fault": True}))
    assert {QualityFlag.DEVICE_TIME_FAULT, QualityFlag.TIME_QUESTIONABLE} <= fault.flags
    assert fault.value == 5.6


def test_clock_offset_is_hub_clock_minus_device_clock_in_whole_seconds() -> None:
    oslo_summer = timezone(timedelta(hours=2))
    hub = datetime(2025, 6, 1, 10, 0, 0, 400_000, tzinfo=UTC)  # 12:00:00.4 in Oslo
    assert clock_offset(hub, datetime(2025, 6, 1, 12, 5, 0), oslo_summer) == timedelta(minutes=-5)
    assert clock_offset(hub, datetime(2025, 6, 1, 11, 0, 0), oslo_summer) == timedelta(hours=1)
    assert clock_offset(hub, datetime(2025, 6, 1, 11, 59, 59), oslo_summer) == timedelta(seconds=1)  # cut, not rounded
    assert clock_offset(hub, None, oslo_summer) is None
    assert clock_offset(hub, datetime(2000, 1, 1, 0, 3), oslo_summer) is None  # a reset clock: no offset


def test_records_stamped_by_a_reset_clock_are_flagged() -> None:
    r = reading(measurement(base_time=datetime(2000, 1, 1, 0, 7)))
    assert r.device_time == datetime(2000, 1, 1, 0, 7)
    assert {QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE} <= r.flags


# --- what to request --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("known", "meter_last", "first"),
    [
        (None, 12, "all"),  # nothing stored yet
        (12, 12, None),  # nothing new: no request at all
        (12, 15, 13),  # new records only
        (12, 3, "all"),  # the meter is behind: memory cleared, numbering restarted
        (12, None, None),  # the meter has no records
        (None, None, None),
        (12, LAST_UNKNOWN, 13),  # the meter cannot say: ask from the next one
        (None, LAST_UNKNOWN, "all"),
        (0xFFFF, LAST_UNKNOWN, "all"),
    ],
)
def test_plan_download(known, meter_last, first) -> None:
    plan = plan_download(known, meter_last)
    if first is None:
        assert plan is None
    elif first == "all":
        assert plan is not None and plan.first_sequence is None and plan.request() == report_all_records()
    else:
        assert plan == DownloadPlan(first, plan.reason) and plan.request() == report_records_from_sequence(first)


# --- measurement + context --------------------------------------------------------------------


def m_bytes(seq: int, *, context: bool = False) -> bytes:
    return encode_glucose_measurement(measurement(seq=seq, context_follows=context))


def c_bytes(seq: int, meal: Meal = Meal.FASTING) -> bytes:
    return encode_glucose_context(GlucoseMeasurementContext(sequence_number=seq, meal=meal))


def sequences(items) -> list[object]:
    return [
        (i.measurement.sequence_number, i.context.meal if i.context else None) if isinstance(i, GlucoseRecord) else "bad"
        for i in items
    ]


def test_a_measurement_waits_for_its_context_and_is_merged_with_it() -> None:
    assembler = RecordAssembler()
    assert assembler.measurement(m_bytes(1, context=True)) == []
    assert assembler.pending is not None
    assert sequences(assembler.context(c_bytes(1))) == [(1, Meal.FASTING)]
    assert sequences(assembler.measurement(m_bytes(2))) == [(2, None)]  # no context announced: at once
    assert assembler.end() == []


def test_a_context_that_never_comes_does_not_hold_its_measurement_for_ever() -> None:
    assembler = RecordAssembler()
    assembler.measurement(m_bytes(1, context=True))
    assert sequences(assembler.measurement(m_bytes(2, context=True))) == [(1, None)]  # the next one came
    assert sequences(assembler.expire()) == [(2, None)]  # waited long enough
    assembler.measurement(m_bytes(3, context=True))
    assert sequences(assembler.end()) == [(3, None)]  # the procedure ended


def test_orphans_and_malformed_packets_are_reported_in_order() -> None:
    assembler = RecordAssembler()
    assembler.measurement(m_bytes(1, context=True))
    items = assembler.context(c_bytes(2))  # names another record
    assert sequences(items) == [(1, None), "bad"]
    assert isinstance(items[1], MalformedPacket)
    assembler.measurement(m_bytes(3, context=True))
    assert sequences(assembler.measurement(b"\x02\x01")) == [(3, None), "bad"]
    assert sequences(assembler.context(b"\xff")) == ["bad"]


def test_a_lost_link_drops_the_measurement_still_waiting_for_its_context() -> None:
    assembler = RecordAssembler()
    assembler.measurement(m_bytes(4, context=True))
    assert assembler.drop() is True and assembler.end() == []
    assert assembler.drop() is False


@given(st.binary(max_size=24))
def test_any_bytes_give_a_record_exactly_when_they_parse(data: bytes) -> None:
    assembler = RecordAssembler()
    items = assembler.measurement(data) + assembler.end()
    try:
        expected = parse_glucose_measurement(data)
    except MalformedPacket:
        assert len(items) == 1 and isinstance(items[0], MalformedPacket)
        return
    assert items == [GlucoseRecord(expected)]
    r = reading(expected)
    assert (r.value is None) != (r.absent_reason is None)
    if isinstance(expected.concentration, SpecialValue) or expected.concentration is None:
        assert r.value is None  # a special value or a missing field never becomes a number
