"""The thermometer driver's pure mapping: Temperature Measurement bytes -> a body temperature."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.devices import Advertisement, default_registry
from drivers.devices.health_device import DeviceClock
from drivers.devices.thermometer import (
    CELSIUS,
    ThermometerDriver,
    body_site,
    readings_from_temperature_bytes,
    temperature_reading,
)
from drivers.gatt import MalformedPacket
from drivers.gatt.ieee11073 import SpecialValue
from drivers.gatt.thermometer import (
    HEALTH_THERMOMETER_SERVICE_UUID,
    TemperatureMeasurement,
    TemperatureType,
    encode_temperature_measurement,
)
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, QualityFlag

ZONE = timezone(timedelta(hours=1))
NOW = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
WALL_NOW = datetime(2025, 5, 6, 8, 8, 9)
DEVICE = DeviceIdentity(address="F0:11:22:33:77:01", name="Heima Thermo 1", serial="TH1-1")


def reading_of(measurement: TemperatureMeasurement, **options):
    [reading] = readings_from_temperature_bytes(
        encode_temperature_measurement(measurement), device=DEVICE, received_at=NOW, local_zone=ZONE, **options
    )
    return reading


def test_the_exact_bytes_of_a_temperature_with_time_and_site() -> None:
    # flags 0x06 (time, type); FLOAT 0xFF000175 = 373 × 10^-1 = 37.3; 2025-05-06 08:05:00; type 3 (ear)
    data = bytes.fromhex("06" "750100ff" "e907" "05" "06" "08" "05" "00" "03")
    [reading] = readings_from_temperature_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)
    assert (reading.kind, reading.value, reading.unit) == (MeasurementKind.BODY_TEMPERATURE, 37.3, CELSIUS)
    assert reading.body_site == "ear" and reading.device_time == datetime(2025, 5, 6, 8, 5)
    assert reading.flags == {QualityFlag.FROM_STORAGE} and reading.device == DEVICE


@pytest.mark.parametrize(("fahrenheit", "celsius"), [(98.6, 37.0), (99.1, 37.28), (100.4, 38.0), (95.0, 35.0), (104.0, 40.0)])
def test_fahrenheit_is_converted_to_celsius(fahrenheit: float, celsius: float) -> None:
    assert reading_of(TemperatureMeasurement(value=fahrenheit, fahrenheit=True)).value == celsius


@pytest.mark.parametrize(
    ("code", "site"),
    [
        (TemperatureType.ARMPIT, "armpit"),
        (TemperatureType.BODY, "body"),
        (TemperatureType.EAR, "ear"),
        (TemperatureType.FINGER, "finger"),
        (TemperatureType.GASTROINTESTINAL_TRACT, "gastro-intestinal"),
        (TemperatureType.MOUTH, "mouth"),
        (TemperatureType.RECTUM, "rectum"),
        (TemperatureType.TOE, "toe"),
        (TemperatureType.TYMPANUM, "tympanum"),
        (0, None),
        (10, None),
        (None, None),
    ],
)
def test_temperature_type_becomes_the_body_site(code, site) -> None:
    assert body_site(code) == site
    assert reading_of(TemperatureMeasurement(value=36.6, temperature_type=code)).body_site == site


def test_a_single_site_thermometer_says_where_in_its_temperature_type() -> None:
    assert reading_of(TemperatureMeasurement(value=36.6), fixed_type=TemperatureType.ARMPIT).body_site == "armpit"
    # the measurement's own type wins
    own = TemperatureMeasurement(value=36.6, temperature_type=TemperatureType.MOUTH)
    assert reading_of(own, fixed_type=TemperatureType.ARMPIT).body_site == "mouth"


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
@pytest.mark.parametrize("fahrenheit", [False, True])
def test_lo_hi_and_err_are_readings_without_a_number(special, reason, fahrenheit) -> None:
    reading = reading_of(TemperatureMeasurement(value=special, fahrenheit=fahrenheit))
    assert (reading.value, reading.absent_reason) == (None, reason)


def test_the_session_clock_offset_and_an_unset_clock() -> None:
    clock = DeviceClock(device_time=WALL_NOW - timedelta(minutes=3), read_at=NOW, local_zone=ZONE)
    measurement = TemperatureMeasurement(value=37.0, timestamp=WALL_NOW - timedelta(minutes=3, seconds=20))
    reading = temperature_reading(measurement, device=DEVICE, received_at=NOW, clock=clock, local_zone=ZONE)
    assert reading.device_clock_offset == timedelta(minutes=3) and reading.flags == frozenset()
    unset = TemperatureMeasurement(value=37.0, timestamp=datetime(2000, 1, 1, 0, 4))
    assert reading_of(unset).flags == {QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE}


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02", b"\x02\x75\x01\x00\xff", b"\x04\x75\x01\x00\xff"])
def test_malformed_bytes_raise(data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        readings_from_temperature_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)


def test_matcher() -> None:
    thermometer = Advertisement(address="x", service_uuids=frozenset({HEALTH_THERMOMETER_SERVICE_UUID}))
    assert isinstance(default_registry().match(thermometer), ThermometerDriver)


@given(
    value=st.one_of(st.sampled_from(list(SpecialValue)), st.decimals(min_value=-50, max_value=120, places=2).map(float)),
    fahrenheit=st.booleans(),
    site=st.none() | st.integers(0, 255),
)
def test_no_temperature_ever_carries_a_number_the_thermometer_did_not_send(value, fahrenheit, site) -> None:
    reading = reading_of(TemperatureMeasurement(value=value, fahrenheit=fahrenheit, temperature_type=site))
    if isinstance(value, SpecialValue):
        assert reading.value is None and reading.absent_reason is not None
    else:
        expected = (value - 32) * 5 / 9 if fahrenheit else value
        assert reading.value == pytest.approx(expected, abs=0.006)
    assert reading.body_site == (body_site(site) if site is not None and 1 <= site <= 9 else None)


@given(st.binary(max_size=16))
def test_any_bytes_give_one_reading_or_a_malformed_packet(data: bytes) -> None:
    try:
        produced = readings_from_temperature_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)
    except MalformedPacket:
        return
    [reading] = produced
    assert (reading.value is None) != (reading.absent_reason is None)
