"""Scales over the virtual radio: the standard weight and body composition scale (users, lb,
unsuccessful, a record split at ATT MTU 23), the A&D UC-352BLE, and the Xiaomi broadcast scales
read from their advertisements by the LinkManager's broadcast path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.devices import Registry, default_registry
from drivers.devices.health_device import system_zone
from drivers.devices.scales import body_composition_readings
from drivers.emulator import VirtualRadio
from drivers.emulator.peripheral import EmulatedPeripheral
from drivers.emulator.scales import (
    EmulatedAndUC352,
    EmulatedMiBodyCompositionScale,
    EmulatedMiScale,
    EmulatedWeightScale,
)
from drivers.gatt import MalformedPacket
from drivers.gatt.body_composition import (
    BODY_COMPOSITION_MEASUREMENT_UUID,
    BodyCompositionMeasurement,
    encode_body_composition_packets,
    parse_body_composition_measurement,
)
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider
from hub.domain.readings import AbsentReason, MeasurementKind, QualityFlag
from tests.emulated import FAST_LINK, CollectingSink, EventLog, scanning

SECOND = timedelta(seconds=1)
QUICK: dict[str, float] = {"step": 0.05, "hold": 0.25}  # a brisk weighing
FULL_RECORD: dict[str, Any] = {
    "weight": 72.35,
    "height": 1.758,
    "impedance": 512.3,
    "muscle_percentage": 41.2,
    "muscle_mass": 29.8,
    "fat_free_mass": 56.8,
    "soft_lean_mass": 53.1,
    "body_water_mass": 40.9,
    "basal_metabolism": 6900,
}


@asynccontextmanager
async def on_radio(*devices: EmulatedPeripheral, **radio_options: Any) -> AsyncIterator[VirtualRadio]:
    async with VirtualRadio(**radio_options) as radio:
        for device in devices:
            await radio.add(device)
        yield radio


def link_for(radio: VirtualRadio, *, registry: Registry | None = None, passkey: int = 123456, **options: Any) -> LinkManager:
    settings_: dict[str, Any] = {
        "scanner_backend": radio.scanner_backend,
        "client_backend": radio.client_backend,
        "passkey_provider": FixedPasskeyProvider(passkey),
        **FAST_LINK,
        **options,
    }
    return LinkManager(registry or default_registry(), **settings_)


def values(sink: CollectingSink) -> list[tuple[MeasurementKind, float | None, str]]:
    return [(r.kind, r.value, r.unit) for r in sink.readings]


# --- standard scales ----------------------------------------------------------------------------


async def test_a_weighing_with_bmi_and_height_for_the_scale_user() -> None:
    scale = EmulatedWeightScale(user=3, current_time_service=True, serial="SC1-0077")
    scale.record_weighing(72.35, bmi=23.4, height=1.758)
    scale.record_weighing(None)  # the scale could not measure
    scale.record_weighing(90.1, user_id=255)  # a guest
    async with on_radio(scale) as radio:
        sink = CollectingSink()
        identity = await link_for(radio).read_once(sink, timeout=10)
    assert identity.serial == "SC1-0077"
    assert values(sink) == [
        (MeasurementKind.BODY_WEIGHT, 72.35, "kg"),
        (MeasurementKind.BODY_MASS_INDEX, 23.4, "kg/m2"),
        (MeasurementKind.BODY_HEIGHT, 175.8, "cm"),
        (MeasurementKind.BODY_WEIGHT, None, "kg"),
        (MeasurementKind.BODY_WEIGHT, 90.1, "kg"),
    ]
    assert sink.readings[3].absent_reason is AbsentReason.UNSUCCESSFUL
    assert [r.device_user for r in sink.readings] == [3, 3, 3, 3, None]
    assert all(r.device_clock_offset is not None and abs(r.device_clock_offset) <= SECOND for r in sink.readings)


async def test_a_scale_set_to_pounds_is_read_in_kilograms_and_centimetres() -> None:
    scale = EmulatedWeightScale(imperial=True)
    scale.record_weighing(160.0, bmi=24.3, height=69.5)
    async with on_radio(scale) as radio:
        sink = CollectingSink()
        await link_for(radio).read_once(sink, timeout=10)
    assert values(sink) == [
        (MeasurementKind.BODY_WEIGHT, 72.575, "kg"),
        (MeasurementKind.BODY_MASS_INDEX, 24.3, "kg/m2"),
        (MeasurementKind.BODY_HEIGHT, 176.5, "cm"),
    ]


async def test_a_body_composition_record_split_at_mtu_23_is_joined() -> None:
    scale = EmulatedWeightScale(weight_service=False, body_composition=True, user=1)
    scale.record_body_composition(21.5, **FULL_RECORD)
    scale.record_body_composition(None)  # unsuccessful
    async with on_radio(scale, mtu=23) as radio:
        sink = CollectingSink()
        await link_for(radio).read_once(sink, timeout=10)
    assert len(scale.indicated) == 3  # the full record took two indications
    assert all(len(packet) <= 20 for packet in scale.indicated)
    assert parse_body_composition_measurement(scale.indicated[0]).multiple_packet
    assert values(sink) == [
        (MeasurementKind.BODY_FAT, 21.5, "%"),
        (MeasurementKind.BODY_WEIGHT, 72.35, "kg"),
        (MeasurementKind.BODY_HEIGHT, 175.8, "cm"),
        (MeasurementKind.BODY_FAT, None, "%"),
    ]
    assert sink.readings[-1].absent_reason is AbsentReason.UNSUCCESSFUL
    assert {r.device_user for r in sink.readings} == {1}


async def test_a_lone_first_half_is_dropped_and_the_next_record_still_read() -> None:
    scale = EmulatedWeightScale(weight_service=False, body_composition=True)
    whole = scale.make_body_composition(19.0, **FULL_RECORD)
    first_half, _ = encode_body_composition_packets(whole, 20)
    scale.record_raw(first_half, BODY_COMPOSITION_MEASUREMENT_UUID)  # its second half never comes
    scale.record_body_composition(22.0, weight=70.0)
    async with on_radio(scale, mtu=23) as radio:
        sink, events = CollectingSink(), EventLog()
        await link_for(radio, on_event=events).read_once(sink, timeout=10)
    assert values(sink) == [(MeasurementKind.BODY_FAT, 22.0, "%"), (MeasurementKind.BODY_WEIGHT, 70.0, "kg")]
    assert events.events[-1][1]["skipped"] == 1


async def test_a_scale_with_both_services_reports_the_weight_once() -> None:
    scale = EmulatedWeightScale(body_composition=True)
    scale.record_weighing(80.0)
    scale.record_body_composition(25.0, weight=80.0)
    async with on_radio(scale) as radio:
        sink = CollectingSink()
        await link_for(radio).read_once(sink, timeout=10)
    assert sorted(values(sink)) == sorted([(MeasurementKind.BODY_WEIGHT, 80.0, "kg"), (MeasurementKind.BODY_FAT, 25.0, "%")])


# --- A&D UC-352BLE ------------------------------------------------------------------------------


async def test_a_and_d_scale_bonds_has_its_clock_set_and_hangs_up() -> None:
    scale = EmulatedAndUC352(clock_error=timedelta(minutes=-42))
    scale.record_weighing(81.25)
    async with on_radio(scale) as radio:
        sink, events = CollectingSink(), EventLog()
        identity = await link_for(radio, on_event=events).read_once(sink, timeout=10)
        assert await radio.bonded_addresses() == [scale.address]
    assert identity.model == "UC-352BLE"
    assert values(sink) == [(MeasurementKind.BODY_WEIGHT, 81.25, "kg")]
    assert abs(sink.readings[0].device_clock_offset - timedelta(minutes=42)) <= SECOND
    assert "pairing-needed" in events.names() and events.events[-1][1]["ended_by"] == "device"
    assert len(scale.clock_writes) == 1 and abs(scale.device_time() - scale.true_time()) <= SECOND


# --- Xiaomi broadcast scales --------------------------------------------------------------------


@asynccontextmanager
async def listening(radio: VirtualRadio, **options: Any) -> AsyncIterator[CollectingSink]:
    """The hub's link running (scanning forever) while the block runs."""
    sink = CollectingSink()
    task = asyncio.create_task(link_for(radio, **options).run(sink))
    await scanning(radio)  # weighings from now on are seen
    try:
        yield sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_mi_scale_gives_one_reading_per_weighing_and_never_a_moving_weight() -> None:
    scale = EmulatedMiScale()
    async with on_radio(scale) as radio, listening(radio) as sink:
        await scale.weigh(70.4, moving=[28.1, 55.0, 71.3, 70.2], **QUICK)
        await scale.weigh(70.4, moving=[35.5, 69.0], timestamp=scale._clock() + timedelta(minutes=1), **QUICK)
        await scale.weigh(69.9, **QUICK)
        await sink.wait_for(3)  # in order: a moving weight turned into a reading would be among them
    assert [r.value for r in sink.readings] == [70.4, 70.4, 69.9]
    assert all(r.kind is MeasurementKind.BODY_WEIGHT and r.unit == "kg" for r in sink.readings)
    assert all(r.device is not None and r.device.address == scale.address for r in sink.readings)
    assert len(scale.shown) == 6 + 4 + 6  # moving values were advertised; none became a reading
    assert all(QualityFlag.FROM_STORAGE not in r.flags for r in sink.readings)


