"""Health thermometers over the virtual radio: °F converted, body sites, the CTS clock (offset,
set when drifted, "not set" flagged), bonding, and garbage indications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.devices import default_registry
from drivers.devices.health_device import system_zone
from drivers.devices.thermometer import readings_from_temperature_bytes
from drivers.emulator import VirtualRadio
from drivers.emulator.thermometer import EmulatedThermometer
from drivers.gatt import MalformedPacket
from drivers.gatt.ieee11073 import SpecialValue
from drivers.gatt.thermometer import TemperatureType
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider
from hub.domain.readings import AbsentReason, MeasurementKind, QualityFlag
from tests.emulated import FAST_LINK, CollectingSink, EventLog

SECOND = timedelta(seconds=1)


@asynccontextmanager
async def on_radio(*devices: EmulatedThermometer) -> AsyncIterator[VirtualRadio]:
    async with VirtualRadio() as radio:
        for device in devices:
            await radio.add(device)
        yield radio


def link_for(radio: VirtualRadio, **options: Any) -> LinkManager:
    settings_: dict[str, Any] = {
        "scanner_backend": radio.scanner_backend,
        "client_backend": radio.client_backend,
        "passkey_provider": FixedPasskeyProvider(123456),
        **FAST_LINK,
        **options,
    }
    return LinkManager(default_registry(), **settings_)


async def test_temperatures_in_fahrenheit_with_their_sites() -> None:
    thermometer = EmulatedThermometer(fahrenheit=True, serial="TH1-0099")
    thermometer.record_temperature(98.6, temperature_type=TemperatureType.MOUTH)
    thermometer.record_temperature(100.4, temperature_type=TemperatureType.TYMPANUM)
    thermometer.record_temperature(SpecialValue.POSITIVE_INFINITY, temperature_type=TemperatureType.ARMPIT)  # "Hi"
    async with on_radio(thermometer) as radio:
        sink = CollectingSink()
        identity = await link_for(radio).read_once(sink, timeout=10)
    assert identity.serial == "TH1-0099"
    assert [(r.kind, r.value, r.unit, r.body_site) for r in sink.readings] == [
        (MeasurementKind.BODY_TEMPERATURE, 37.0, "Cel", "mouth"),
        (MeasurementKind.BODY_TEMPERATURE, 38.0, "Cel", "tympanum"),
        (MeasurementKind.BODY_TEMPERATURE, None, "Cel", "armpit"),
    ]
    assert sink.readings[-1].absent_reason is AbsentReason.POSITIVE_INFINITY


async def test_a_single_site_thermometer_and_a_live_reading() -> None:
    thermometer = EmulatedThermometer(fixed_type=TemperatureType.EAR, current_time_service=False)
    async with on_radio(thermometer) as radio:
        sink = CollectingSink()

        async def patient() -> None:
            await thermometer.wait_until(lambda: any(s.uuids for s in thermometer._subscriptions.values()))
            await thermometer.take_temperature(37.4)

        measuring = asyncio.create_task(patient())
        await link_for(radio).read_once(sink, timeout=10)
        await measuring
    [reading] = sink.readings
    assert (reading.value, reading.body_site, reading.device_clock_offset) == (37.4, "ear", None)
    assert reading.flags == frozenset()


async def test_the_clock_is_read_for_the_offset_and_set_when_it_drifted() -> None:
    thermometer = EmulatedThermometer(clock_error=timedelta(minutes=-20))
    stamp = thermometer.device_time() - timedelta(hours=2)
    thermometer.record_temperature(36.9, timestamp=stamp)
    async with on_radio(thermometer) as radio:
        sink = CollectingSink()
        await link_for(radio).read_once(sink, timeout=10)
    [reading] = sink.readings
    assert abs(reading.device_clock_offset - timedelta(minutes=20)) <= SECOND
    assert reading.device_time == stamp and QualityFlag.FROM_STORAGE in reading.flags
    assert len(thermometer.clock_writes) == 1 and abs(thermometer.device_time() - thermometer.true_time()) <= SECOND


async def test_a_clock_never_set_is_flagged_and_a_read_only_clock_is_left_alone() -> None:
    thermometer = EmulatedThermometer(clock_set=False, clock_writable=False, requires_bonding=True)
    thermometer.record_temperature(37.1)
    async with on_radio(thermometer) as radio:
        sink, events = CollectingSink(), EventLog()
        await link_for(radio, on_event=events).read_once(sink, timeout=10)
    [reading] = sink.readings
    assert "pairing-needed" in events.names()
    assert {QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE} <= reading.flags
    assert reading.device_clock_offset is None and thermometer.clock_writes == []


_NOW = datetime.now(UTC)
_floats = st.integers(0, 0xFFFFFFFF).map(lambda raw: raw.to_bytes(4, "little"))
_plausible = st.builds(lambda flags, value, tail: bytes([flags]) + value + tail, st.integers(0, 7), _floats, st.binary(max_size=8))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets=st.lists(st.one_of(st.binary(max_size=14), _plausible), min_size=1, max_size=5))
def test_garbage_indications_end_cleanly_and_invent_nothing(packets: list[bytes]) -> None:
    async def session() -> tuple[CollectingSink, EventLog]:
        thermometer = EmulatedThermometer(hang_up_when_done=True)  # ends on its hang-up, not on quiet time
        for packet in packets:
            thermometer.record_raw(packet)
        async with on_radio(thermometer) as radio:
            sink, events = CollectingSink(), EventLog()
            await link_for(radio, on_event=events, settle=30.0).read_once(sink, timeout=10)
        return sink, events

    sink, events = asyncio.run(session())
    possible = []
    skipped = 0
    for packet in packets:
        try:
            possible += [
                (r.value, r.absent_reason, r.body_site)
                for r in readings_from_temperature_bytes(packet, device=None, received_at=_NOW, local_zone=system_zone())
            ]
        except MalformedPacket:
            skipped += 1
    name, details = events.events[-1]
    assert name == "disconnected" and details["skipped"] == skipped and details["readings"] == len(sink.readings)
    assert [(r.value, r.absent_reason, r.body_site) for r in sink.readings] == possible
