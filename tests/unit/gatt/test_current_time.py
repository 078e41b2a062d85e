"""Current Time Service codecs: reading a device's clock and the value the hub writes to set it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.current_time import (
    CURRENT_TIME_SERVICE_UUID,
    CURRENT_TIME_UUID,
    LOCAL_TIME_INFORMATION_UUID,
    CurrentTime,
    DayOfWeek,
    DstOffset,
    LocalTimeInformation,
    encode_current_time,
    encode_local_time_information,
    parse_current_time,
    parse_local_time_information,
)

CURRENT_TIME = "Current Time"
LOCAL_TIME = "Local Time Information"


def packet(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# 2026-11-20 07:30:05, Friday (5), 128/256 s, adjust reason b0 manual update
OMRON_CLOCK = packet("EA070B14071E05 05 80 01")


def test_uuids_are_full_lowercase_128_bit_strings_as_bleak_reports_them() -> None:
    base = "-0000-1000-8000-00805f9b34fb"
    assert CURRENT_TIME_SERVICE_UUID == "00001805" + base
    assert CURRENT_TIME_UUID == "00002a2b" + base
    assert LOCAL_TIME_INFORMATION_UUID == "00002a0f" + base


def test_a_device_clock_read() -> None:
    clock = parse_current_time(OMRON_CLOCK)

    assert clock.time == datetime(2026, 11, 20, 7, 30, 5)
    assert clock.day_of_week is DayOfWeek.FRIDAY
    assert clock.fractions256 == 128
    assert clock.exact_time == datetime(2026, 11, 20, 7, 30, 5, 500_000)
    assert clock.manual_time_update
    assert not (clock.external_reference_time_update or clock.time_zone_change or clock.dst_change)
    assert encode_current_time(clock) == OMRON_CLOCK


def test_the_value_the_hub_writes_to_set_a_clock() -> None:
    value = CurrentTime.from_datetime(datetime(2026, 11, 22, 18, 0, 0, 250_000), external_reference_time_update=True)

    assert value.day_of_week is DayOfWeek.SUNDAY
    assert encode_current_time(value) == packet("EA070B16120000 07 40 02")


def test_a_clock_reset_to_an_unknown_date_and_weekday() -> None:
    clock = parse_current_time(packet("00000000000000 00 00 00"))

    assert clock.time is None and clock.exact_time is None
    assert clock.day_of_week is DayOfWeek.UNKNOWN


def test_all_adjust_reasons_and_reserved_bits_ignored() -> None:
    clock = parse_current_time(packet("EA070B14071E05 05 00 FF"))

    assert clock.manual_time_update and clock.external_reference_time_update
    assert clock.time_zone_change and clock.dst_change
    assert encode_current_time(clock) == packet("EA070B14071E05 05 00 0F")


def test_a_hand_built_value_must_be_in_range() -> None:
    with pytest.raises(ValueError):
        CurrentTime(None, day_of_week=8)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CurrentTime(None, fractions256=256)
    assert CurrentTime(None, day_of_week=3).day_of_week is DayOfWeek.WEDNESDAY  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "zone", "dst", "offset"),
    [
        ("04 04", 4, DstOffset.DAYLIGHT_TIME, timedelta(hours=2)),  # CEST
        ("04 00", 4, DstOffset.STANDARD_TIME, timedelta(hours=1)),  # CET
        ("F0 00", -16, DstOffset.STANDARD_TIME, timedelta(hours=-4)),
        ("D0 08", -48, DstOffset.DOUBLE_DAYLIGHT_TIME, timedelta(hours=-10)),
        ("38 02", 56, DstOffset.HALF_AN_HOUR_DAYLIGHT_TIME, timedelta(hours=14, minutes=30)),
        ("80 00", None, DstOffset.STANDARD_TIME, None),
        ("04 FF", 4, None, None),
    ],
)
def test_local_time_information(data: str, zone, dst, offset) -> None:
    info = parse_local_time_information(packet(data))

    assert (info.time_zone, info.dst_offset, info.utc_offset) == (zone, dst, offset)
    assert encode_local_time_information(info) == packet(data)


# --- malformed packets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "data", "characteristic", "problem"),
    [
        (parse_current_time, b"", CURRENT_TIME, "needs 10 bytes, got 0"),
        (parse_current_time, OMRON_CLOCK[:-1], CURRENT_TIME, "needs 10 bytes, got 9"),
        (parse_current_time, OMRON_CLOCK + b"\x00", CURRENT_TIME, "needs 10 bytes, got 11"),
        (parse_current_time, packet("EA070B14071E05 08 00 00"), CURRENT_TIME, "day of week out of range"),
        (parse_current_time, packet("EA070D14071E05 05 00 00"), CURRENT_TIME, "date time fields out of range"),
        (parse_current_time, packet("2D0601010000 00 05 00 00"), CURRENT_TIME, "year outside 1582..9999"),
        (parse_local_time_information, packet("04"), LOCAL_TIME, "needs 2 bytes, got 1"),
        (parse_local_time_information, packet("39 00"), LOCAL_TIME, "time zone out of range"),
        (parse_local_time_information, packet("CF 00"), LOCAL_TIME, "time zone out of range"),
        (parse_local_time_information, packet("04 01"), LOCAL_TIME, "daylight saving offset not a defined value"),
    ],
)
def test_malformed_values_name_the_defect_and_not_the_values(parse, data, characteristic, problem) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse(data)
    assert caught.value.characteristic == characteristic
    assert caught.value.problem == problem


# --- properties ---------------------------------------------------------------------------------

moments = st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
current_times = st.builds(
    CurrentTime,
    time=st.none() | moments.map(lambda t: t.replace(microsecond=0)),
    day_of_week=st.sampled_from(DayOfWeek),
    fractions256=st.integers(0, 255),
    manual_time_update=st.booleans(),
    external_reference_time_update=st.booleans(),
    time_zone_change=st.booleans(),
    dst_change=st.booleans(),
)
local_times = st.builds(
    LocalTimeInformation, time_zone=st.none() | st.integers(-48, 56), dst_offset=st.none() | st.sampled_from(DstOffset)
)

KNOWN_PROBLEMS = {
    "needs # bytes, got #",
    "day of week out of range",
    "date time fields out of range",
    "year outside #..#",
    "time zone out of range",
    "daylight saving offset not a defined value",
}


@pytest.mark.parametrize("parse", [parse_current_time, parse_local_time_information])
@settings(max_examples=150)
@given(data=st.binary(max_size=12) | st.binary(min_size=10, max_size=10))
def test_any_bytes_give_the_dataclass_or_malformed_packet_with_a_value_free_message(parse, data: bytes) -> None:
    try:
        parse(data)
    except MalformedPacket as problem:
        assert re.sub(r"\d+", "#", problem.problem) in KNOWN_PROBLEMS


@settings(max_examples=100)
@given(current_times)
def test_every_current_time_round_trips(value: CurrentTime) -> None:
    assert parse_current_time(encode_current_time(value)) == value


@settings(max_examples=100)
@given(local_times)
def test_every_local_time_information_round_trips(value: LocalTimeInformation) -> None:
    assert parse_local_time_information(encode_local_time_information(value)) == value


@settings(max_examples=100)
@given(moments)
def test_from_datetime_keeps_the_time_to_within_a_256th_of_a_second(moment: datetime) -> None:
    value = parse_current_time(encode_current_time(CurrentTime.from_datetime(moment)))

    assert value.day_of_week == moment.isoweekday()
    assert value.exact_time is not None
    assert 0 <= (moment - value.exact_time).total_seconds() < 1 / 256