async def test_mi_body_composition_scale_stores_the_weight_and_computes_nothing() -> None:
    scale = EmulatedMiBodyCompositionScale()
    async with on_radio(scale) as radio, listening(radio) as sink:
        await scale.weigh(82.6, impedance=487, **QUICK)
        await sink.wait_for(1)
    assert [(r.kind, r.value) for r in sink.readings] == [(MeasurementKind.BODY_WEIGHT, 82.6)]


async def test_a_scale_in_pounds_is_converted_and_one_in_catty_is_not_stored() -> None:
    pounds, catty = EmulatedMiScale(unit="lb"), EmulatedMiScale(address="F0:C8:0F:00:10:02", unit="catty")
    events = EventLog()
    async with on_radio(pounds, catty) as radio, listening(radio, on_event=events) as sink:
        await catty.weigh(140.8, **QUICK)
        await events.wait_for("device-found", address=catty.address)  # the hub saw it (and stored nothing)
        await pounds.weigh(155.2, **QUICK)
        await sink.wait_for(1)  # broadcasts are handled in order: a catty reading would come first
    assert [(r.device.address, r.value) for r in sink.readings if r.device] == [(pounds.address, 70.398)]


async def test_garbage_service_data_from_a_mi_scale_is_ignored() -> None:
    scale = EmulatedMiScale()
    events = EventLog()
    async with on_radio(scale) as radio, listening(radio, on_event=events) as sink:
        for seen, payload in enumerate((b"\x22", b"\x22\x00\x37\xff\xff\x13\x40\x40\x40\x40", bytes(10)), start=1):
            await scale.show_payload(payload)
            await events.wait_for("device-found", seen)  # the hub has taken this payload in
        await scale.weigh(64.0, **QUICK)
        await sink.wait_for(1)  # handled in order: a reading from garbage would come first
    assert [r.value for r in sink.readings] == [64.0]


