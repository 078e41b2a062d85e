"""Which time a measurement gets, and when two readings are the same record."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.measurements import effective_time, natural_key
from hub.domain.readings import AbsentReason, MeasurementKind, QualityFlag, Reading

from .factories import OXIMETER, T0, spo2

OSLO = ZoneInfo("Europe/Oslo")


def test_a_reading_is_a_number_or_a_reason_never_both():
    with pytest.raises(ValueError):
        Reading(MeasurementKind.PULSE_RATE, 60.0, "/min", T0, absent_reason=AbsentReason.NOT_A_NUMBER)
    with pytest.raises(ValueError):
        Reading(MeasurementKind.PULSE_RATE, None, "/min", T0)


def test_a_live_reading_is_placed_at_its_reception_even_if_the_device_clock_is_off():
    live = spo2(received_at=T0)
    live = Reading(**{**{f: getattr(live, f) for f in live.__slots__}, "device_time": datetime(2021, 1, 1)})
    when, flags = effective_time(live, local_zone=OSLO)
    assert when == T0 and not flags


def test_a_stored_record_is_placed_by_its_device_time_corrected_by_the_clock_offset():
    stored = spo2(stored_at=datetime(2026, 11, 21, 8, 0))  # Oslo local = 07:00 UTC
    when, flags = effective_time(stored, local_zone=OSLO, device_clock_offset=timedelta(minutes=3))
    assert when == datetime(2026, 11, 21, 7, 3, tzinfo=UTC)
    assert not flags


def test_a_stored_record_from_a_device_whose_clock_is_not_set_is_kept_but_flagged():
    stored = spo2(stored_at=datetime(2000, 1, 1, 0, 0), flags=frozenset({QualityFlag.DEVICE_CLOCK_NOT_SET}))
    when, flags = effective_time(stored, local_zone=OSLO)
    assert flags == {QualityFlag.TIME_QUESTIONABLE}


def test_a_stored_record_dated_in_the_future_is_flagged():
    stored = spo2(stored_at=datetime(2027, 1, 1, 12, 0))
    _, flags = effective_time(stored, local_zone=OSLO)
    assert QualityFlag.TIME_QUESTIONABLE in flags


def test_the_same_stored_record_read_twice_has_the_same_natural_key():
    first = spo2(stored_at=datetime(2026, 11, 20, 8, 0), received_at=T0)
    again = spo2(stored_at=datetime(2026, 11, 20, 8, 0), received_at=T0 + timedelta(hours=1))
    assert natural_key(first) == natural_key(again) is not None


def test_two_records_in_the_same_second_with_different_values_are_two_records():
    same_second = datetime(2026, 11, 20, 8, 0)
    assert natural_key(spo2(95.0, stored_at=same_second)) != natural_key(spo2(97.0, stored_at=same_second))


def test_a_live_reading_without_device_time_has_no_natural_key():
    assert natural_key(spo2()) is None


def test_a_manual_reading_has_no_natural_key():
    assert natural_key(spo2(device=None, stored_at=datetime(2026, 1, 1))) is None


@given(
    minutes=st.integers(min_value=0, max_value=10_000),
    other_minutes=st.integers(min_value=0, max_value=10_000),
)
def test_different_device_times_never_share_a_natural_key(minutes, other_minutes):
    base = datetime(2026, 1, 1)
    a = spo2(stored_at=base + timedelta(minutes=minutes))
    b = spo2(stored_at=base + timedelta(minutes=other_minutes))
    assert (natural_key(a) == natural_key(b)) == (minutes == other_minutes)


def test_natural_key_uses_the_serial_so_a_new_address_is_the_same_device():
    a = spo2(stored_at=datetime(2026, 1, 1))
    moved = Reading(**{**{f: getattr(a, f) for f in a.__slots__}, "device": type(OXIMETER)(address="AA:BB:CC:DD:EE:FF", serial=OXIMETER.serial)})
    assert natural_key(a) == natural_key(moved)
