"""Health Thermometer Service codecs: a 32-bit FLOAT temperature, when, and where it was taken."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.ieee11073 import SpecialValue, decode_float
from drivers.gatt.thermometer import (
    HEALTH_THERMOMETER_SERVICE_UUID,
    INTERMEDIATE_TEMPERATURE_UUID,
    TEMPERATURE_MEASUREMENT_UUID,
    TEMPERATURE_TYPE_UUID,
    TemperatureMeasurement,
    TemperatureType,
    encode_temperature_measurement,
    encode_temperature_type,
    parse_intermediate_temperature,
    parse_temperature_measurement,
    parse_temperature_type,
)
from tests.unit.gatt.test_codec_laws import assert_parses_or_is_malformed

MEASUREMENT = "Temperature Measurement"
INTERMEDIATE = "Intermediate Temperature"
TYPE = "Temperature Type"


def packet(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# flags 06: timestamp + type. FLOAT 0xFF000177 = 375 × 10⁻¹ = 37.5 °C, 2026-11-20 07:30:00, ear (3)
EAR_READING = packet("06 770100FF EA070B14071E00 03")

# flags 01: °F. FLOAT 0xFF0003E3 = 995 × 10⁻¹ = 99.5 °F
FAHRENHEIT_READING = packet("01 E30300FF")


def test_uuids_are_full_lowercase_128_bit_strings_as_bleak_reports_them() -> None:
    base = "-0000-1000-8000-00805f9b34fb"
    assert HEALTH_THERMOMETER_SERVICE_UUID == "00001809" + base
    assert TEMPERATURE_MEASUREMENT_UUID == "00002a1c" + base
    assert TEMPERATURE_TYPE_UUID == "00002a1d" + base
    assert INTERMEDIATE_TEMPERATURE_UUID == "00002a1e" + base


def test_an_ear_reading_of_37_5_celsius() -> None:
    reading = parse_temperature_measurement(EAR_READING)

    assert reading.value == 37.5 and reading.celsius == 37.5
    assert not reading.fahrenheit
    assert reading.timestamp == datetime(2026, 11, 20, 7, 30, 0)
    assert reading.temperature_type is TemperatureType.EAR
    assert encode_temperature_measurement(reading) == EAR_READING


def test_a_fahrenheit_reading_converts_to_celsius() -> None:
    reading = parse_temperature_measurement(FAHRENHEIT_READING)

    assert reading.fahrenheit and reading.value == 99.5
    assert reading.celsius == 37.5
    assert reading.timestamp is None and reading.temperature_type is None
    assert encode_temperature_measurement(reading) == FAHRENHEIT_READING


def test_a_lo_or_err_display_is_a_special_value_never_a_temperature() -> None:
    reading = parse_temperature_measurement(packet("01 FFFF7F00"))

    assert reading.value is SpecialValue.NAN
    assert reading.celsius is SpecialValue.NAN


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1, TemperatureType.ARMPIT),
        (2, TemperatureType.BODY),
        (3, TemperatureType.EAR),
        (4, TemperatureType.FINGER),
        (5, TemperatureType.GASTROINTESTINAL_TRACT),
        (6, TemperatureType.MOUTH),
        (7, TemperatureType.RECTUM),
        (8, TemperatureType.TOE),
        (9, TemperatureType.TYMPANUM),
    ],
)
def test_temperature_types_in_the_measurement_and_the_characteristic(code: int, expected: TemperatureType) -> None:
    assert parse_temperature_measurement(packet("04 770100FF") + bytes([code])).temperature_type is expected
    assert parse_temperature_type(bytes([code])) is expected
    assert encode_temperature_type(expected) == bytes([code])


def test_reserved_types_stay_plain_ints() -> None:
    assert parse_temperature_type(packet("0A")) == 10
    assert not isinstance(parse_temperature_type(packet("00")), TemperatureType)
    assert encode_temperature_measurement(parse_temperature_measurement(packet("04 770100FF 0A"))) == packet(
        "04 770100FF 0A"
    )


def test_intermediate_temperature_shares_the_layout() -> None:
    assert parse_intermediate_temperature(EAR_READING) == parse_temperature_measurement(EAR_READING)


def test_reserved_flag_bits_are_ignored() -> None:
    assert parse_temperature_measurement(packet("F8 770100FF")) == TemperatureMeasurement(37.5)


def test_a_timestamp_implies_the_timestamp_field() -> None:
    assert TemperatureMeasurement(37.5, timestamp=datetime(2026, 11, 20)).timestamp_present


# --- malformed packets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "data", "characteristic", "problem"),
    [
        (parse_temperature_measurement, b"", MEASUREMENT, "too short for its flags field"),
        (parse_temperature_measurement, packet("00 770100"), MEASUREMENT, "too short for the fields"),
        (parse_temperature_measurement, packet("02 770100FF"), MEASUREMENT, "too short for the fields"),
        (parse_temperature_measurement, packet("04 770100FF"), MEASUREMENT, "too short for the fields"),
        (parse_temperature_measurement, EAR_READING + b"\x00", MEASUREMENT, "1 trailing byte(s)"),
        (parse_intermediate_temperature, packet("00 7701"), INTERMEDIATE, "too short for the fields"),
        (parse_temperature_type, b"", TYPE, "needs 1 byte, got 0"),
        (parse_temperature_type, packet("0300"), TYPE, "needs 1 byte, got 2"),
    ],
)
def test_a_packet_that_does_not_match_its_flags_is_malformed(parse, data, characteristic, problem) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse(data)
    assert caught.value.characteristic == characteristic
    assert caught.value.problem.startswith(problem)


def test_an_impossible_timestamp_is_malformed_and_the_message_hides_the_values() -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_temperature_measurement(packet("02 770100FF EA070B14071E3C"))  # second 60
    assert str(caught.value) == "Temperature Measurement: date time fields out of range"


# --- properties ---------------------------------------------------------------------------------

floats = st.integers(0, 0xFFFFFFFF).map(decode_float)
timestamps = st.none() | st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda t: t.replace(microsecond=0))
measurements = st.builds(
    TemperatureMeasurement,
    value=floats,
    fahrenheit=st.booleans(),
    timestamp=timestamps,
    timestamp_present=st.booleans(),
    temperature_type=st.none() | st.integers(0, 255),
)

TEMPERATURE_TYPE_PROBLEMS = frozenset({"needs # byte, got #"})  # besides the codecs' common ones


@pytest.mark.parametrize(
    "parse", [parse_temperature_measurement, parse_intermediate_temperature, parse_temperature_type]
)
@settings(max_examples=100)
@given(data=st.binary(max_size=16))
def test_any_bytes_give_the_dataclass_or_malformed_packet_with_a_value_free_message(parse, data: bytes) -> None:
    assert_parses_or_is_malformed(parse, data, also=TEMPERATURE_TYPE_PROBLEMS)


@settings(max_examples=60)
@given(measurement=measurements, data=st.data())
def test_packets_of_the_right_length_with_any_field_contents_never_crash(measurement, data) -> None:
    valid = encode_temperature_measurement(measurement)
    rest = len(valid) - 1
    assert_parses_or_is_malformed(
        parse_temperature_measurement, valid[:1] + data.draw(st.binary(min_size=rest, max_size=rest)), also=TEMPERATURE_TYPE_PROBLEMS
    )


@settings(max_examples=100)
@given(measurements)
def test_whatever_the_emulator_encodes_parses_back_to_the_same_value(measurement) -> None:
    assert parse_temperature_measurement(encode_temperature_measurement(measurement)) == measurement


@settings(max_examples=60)
@given(measurement=measurements, data=st.data())
def test_a_packet_cut_short_by_any_number_of_bytes_is_malformed(measurement, data) -> None:
    valid = encode_temperature_measurement(measurement)
    cut = data.draw(st.integers(1, len(valid)))
    with pytest.raises(MalformedPacket):
        parse_temperature_measurement(valid[:-cut])


@settings(max_examples=40)
@given(flags=st.integers(0, 0xFF))
def test_flags_promising_fields_that_are_absent_are_malformed(flags: int) -> None:
    data = bytes([flags]) + packet("770100FF")
    if flags & 0b110:
        with pytest.raises(MalformedPacket):
            parse_temperature_measurement(data)
    else:
        assert parse_temperature_measurement(data).value == 37.5