# --- fuzz: garbage body composition indications -------------------------------------------------

_NOW = datetime.now(UTC)


def _possible(packets: list[bytes]) -> set[tuple[MeasurementKind, float | None]]:
    found: set[tuple[MeasurementKind, float | None]] = set()
    for packet in packets:
        try:
            measurement = parse_body_composition_measurement(packet)
        except MalformedPacket:
            continue
        whole = BodyCompositionMeasurement(
            **{f: getattr(measurement, f) for f in measurement.__slots__ if f != "multiple_packet"}  # type: ignore[attr-defined]
        )
        found |= {(r.kind, r.value) for r in body_composition_readings(whole, device=None, received_at=_NOW, local_zone=system_zone())}
    return found


_halves = st.builds(
    lambda record, which: encode_body_composition_packets(record, 20)[which % len(encode_body_composition_packets(record, 20))],
    st.builds(
        BodyCompositionMeasurement,
        body_fat_percentage=st.none() | st.integers(0, 1000).map(lambda v: v / 10),
        weight=st.none() | st.integers(0, 40000).map(lambda v: v * 0.005),
        height=st.none() | st.integers(500, 2200).map(lambda v: v / 1000),
        impedance=st.none() | st.integers(0, 9000).map(lambda v: v / 10),
        muscle_mass=st.none() | st.integers(0, 20000).map(lambda v: v * 0.005),
        basal_metabolism=st.none() | st.integers(0, 9000),
        user_id=st.none() | st.integers(0, 255),
        timestamp_present=st.booleans(),
    ),
    st.integers(0, 1),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets=st.lists(st.one_of(st.binary(max_size=20), _halves), min_size=1, max_size=5))
def test_garbage_body_composition_ends_cleanly_and_invents_nothing(packets: list[bytes]) -> None:
    async def session() -> tuple[CollectingSink, EventLog]:
        scale = EmulatedWeightScale(weight_service=False, body_composition=True, hang_up_when_done=True)  # ends on its hang-up
        for packet in packets:
            scale.record_raw(packet, BODY_COMPOSITION_MEASUREMENT_UUID)
        async with on_radio(scale, mtu=23) as radio:
            sink, events = CollectingSink(), EventLog()
            await link_for(radio, on_event=events, settle=30.0).read_once(sink, timeout=10)
        return sink, events

    sink, events = asyncio.run(session())
    name, details = events.events[-1]
    assert name == "disconnected" and details["readings"] == len(sink.readings)
    possible = _possible(packets)
    for reading in sink.readings:
        assert (reading.kind, reading.value) in possible
