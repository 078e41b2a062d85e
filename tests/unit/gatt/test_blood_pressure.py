"""Blood Pressure Service codecs: cuff readings, live cuff pressure and features, as monitors send them.

Monitors write pressures with exponent 0 (120 mmHg is mantissa 120), the encoder picks the
shortest mantissa (12 × 10¹); both are the same SFLOAT number, so fixtures compare values.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.blood_pressure import (
    BLOOD_PRESSURE_FEATURE_UUID,
    BLOOD_PRESSURE_MEASUREMENT_UUID,
    BLOOD_PRESSURE_SERVICE_UUID,
    INTERMEDIATE_CUFF_PRESSURE_UUID,
    BloodPressureFeature,
    BloodPressureMeasurement,
    BloodPressureMeasurementStatus,
    PulseRateRange,
    encode_bp_feature,
    encode_bp_measurement,
    parse_bp_feature,
    parse_bp_measurement,
    parse_intermediate_cuff_pressure,
)
from drivers.gatt.ieee11073 import SpecialValue, decode_sfloat

MEASUREMENT = "Blood Pressure Measurement"
INTERMEDIATE = "Intermediate Cuff Pressure"
FEATURE = "Blood Pressure Feature"


def packet(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# --- fixtures as a monitor sends them ------------------------------------------------------------

# flags 16: timestamp, pulse rate, measurement status. 120 / 80 / MAP 93 mmHg,
# 2026-11-20 07:30:00, pulse 64 /min, status b1 cuff too loose
OMRON_LIKE = packet("16 7800 5000 5D00 EA070B14071E00 4000 0200")

# A&D-style reading in kPa: flags 07 (kPa, timestamp, pulse). 16.0 / 10.7 / 12.4 kPa as
# mantissa·10⁻¹ (F0A0, F06B, F07C), pulse 72
KPA_READING = packet("07 A0F0 6BF0 7CF0 EA070B14071E00 4800")

# Intermediate cuff pressure at 150 mmHg: diastolic and MAP are NaN by specification
CUFF_INFLATING = packet("00 9600 FF07 FF07")


def test_uuids_are_full_lowercase_128_bit_strings_as_bleak_reports_them() -> None:
    base = "-0000-1000-8000-00805f9b34fb"
    assert BLOOD_PRESSURE_SERVICE_UUID == "00001810" + base
    assert BLOOD_PRESSURE_MEASUREMENT_UUID == "00002a35" + base
    assert INTERMEDIATE_CUFF_PRESSURE_UUID == "00002a36" + base
    assert BLOOD_PRESSURE_FEATURE_UUID == "00002a49" + base


def test_a_reading_with_pulse_and_a_loose_cuff() -> None:
    reading = parse_bp_measurement(OMRON_LIKE)

    assert (reading.systolic, reading.diastolic, reading.mean_arterial_pressure) == (120.0, 80.0, 93.0)
    assert not reading.kpa
    assert reading.timestamp == datetime(2026, 11, 20, 7, 30, 0)
    assert reading.pulse_rate == 64.0
    assert reading.user_id is None
    status = reading.measurement_status
    assert status is not None and status.cuff_too_loose and status.any_problem
    assert not (status.body_movement or status.irregular_pulse or status.improper_measurement_position)
    assert status.pulse_rate_range is PulseRateRange.WITHIN_RANGE
    assert parse_bp_measurement(encode_bp_measurement(reading)) == reading


def test_an_a_and_d_style_reading_in_kilopascal() -> None:
    reading = parse_bp_measurement(KPA_READING)

    assert reading.kpa
    assert (reading.systolic, reading.diastolic, reading.mean_arterial_pressure) == (16.0, 10.7, 12.4)
    assert reading.pulse_rate == 72.0 and reading.measurement_status is None
    assert parse_bp_measurement(encode_bp_measurement(reading)) == reading


def test_intermediate_cuff_pressure_shares_the_layout() -> None:
    live = parse_intermediate_cuff_pressure(CUFF_INFLATING)

    assert live.cuff_pressure == 150.0
    assert live.diastolic is SpecialValue.NAN and live.mean_arterial_pressure is SpecialValue.NAN
    assert parse_intermediate_cuff_pressure(encode_bp_measurement(live)) == live


def test_an_err_reading_is_special_values_never_2047_mmhg() -> None:
    reading = parse_bp_measurement(packet("04 FF07 FF07 FF07 FF07"))

    assert reading.systolic is SpecialValue.NAN and not reading.systolic
    assert reading.pulse_rate is SpecialValue.NAN


def test_a_user_id_and_every_status_bit() -> None:
    # flags 18: user 2, status 0x003D: body movement, irregular pulse, pulse range 3 (reserved),
    # improper position
    reading = parse_bp_measurement(packet("18 7800 5000 5D00 02 3D00"))

    assert reading.user_id == 2 and not reading.unknown_user
    status = reading.measurement_status
    assert status is not None
    assert status.body_movement and status.irregular_pulse and status.improper_measurement_position
    assert not status.cuff_too_loose
    assert status.pulse_rate_range is PulseRateRange.RESERVED


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x00, PulseRateRange.WITHIN_RANGE),
        (0x08, PulseRateRange.EXCEEDS_UPPER_LIMIT),
        (0x10, PulseRateRange.BELOW_LOWER_LIMIT),
        (0x18, PulseRateRange.RESERVED),
    ],
)
def test_pulse_rate_range_is_bits_3_and_4(raw: int, expected: PulseRateRange) -> None:
    status = BloodPressureMeasurementStatus.from_raw(raw)

    assert status.pulse_rate_range is expected
    assert BloodPressureMeasurementStatus.from_flags(pulse_rate_range=expected).raw == raw
    assert status.any_problem == (expected is not PulseRateRange.WITHIN_RANGE)


def test_status_bits_follow_the_specification_and_reserved_bits_are_kept() -> None:
    bits = [("body_movement", 0), ("cuff_too_loose", 1), ("irregular_pulse", 2), ("improper_measurement_position", 5)]
    for name, bit in bits:
        assert getattr(BloodPressureMeasurementStatus.from_raw(1 << bit), name)
        assert BloodPressureMeasurementStatus.from_flags(**{name: True}).raw == 1 << bit
    reserved = BloodPressureMeasurementStatus.from_raw(0xFFC0)
    assert reserved.raw == 0xFFC0 and not reserved.any_problem


def test_a_hand_built_status_that_disagrees_with_raw_is_refused() -> None:
    with pytest.raises(ValueError):
        BloodPressureMeasurementStatus(0, True, False, False, PulseRateRange.WITHIN_RANGE, False)
    with pytest.raises(ValueError):
        BloodPressureMeasurementStatus(0, False, False, False, PulseRateRange.BELOW_LOWER_LIMIT, False)
    with pytest.raises(TypeError):
        BloodPressureMeasurementStatus.from_flags(loose=True)


def test_reserved_flag_bits_are_ignored() -> None:
    assert parse_bp_measurement(packet("E0 7800 5000 5D00")) == BloodPressureMeasurement(120.0, 80.0, 93.0)


def test_features() -> None:
    feature = parse_bp_feature(packet("3F00"))

    assert all(getattr(feature, name) for name in BloodPressureFeature.__dataclass_fields__)
    assert encode_bp_feature(feature) == packet("3F00")
    assert parse_bp_feature(packet("2000")) == BloodPressureFeature(multiple_bonds=True)
    assert parse_bp_feature(packet("C0FF")) == BloodPressureFeature()


# --- malformed packets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "data", "characteristic", "problem"),
    [
        (parse_bp_measurement, b"", MEASUREMENT, "too short for its flags field"),
        (parse_bp_measurement, packet("00 7800 5000"), MEASUREMENT, "too short for the fields its flags promise"),
        (parse_bp_measurement, packet("04 7800 5000 5D00"), MEASUREMENT, "too short for the fields its flags promise"),
        (parse_bp_measurement, packet("10 7800 5000 5D00 02"), MEASUREMENT, "too short for the fields"),
        (parse_bp_measurement, OMRON_LIKE + b"\x00", MEASUREMENT, "1 trailing byte(s)"),
        (parse_intermediate_cuff_pressure, packet("00 9600 FF07"), INTERMEDIATE, "too short for the fields"),
        (parse_bp_feature, packet("3F"), FEATURE, "too short for its flags field"),
        (parse_bp_feature, packet("3F0000"), FEATURE, "1 trailing byte(s)"),
    ],
)
def test_a_packet_that_does_not_match_its_flags_is_malformed(parse, data, characteristic, problem) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse(data)
    assert caught.value.characteristic == characteristic
    assert caught.value.problem.startswith(problem)


def test_an_impossible_timestamp_is_malformed_and_the_message_hides_the_values() -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_bp_measurement(packet("02 7800 5000 5D00 EA070B14073C00"))  # minute 60
    assert str(caught.value) == "Blood Pressure Measurement: date time fields out of range"


# --- properties ---------------------------------------------------------------------------------

sfloats = st.integers(0, 0xFFFF).map(decode_sfloat)
timestamps = st.none() | st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda t: t.replace(microsecond=0))

measurements = st.builds(
    BloodPressureMeasurement,
    systolic=sfloats,
    diastolic=sfloats,
    mean_arterial_pressure=sfloats,
    kpa=st.booleans(),
    timestamp=timestamps,
    timestamp_present=st.booleans(),
    pulse_rate=st.none() | sfloats,
    user_id=st.none() | st.integers(0, 255),
    measurement_status=st.none() | st.integers(0, 0xFFFF).map(BloodPressureMeasurementStatus.from_raw),
)
features = st.builds(
    BloodPressureFeature, **{name: st.booleans() for name in BloodPressureFeature.__dataclass_fields__}
)

CODECS = [
    pytest.param(parse_bp_measurement, encode_bp_measurement, measurements, 1, id="measurement"),
    pytest.param(parse_intermediate_cuff_pressure, encode_bp_measurement, measurements, 1, id="intermediate"),
    pytest.param(parse_bp_feature, encode_bp_feature, features, 2, id="feature"),
]

# The laws every codec here obeys (any bytes, scrambled fields, round trip, truncation) are
# checked for all characteristics at once in test_codec_laws.py, from CODECS.


@settings(max_examples=60)
@given(flags=st.integers(0, 0xFF))
def test_flags_promising_fields_that_are_absent_are_malformed(flags: int) -> None:
    data = bytes([flags]) + packet("7800 5000 5D00")
    if flags & 0b1_1110:
        with pytest.raises(MalformedPacket):
            parse_bp_measurement(data)
    else:
        assert parse_bp_measurement(data).systolic == 120.0
