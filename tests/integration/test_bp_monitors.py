"""Blood pressure monitors over the virtual radio, through the real bleak API and the LinkManager:
the standard monitor (stored readings, live cuff pressure, kPa), the A&D UA-651BLE (bond, clock at
every connection, hangs up by itself) and Omron BLEsmart (one bond only, pair before discovery,
clock only when drifted, users 1/2). Ends with a fuzz of garbage indications."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bleak.exc import BleakError
from bumble import hci
from bumble.core import ProtocolError
from bumble.keys import MemoryKeyStore
from bumble.pairing import PairingConfig, PairingDelegate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.devices import Registry, default_registry
from drivers.devices.blood_pressure import (
    CUFF_PRESSURE_EVENT,
    BloodPressureDriver,
    readings_from_bp_bytes,
)
from drivers.devices.health_device import system_zone
from drivers.emulator import VirtualRadio
from drivers.emulator.blood_pressure_monitor import (
    EmulatedAndUA651,
    EmulatedBloodPressureMonitor,
    EmulatedOmronBP,
    bp_status,
)
from drivers.emulator.health_device import EmulatedHealthDevice
from drivers.emulator.radio import new_device
from drivers.gatt import MalformedPacket
from drivers.gatt.blood_pressure import PulseRateRange
from drivers.gatt.ieee11073 import SpecialValue
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider
from hub.domain.measurements import effective_time
from hub.domain.readings import AbsentReason, MeasurementKind, QualityFlag, Reading
from tests.emulated import FAST_LINK, CollectingSink, EventLog

SECOND = timedelta(seconds=1)


@asynccontextmanager
async def on_radio(*devices: EmulatedHealthDevice, **radio_options: Any) -> AsyncIterator[VirtualRadio]:
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
    return LinkManager(registry or default_registry(on_event=options.get("on_event")), **settings_)


def panel(reading: Reading) -> list[float | None]:
    return [c.value for c in reading.components]


def kinds(sink: CollectingSink) -> list[MeasurementKind]:
    return [r.kind for r in sink.readings]


# --- the standard monitor -----------------------------------------------------------------------


async def test_stored_measurements_become_panels_with_flags_users_and_absent_values() -> None:
    monitor = EmulatedBloodPressureMonitor(serial="BP1-0042")
    monitor.record_measurement(
        128, 84, 99, pulse_rate=72, user_id=1, status=bp_status(body_movement=True, irregular_pulse=True)
    )
    monitor.record_measurement(SpecialValue.NAN, 80, pulse_rate=SpecialValue.NAN, user_id=255)
    monitor.record_measurement(135, 88, pulse_rate=101, user_id=2, status=bp_status(pulse_rate_range=PulseRateRange.EXCEEDS_UPPER_LIMIT))
    async with on_radio(monitor) as radio:
        sink = CollectingSink()
        identity = await link_for(radio).read_once(sink, timeout=10)
    assert identity.serial == "BP1-0042" and identity.model == "BP-1"
    assert kinds(sink) == [MeasurementKind.BLOOD_PRESSURE, MeasurementKind.CUFF_PULSE_RATE] * 3
    first, first_pulse, err, err_pulse, third, third_pulse = sink.readings
    assert panel(first) == [128.0, 84.0, 99.0] and first_pulse.value == 72.0
    assert first.flags == first_pulse.flags == {QualityFlag.BODY_MOVEMENT, QualityFlag.IRREGULAR_PULSE}
    assert panel(err) == [None, 80.0, None] and err.components[0].absent_reason is AbsentReason.NOT_A_NUMBER
    assert (err_pulse.value, err_pulse.absent_reason) == (None, AbsentReason.NOT_A_NUMBER)
    assert QualityFlag.PULSE_RATE_OUT_OF_RANGE in third.flags and third_pulse.value == 101.0
    assert [r.device_user for r in sink.readings] == [1, 1, None, None, 2, 2]
    assert all(r.device == identity and r.device_time is not None for r in sink.readings)
    assert monitor.records == [] and len(monitor.sent) == 3  # forgotten once confirmed, as the profile says


async def test_live_cuff_pressure_is_an_event_for_the_screen_and_never_stored() -> None:
    monitor = EmulatedBloodPressureMonitor()
    async with on_radio(monitor) as radio:
        sink, events = CollectingSink(), EventLog()

        async def patient() -> None:
            await monitor.wait_until(lambda: bool(monitor._subscriptions) and any(s.uuids for s in monitor._subscriptions.values()))
            await monitor.measure(124, 79, pulse_rate=66, cuff_pressures=[30, 80, 130, 165, 150, 110])

        measuring = asyncio.create_task(patient())
        await link_for(radio, on_event=events).read_once(sink, timeout=10)
        await measuring
    live = [details for name, details in events.events if name == CUFF_PRESSURE_EVENT]
    assert [d["pressure"] for d in live] == [30.0, 80.0, 130.0, 165.0, 150.0, 110.0]
    assert {d["unit"] for d in live} == {"mm[Hg]"} and {d["address"] for d in live} == {monitor.address}
    assert kinds(sink) == [MeasurementKind.BLOOD_PRESSURE, MeasurementKind.CUFF_PULSE_RATE]
    assert panel(sink.readings[0]) == [124.0, 79.0, 94.0]
    assert QualityFlag.FROM_STORAGE not in sink.readings[0].flags  # just measured


class HeldUpAfterStart(BloodPressureDriver):
    """The standard driver, and then the hub's loop held up (`time.sleep`: nothing at all runs, as
    in a long frame of the touch app or a collection of a large heap) for twice `settle`, the
    session just started; the monitor measures during it, so its packets wait in the loop's queue."""

    def __init__(self, then) -> None:
        super().__init__()
        self.then = then

    async def start(self, client, advertisement, session):
        identity = await super().start(client, advertisement, session)

        def held_up() -> None:
            time.sleep(2 * FAST_LINK["settle"])
            self.then()

        asyncio.get_running_loop().call_soon(held_up)
        return identity


