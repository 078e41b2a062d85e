"""The scale drivers' pure mappings: weight scale and body composition bytes -> readings, and
Xiaomi advertisements -> one reading per stabilised weighing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.devices import Advertisement, default_registry
from drivers.devices.scales import (
    BMI_UNIT,
    CM,
    KG,
    PERCENT,
    AndWeightScaleDriver,
    MiBodyCompositionScaleDriver,
    MiScaleDriver,
    WeightScaleDriver,
    body_composition_readings,
    mi_weighing_readings,
    parse_mi_body_composition_scale,
    parse_mi_scale_v1,
    readings_from_weight_bytes,
    weight_readings,
)
from drivers.emulator.scales import encode_mi_body_composition, encode_mi_scale_v1
from drivers.gatt import MalformedPacket
from drivers.gatt.body_composition import BODY_COMPOSITION_SERVICE_UUID, BodyCompositionMeasurement
from drivers.gatt.weight import WEIGHT_SCALE_SERVICE_UUID, WeightMeasurement, encode_weight_measurement
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, QualityFlag

ZONE = timezone(timedelta(hours=1))
NOW = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
WALL_NOW = datetime(2025, 5, 6, 8, 8, 9)
DEVICE = DeviceIdentity(address="F0:11:22:33:66:01", name="Heima Scale 1", serial="SC1-1")


def kinds_values(readings) -> list[tuple[MeasurementKind, float | None, str]]:
    return [(r.kind, r.value, r.unit) for r in readings]


def weight(measurement: WeightMeasurement):
    return readings_from_weight_bytes(encode_weight_measurement(measurement), device=DEVICE, received_at=NOW, local_zone=ZONE)


def test_the_exact_bytes_of_a_weighing_with_bmi_height_and_user() -> None:
    # flags 0x0E (time, user, BMI+height); 14470 × 5 g = 72.35 kg; 2025-05-06 08:07:00; user 3;
    # BMI 234 × 0.1; height 1758 mm
    data = bytes.fromhex("0e" "8638" "e907" "05" "06" "08" "07" "00" "03" "ea00" "de06")
    produced = readings_from_weight_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)
    assert kinds_values(produced) == [
        (MeasurementKind.BODY_WEIGHT, 72.35, KG),
        (MeasurementKind.BODY_MASS_INDEX, 23.4, BMI_UNIT),
        (MeasurementKind.BODY_HEIGHT, 175.8, CM),
    ]
    for reading in produced:
        assert reading.device_user == 3 and reading.device_time == datetime(2025, 5, 6, 8, 7)
        assert reading.flags == frozenset() and reading.device == DEVICE


def test_pounds_and_inches_are_converted() -> None:
    produced = weight(WeightMeasurement(weight=160.0, imperial=True, bmi=24.3, height=69.5))
    assert kinds_values(produced) == [
        (MeasurementKind.BODY_WEIGHT, 72.575, KG),  # 160 lb = 72.5747792 kg, to the gram
        (MeasurementKind.BODY_MASS_INDEX, 24.3, BMI_UNIT),
        (MeasurementKind.BODY_HEIGHT, 176.5, CM),  # 69.5 in = 176.53 cm
    ]


def test_an_unsuccessful_weighing_has_no_number_anywhere() -> None:
    data = bytes.fromhex("08" "ffff" "ea00" "de06")  # weight 0xFFFF = unsuccessful, with BMI + height
    produced = readings_from_weight_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)
    assert [r.kind for r in produced] == [MeasurementKind.BODY_WEIGHT, MeasurementKind.BODY_MASS_INDEX, MeasurementKind.BODY_HEIGHT]
    assert all(r.value is None and r.absent_reason is AbsentReason.UNSUCCESSFUL for r in produced)


@pytest.mark.parametrize(("user", "expected"), [(1, 1), (4, 4), (255, None)])
def test_scale_user_becomes_device_user(user: int, expected: int | None) -> None:
    [reading] = weight(WeightMeasurement(weight=70.0, user_id=user))
    assert reading.device_user == expected


def test_unknown_scale_time_is_flagged() -> None:
    [reading] = weight(WeightMeasurement(weight=70.0, timestamp=None, timestamp_present=True))
    assert reading.flags == {QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE}
    [old] = weight(WeightMeasurement(weight=70.0, timestamp=WALL_NOW - timedelta(days=1)))
    assert old.flags == {QualityFlag.FROM_STORAGE}


def composition(measurement: BodyCompositionMeasurement, **options):
    return body_composition_readings(measurement, device=DEVICE, received_at=NOW, local_zone=ZONE, **options)


def test_body_composition_gives_body_fat_weight_and_height() -> None:
    measurement = BodyCompositionMeasurement(
        body_fat_percentage=21.5, weight=72.35, height=1.758, impedance=500.0, muscle_percentage=40.0, user_id=2
    )
    assert kinds_values(composition(measurement)) == [
        (MeasurementKind.BODY_FAT, 21.5, PERCENT),
        (MeasurementKind.BODY_WEIGHT, 72.35, KG),
        (MeasurementKind.BODY_HEIGHT, 175.8, CM),
    ]
    assert kinds_values(composition(measurement, include_weight=False))[1][0] is MeasurementKind.BODY_HEIGHT
    assert {r.device_user for r in composition(measurement)} == {2}


def test_unsuccessful_body_composition_has_no_number_anywhere() -> None:
    measurement = BodyCompositionMeasurement(body_fat_percentage=None, weight=72.35)
    produced = composition(measurement)
    assert [r.kind for r in produced] == [MeasurementKind.BODY_FAT, MeasurementKind.BODY_WEIGHT]
    assert all(r.value is None and r.absent_reason is AbsentReason.UNSUCCESSFUL for r in produced)


def test_malformed_weight_bytes_raise() -> None:
    for data in (b"", b"\x00", b"\x02\x86\x38", b"\x08\x86\x38\xea\x00"):
        with pytest.raises(MalformedPacket):
            readings_from_weight_bytes(data, device=DEVICE, received_at=NOW, local_zone=ZONE)


# --- Xiaomi -------------------------------------------------------------------------------------

STAMP = datetime(2025, 5, 6, 8, 7, 30)


def test_mi_scale_v1_bytes() -> None:
    # control 0x22 (stabilised + bit 1, seen on real scales), 14080 / 200 = 70.4 kg, 2025-05-06 08:07:30
    data = bytes.fromhex("22" "0037" "e907" "05" "06" "08" "07" "1e")
    weighing = parse_mi_scale_v1(data)
    assert (weighing.unit, weighing.weight_kg, weighing.stabilised, weighing.load_removed) == ("kg", 70.4, True, False)
    assert weighing.timestamp == STAMP
    assert parse_mi_scale_v1(bytes([0xA2]) + data[1:]).load_removed
    assert not parse_mi_scale_v1(bytes([0x02]) + data[1:]).stabilised
    pounds = parse_mi_scale_v1(bytes([0x23]) + (15520).to_bytes(2, "little") + data[3:])
    assert (pounds.unit, pounds.weight_kg) == ("lb", 70.398)  # 155.20 lb
    catty = parse_mi_scale_v1(bytes([0x32]) + (14080).to_bytes(2, "little") + data[3:])
    assert (catty.unit, catty.weight_kg) == ("catty", None)


def test_mi_body_composition_scale_bytes() -> None:
    # flags 0x2202 (time, impedance, stabilised), 2025-05-06 08:07:30, impedance 480, 14080 / 200 kg
    data = bytes.fromhex("0222" "e907" "05" "06" "08" "07" "1e" "e001" "0037")
    weighing = parse_mi_body_composition_scale(data)
    assert (weighing.weight_kg, weighing.stabilised, weighing.load_removed, weighing.impedance) == (70.4, True, False, 480)
    assert weighing.timestamp == STAMP
    assert data == encode_mi_body_composition(70.4, stabilised=True, impedance=480, timestamp=STAMP)


@pytest.mark.parametrize("data", [b"", bytes(9), bytes(11)])
def test_mi_payloads_of_the_wrong_size_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_mi_scale_v1(data)
    with pytest.raises(MalformedPacket):
        parse_mi_body_composition_scale(data + b"\x00\x00\x00")


def test_only_a_stabilised_weighing_becomes_a_reading() -> None:
    moving = parse_mi_scale_v1(encode_mi_scale_v1(68.3, stabilised=False, timestamp=STAMP))
    assert mi_weighing_readings(moving, device=DEVICE, received_at=NOW) == []
    stable = parse_mi_scale_v1(encode_mi_scale_v1(70.4, stabilised=True, timestamp=STAMP))
    [reading] = mi_weighing_readings(stable, device=DEVICE, received_at=NOW)
    assert (reading.kind, reading.value, reading.unit, reading.device_time) == (MeasurementKind.BODY_WEIGHT, 70.4, KG, STAMP)
    assert reading.flags == frozenset()  # a live broadcast: placed at reception, not "from storage"
    unset = parse_mi_scale_v1(encode_mi_scale_v1(70.4, stabilised=True, timestamp=datetime(2000, 1, 1)))
    assert mi_weighing_readings(unset, device=DEVICE, received_at=NOW)[0].flags == {QualityFlag.DEVICE_CLOCK_NOT_SET}


def advert(uuid: str, payload: bytes, address: str = "F0:C8:0F:00:10:01") -> Advertisement:
    return Advertisement(address=address, name="MI_SCALE", service_data={uuid: payload}, connectable=True)


def test_the_driver_reads_each_weighing_once() -> None:
    driver = MiScaleDriver()

    def feed(**fields) -> list:
        return driver.readings_from_advertisement(advert(WEIGHT_SCALE_SERVICE_UUID, encode_mi_scale_v1(timestamp=STAMP, **fields)), NOW)

    assert feed(weight=30.0, stabilised=False) == []
    assert feed(weight=69.8, stabilised=False) == []
    assert [r.value for r in feed(weight=70.4, stabilised=True)] == [70.4]
    assert feed(weight=70.4, stabilised=True) == []  # advertised again
    assert feed(weight=70.4, stabilised=True, load_removed=True) == []  # stepped off: same weighing
    assert feed(weight=0.0, stabilised=False, load_removed=True) == []
    # the same person steps on again a minute later: a new weighing, even with the same weight
    assert feed(weight=50.0, stabilised=False) == []
    assert [r.value for r in feed(weight=70.4, stabilised=True)] == [70.4]


def test_the_driver_never_converts_catty_and_skips_garbage() -> None:
    driver = MiScaleDriver()
    payload = encode_mi_scale_v1(140.8, unit="catty", stabilised=True, timestamp=STAMP)
    assert driver.readings_from_advertisement(advert(WEIGHT_SCALE_SERVICE_UUID, payload), NOW) == []
    assert driver.readings_from_advertisement(advert(WEIGHT_SCALE_SERVICE_UUID, b"\x22\x00"), NOW) == []


def test_xiaomi_readings_name_the_scale() -> None:
    driver = MiBodyCompositionScaleDriver()
    payload = encode_mi_body_composition(70.4, stabilised=True, impedance=480, timestamp=STAMP)
    [reading] = driver.readings_from_advertisement(advert(BODY_COMPOSITION_SERVICE_UUID, payload), NOW)
    assert reading.device is not None and reading.device.manufacturer == "Xiaomi"
    assert reading.kind is MeasurementKind.BODY_WEIGHT  # the impedance is not turned into body fat


def test_scale_matchers() -> None:
    registry = default_registry()
    mi = Advertisement(address="x", name=None, service_data={WEIGHT_SCALE_SERVICE_UUID: bytes(10)}, connectable=True)
    assert isinstance(registry.match(mi), MiScaleDriver)  # Bumble says connectable: still a broadcast scale
    bfs = Advertisement(address="x", service_data={BODY_COMPOSITION_SERVICE_UUID: bytes(13)}, connectable=False)
    assert isinstance(registry.match(bfs), MiBodyCompositionScaleDriver)
    standard = Advertisement(address="x", name="Scale", service_uuids=frozenset({WEIGHT_SCALE_SERVICE_UUID}))
    assert type(registry.match(standard)) is WeightScaleDriver
    # a standard scale that also puts odd service data under its UUID stays with the standard driver
    odd = Advertisement(
        address="x", service_uuids=frozenset({WEIGHT_SCALE_SERVICE_UUID}), service_data={WEIGHT_SCALE_SERVICE_UUID: b"\x01"}
    )
    assert type(registry.match(odd)) is WeightScaleDriver
    assert isinstance(registry.match(Advertisement(address="x", name="A&D_UC-352_0A0B0C")), AndWeightScaleDriver)


# --- properties ---------------------------------------------------------------------------------


@given(
    weight_value=st.none() | st.integers(min_value=0, max_value=0xFFFE),
    imperial=st.booleans(),
    bmi_height=st.none() | st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    user=st.none() | st.integers(0, 255),
)
def test_no_scale_reading_carries_a_number_when_the_scale_said_unsuccessful(weight_value, imperial, bmi_height, user) -> None:
    step = 0.01 if imperial else 0.005
    measurement = WeightMeasurement(
        weight=None if weight_value is None else round(weight_value * step, 3),
        imperial=imperial,
        user_id=user,
        bmi=None if bmi_height is None else bmi_height[0] / 10,
        height=None if bmi_height is None else round(bmi_height[1] * (0.1 if imperial else 0.001), 4),
    )
    produced = weight_readings(measurement, device=DEVICE, received_at=NOW, local_zone=ZONE)
    assert len(produced) == (1 if bmi_height is None else 3)
    if weight_value is None:
        assert all(r.value is None and r.absent_reason is AbsentReason.UNSUCCESSFUL for r in produced)
    else:
        assert all(r.value is not None and r.value >= 0 for r in produced)
    assert {r.device_user for r in produced} == {None if user in (None, 255) else user}


@given(body_fat=st.none() | st.integers(0, 0xFFFE), weight_raw=st.none() | st.integers(0, 0xFFFF))
def test_no_body_composition_number_when_unsuccessful(body_fat, weight_raw) -> None:
    measurement = BodyCompositionMeasurement(
        body_fat_percentage=None if body_fat is None else body_fat / 10,
        weight=None if weight_raw is None else weight_raw * 0.005,
    )
    produced = composition(measurement)
    if body_fat is None:
        assert produced and all(r.value is None and r.absent_reason is AbsentReason.UNSUCCESSFUL for r in produced)
    else:
        assert all(r.value is not None for r in produced)


dates = st.one_of(
    st.binary(min_size=7, max_size=7),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ).map(lambda d: d.year.to_bytes(2, "little") + bytes([d.month, d.day, d.hour, d.minute, d.second])),
)


def _from_scale(value: float | None, raw: int) -> bool:
    """The value is what the raw weight means in kg (kg × 200, or lb × 100 converted to the gram)."""
    return value is not None and (value == raw / 200 or abs(value - raw / 100 * 0.45359237) <= 0.0006)


@given(control=st.integers(0, 255), raw=st.integers(0, 0xFFFF), date=dates)
def test_a_mi_advertisement_never_gives_a_moving_catty_or_invented_weight(control: int, raw: int, date: bytes) -> None:
    data = bytes([control]) + raw.to_bytes(2, "little") + date
    produced = MiScaleDriver().readings_from_advertisement(advert(WEIGHT_SCALE_SERVICE_UUID, data), NOW)
    if not control & 0x20 or control & 0x10:
        assert produced == []
    for reading in produced:
        assert _from_scale(reading.value, raw)


@given(flags=st.integers(0, 0xFFFF), date=dates, impedance=st.integers(0, 0xFFFF), raw=st.integers(0, 0xFFFF))
def test_a_mi_body_composition_advertisement_never_gives_a_moving_or_invented_weight(flags, date, impedance, raw) -> None:
    data = flags.to_bytes(2, "little") + date + impedance.to_bytes(2, "little") + raw.to_bytes(2, "little")
    produced = MiBodyCompositionScaleDriver().readings_from_advertisement(advert(BODY_COMPOSITION_SERVICE_UUID, data), NOW)
    if not flags & (1 << 13) or flags & (1 << 4):
        assert produced == []
    for reading in produced:
        assert reading.kind is MeasurementKind.BODY_WEIGHT and _from_scale(reading.value, raw)
