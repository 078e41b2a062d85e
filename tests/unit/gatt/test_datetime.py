"""The 7-byte Date Time field: a device's idea of "when", which may be unknown or nonsense."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.datetime import DATE_TIME_SIZE, encode_date_time, parse_date_time

VALID_TIMES = st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda t: t.replace(microsecond=0)
)


def test_a_date_time_is_little_endian_year_then_month_day_hour_minute_second() -> None:
    assert parse_date_time(bytes.fromhex("EA07 03 0E 07 1E 05")) == datetime(2026, 3, 14, 7, 30, 5)


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "0000 00 00 00 00 00",  # all zero: the usual "clock not known"
        "0000 03 0E 07 1E 05",  # year 0 = unknown
        "EA07 00 0E 07 1E 05",  # month 0 = unknown
        "EA07 03 00 07 1E 05",  # day 0 = unknown
    ],
)
def test_an_unknown_date_is_none_never_a_guess(hex_bytes: str) -> None:
    assert parse_date_time(bytes.fromhex(hex_bytes)) is None


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "EA07 0D 0E 07 1E 05",  # month 13
        "EA07 02 1E 07 1E 05",  # 30 February
        "EA07 03 0E 18 1E 05",  # hour 24
        "EA07 03 0E 07 3C 05",  # minute 60
        "2D06 01 01 00 00 00",  # year 1581, before the range the spec allows
    ],
)
def test_an_impossible_date_is_malformed_and_the_message_does_not_repeat_it(hex_bytes: str) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_date_time(bytes.fromhex(hex_bytes))
    assert caught.value.characteristic == "Date Time"
    # A fixed text: the bytes themselves (patient data once inside a measurement) never appear.
    assert caught.value.problem in {"date time fields out of range", "year outside 1582..9999"}


def test_the_message_names_the_characteristic_the_field_came_from() -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_date_time(bytes.fromhex("EA07 0D 0E 07 1E 05"), "PLX Spot-check Measurement")
    assert caught.value.characteristic == "PLX Spot-check Measurement"


@pytest.mark.parametrize("length", [0, 6, 8])
def test_a_date_time_of_the_wrong_length_is_malformed(length: int) -> None:
    with pytest.raises(MalformedPacket):
        parse_date_time(bytes(length))


def test_unknown_encodes_as_seven_zero_bytes() -> None:
    assert encode_date_time(None) == bytes(DATE_TIME_SIZE)


def test_encoding_keeps_whole_seconds_only() -> None:
    sent = datetime(2026, 3, 14, 7, 30, 5, 999_999)
    assert parse_date_time(encode_date_time(sent)) == sent.replace(microsecond=0)


def test_encoding_refuses_a_year_the_parser_would_reject() -> None:
    with pytest.raises(ValueError):
        encode_date_time(datetime(1500, 1, 1))


@settings(max_examples=200)
@given(VALID_TIMES)
def test_every_valid_time_round_trips(value: datetime) -> None:
    assert parse_date_time(encode_date_time(value)) == value


@settings(max_examples=300)
@given(st.binary(min_size=DATE_TIME_SIZE, max_size=DATE_TIME_SIZE) | st.binary(max_size=12))
def test_any_bytes_give_a_time_none_or_malformed_packet_nothing_else(data: bytes) -> None:
    try:
        result = parse_date_time(data)
    except MalformedPacket:
        return
    assert result is None or isinstance(result, datetime)
