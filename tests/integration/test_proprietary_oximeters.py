"""Streaming oximeters over the virtual radio, through the real bleak API and the LinkManager:
Nonin 3230 (bonding, PLX spot-check preferred), Jumper JPD-500F and BerryMed BM1000 (invalid
frames, lost bytes, NUL-padded name). Rates and the stability rule are shortened so each
session takes a second or two."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from bleak import BleakScanner

from drivers.devices import Advertisement, Registry, default_registry
from drivers.protocol.oximeter_stability import StabilityRule
from drivers.devices.proprietary_oximeters import (
    BerryMedOximeterDriver,
    JumperOximeterDriver,
    LiveOximetry,
    Nonin3230Driver,
)
from drivers.devices.pulse_oximeter import PulseOximeterDriver
from drivers.emulator import EmulatedPeripheral, VirtualRadio
from drivers.emulator.proprietary_oximeters import (
    EmulatedBerryMed,
    EmulatedJumperOximeter,
    EmulatedNonin3230,
    OximetryPhase,
    finger_out,
)
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider, PasskeyProvider, RefusingPasskeyProvider
from hub.domain.readings import MeasurementKind, QualityFlag
from tests.emulated import FAST_LINK, CollectingSink, EventLog

FAST_RULE = StabilityRule(hold_seconds=0.4, min_samples=5, max_spo2_spread=2, max_pulse_spread=5, max_gap=0.3)
SPO2, PULSE = MeasurementKind.OXYGEN_SATURATION, MeasurementKind.PULSE_RATE
# A session that bonds first (LE Secure Connections with a passkey: 20 confirm/random rounds in
# pure Python) bounded generously: it ends when its value is in, about 2 s; a stalled machine once
# spent 4 of 5 s pairing and cut the stream before it was stable.
BONDED_SESSION = 20.0


class LiveLog:
    def __init__(self) -> None:
        self.values: list[LiveOximetry] = []

    def __call__(self, live: LiveOximetry) -> None:
        self.values.append(live)


def values(sink: CollectingSink) -> list[tuple[MeasurementKind, float | None]]:
    return [(r.kind, r.value) for r in sink.readings]


@asynccontextmanager
async def radio_with(peripheral: EmulatedPeripheral) -> AsyncIterator[VirtualRadio]:
    async with VirtualRadio() as radio:
        await radio.add(peripheral)
        yield radio


def link(radio: VirtualRadio, *drivers: Any, passkey: PasskeyProvider | None = None, **options: Any) -> LinkManager:
    settings = {**FAST_LINK, **options}
    return LinkManager(
        Registry([*drivers, PulseOximeterDriver()]),
        scanner_backend=radio.scanner_backend,
        client_backend=radio.client_backend,
        passkey_provider=passkey,
        **settings,
    )


def disconnected(events: EventLog) -> dict[str, Any]:
    return next(details for name, details in events.events if name == "disconnected")


# -- Nonin 3230 -----------------------------------------------------------------------------------


async def test_nonin_bonds_and_turns_a_stable_stream_into_one_spot_pair() -> None:
    nonin = EmulatedNonin3230(rate_hz=20, script=[finger_out(0.2), OximetryPhase(3.0, spo2=96, pulse_rate=72)])
    live = LiveLog()
    driver = Nonin3230Driver(rule=FAST_RULE, spot_check_grace=0.3, on_live=live)
    async with radio_with(nonin) as radio:
        sink, events = CollectingSink(), EventLog()
        identity = await link(radio, driver, passkey=FixedPasskeyProvider(123456), on_event=events).read_once(sink, timeout=BONDED_SESSION)
        assert await radio.bonded_addresses() == [nonin.address]
    assert "pairing-needed" in events.names()
    assert identity.serial == "502201234" and identity.manufacturer == "Nonin Medical, Inc."
    assert values(sink) == [(SPO2, 96.0), (PULSE, 72.0)]
    for reading in sink.readings:
        assert reading.device == identity and reading.device_time is None and reading.flags == frozenset()
    assert disconnected(events)["ended_by"] == "hub"  # the stream kept going; the hub hung up after the spot
    assert live.values[0].finger is False and live.values[-1].final
    assert (live.values[-1].spo2, live.values[-1].pulse_rate) == (96, 72)
    assert "96" not in json.dumps(events.events) and "72" not in json.dumps(events.events)


async def test_nonin_own_spot_check_wins_over_the_stream() -> None:
    nonin = EmulatedNonin3230(rate_hz=20, script=[OximetryPhase(3.0, spo2=95, pulse_rate=70)])
    driver = Nonin3230Driver(rule=FAST_RULE, spot_check_grace=1.5)
    async with radio_with(nonin) as radio:
        sink = CollectingSink()

        async def device_finishes_its_measurement() -> None:
            await nonin.wait_until(lambda: nonin.ticks >= 12, timeout=BONDED_SESSION)  # stream stable at ~8 ticks
            await nonin.take_live_spot_check(98, 61)

        measuring = asyncio.create_task(device_finishes_its_measurement())
        await link(radio, driver, passkey=FixedPasskeyProvider(123456)).read_once(sink, timeout=BONDED_SESSION)
        await measuring
    assert values(sink) == [(SPO2, 98.0), (PULSE, 61.0)]  # the device's record, not a second stream pair
    assert sink.readings[0].device_time is not None and QualityFlag.FROM_STORAGE not in sink.readings[0].flags


async def test_nonin_stored_records_and_a_low_battery_stream() -> None:
    nonin = EmulatedNonin3230(rate_hz=20, low_battery=True, script=[OximetryPhase(2.0, spo2=97, pulse_rate=66)])
    nonin.record_spot_check(94, 80)
    driver = Nonin3230Driver(rule=FAST_RULE, spot_check_grace=0.2)
    async with radio_with(nonin) as radio:
        sink = CollectingSink()
        await link(radio, driver, passkey=FixedPasskeyProvider(123456)).read_once(sink, timeout=BONDED_SESSION)
    assert values(sink) == [(SPO2, 94.0), (PULSE, 80.0), (SPO2, 97.0), (PULSE, 66.0)]
    assert QualityFlag.FROM_STORAGE in sink.readings[0].flags  # a stored record does not stop the stream value
    assert sink.readings[2].flags == {QualityFlag.BATTERY_LOW}


async def test_nonin_refused_pairing_stores_nothing() -> None:
    nonin = EmulatedNonin3230(rate_hz=20, script=[OximetryPhase(2.0)])
    async with radio_with(nonin) as radio:
        sink, events = CollectingSink(), EventLog()
        await link(radio, Nonin3230Driver(rule=FAST_RULE), passkey=RefusingPasskeyProvider(), on_event=events).read_once(sink, timeout=15)
        assert await radio.bonded_addresses() == []
    assert sink.readings == [] and nonin.ticks == 0  # never subscribed: nothing streamed


# -- Jumper JPD-500F ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [50.0])
async def test_jumper_values_after_no_finger_and_malformed_frames(rate_hz: float) -> None:
    jumper = EmulatedJumperOximeter(
        rate_hz=rate_hz,
        values_every=2,
        script=[
            finger_out(0.3),  # 0x81 frames with 255/127 markers
            bytes.fromhex("81 40 65 10"),  # SpO2 101: malformed
            bytes.fromhex("82 00"),  # unknown frame type
            OximetryPhase(2.0, spo2=95, pulse_rate=80),
        ],
    )
    live = LiveLog()
    async with radio_with(jumper) as radio:
        sink, events = CollectingSink(), EventLog()
        identity = await link(radio, JumperOximeterDriver(rule=FAST_RULE, on_live=live), on_event=events).read_once(sink, timeout=15)
    assert identity.name == "JPD-500F"
    assert values(sink) == [(SPO2, 95.0), (PULSE, 80.0)]  # pleth frames never become readings
    assert disconnected(events)["skipped"] == 2
    assert live.values[0].finger is False and live.values[0].spo2 is None
    assert live.values[-1].final and not any(v.final for v in live.values[:-1])


async def test_jumper_without_a_finger_gives_up_and_stores_nothing() -> None:
    jumper = EmulatedJumperOximeter(rate_hz=50, values_every=2, script=[finger_out(1.0)])
    async with radio_with(jumper) as radio:
        sink, events = CollectingSink(), EventLog()
        driver = JumperOximeterDriver(rule=FAST_RULE, give_up_after=0.5)
        await link(radio, driver, on_event=events).read_once(sink, timeout=15)
    assert sink.readings == [] and disconnected(events)["ended_by"] == "hub"


# -- BerryMed BM1000 ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [100.0])
async def test_berrymed_stream_with_lost_bytes_and_split_frames(rate_hz: float, caplog: pytest.LogCaptureFixture) -> None:
    berrymed = EmulatedBerryMed(
        rate_hz=rate_hz,
        notification_size=7,  # frames straddle notifications
        # lost on the way: three bytes inside frames (three frames broken) and one sync byte
        # (offset 253 starts a frame: its rest is dropped as bytes outside any frame)
        drop_bytes={12, 57, 131, 253},
        script=[finger_out(0.2), bytes.fromhex("05 06 07"), OximetryPhase(1.5, spo2=93, pulse_rate=143)],
    )
    live = LiveLog()
    rule = StabilityRule(hold_seconds=0.5, min_samples=20, max_gap=0.2)
    caplog.set_level(logging.DEBUG)
    async with radio_with(berrymed) as radio:
        sink, events = CollectingSink(), EventLog()
        driver = BerryMedOximeterDriver(rule=rule, on_live=live, live_interval=0.1)
        identity = await link(radio, driver, on_event=events).read_once(sink, timeout=15)
    assert values(sink) == [(SPO2, 93.0), (PULSE, 143.0)]
    assert identity.name == "BerryMed" and identity.manufacturer == "Berry" and identity.model == "BM1000C"
    assert sink.readings[0].device.name == "BerryMed"  # type: ignore[union-attr]
    assert berrymed.bytes_dropped == 4 and disconnected(events)["skipped"] == 3
    assert 3 <= len(live.values) <= 25  # throttled, not 100 per second
    assert live.values[-1].final and (live.values[-1].spo2, live.values[-1].pulse_rate) == (93, 143)
    assert not any("143" in record.getMessage() for record in caplog.records)  # values stay out of logs


async def test_berrymed_values_that_never_settle_store_nothing() -> None:
    restless = [OximetryPhase(0.05, spo2=88 + (i % 3) * 4, pulse_rate=70) for i in range(30)]
    berrymed = EmulatedBerryMed(rate_hz=100, script=restless)
    async with radio_with(berrymed) as radio:
        sink = CollectingSink()
        driver = BerryMedOximeterDriver(rule=StabilityRule(hold_seconds=0.3, min_samples=10, max_gap=0.2), give_up_after=0.8)
        await link(radio, driver).read_once(sink, timeout=15)
    assert sink.readings == []


async def test_nul_padded_berrymed_name_is_matched_by_the_default_registry() -> None:
    async with radio_with(EmulatedBerryMed(name_padding=8)) as radio:
        found: asyncio.Future[Advertisement] = asyncio.get_running_loop().create_future()

        def on_advertisement(device: Any, data: Any) -> None:
            if not found.done():
                found.set_result(Advertisement.from_bleak(device, data))

        async with BleakScanner(on_advertisement, backend=radio.scanner_backend):
            advertisement = await asyncio.wait_for(found, 5)
    assert advertisement.name == "BerryMed" + "\x00" * 8
    driver = default_registry().match(advertisement)
    assert driver is not None and driver.name == "berrymed-bm1000"


# -- live values on the screen, through the hub's registry -----------------------------------------


async def test_the_default_registry_turns_live_values_into_screen_events(caplog: pytest.LogCaptureFixture) -> None:
    """The registry the hub builds (`default_registry(on_event=...)`) sends a streaming oximeter's
    live values as `live-reading` events, SpO2 and pulse each with its unit, as throttled as the
    driver's own live values; no finger gives none. The values stay out of the logs."""
    from drivers.devices.proprietary_oximeters import StreamingOximeterDriver

    caplog.set_level(logging.DEBUG)
    jumper = EmulatedJumperOximeter(rate_hz=50, values_every=2, script=[finger_out(0.3), OximetryPhase(2.0, spo2=94, pulse_rate=77)])
    events = EventLog()
    registry = default_registry(on_event=events)
    for driver in registry:
        if isinstance(driver, StreamingOximeterDriver):
            driver.rule = FAST_RULE  # a shorter hold: the session takes a second, not five
    async with radio_with(jumper) as radio:
        sink = CollectingSink()
        manager = LinkManager(registry, scanner_backend=radio.scanner_backend, client_backend=radio.client_backend, on_event=events, **FAST_LINK)
        await manager.read_once(sink, timeout=15)
    assert values(sink) == [(SPO2, 94.0), (PULSE, 77.0)]
    live = [details for name, details in events.events if name == "live-reading"]
    assert {(d["kind"], d["unit"]) for d in live} == {("oxygen-saturation", "%"), ("pulse-rate", "/min")}
    assert (live[-2]["kind"], live[-2]["value"], live[-1]["kind"], live[-1]["value"]) == ("oxygen-saturation", 94, "pulse-rate", 77)
    assert all(d["address"] == jumper.address and isinstance(d["value"], int) for d in live)
    assert 2 <= len(live) <= 2 * 20  # throttled (0.25 s), not 50 frames a second
    assert not any(name == "live-reading" for name, _ in events.events[: events.names().index("connected")])
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(("drivers", "hub")) and not r.name.startswith("drivers.emulator")]
    assert ours and not any("77" in message or "94" in message for message in ours)
