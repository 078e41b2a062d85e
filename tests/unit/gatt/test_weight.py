"""Weight Scale Service codecs: what a hub reads from a standard bathroom scale.

Fixtures are the bytes a scale sends (little-endian, flags first); the properties check that no
byte sequence can crash a parser or leak values into its error message.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.weight import (
    BMI_STEP,
    HEIGHT_STEP,
    MASS_STEP,
    UNKNOWN_USER,
    WEIGHT_MEASUREMENT_UUID,
    WEIGHT_SCALE_FEATURE_UUID,
    WEIGHT_SCALE_SERVICE_UUID,
    WeightMeasurement,
    WeightScaleFeature,
    encode_weight_measurement,
    encode_weight_scale_feature,
    parse_weight_measurement,
    parse_weight_scale_feature,
    scaled,
)

MEASUREMENT = "Weight Measurement"
FEATURE = "Weight Scale Feature"


def packet(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# --- fixtures as a scale sends them --------------------------------------------------------------

# Mi-scale-like reading over the Weight Scale Service: flags 02 (timestamp), 14470 × 0.005 kg =
# 72.35 kg, 2026-11-20 07:30:00
MI_SCALE_LIKE = packet("02 8638 EA070B14071E00")

# flags 0F: imperial, timestamp, user, BMI + height. 15950 × 0.01 lb = 159.5 lb, user 3,
# BMI 23.6, height 690 × 0.1 in = 69.0 in
IMPERIAL_FULL = packet("0F 4E3E EA070B14071E00 03 EC00 B202")

# flags 08: BMI + height, SI. 72.35 kg, BMI 23.7, height 1746 × 0.001 m = 1.746 m
SI_WITH_BMI = packet("08 8638 ED00 D206")


def test_uuids_are_full_lowercase_128_bit_strings_as_bleak_reports_them() -> None:
    base = "-0000-1000-8000-00805f9b34fb"
    assert WEIGHT_SCALE_SERVICE_UUID == "0000181d" + base
    assert WEIGHT_MEASUREMENT_UUID == "00002a9d" + base
    assert WEIGHT_SCALE_FEATURE_UUID == "00002a9e" + base


def test_a_mi_scale_like_weight_is_72_35_kg_exactly() -> None:
    reading = parse_weight_measurement(MI_SCALE_LIKE)

    assert reading.weight == 72.35  # not 72.35000000000001
    assert reading.weight_kg == 72.35
    assert not reading.imperial and not reading.unsuccessful
    assert reading.timestamp == datetime(2026, 11, 20, 7, 30, 0)
    assert reading.user_id is None and reading.bmi is None and reading.height is None
    assert encode_weight_measurement(reading) == MI_SCALE_LIKE


def test_an_imperial_reading_with_every_optional_field() -> None:
    reading = parse_weight_measurement(IMPERIAL_FULL)

    assert reading.imperial
    assert reading.weight == 159.5
    assert reading.weight_kg == pytest.approx(72.348, abs=0.001)  # exact pound: 0.45359237 kg
    assert reading.user_id == 3 and not reading.unknown_user
    assert reading.bmi == 23.6
    assert reading.height == 69.0
    assert reading.height_m == pytest.approx(1.7526)
    assert encode_weight_measurement(reading) == IMPERIAL_FULL


def test_bmi_and_height_in_si_units() -> None:
    reading = parse_weight_measurement(SI_WITH_BMI)

    assert (reading.weight, reading.bmi, reading.height) == (72.35, 23.7, 1.746)
    assert reading.height_m == 1.746


def test_an_unsuccessful_measurement_has_no_weight_never_327_kg() -> None:
    reading = parse_weight_measurement(packet("00 FFFF"))

    assert reading.unsuccessful
    assert reading.weight is None and reading.weight_kg is None
    assert reading == WeightMeasurement(weight=None)
    assert encode_weight_measurement(reading) == packet("00 FFFF")


def test_user_255_is_the_unknown_user() -> None:
    reading = parse_weight_measurement(packet("04 8638 FF"))

    assert reading.user_id == UNKNOWN_USER
    assert reading.unknown_user


def test_an_all_zero_timestamp_means_the_scale_does_not_know_when() -> None:
    reading = parse_weight_measurement(packet("02 8638 00000000000000"))

    assert reading.timestamp_present and reading.timestamp is None
    assert encode_weight_measurement(reading) == packet("02 8638 00000000000000")


def test_reserved_flag_bits_are_ignored() -> None:
    assert parse_weight_measurement(packet("F0 8638")) == WeightMeasurement(weight=72.35)


def test_a_hand_built_measurement_must_be_consistent() -> None:
    with pytest.raises(ValueError):
        WeightMeasurement(weight=72.35, unsuccessful=True)
    with pytest.raises(ValueError):
        WeightMeasurement(weight=72.35, bmi=23.7)
    assert WeightMeasurement(weight=72.35, timestamp=datetime(2026, 1, 1)).timestamp_present


def test_the_emulator_cannot_send_a_weight_the_field_cannot_carry() -> None:
    with pytest.raises(ValueError):
        encode_weight_measurement(WeightMeasurement(weight=327.675))  # would be 0xFFFF: "unsuccessful"
    with pytest.raises(ValueError):
        encode_weight_measurement(WeightMeasurement(weight=-1.0))
    with pytest.raises(ValueError):
        encode_weight_measurement(WeightMeasurement(weight=70.0, user_id=256))


def test_the_feature_decodes_the_resolutions_to_their_steps() -> None:
    # b0 timestamp, b1 multiple users, b2 BMI, weight resolution 7, height resolution 3
    data = packet("BF010000")
    feature = parse_weight_scale_feature(data)

    assert feature.timestamp_supported and feature.multiple_users_supported and feature.bmi_supported
    assert (feature.weight_resolution, feature.height_resolution) == (7, 3)
    assert (feature.weight_step_kg, feature.weight_step_lb) == (0.005, 0.01)
    assert (feature.height_step_m, feature.height_step_in) == (0.001, 0.1)
    assert encode_weight_scale_feature(feature) == data


@pytest.mark.parametrize(
    ("code", "kg", "lb"),
    [(0, None, None), (1, 0.5, 1.0), (2, 0.2, 0.5), (3, 0.1, 0.2), (4, 0.05, 0.1), (5, 0.02, 0.05), (6, 0.01, 0.02)],
)
def test_weight_resolution_codes(code: int, kg: float | None, lb: float | None) -> None:
    feature = parse_weight_scale_feature((code << 3).to_bytes(4, "little"))
    assert (feature.weight_step_kg, feature.weight_step_lb) == (kg, lb)


def test_height_resolution_codes_and_reserved_codes_decode_to_no_step() -> None:
    assert parse_weight_scale_feature((1 << 7).to_bytes(4, "little")).height_step_in == 1.0
    assert parse_weight_scale_feature((2 << 7).to_bytes(4, "little")).height_step_m == 0.005
    reserved = parse_weight_scale_feature((15 << 3 | 7 << 7).to_bytes(4, "little"))
    assert (reserved.weight_resolution, reserved.height_resolution) == (15, 7)
    assert reserved.weight_step_kg is None and reserved.height_step_m is None


def test_reserved_feature_bits_are_ignored() -> None:
    assert parse_weight_scale_feature(packet("000000FF")) == WeightScaleFeature()


# --- malformed packets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "data", "characteristic", "problem"),
    [
        (parse_weight_measurement, b"", MEASUREMENT, "too short for its flags field"),
        (parse_weight_measurement, packet("00 86"), MEASUREMENT, "too short for the fields its flags promise"),
        (parse_weight_measurement, packet("02 8638"), MEASUREMENT, "too short for the fields its flags promise"),
        (parse_weight_measurement, packet("08 8638 ED00"), MEASUREMENT, "too short for the fields its flags promise"),
        (parse_weight_measurement, MI_SCALE_LIKE + b"\x00", MEASUREMENT, "1 trailing byte(s)"),
        (parse_weight_scale_feature, packet("BF0100"), FEATURE, "too short for its flags field"),
        (parse_weight_scale_feature, packet("BF01000000"), FEATURE, "1 trailing byte(s)"),
    ],
)
def test_a_packet_that_does_not_match_its_flags_is_malformed(parse, data, characteristic, problem) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse(data)
    assert caught.value.characteristic == characteristic
    assert caught.value.problem.startswith(problem)


def test_an_impossible_timestamp_is_malformed_and_the_message_hides_the_values() -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_weight_measurement(packet("02 8638 EA070B1F071E00"))  # 31 November
    assert str(caught.value) == "Weight Measurement: date time fields out of range"


# --- properties ---------------------------------------------------------------------------------

timestamps = st.none() | st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda t: t.replace(microsecond=0))


@st.composite
def measurements(draw: st.DrawFn) -> WeightMeasurement:
    imperial = draw(st.booleans())
    raw_weight = draw(st.none() | st.integers(0, 0xFFFE))
    bmi_height = draw(st.none() | st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)))
    return WeightMeasurement(
        weight=None if raw_weight is None else scaled(raw_weight, MASS_STEP[imperial]),
        imperial=imperial,
        timestamp=draw(timestamps),
        timestamp_present=draw(st.booleans()),
        user_id=draw(st.none() | st.integers(0, 255)),
        bmi=None if bmi_height is None else scaled(bmi_height[0], BMI_STEP),
        height=None if bmi_height is None else scaled(bmi_height[1], HEIGHT_STEP[imperial]),
    )


features = st.builds(
    WeightScaleFeature,
    timestamp_supported=st.booleans(),
    multiple_users_supported=st.booleans(),
    bmi_supported=st.booleans(),
    weight_resolution=st.integers(0, 15),
    height_resolution=st.integers(0, 7),
)

CODECS = [
    pytest.param(parse_weight_measurement, encode_weight_measurement, measurements(), 1, id="measurement"),
    pytest.param(parse_weight_scale_feature, encode_weight_scale_feature, features, 4, id="feature"),
]

# The laws every codec here obeys (any bytes, scrambled fields, round trip, truncation) are
# checked for all characteristics at once in test_codec_laws.py, from CODECS.


@settings(max_examples=60)
@given(flags=st.integers(0, 0xFF))
def test_flags_promising_fields_that_are_absent_are_malformed(flags: int) -> None:
    """Only the mandatory weight follows the flags: any presence bit makes the packet too short."""
    data = bytes([flags]) + packet("8638")
    if flags & 0x0E:
        with pytest.raises(MalformedPacket):
            parse_weight_measurement(data)
    else:
        assert parse_weight_measurement(data).weight in (72.35, 144.7)  # kg, or 14470 × 0.01 lb