async def test_the_hubs_own_loop_held_up_is_not_the_monitors_silence() -> None:
    """A session ends when the device says nothing for `settle` s; time in which the hub's own loop
    could not listen (the touch app draws on it) is not the device's silence: the measurement sent
    as the loop was held up is read when it is free again, not cut off by the hub hanging up."""
    monitor = EmulatedBloodPressureMonitor()
    async with on_radio(monitor) as radio:
        sink, events = CollectingSink(), EventLog()
        measuring: list[asyncio.Task] = []
        driver = HeldUpAfterStart(lambda: measuring.append(asyncio.ensure_future(monitor.measure(131, 85, pulse_rate=70))))
        await link_for(radio, registry=Registry([driver]), on_event=events).read_once(sink, timeout=10)
        await asyncio.gather(*measuring)
    assert kinds(sink) == [MeasurementKind.BLOOD_PRESSURE, MeasurementKind.CUFF_PULSE_RATE]
    assert panel(sink.readings[0]) == [131.0, 85.0, 100.0]
    assert [d["ended_by"] for name, d in events.events if name == "disconnected"] == ["hub"]  # after it: quiet, by the clock


async def test_a_kpa_monitor_is_read_in_mmhg() -> None:
    monitor = EmulatedBloodPressureMonitor(kpa=True)
    monitor.record_measurement(16.0, 10.7, 12.4, pulse_rate=60)
    async with on_radio(monitor) as radio:
        sink = CollectingSink()
        await link_for(radio).read_once(sink, timeout=10)
    assert panel(sink.readings[0]) == [120.0, 80.0, 93.0]
    assert {c.unit for c in sink.readings[0].components} == {"mm[Hg]"} and sink.readings[1].value == 60.0


# --- A&D UA-651BLE ------------------------------------------------------------------------------


