"""Values no body can have are never delivered as readings; values a device may be right about
are kept and questioned. One table (hub.domain.plausibility.LIMITS), applied as a reading
becomes a Measurement."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from hub.api import MANUAL_FIELDS
from hub.domain.measurements import effective_time
from hub.domain.plausibility import DEVICE_TIME_AHEAD_LIMIT, LIMITS, judge
from hub.domain.readings import AbsentReason, Component, MeasurementKind, QualityFlag, Reading

from .factories import T0, spo2

K = MeasurementKind
OSLO = ZoneInfo("Europe/Oslo")
QUESTIONED = {QualityFlag.QUESTIONABLE, QualityFlag.UNLIKELY_VALUE}

values = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.floats(-1000, 1000)


@given(kind=st.sampled_from(sorted(LIMITS)), value=values)
def test_a_value_outside_the_limits_is_never_a_value_and_one_inside_is_kept_unchanged(kind, value):
    limits = LIMITS[kind]
    judged = judge(Reading(kind, value, limits.unit, T0))
    if math.isfinite(value) and limits.low < value <= limits.high:
        assert judged.value == value and judged.absent_reason is None
        usual = (limits.usual_low is None or value >= limits.usual_low) and (limits.usual_high is None or value <= limits.usual_high)
        assert (judged.flags == frozenset()) if usual else (judged.flags == QUESTIONED)
    else:
        assert judged.value is None and judged.absent_reason is AbsentReason.IMPLAUSIBLE


@given(kind=st.sampled_from([k for k in LIMITS if LIMITS[k].unit == "mm[Hg]"]), value=values, other=st.floats(40, 120))
def test_no_panel_component_outside_the_limits_is_a_value(kind, value, other):
    partner = K.DIASTOLIC_PRESSURE if kind is not K.DIASTOLIC_PRESSURE else K.SYSTOLIC_PRESSURE
    panel = Reading(K.BLOOD_PRESSURE, None, "mm[Hg]", T0, components=(Component(kind, value, "mm[Hg]"), Component(partner, other, "mm[Hg]")))
    judged = judge(panel)
    mine = judged.components[0]
    if math.isfinite(value) and 0 < value <= 300:
        assert mine.value == value
    else:
        assert mine.value is None and mine.absent_reason is AbsentReason.IMPLAUSIBLE
        assert QUESTIONED <= judged.flags  # the patient is asked to measure again
    assert judged.components[1].value == other  # the possible partner is never touched


def test_the_values_of_the_issue_are_no_values():
    impossible = [
        (K.OXYGEN_SATURATION, 127.0, "%"),  # a device's "missing" marker sent as a number
        (K.OXYGEN_SATURATION, -1.0, "%"),
        (K.PULSE_RATE, 511.0, "/min"),
        (K.CUFF_PULSE_RATE, 351.0, "/min"),
        (K.BODY_TEMPERATURE, 24.9, "Cel"),
        (K.BODY_TEMPERATURE, 45.1, "Cel"),
        (K.BODY_TEMPERATURE, 120.0, "[degF]"),  # 48.9 °C
        (K.BODY_WEIGHT, 0.0, "kg"),
        (K.BODY_WEIGHT, -3.5, "kg"),
        (K.BLOOD_GLUCOSE, 0.0, "mmol/L"),
    ]
    for kind, value, unit in impossible:
        judged = judge(Reading(kind, value, unit, T0))
        assert (judged.value, judged.absent_reason) == (None, AbsentReason.IMPLAUSIBLE), (kind, value)


def test_a_value_a_device_may_be_right_about_is_kept_and_questioned():
    for kind, value, unit in [
        (K.OXYGEN_SATURATION, 65.0, "%"),
        (K.PULSE_RATE, 321.0, "/min"),  # a Nonin 3230 measures up to 321
        (K.BODY_TEMPERATURE, 33.0, "Cel"),
        (K.BLOOD_GLUCOSE, 700.0, "mg/dL"),
    ]:
        judged = judge(Reading(kind, value, unit, T0))
        assert judged.value == value and judged.flags == QUESTIONED, kind
    for kind, value, unit in [(K.BODY_TEMPERATURE, 98.6, "[degF]"), (K.BLOOD_GLUCOSE, 5.4, "mmol/L"), (K.BODY_WEIGHT, 74.85, "kg")]:
        ordinary = Reading(kind, value, unit, T0)
        assert judge(ordinary) is ordinary


def test_a_meter_that_said_hi_is_not_questioned_again():
    hi = Reading(K.BLOOD_GLUCOSE, 35.0, "mmol/L", T0, flags=frozenset({QualityFlag.RESULT_TOO_HIGH}))
    assert judge(hi) is hi


def test_a_blood_pressure_whose_diastolic_is_above_its_systolic_is_questioned():
    panel = Reading(
        K.BLOOD_PRESSURE, None, "mm[Hg]", T0,
        components=(Component(K.SYSTOLIC_PRESSURE, 80.0, "mm[Hg]"), Component(K.DIASTOLIC_PRESSURE, 120.0, "mm[Hg]")),
    )
    judged = judge(panel)
    assert [c.value for c in judged.components] == [80.0, 120.0] and QUESTIONED <= judged.flags


def test_every_limit_names_its_source():
    for kind, limits in LIMITS.items():
        assert len(limits.source) > 40, kind
        if limits.usual_low is not None or limits.usual_high is not None:
            assert limits.usual_source, kind


def test_what_a_patient_may_type_lies_inside_what_a_body_can_have():
    # Typed values are checked first (a clear error on the screen); the table must never turn a
    # value the entry form accepted into no value.
    for fields in MANUAL_FIELDS.values():
        for field in fields:
            limits = LIMITS[field.kind]
            assert field.unit == limits.unit and limits.low < field.low and field.high <= limits.high, field.kind


def test_a_stored_record_dated_ahead_of_a_trusted_hub_clock_is_placed_at_its_reception():
    # the device's clock was put forward after it stored the record: the offset read now no
    # longer places it; a measurement cannot have been taken after it reached the hub
    stored = spo2(stored_at=datetime(2026, 11, 21, 12, 0), received_at=T0)  # 11:00 UTC, T0 is 09:30
    when, flags = effective_time(stored, local_zone=OSLO, device_clock_offset=timedelta(0))
    assert when == T0 and flags == {QualityFlag.TIME_QUESTIONABLE}
    assert stored.device_time == datetime(2026, 11, 21, 12, 0)  # the device's own time is kept


def test_a_device_time_ahead_of_an_untrusted_hub_clock_is_kept_and_flagged():
    # the hub's clock may be the one behind (booted without network): the device may be right
    stored = spo2(stored_at=datetime(2026, 11, 21, 12, 0), received_at=T0)
    when, flags = effective_time(stored, local_zone=OSLO, device_clock_offset=timedelta(0), hub_clock_trusted=False)
    assert when == datetime(2026, 11, 21, 12, 0, tzinfo=OSLO) and flags == {QualityFlag.TIME_QUESTIONABLE}


@given(ahead=st.integers(-24 * 3600, 24 * 3600))
def test_a_stored_record_is_never_placed_more_than_the_limit_after_its_reception(ahead):
    device_time = (T0 + timedelta(seconds=ahead)).astimezone(OSLO).replace(tzinfo=None)
    stored = spo2(stored_at=device_time, received_at=T0)
    when, flags = effective_time(stored, local_zone=OSLO, device_clock_offset=timedelta(0))
    assert when <= T0 + DEVICE_TIME_AHEAD_LIMIT
    assert (QualityFlag.TIME_QUESTIONABLE in flags) == (timedelta(seconds=ahead) > DEVICE_TIME_AHEAD_LIMIT)


def test_the_live_values_a_streaming_oximeter_shows_are_only_possible_ones():
    from drivers.devices import live_reading_events
    from drivers.devices.proprietary_oximeters import LiveOximetry

    shown: list[tuple[str, dict]] = []
    on_live = live_reading_events(lambda name, details: shown.append((name, details)))
    on_live(LiveOximetry("AA:BB:CC:DD:EE:01", spo2=127, pulse_rate=64, finger=True, signal_ok=True, progress=0.5))
    assert [(d["kind"], d["value"]) for _, d in shown] == [("pulse-rate", 64)]
