"""The PLX driver's pure byte -> Reading mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.devices.pulse_oximeter import (
    PULSE_RATE_UNIT,
    SPO2_UNIT,
    quality_flags,
    readings_from_spot_check_bytes,
    spot_check_readings,
)
from drivers.gatt import MalformedPacket
from drivers.gatt.ieee11073 import SpecialValue
from drivers.gatt.plx import PlxDeviceSensorStatus, PlxMeasurementStatus, PlxSpotCheck, encode_spot_check
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, QualityFlag

NOW = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
DEVICE = DeviceIdentity(address="F0:11:22:33:44:01", name="Heima PLX 1", serial="PLX1-1")
TAKEN = datetime(2025, 5, 6, 8, 0, 0)


def readings(measurement: PlxSpotCheck):
    return readings_from_spot_check_bytes(encode_spot_check(measurement), device=DEVICE, received_at=NOW)


def test_a_plain_spot_check_becomes_two_readings() -> None:
    spo2, pulse = readings(PlxSpotCheck(spo2=97, pulse_rate=64, timestamp=TAKEN))
    assert (spo2.kind, spo2.value, spo2.unit) == (MeasurementKind.OXYGEN_SATURATION, 97.0, SPO2_UNIT)
    assert (pulse.kind, pulse.value, pulse.unit) == (MeasurementKind.PULSE_RATE, 64.0, PULSE_RATE_UNIT)
    for reading in (spo2, pulse):
        assert reading.device == DEVICE and reading.received_at == NOW and reading.device_time == TAKEN
        assert reading.flags == frozenset() and reading.record_id is None and reading.absent_reason is None


def test_the_exact_bytes_of_a_spot_check_with_status_and_timestamp() -> None:
    # flags 0x03 (timestamp, status), SpO2 0x0061 = 97, PR 0x0040 = 64,
    # 2025-05-06 08:00:00, status 0x0280 = validated (b7) + from storage (b9)
    data = bytes.fromhex("03" "6100" "4000" "e907" "05" "06" "08" "00" "00" "8002")
    spo2, pulse = readings_from_spot_check_bytes(data, device=DEVICE, received_at=NOW)
    assert (spo2.value, pulse.value, spo2.device_time) == (97.0, 64.0, TAKEN)
    assert spo2.flags == {QualityFlag.VALIDATED, QualityFlag.FROM_STORAGE}


def test_fractional_values_survive() -> None:
    spo2, pulse = readings(PlxSpotCheck(spo2=96.5, pulse_rate=71.2))
    assert (spo2.value, pulse.value) == (96.5, 71.2)
    assert spo2.device_time is None  # no timestamp field


@pytest.mark.parametrize(
    ("special", "reason"),
    [
        (SpecialValue.NAN, AbsentReason.NOT_A_NUMBER),
        (SpecialValue.NRES, AbsentReason.NOT_AT_THIS_RESOLUTION),
        (SpecialValue.POSITIVE_INFINITY, AbsentReason.POSITIVE_INFINITY),
        (SpecialValue.NEGATIVE_INFINITY, AbsentReason.NEGATIVE_INFINITY),
        (SpecialValue.RESERVED, AbsentReason.RESERVED),
    ],
)
def test_special_values_are_absent_readings(special: SpecialValue, reason: AbsentReason) -> None:
    spo2, pulse = readings(PlxSpotCheck(spo2=special, pulse_rate=64))
    assert (spo2.value, spo2.absent_reason) == (None, reason)
    assert (pulse.value, pulse.absent_reason) == (64.0, None)
    spo2, pulse = readings(PlxSpotCheck(spo2=97, pulse_rate=special))
    assert (pulse.value, pulse.absent_reason) == (None, reason)


def test_invalid_status_never_yields_a_number() -> None:
    status = PlxMeasurementStatus.from_flags(invalid=True)
    spo2, pulse = readings(PlxSpotCheck(spo2=97, pulse_rate=64, measurement_status=status))
    for reading in (spo2, pulse):
        assert reading.value is None and reading.absent_reason == AbsentReason.ERROR
        assert QualityFlag.INVALID in reading.flags


@pytest.mark.parametrize(
    ("status_flag", "quality_flag"),
    [
        ("measurement_ongoing", QualityFlag.MEASUREMENT_ONGOING),
        ("early_estimate", QualityFlag.EARLY_ESTIMATE),
        ("validated", QualityFlag.VALIDATED),
        ("fully_qualified", QualityFlag.FULLY_QUALIFIED),
        ("from_storage", QualityFlag.FROM_STORAGE),
        ("demo_data", QualityFlag.DEMO_DATA),
        ("testing_data", QualityFlag.TESTING_DATA),
        ("calibration_ongoing", QualityFlag.CALIBRATION_ONGOING),
        ("unavailable", QualityFlag.UNAVAILABLE),
        ("questionable", QualityFlag.QUESTIONABLE),
    ],
)
def test_each_status_bit_maps_to_its_flag_and_keeps_the_value(status_flag: str, quality_flag: QualityFlag) -> None:
    status = PlxMeasurementStatus.from_flags(**{status_flag: True})
    spo2, pulse = readings(PlxSpotCheck(spo2=97, pulse_rate=64, measurement_status=status))
    assert spo2.flags == pulse.flags == {quality_flag}
    assert spo2.value == 97.0


def test_clock_not_set_is_flagged_and_the_device_time_kept() -> None:
    spo2, _ = readings(PlxSpotCheck(spo2=97, pulse_rate=64, timestamp=datetime(2000, 1, 1, 0, 5), device_clock_not_set=True))
    assert spo2.flags == {QualityFlag.DEVICE_CLOCK_NOT_SET}
    assert spo2.device_time == datetime(2000, 1, 1, 0, 5)


def test_unknown_timestamp_gives_no_device_time() -> None:
    spo2, _ = readings(PlxSpotCheck(spo2=97, pulse_rate=64, timestamp=None, timestamp_present=True))
    assert spo2.device_time is None


def test_sensor_faults_are_flagged_but_work_in_progress_is_not() -> None:
    fault = PlxDeviceSensorStatus.from_flags(sensor_displaced=True)
    busy = PlxDeviceSensorStatus.from_flags(signal_analysis_ongoing=True)
    assert readings(PlxSpotCheck(spo2=97, pulse_rate=64, device_status=fault))[0].flags == {QualityFlag.SENSOR_PROBLEM}
    assert readings(PlxSpotCheck(spo2=97, pulse_rate=64, device_status=busy))[0].flags == frozenset()


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x61\x00\x40", b"\x01\x61\x00\x40\x00", b"\x00\x61\x00\x40\x00\xff"])
def test_malformed_bytes_raise_malformed_packet_without_values(data: bytes) -> None:
    with pytest.raises(MalformedPacket) as error:
        readings_from_spot_check_bytes(data, device=DEVICE, received_at=NOW)
    assert "97" not in str(error.value) and "64" not in str(error.value)


def test_received_at_must_be_aware() -> None:
    with pytest.raises(ValueError):
        spot_check_readings(PlxSpotCheck(spo2=97, pulse_rate=64), device=DEVICE, received_at=datetime(2025, 1, 1))


numbers = st.one_of(
    st.sampled_from(list(SpecialValue)),
    st.integers(min_value=0, max_value=300).map(float),
    st.decimals(min_value=0, max_value=100, places=1).map(float),
)


@given(
    spo2=numbers,
    pulse_rate=numbers,
    status=st.none() | st.integers(min_value=0, max_value=0xFFFF),
    device_status=st.none() | st.integers(min_value=0, max_value=0xFFFFFF),
    clock_not_set=st.booleans(),
)
def test_every_spot_check_maps_to_two_consistent_readings(
    spo2: float | SpecialValue,
    pulse_rate: float | SpecialValue,
    status: int | None,
    device_status: int | None,
    clock_not_set: bool,
) -> None:
    measurement = PlxSpotCheck(
        spo2=spo2,
        pulse_rate=pulse_rate,
        timestamp=TAKEN,
        measurement_status=None if status is None else PlxMeasurementStatus.from_raw(status),
        device_status=None if device_status is None else PlxDeviceSensorStatus.from_raw(device_status),
        device_clock_not_set=clock_not_set,
    )
    first, second = readings(measurement)
    assert (first.kind, second.kind) == (MeasurementKind.OXYGEN_SATURATION, MeasurementKind.PULSE_RATE)
    assert first.flags == second.flags == quality_flags(measurement)
    invalid = status is not None and bool(status & 0x8000)
    for reading, number in ((first, spo2), (second, pulse_rate)):
        assert (reading.value is None) != (reading.absent_reason is None)
        if isinstance(number, SpecialValue) or invalid:
            assert reading.value is None  # never an error code or an invalid value as a number
        else:
            assert reading.value == pytest.approx(number)
