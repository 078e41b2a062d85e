"""Pulse Oximeter Service codecs: what a hub reads from a fingertip oximeter.

Fixtures are written out as the bytes a standard oximeter sends (little-endian, flags first);
the properties check that no byte sequence can crash a parser or leak values into its error.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.ieee11073 import SpecialValue, decode_sfloat
from drivers.gatt.plx import (
    PLX_CONTINUOUS_UUID,
    PLX_FEATURES_UUID,
    PLX_SERVICE_UUID,
    PLX_SPOT_CHECK_UUID,
    RACP_UUID,
    PlxContinuous,
    PlxDeviceSensorStatus,
    PlxFeatures,
    PlxMeasurementStatus,
    PlxSpotCheck,
    encode_continuous,
    encode_features,
    encode_spot_check,
    parse_continuous,
    parse_features,
    parse_spot_check,
)

SPOT_CHECK = "PLX Spot-check Measurement"
CONTINUOUS = "PLX Continuous Measurement"
FEATURES = "PLX Features"


def packet(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# --- fixtures as a device sends them -------------------------------------------------------------

# flags 0F: timestamp, measurement status, device status, PAI
# SpO2 97 %, PR 72 /min, 2026-03-14 07:30:05, status validated + fully qualified, no device
# problems, PAI 2.5 %
LIVE_SPOT_CHECK = packet("0F 6100 4800 EA07030E071E05 8001 000000 19F0")

# flags 11: timestamp + device clock not set; the clock restarted at 1970-01-01 on a battery change
CLOCK_NOT_SET_SPOT_CHECK = packet("11 6000 4B00 B2070101000A00")

# flags 03: timestamp + measurement status; status from storage + validated (a record sent via RACP)
STORED_SPOT_CHECK = packet("03 6200 4600 EA07030D161400 8002")


def test_uuids_are_full_lowercase_128_bit_strings_as_bleak_reports_them() -> None:
    base = "-0000-1000-8000-00805f9b34fb"
    assert PLX_SERVICE_UUID == "00001822" + base
    assert PLX_SPOT_CHECK_UUID == "00002a5e" + base
    assert PLX_CONTINUOUS_UUID == "00002a5f" + base
    assert PLX_FEATURES_UUID == "00002a60" + base
    assert RACP_UUID == "00002a52" + base


def test_a_live_spot_check_with_every_optional_field() -> None:
    reading = parse_spot_check(LIVE_SPOT_CHECK)

    assert reading.spo2 == 97.0
    assert reading.pulse_rate == 72.0
    assert reading.timestamp == datetime(2026, 3, 14, 7, 30, 5)
    assert reading.timestamp_present
    assert reading.measurement_status == PlxMeasurementStatus.from_flags(validated=True, fully_qualified=True)
    assert reading.measurement_status is not None and not reading.measurement_status.from_storage
    assert reading.device_status is not None and not reading.device_status.any_fault
    assert reading.pulse_amplitude_index == 2.5
    assert not reading.device_clock_not_set
    assert encode_spot_check(reading) == LIVE_SPOT_CHECK


def test_the_smallest_spot_check_has_just_spo2_and_pulse_rate() -> None:
    reading = parse_spot_check(packet("00 6100 4800"))

    assert reading == PlxSpotCheck(spo2=97.0, pulse_rate=72.0)
    assert reading.timestamp is None and not reading.timestamp_present
    assert reading.measurement_status is None and reading.device_status is None
    assert reading.pulse_amplitude_index is None


def test_a_device_whose_clock_was_never_set_says_so_and_its_timestamp_is_kept_as_sent() -> None:
    reading = parse_spot_check(CLOCK_NOT_SET_SPOT_CHECK)

    assert reading.device_clock_not_set
    assert reading.timestamp == datetime(1970, 1, 1, 0, 10, 0)  # for ordering only; the hub corrects it
    assert encode_spot_check(reading) == CLOCK_NOT_SET_SPOT_CHECK


def test_a_stored_record_sent_after_a_racp_request_is_marked_from_storage() -> None:
    reading = parse_spot_check(STORED_SPOT_CHECK)

    assert reading.measurement_status is not None
    assert reading.measurement_status.from_storage
    assert reading.measurement_status.validated
    assert reading.timestamp == datetime(2026, 3, 13, 22, 20, 0)
    assert (reading.spo2, reading.pulse_rate) == (98.0, 70.0)


def test_an_all_zero_timestamp_means_the_device_does_not_know_when() -> None:
    reading = parse_spot_check(packet("01 6100 4800 00000000000000"))

    assert reading.timestamp_present
    assert reading.timestamp is None
    assert encode_spot_check(reading) == packet("01 6100 4800 00000000000000")


def test_a_device_error_code_is_a_special_value_never_a_reading() -> None:
    # The "2047/2047" complaint: 0x07FF is NaN, not SpO2 2047 %.
    reading = parse_spot_check(packet("00 FF07 FF07"))

    assert reading.spo2 is SpecialValue.NAN
    assert reading.pulse_rate is SpecialValue.NAN
    assert not reading.spo2  # so `if reading.spo2:` cannot mistake it for a value


def test_reserved_flag_bits_are_ignored_so_a_newer_device_still_parses() -> None:
    assert parse_spot_check(packet("E0 6100 4800")) == PlxSpotCheck(spo2=97.0, pulse_rate=72.0)
    assert parse_continuous(packet("E0 6100 4800")) == PlxContinuous(spo2=97.0, pulse_rate=72.0)
    assert parse_features(packet("00FF")).multiple_bonds is False


def test_reserved_status_bits_are_kept_in_raw_but_raise_no_flag() -> None:
    status = parse_spot_check(packet("06 6100 4800 1F00 0000FF")).measurement_status
    device = parse_spot_check(packet("06 6100 4800 1F00 0000FF")).device_status

    assert status is not None and status.raw == 0x001F
    assert status == PlxMeasurementStatus.from_raw(0x001F)
    assert not any((status.validated, status.invalid, status.measurement_ongoing))
    assert device is not None and device.raw == 0xFF0000 and not device.any_fault


def test_device_and_sensor_status_bits_follow_the_plx_specification() -> None:
    device = PlxDeviceSensorStatus.from_raw(0b1000_0000_0010_0010)

    assert device.equipment_malfunction  # b1
    assert device.low_perfusion  # b5
    assert device.sensor_disconnected  # b15
    assert not device.sensor_displaced
    assert device.any_fault


def test_work_in_progress_bits_are_not_faults() -> None:
    assert not PlxDeviceSensorStatus.from_flags(extended_display_update_ongoing=True).any_fault
    assert not PlxDeviceSensorStatus.from_flags(signal_analysis_ongoing=True).any_fault
    assert PlxDeviceSensorStatus.from_flags(sensor_displaced=True).any_fault


def test_measurement_status_bits_follow_the_plx_specification() -> None:
    names = [
        "measurement_ongoing",
        "early_estimate",
        "validated",
        "fully_qualified",
        "from_storage",
        "demo_data",
        "testing_data",
        "calibration_ongoing",
        "unavailable",
        "questionable",
        "invalid",
    ]
    for bit, name in enumerate(names, start=5):
        status = PlxMeasurementStatus.from_raw(1 << bit)
        assert [n for n in names if getattr(status, n)] == [name]
        assert PlxMeasurementStatus.from_flags(**{name: True}).raw == 1 << bit


def test_a_hand_built_status_whose_flags_disagree_with_raw_is_refused() -> None:
    with pytest.raises(ValueError):
        PlxMeasurementStatus(0, *([True] + [False] * 10))
    with pytest.raises(ValueError):
        PlxMeasurementStatus.from_raw(0x10000)
    with pytest.raises(TypeError):
        PlxDeviceSensorStatus.from_flags(no_such_flag=True)


def test_a_continuous_measurement_with_fast_and_slow_averages() -> None:
    # flags 1F: fast pair, slow pair, status, device status, PAI
    data = packet("1F 6000 4B00 5F00 4D00 6100 4A00 2000 200000 33F0")
    reading = parse_continuous(data)

    assert (reading.spo2, reading.pulse_rate) == (96.0, 75.0)
    assert (reading.spo2_fast, reading.pulse_rate_fast) == (95.0, 77.0)
    assert (reading.spo2_slow, reading.pulse_rate_slow) == (97.0, 74.0)
    assert reading.measurement_status is not None and reading.measurement_status.measurement_ongoing
    assert reading.device_status is not None and reading.device_status.low_perfusion
    assert reading.pulse_amplitude_index == 5.1
    assert encode_continuous(reading) == data


def test_a_continuous_measurement_with_only_the_normal_pair() -> None:
    assert parse_continuous(packet("00 6000 4B00")) == PlxContinuous(spo2=96.0, pulse_rate=75.0)


def test_continuous_fast_and_slow_values_come_in_pairs() -> None:
    with pytest.raises(ValueError):
        PlxContinuous(spo2=96.0, pulse_rate=75.0, spo2_fast=95.0)
    with pytest.raises(ValueError):
        PlxContinuous(spo2=96.0, pulse_rate=75.0, pulse_rate_slow=74.0)


def test_features_with_both_supported_status_masks_in_field_order() -> None:
    # b0 status, b1 device status, b2 storage, b3 timestamp, b7 multiple bonds;
    # then supported measurement status (u16), then supported device status (u24)
    data = packet("8F00 E0FF FFFF00")
    features = parse_features(data)

    assert features.measurement_status_supported and features.device_sensor_status_supported
    assert features.spot_check_storage and features.spot_check_timestamp and features.multiple_bonds
    assert not (features.fast_metric or features.slow_metric or features.pulse_amplitude_index)
    assert features.supported_measurement_status == 0xFFE0
    assert features.supported_device_status == 0x00FFFF
    assert encode_features(features) == data


def test_features_without_status_support_carry_no_masks() -> None:
    features = parse_features(packet("7000"))

    assert features == PlxFeatures(fast_metric=True, slow_metric=True, pulse_amplitude_index=True)
    assert features.supported_measurement_status is None and features.supported_device_status is None


def test_a_feature_mask_implies_its_bit_and_a_bit_without_its_mask_is_refused() -> None:
    assert PlxFeatures(supported_device_status=0x20).device_sensor_status_supported
    with pytest.raises(ValueError):
        PlxFeatures(measurement_status_supported=True)


def test_a_spot_check_timestamp_implies_the_timestamp_field() -> None:
    reading = PlxSpotCheck(spo2=97.0, pulse_rate=72.0, timestamp=datetime(2026, 3, 14, 7, 30, 5))

    assert reading.timestamp_present
    assert encode_spot_check(reading)[0] & 0x01


# --- malformed packets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "data", "characteristic", "problem"),
    [
        (parse_spot_check, b"", SPOT_CHECK, "too short for its flags field"),
        (parse_spot_check, LIVE_SPOT_CHECK[:-1], SPOT_CHECK, "too short for the fields its flags promise"),
        (parse_spot_check, packet("01 6100 4800"), SPOT_CHECK, "too short for the fields its flags promise"),
        (parse_spot_check, LIVE_SPOT_CHECK + b"\x00", SPOT_CHECK, "1 trailing byte(s)"),
        (parse_continuous, packet("01 6000 4B00 5F00"), CONTINUOUS, "too short for the fields its flags promise"),
        (parse_continuous, packet("00 6000 4B00 0000"), CONTINUOUS, "2 trailing byte(s)"),
        (parse_features, packet("01"), FEATURES, "too short for its flags field"),
        (parse_features, packet("0300 E0FF"), FEATURES, "too short for the fields its flags promise"),
    ],
)
def test_a_packet_that_does_not_match_its_flags_is_malformed(parse, data, characteristic, problem) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse(data)
    assert caught.value.characteristic == characteristic
    assert caught.value.problem.startswith(problem)


def test_a_spot_check_with_an_impossible_date_is_malformed_and_the_message_hides_the_values() -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_spot_check(packet("01 6100 4800 EA070D0E071E05"))  # month 13

    assert str(caught.value) == "PLX Spot-check Measurement: date time fields out of range"


def test_a_parser_wants_bytes_not_text() -> None:
    with pytest.raises(TypeError):
        parse_spot_check("0F61")  # type: ignore[arg-type]


def test_bytearray_and_memoryview_are_accepted_as_bleak_may_hand_either() -> None:
    assert parse_spot_check(bytearray(LIVE_SPOT_CHECK)) == parse_spot_check(memoryview(LIVE_SPOT_CHECK))


# --- properties ---------------------------------------------------------------------------------

sfloats = st.integers(0, 0xFFFF).map(decode_sfloat)  # every value a device can send, specials included
optional_sfloats = st.none() | sfloats
measurement_statuses = st.none() | st.integers(0, 0xFFFF).map(PlxMeasurementStatus.from_raw)
device_statuses = st.none() | st.integers(0, 0xFFFFFF).map(PlxDeviceSensorStatus.from_raw)
timestamps = st.none() | st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda t: t.replace(microsecond=0))

spot_checks = st.builds(
    PlxSpotCheck,
    spo2=sfloats,
    pulse_rate=sfloats,
    timestamp=timestamps,
    timestamp_present=st.booleans(),
    measurement_status=measurement_statuses,
    device_status=device_statuses,
    pulse_amplitude_index=optional_sfloats,
    device_clock_not_set=st.booleans(),
)


@st.composite
def continuous_measurements(draw: st.DrawFn) -> PlxContinuous:
    fast = draw(st.none() | st.tuples(sfloats, sfloats)) or (None, None)
    slow = draw(st.none() | st.tuples(sfloats, sfloats)) or (None, None)
    return PlxContinuous(
        spo2=draw(sfloats),
        pulse_rate=draw(sfloats),
        spo2_fast=fast[0],
        pulse_rate_fast=fast[1],
        spo2_slow=slow[0],
        pulse_rate_slow=slow[1],
        measurement_status=draw(measurement_statuses),
        device_status=draw(device_statuses),
        pulse_amplitude_index=draw(optional_sfloats),
    )


feature_sets = st.builds(
    PlxFeatures,
    spot_check_storage=st.booleans(),
    spot_check_timestamp=st.booleans(),
    fast_metric=st.booleans(),
    slow_metric=st.booleans(),
    pulse_amplitude_index=st.booleans(),
    multiple_bonds=st.booleans(),
    supported_measurement_status=st.none() | st.integers(0, 0xFFFF),
    supported_device_status=st.none() | st.integers(0, 0xFFFFFF),
)

CODECS = [
    pytest.param(parse_spot_check, encode_spot_check, spot_checks, 1, id="spot-check"),
    pytest.param(parse_continuous, encode_continuous, continuous_measurements(), 1, id="continuous"),
    pytest.param(parse_features, encode_features, feature_sets, 2, id="features"),
]

# Every problem a parser may report, with numbers (lengths, the allowed year range) blanked out.
# The laws every codec here obeys (any bytes, scrambled fields, round trip, truncation) are
# checked for all characteristics at once in test_codec_laws.py, from CODECS.