async def test_a_and_d_bonds_once_gets_its_clock_set_and_hangs_up_after_sending_what_is_new() -> None:
    monitor = EmulatedAndUA651(clock_error=timedelta(hours=-3))  # three hours behind
    an_hour_ago = monitor.device_time() - timedelta(hours=1)
    monitor.record_measurement(131, 86, pulse_rate=70, timestamp=an_hour_ago)
    monitor.record_measurement(127, 83, pulse_rate=68)
    async with on_radio(monitor) as radio:
        provider = FixedPasskeyProvider(monitor.passkey)
        sink, events = CollectingSink(), EventLog()
        link = link_for(radio, passkey_provider=provider, on_event=events)
        identity = await link.read_once(sink, timeout=10)
        assert identity.model == "UA-651BLE" and identity.manufacturer == "A&D Medical"
        assert events.events[-1][1]["ended_by"] == "device"  # it hung up by itself
        assert "pairing-needed" in events.names() and provider.asked == [monitor.name]
        assert await radio.bonded_addresses() == [monitor.address]
        # the clock was read first (the offset fixes the records stamped by the old clock), then set
        assert len(monitor.clock_writes) == 1
        assert abs(monitor.device_time() - monitor.true_time()) <= SECOND
        stored, stored_pulse, fresh, _ = sink.readings
        assert abs(stored.device_clock_offset - timedelta(hours=3)) <= SECOND
        assert QualityFlag.FROM_STORAGE in stored.flags and QualityFlag.FROM_STORAGE not in fresh.flags
        zone = system_zone()
        when, flags = effective_time(stored, local_zone=zone, device_clock_offset=stored.device_clock_offset)
        taken = (an_hour_ago + timedelta(hours=3)).replace(tzinfo=zone)  # on the true clock
        assert abs(when - taken) <= SECOND and flags == frozenset()

        # later: one new measurement; only that one is sent, no new pairing, the clock set again
        monitor.record_measurement(122, 80, pulse_rate=64)
        await monitor.start_advertising()
        again = CollectingSink()
        await link.read_once(again, timeout=10)
    assert [panel(r) for r in again.readings if r.kind is MeasurementKind.BLOOD_PRESSURE] == [[122.0, 80.0, 94.0]]
    assert provider.asked == [monitor.name]  # the bond was used, not a new pairing
    assert len(monitor.clock_writes) == 2
    assert abs(again.readings[0].device_clock_offset) <= SECOND


async def test_a_and_d_with_a_clock_never_set_is_flagged_not_guessed_and_then_set() -> None:
    monitor = EmulatedAndUA651(clock_set=False)
    monitor.record_measurement(140, 90, pulse_rate=75)
    async with on_radio(monitor) as radio:
        sink = CollectingSink()
        await link_for(radio).read_once(sink, timeout=10)
    bp, pulse = sink.readings
    assert bp.device_time is not None and bp.device_time.year == 2000
    for reading in (bp, pulse):
        assert {QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE} <= reading.flags
        assert reading.device_clock_offset is None and QualityFlag.FROM_STORAGE not in reading.flags
    assert monitor.clock_set and abs(monitor.device_time() - monitor.true_time()) <= SECOND


async def test_a_and_d_with_nothing_to_send_still_hangs_up_and_the_session_ends() -> None:
    monitor = EmulatedAndUA651()
    async with on_radio(monitor) as radio:
        sink, events = CollectingSink(), EventLog()
        await link_for(radio, on_event=events, settle=5.0).read_once(sink, timeout=10)
    assert sink.readings == [] and events.events[-1][1]["ended_by"] == "device"


# --- Omron BLEsmart -----------------------------------------------------------------------------


class _PhoneDelegate(PairingDelegate):
    def __init__(self, passkey: int) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_KEYBOARD_INPUT)
        self._passkey = passkey

    async def get_number(self) -> int | None:
        return self._passkey

    async def compare_numbers(self, number: int, digits: int) -> bool:
        return True


async def another_phone_pairs(radio: VirtualRadio, peripheral: EmulatedHealthDevice) -> bool:
    """A second central (the vendor's phone app) connects to the device and tries to pair."""
    assert radio.link is not None
    phone, controller = new_device(radio.link, name="Phone", address="C0:FF:EE:00:00:99")
    phone.keystore = MemoryKeyStore()
    phone.pairing_config_factory = lambda _c: PairingConfig(sc=True, mitm=True, bonding=True, delegate=_PhoneDelegate(peripheral.passkey or 0))
    await phone.power_on()
    try:
        connection = await phone.connect(hci.Address(peripheral.address, hci.Address.RANDOM_DEVICE_ADDRESS), timeout=5)
        try:
            await connection.pair()
            return True
        except ProtocolError:
            return False
        finally:
            if connection.handle in phone.connections:
                await connection.disconnect()
    finally:
        await phone.power_off()
        radio.link.remove_controller(controller)


