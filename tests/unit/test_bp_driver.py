"""The blood pressure driver's pure byte -> Reading mapping, its device-clock rules and matchers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.devices import Advertisement, default_registry
from drivers.devices.blood_pressure import (
    MMHG,
    AndBloodPressureDriver,
    BloodPressureDriver,
    OmronBloodPressureDriver,
    bp_readings,
    cuff_pressure_from_bytes,
    readings_from_bp_bytes,
    to_mmhg,
)
from drivers.devices.health_device import AND_CUSTOM_SERVICE_UUID, DeviceClock, time_fields
from drivers.gatt import MalformedPacket
from drivers.gatt.blood_pressure import (
    BLOOD_PRESSURE_SERVICE_UUID,
    BloodPressureMeasurement,
    BloodPressureMeasurementStatus,
    PulseRateRange,
    encode_bp_measurement,
)
from drivers.gatt.ieee11073 import SpecialValue
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, QualityFlag

ZONE = timezone(timedelta(hours=1))  # the hub's zone in these tests (CET)
NOW = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)  # 08:08:09 on the wall clock
WALL_NOW = datetime(2025, 5, 6, 8, 8, 9)
DEVICE = DeviceIdentity(address="F0:11:22:33:55:01", name="Heima BP 1", serial="BP1-1")
COMPONENTS = (MeasurementKind.SYSTOLIC_PRESSURE, MeasurementKind.DIASTOLIC_PRESSURE, MeasurementKind.MEAN_ARTERIAL_PRESSURE)


def readings(measurement: BloodPressureMeasurement, clock: DeviceClock | None = None):
    return readings_from_bp_bytes(
        encode_bp_measurement(measurement), device=DEVICE, received_at=NOW, clock=clock, local_zone=ZONE
    )


def panel_values(reading) -> list[float | None]:
    assert [c.kind for c in reading.components] == list(COMPONENTS)
    return [c.value for c in reading.components]


def test_a_measurement_is_one_panel_and_a_cuff_pulse_rate() -> None:
    # flags 0x1E (timestamp, pulse, user, status); 120/80/93 mmHg; 2025-05-06 08:00:00;
    # pulse 64; user 2; status 0x0004 = irregular pulse
    data = bytes.fromhex("1e" "7800" "5000" "5d00" "e907" "05" "06" "08" "00" "00" "4000" "02" "0400")
    bp, pulse = readings_from_bp_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)
    assert bp.kind is MeasurementKind.BLOOD_PRESSURE and bp.value is None and bp.absent_reason is None
    assert panel_values(bp) == [120.0, 80.0, 93.0] and {c.unit for c in bp.components} == {MMHG}
    assert (pulse.kind, pulse.value, pulse.unit) == (MeasurementKind.CUFF_PULSE_RATE, 64.0, "/min")
    for reading in (bp, pulse):
        assert reading.device == DEVICE and reading.received_at == NOW
        assert reading.device_time == datetime(2025, 5, 6, 8, 0, 0)
        assert reading.device_user == 2
        assert reading.flags == {QualityFlag.IRREGULAR_PULSE, QualityFlag.FROM_STORAGE}  # 8 min before reception
        assert reading.device_clock_offset is None  # no clock was read


def test_no_pulse_field_no_pulse_reading() -> None:
    [bp] = readings(BloodPressureMeasurement(systolic=118, diastolic=76, mean_arterial_pressure=90))
    assert panel_values(bp) == [118.0, 76.0, 90.0]
    assert bp.device_time is None and bp.flags == frozenset() and bp.device_user is None


@pytest.mark.parametrize(
    ("kpa", "mmhg"),
    [(16.0, 120.0), (10.7, 80.0), (12.4, 93.0), (16.1, 121.0), (0.0, 0.0), (24.0, 180.0), (13.3, 100.0)],
)
def test_kpa_is_converted_to_whole_mmhg(kpa: float, mmhg: float) -> None:
    assert to_mmhg(kpa, kpa=True) == mmhg
    [bp] = readings(BloodPressureMeasurement(systolic=kpa, diastolic=kpa, mean_arterial_pressure=kpa, kpa=True))
    assert panel_values(bp) == [mmhg] * 3 and bp.components[0].unit == MMHG


def test_mmhg_values_are_kept_as_sent() -> None:
    assert to_mmhg(120.5, kpa=False) == 120.5


@pytest.mark.parametrize(
    ("status", "flag"),
    [
        ({"body_movement": True}, QualityFlag.BODY_MOVEMENT),
        ({"cuff_too_loose": True}, QualityFlag.CUFF_LOOSE),
        ({"irregular_pulse": True}, QualityFlag.IRREGULAR_PULSE),
        ({"improper_measurement_position": True}, QualityFlag.IMPROPER_POSITION),
        ({"pulse_rate_range": PulseRateRange.EXCEEDS_UPPER_LIMIT}, QualityFlag.PULSE_RATE_OUT_OF_RANGE),
        ({"pulse_rate_range": PulseRateRange.BELOW_LOWER_LIMIT}, QualityFlag.PULSE_RATE_OUT_OF_RANGE),
        ({"pulse_rate_range": PulseRateRange.RESERVED}, QualityFlag.PULSE_RATE_OUT_OF_RANGE),
    ],
)
def test_each_status_bit_becomes_a_flag_and_the_values_are_kept(status: dict, flag: QualityFlag) -> None:
    measurement = BloodPressureMeasurement(
        systolic=141,
        diastolic=92,
        mean_arterial_pressure=108,
        pulse_rate=88,
        measurement_status=BloodPressureMeasurementStatus.from_flags(**status),
    )
    bp, pulse = readings(measurement)
    assert bp.flags == pulse.flags == {flag}
    assert panel_values(bp) == [141.0, 92.0, 108.0] and pulse.value == 88.0


def test_a_status_with_nothing_to_report_adds_no_flag() -> None:
    status = BloodPressureMeasurementStatus.from_raw(0xFFC0)  # reserved bits only
    [bp] = readings(BloodPressureMeasurement(systolic=120, diastolic=80, mean_arterial_pressure=93, measurement_status=status))
    assert bp.flags == frozenset()


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
def test_special_values_leave_the_component_without_a_number(special: SpecialValue, reason: AbsentReason) -> None:
    bp, pulse = readings(
        BloodPressureMeasurement(systolic=special, diastolic=80, mean_arterial_pressure=special, pulse_rate=special)
    )
    systolic, diastolic, mean = bp.components
    assert (systolic.value, systolic.absent_reason) == (None, reason)
    assert (mean.value, mean.absent_reason) == (None, reason)
    assert (diastolic.value, diastolic.absent_reason) == (80.0, None)
    assert (pulse.value, pulse.absent_reason) == (None, reason)


def test_an_error_reading_2047_is_never_a_pressure() -> None:
    # What a cuff shows as "Err": every field NaN (0x07FF = 2047 as a plain integer)
    data = bytes.fromhex("04" "ff07" "ff07" "ff07" "ff07")
    bp, pulse = readings_from_bp_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)
    assert panel_values(bp) == [None, None, None] and pulse.value is None
    assert not bp.has_value and not pulse.has_value


@pytest.mark.parametrize(("user", "expected"), [(1, 1), (2, 2), (0, 0), (254, 254), (255, None)])
def test_user_number_becomes_device_user_and_255_is_unknown(user: int, expected: int | None) -> None:
    [bp] = readings(BloodPressureMeasurement(systolic=120, diastolic=80, mean_arterial_pressure=93, user_id=user))
    assert bp.device_user == expected


def test_intermediate_cuff_pressure_is_a_live_number_in_mmhg() -> None:
    icp = BloodPressureMeasurement(systolic=145, diastolic=SpecialValue.NAN, mean_arterial_pressure=SpecialValue.NAN)
    assert cuff_pressure_from_bytes(encode_bp_measurement(icp)) == 145.0
    icp_kpa = BloodPressureMeasurement(systolic=20.0, diastolic=SpecialValue.NAN, mean_arterial_pressure=SpecialValue.NAN, kpa=True)
    assert cuff_pressure_from_bytes(encode_bp_measurement(icp_kpa)) == 150.0
    nan = BloodPressureMeasurement(systolic=SpecialValue.NAN, diastolic=SpecialValue.NAN, mean_arterial_pressure=SpecialValue.NAN)
    assert cuff_pressure_from_bytes(encode_bp_measurement(nan)) is None
    with pytest.raises(MalformedPacket):
        cuff_pressure_from_bytes(b"\x00\x01")


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x78\x00\x50\x00", b"\x02\x78\x00\x50\x00\x5d\x00", b"\x00" * 8])
def test_malformed_bytes_raise_without_values(data: bytes) -> None:
    with pytest.raises(MalformedPacket) as error:
        readings_from_bp_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)
    assert "120" not in str(error.value)


# --- device clock and device time --------------------------------------------------------------


def clock(shown: datetime | None) -> DeviceClock:
    return DeviceClock(device_time=shown, read_at=NOW, local_zone=ZONE)


def test_clock_offset_is_hub_minus_device_in_whole_seconds() -> None:
    assert clock(WALL_NOW).offset == timedelta(0)
    assert clock(WALL_NOW - timedelta(minutes=7)).offset == timedelta(minutes=7)  # device behind
    assert clock(WALL_NOW + timedelta(hours=1)).offset == timedelta(hours=-1)  # device in summer time
    late = DeviceClock(device_time=WALL_NOW, read_at=NOW + timedelta(microseconds=900_000), local_zone=ZONE)
    assert late.offset == timedelta(0)  # the device cut the fraction: not a drift


def test_a_clock_that_says_unknown_or_reads_before_2020_is_not_set() -> None:
    for shown in (None, datetime(2000, 1, 1, 0, 3), datetime(2019, 12, 31, 23, 59)):
        assert not clock(shown).is_set and clock(shown).offset is None
        assert clock(shown).needs_setting(timedelta(minutes=5))
    assert clock(datetime(2020, 1, 1)).is_set


def test_drift_beyond_the_tolerance_needs_setting() -> None:
    tolerance = timedelta(minutes=5)
    assert not clock(WALL_NOW - timedelta(minutes=4)).needs_setting(tolerance)
    assert clock(WALL_NOW - timedelta(minutes=6)).needs_setting(tolerance)
    assert clock(WALL_NOW + timedelta(minutes=6)).needs_setting(tolerance)


def test_a_stored_record_is_told_from_a_fresh_one_by_its_corrected_time() -> None:
    behind = clock(WALL_NOW - timedelta(hours=2))  # the device clock is 2 h behind
    fresh = WALL_NOW - timedelta(hours=2, minutes=1)  # taken a minute ago, on the device's clock
    old = WALL_NOW - timedelta(hours=3)  # taken an hour ago
    assert time_fields(fresh, True, received_at=NOW, clock=behind, local_zone=ZONE) == (fresh, frozenset(), timedelta(hours=2))
    assert time_fields(old, True, received_at=NOW, clock=behind, local_zone=ZONE) == (
        old,
        {QualityFlag.FROM_STORAGE},
        timedelta(hours=2),
    )


def test_device_clock_not_set_is_flagged_never_guessed() -> None:
    not_set = frozenset({QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE})
    stamped = datetime(2000, 1, 1, 0, 12)
    assert time_fields(stamped, True, received_at=NOW, clock=None, local_zone=ZONE) == (stamped, not_set, None)
    assert time_fields(None, True, received_at=NOW, clock=None, local_zone=ZONE) == (None, not_set, None)  # "unknown"
    plausible = WALL_NOW - timedelta(hours=1)
    assert time_fields(plausible, True, received_at=NOW, clock=clock(None), local_zone=ZONE)[1] == not_set
    # a record stamped before the hub set a reset clock: still not a time
    assert time_fields(stamped, True, received_at=NOW, clock=clock(WALL_NOW), local_zone=ZONE)[1] == not_set
    assert time_fields(None, False, received_at=NOW, clock=None, local_zone=ZONE) == (None, frozenset(), None)


def test_readings_carry_the_session_clock_offset() -> None:
    measurement = BloodPressureMeasurement(
        systolic=120, diastolic=80, mean_arterial_pressure=93, pulse_rate=60, timestamp=WALL_NOW - timedelta(minutes=10, seconds=30)
    )
    bp, pulse = readings(measurement, clock(WALL_NOW - timedelta(minutes=10)))
    assert bp.device_clock_offset == pulse.device_clock_offset == timedelta(minutes=10)
    assert QualityFlag.FROM_STORAGE not in bp.flags  # 30 s old once corrected


# --- matchers -----------------------------------------------------------------------------------


def ad(name: str | None, *uuids: str, connectable: bool | None = True) -> Advertisement:
    return Advertisement(address="F0:00:00:00:00:09", name=name, service_uuids=frozenset(uuids), connectable=connectable)


def test_vendor_monitors_win_over_the_standard_driver() -> None:
    registry = default_registry()
    assert isinstance(registry.match(ad("A&D_UA-651_0A1B2C", BLOOD_PRESSURE_SERVICE_UUID)), AndBloodPressureDriver)
    assert isinstance(registry.match(ad("A&D_UA-651_0A1B2C")), AndBloodPressureDriver)
    assert isinstance(registry.match(ad(None, BLOOD_PRESSURE_SERVICE_UUID, AND_CUSTOM_SERVICE_UUID)), AndBloodPressureDriver)
    assert isinstance(registry.match(ad("BLEsmart_00000116", BLOOD_PRESSURE_SERVICE_UUID)), OmronBloodPressureDriver)
    generic = registry.match(ad("Some BP", BLOOD_PRESSURE_SERVICE_UUID))
    assert type(generic) is BloodPressureDriver
    assert registry.match(ad("A&D_UA-651_0A1B2C", connectable=False)) is None


def test_only_omron_pairs_before_discovery_and_only_a_and_d_always_sets_its_clock() -> None:
    assert OmronBloodPressureDriver.pair_before_discovery
    assert not BloodPressureDriver.pair_before_discovery and not AndBloodPressureDriver.pair_before_discovery
    assert AndBloodPressureDriver.clock_policy.value == "always"
    assert OmronBloodPressureDriver.clock_policy.value == "when-drifted"


# --- properties ---------------------------------------------------------------------------------

pressures = st.one_of(
    st.sampled_from(list(SpecialValue)),
    st.integers(min_value=0, max_value=300).map(float),
    st.decimals(min_value=0, max_value=40, places=1).map(float),
)


@given(
    systolic=pressures,
    diastolic=pressures,
    mean=pressures,
    pulse=st.none() | pressures,
    kpa=st.booleans(),
    user=st.none() | st.integers(min_value=0, max_value=255),
    status=st.none() | st.integers(min_value=0, max_value=0xFFFF),
)
def test_no_component_ever_carries_a_number_the_device_did_not_send(systolic, diastolic, mean, pulse, kpa, user, status) -> None:
    measurement = BloodPressureMeasurement(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean,
        kpa=kpa,
        pulse_rate=pulse,
        user_id=user,
        measurement_status=None if status is None else BloodPressureMeasurementStatus.from_raw(status),
    )
    produced = readings(measurement)
    bp = produced[0]
    assert len(produced) == (1 if pulse is None else 2)
    for component, sent in zip(bp.components, (systolic, diastolic, mean), strict=True):
        if isinstance(sent, SpecialValue):
            assert component.value is None and component.absent_reason is not None
        else:
            assert component.value == pytest.approx(to_mmhg(sent, kpa))
    if pulse is not None:
        assert (produced[1].value is None) == isinstance(pulse, SpecialValue)
    assert bp.device_user == (None if user in (None, 255) else user)


@given(st.binary(max_size=24))
def test_any_bytes_give_readings_or_a_malformed_packet_never_anything_else(data: bytes) -> None:
    try:
        produced = readings_from_bp_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)
    except MalformedPacket:
        return
    from drivers.gatt.blood_pressure import parse_bp_measurement

    parsed = parse_bp_measurement(data)
    expected = bp_readings(parsed, device=DEVICE, received_at=NOW, local_zone=ZONE)
    assert produced == expected
    for component in produced[0].components:
        assert (component.value is None) != (component.absent_reason is None)