async def test_omron_keeps_one_bond_refuses_a_second_central_and_the_hub_never_drops_its_bond() -> None:
    monitor = EmulatedOmronBP()
    monitor.record_measurement(118, 77, pulse_rate=61)
    async with on_radio(monitor) as radio:
        provider = FixedPasskeyProvider(monitor.passkey)
        link = link_for(radio, passkey_provider=provider)
        sink = CollectingSink()
        await link.read_once(sink, timeout=10)
        assert kinds(sink) == [MeasurementKind.BLOOD_PRESSURE, MeasurementKind.CUFF_PULSE_RATE]
        assert provider.asked == [monitor.name]

        await monitor.start_advertising()
        assert not await another_phone_pairs(radio, monitor)  # one bond only: refused
        assert monitor.refused_pairings == 1

        monitor.record_measurement(121, 79, pulse_rate=63)
        if not monitor.is_advertising:
            await monitor.start_advertising()
        again = CollectingSink()
        await link.read_once(again, timeout=10)
        assert [panel(r) for r in again.readings if r.components] == [[121.0, 79.0, 93.0]]
        assert provider.asked == [monitor.name]  # still the same bond
        assert await radio.bonded_addresses() == [monitor.address]  # the hub kept its keys
        assert [name.split("/")[0] for name, _ in await monitor._keystore.get_all()] == [radio.hub_address]


async def test_omron_models_that_need_the_bond_before_discovery_are_paired_first() -> None:
    monitor = EmulatedOmronBP(bond_before_discovery=True, readvertise_after_disconnect=True)
    monitor.record_measurement(119, 78, pulse_rate=62)
    async with on_radio(monitor) as radio:
        # a driver that discovers first is dropped by the device
        plain = link_for(radio, registry=Registry([BloodPressureDriver()]), connect_attempts=1, connect_timeout=3.0)
        with pytest.raises(BleakError, match="disconnected"):
            await plain.read_once(CollectingSink(), timeout=10)
        assert monitor.dropped_for_discovery >= 1
        # the Omron driver asks the link to pair before discovery
        sink, events = CollectingSink(), EventLog()
        await monitor.wait_until(lambda: monitor.is_advertising)
        await link_for(radio, on_event=events).read_once(sink, timeout=10)
    assert kinds(sink) == [MeasurementKind.BLOOD_PRESSURE, MeasurementKind.CUFF_PULSE_RATE]
    assert events.names().index("pairing-needed") < events.names().index("connected")


async def test_a_refused_pairing_before_discovery_asks_the_patient_once_and_tells_the_technician() -> None:
    monitor = EmulatedOmronBP(bond_before_discovery=True, readvertise_after_disconnect=True)
    monitor.record_measurement(119, 78, pulse_rate=62)
    async with on_radio(monitor) as radio:
        wrong = FixedPasskeyProvider((monitor.passkey + 1) % 1_000_000)
        events = EventLog()
        link = link_for(radio, passkey_provider=wrong, on_event=events, connect_timeout=10.0)
        with pytest.raises(BleakError):
            await link.read_once(CollectingSink(), timeout=15)
    assert wrong.asked == [monitor.name]  # asked once, not once per connection retry
    assert events.names().count("pairing-failed") == 1
    [advice] = [d["advice"] for name, d in events.events if name == "pairing-failed"]
    assert "pair" in advice.lower()


@pytest.mark.parametrize(("error", "written"), [(timedelta(minutes=10), True), (timedelta(minutes=-2), False)])
async def test_omron_clock_is_written_through_cts_only_when_it_drifted(error: timedelta, written: bool) -> None:
    monitor = EmulatedOmronBP(clock_error=error)
    monitor.record_measurement(117, 76, pulse_rate=60)
    async with on_radio(monitor) as radio:
        sink = CollectingSink()
        await link_for(radio).read_once(sink, timeout=10)
    assert abs(sink.readings[0].device_clock_offset + error) <= SECOND  # hub - device
    assert len(monitor.clock_writes) == (1 if written else 0)
    expected_error = timedelta(0) if written else error
    assert abs(monitor.device_time() - monitor.true_time() - expected_error) <= SECOND


async def test_omron_users_one_and_two_are_told_apart() -> None:
    monitor = EmulatedOmronBP()
    monitor.record_measurement(120, 80, pulse_rate=60)  # user 1 (the default button)
    monitor.user = 2  # the spouse presses user button 2
    monitor.record_measurement(145, 95, pulse_rate=80)
    async with on_radio(monitor) as radio:
        sink = CollectingSink()
        await link_for(radio).read_once(sink, timeout=10)
    assert [r.device_user for r in sink.readings] == [1, 1, 2, 2]


# --- fuzz: garbage indications ------------------------------------------------------------------

_sfloats = st.integers(0, 0xFFFF).map(lambda raw: raw.to_bytes(2, "little"))
_plausible = st.builds(
    lambda flags, values, tail: bytes([flags]) + b"".join(values) + tail,
    st.integers(0, 0x1F),
    st.lists(_sfloats, min_size=3, max_size=3),
    st.binary(max_size=13),
)
garbage = st.lists(st.one_of(st.binary(max_size=22), _plausible), min_size=1, max_size=5)


def _possible(packets: list[bytes]) -> list[tuple[Any, ...]]:
    """What any reading could honestly be made of: each packet decoded on its own."""
    found: list[tuple[Any, ...]] = []
    for packet in packets:
        try:
            readings = readings_from_bp_bytes(packet, device=None, received_at=_NOW, local_zone=system_zone())
        except MalformedPacket:
            continue
        found += [_what(r) for r in readings]
    return found


def _what(reading: Reading) -> tuple[Any, ...]:
    return (reading.kind, reading.value, tuple((c.kind, c.value, c.absent_reason) for c in reading.components), reading.device_user)


_NOW = datetime.now(UTC)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets=garbage)
def test_garbage_indications_end_the_session_cleanly_and_invent_nothing(packets: list[bytes]) -> None:
    async def session() -> tuple[CollectingSink, EventLog]:
        # The monitor hangs up once every packet is confirmed, and the session ends on that
        # disconnection; a quiet-time end (settle) would decide the outcome on a busy machine.
        monitor = EmulatedBloodPressureMonitor(hang_up_when_done=True)
        for packet in packets:
            monitor.record_raw(packet)
        async with on_radio(monitor) as radio:
            sink, events = CollectingSink(), EventLog()
            await link_for(radio, on_event=events, settle=30.0).read_once(sink, timeout=10)
        return sink, events

    sink, events = asyncio.run(session())
    name, details = events.events[-1]
    assert name == "disconnected" and details["readings"] == len(sink.readings)
    possible = _possible(packets)
    for reading in sink.readings:
        assert _what(reading) in possible  # nothing the device did not send
    malformed = sum(1 for p in packets if not _parses(p))
    assert details["skipped"] == malformed


def _parses(packet: bytes) -> bool:
    try:
        readings_from_bp_bytes(packet, device=None, received_at=_NOW, local_zone=system_zone())
    except MalformedPacket:
        return False
    return True


async def test_a_loop_held_up_again_and_again_still_ends_a_silent_session() -> None:
    """The grace after a held-up loop is given once per silence: a loop that is late at every turn
    (a touch app stuck drawing slow frames) cannot keep a silent device's session open until
    max_session."""
    from drivers.devices.base import Session

    link = LinkManager(Registry([]), settle=0.2, max_session=30.0)
    session = Session(address="F0:11:22:33:55:01", deliver=lambda _reading: None)
    disconnected = asyncio.Event()
    consumer = asyncio.ensure_future(asyncio.Event().wait())  # a sink that never fails
    loop = asyncio.get_running_loop()

    def held_up() -> None:  # the loop held up 0.12 s at every turn
        time.sleep(0.12)
        handle[0] = loop.call_soon(held_up)

    handle = [loop.call_soon(held_up)]
    started = time.monotonic()
    try:
        await asyncio.wait_for(link._until_done(session, disconnected, consumer), timeout=10)
    finally:
        handle[0].cancel()
        consumer.cancel()
    assert time.monotonic() - started < 5  # quiet after settle and one grace, not max_session's 30 s
