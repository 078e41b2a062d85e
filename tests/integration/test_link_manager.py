"""LinkManager over the virtual radio: find, connect, pair, read, hand readings to the sink."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
from datetime import UTC, datetime

import pytest

from drivers.devices import Advertisement, Driver, Registry, default_registry
from drivers.gatt.ieee11073 import SpecialValue
from drivers.gatt.plx import PLX_FEATURES_UUID, PlxMeasurementStatus
from hub.domain.readings import AbsentReason, MeasurementKind, QualityFlag
from tests.emulated import CollectingSink, EventLog, emulated_oximeter, until

FIXED_NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


def values(sink: CollectingSink) -> list[tuple[MeasurementKind, float | None]]:
    return [(r.kind, r.value) for r in sink.readings]


async def test_read_once_turns_stored_records_into_readings() -> None:
    taken = datetime(2025, 3, 4, 8, 15, 0)
    async with emulated_oximeter(serial="PLX1-0007") as rig:
        rig.oximeter.record_spot_check(97, 64, timestamp=taken, status=PlxMeasurementStatus.from_flags(validated=True))
        sink, events = CollectingSink(), EventLog()
        link = rig.link_manager(clock=lambda: FIXED_NOW, on_event=events)
        identity = await link.read_once(sink, timeout=15)

    assert identity.serial == "PLX1-0007" and identity.address == rig.oximeter.address
    assert identity.manufacturer == "Heima Test Devices" and identity.system_id == "00A0500000000001"
    assert values(sink) == [(MeasurementKind.OXYGEN_SATURATION, 97.0), (MeasurementKind.PULSE_RATE, 64.0)]
    spo2, pulse = sink.readings
    assert (spo2.unit, pulse.unit) == ("%", "/min")
    assert spo2.device_time == pulse.device_time == taken
    assert spo2.received_at == FIXED_NOW and spo2.device == identity and spo2.record_id is None
    assert spo2.flags == {QualityFlag.FROM_STORAGE, QualityFlag.VALIDATED}
    assert events.names() == ["device-found", "connected", "reading", "reading", "disconnected"]
    assert events.events[-1][1]["ended_by"] == "hub"  # the device went quiet; the hub hung up
    assert "97" not in json.dumps(events.events) and "64" not in json.dumps(events.events)  # no values


async def test_read_once_pairs_with_the_passkey_provider_and_announces_it() -> None:
    async with emulated_oximeter(requires_bonding=True, passkey=314159, records=[(95, 70)]) as rig:
        sink, events = CollectingSink(), EventLog()
        await rig.link_manager(on_event=events).read_once(sink, timeout=15)
        assert "pairing-needed" in events.names()
        assert values(sink) == [(MeasurementKind.OXYGEN_SATURATION, 95.0), (MeasurementKind.PULSE_RATE, 70.0)]
        assert await rig.radio.bonded_addresses() == [rig.oximeter.address]


async def test_live_spot_check_taken_while_connected_is_read() -> None:
    async with emulated_oximeter() as rig:
        sink = CollectingSink()

        async def patient() -> None:
            await rig.oximeter.wait_until(lambda: bool(rig.oximeter._indicating), timeout=5.0)
            await rig.oximeter.take_live_spot_check(98, 59)

        measuring = asyncio.create_task(patient())
        await rig.link_manager().read_once(sink, timeout=15)
        await measuring
    assert values(sink) == [(MeasurementKind.OXYGEN_SATURATION, 98.0), (MeasurementKind.PULSE_RATE, 59.0)]
    assert QualityFlag.FROM_STORAGE not in sink.readings[0].flags


async def test_device_disconnecting_mid_session_returns_what_arrived() -> None:
    records = [(90 + i, 60 + i) for i in range(4)]
    async with emulated_oximeter(records=records) as rig:
        rig.oximeter.disconnect_after(2)
        sink, events = CollectingSink(), EventLog()
        started = time.monotonic()
        identity = await rig.link_manager(settle=5.0, on_event=events).read_once(sink, timeout=15)
        elapsed = time.monotonic() - started
    assert identity.serial == "PLX1-000001"
    assert [r.value for r in sink.readings] == [90.0, 60.0, 91.0, 61.0]
    assert elapsed < 2.0  # ended by the disconnect, not by the 5 s settle time
    assert events.events[-1] == ("disconnected", {"address": rig.oximeter.address, "ended_by": "device", "readings": 4, "skipped": 0})


async def test_special_values_and_invalid_status_become_absent_readings() -> None:
    async with emulated_oximeter() as rig:
        rig.oximeter.record_spot_check(SpecialValue.NAN, 62)
        rig.oximeter.record_spot_check(SpecialValue.NRES, SpecialValue.POSITIVE_INFINITY)
        rig.oximeter.record_spot_check(97, 64, status=PlxMeasurementStatus.from_flags(invalid=True))
        sink = CollectingSink()
        await rig.link_manager().read_once(sink, timeout=15)
    absent = [(r.value, r.absent_reason) for r in sink.readings]
    assert absent == [
        (None, AbsentReason.NOT_A_NUMBER),
        (62.0, None),
        (None, AbsentReason.NOT_AT_THIS_RESOLUTION),
        (None, AbsentReason.POSITIVE_INFINITY),
        (None, AbsentReason.ERROR),
        (None, AbsentReason.ERROR),
    ]
    assert QualityFlag.INVALID in sink.readings[-1].flags


async def test_clock_not_set_and_sensor_fault_are_flagged() -> None:
    async with emulated_oximeter(clock_set=False) as rig:
        rig.oximeter.record_spot_check(93, 80, device_status=1 << 13)  # sensor displaced
        sink = CollectingSink()
        await rig.link_manager().read_once(sink, timeout=15)
    reading = sink.readings[0]
    assert {QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.SENSOR_PROBLEM} <= reading.flags
    assert reading.device_time is not None and reading.device_time.year == 2000


async def test_malformed_indication_is_skipped_and_the_session_goes_on() -> None:
    async with emulated_oximeter() as rig:
        rig.oximeter.record_spot_check(96, 66)
        rig.oximeter.record_raw_spot_check(b"\x01\x62\x00")  # flags promise a timestamp; too short
        rig.oximeter.record_spot_check(95, 67)
        sink, events = CollectingSink(), EventLog()
        await rig.link_manager(on_event=events).read_once(sink, timeout=15)
    assert [r.value for r in sink.readings] == [96.0, 66.0, 95.0, 67.0]
    assert events.events[-1][1]["skipped"] == 1


async def test_records_resent_on_a_second_connection_are_identical() -> None:
    async with emulated_oximeter(records=[(97, 64), (96, 65)]) as rig:
        first, second = CollectingSink(), CollectingSink()
        link = rig.link_manager()
        identity_1 = await link.read_once(first, timeout=15)
        await rig.oximeter.start_advertising()  # the patient switches it on again
        identity_2 = await link.read_once(second, timeout=15)
    assert identity_1 == identity_2
    key = [(r.kind, r.value, r.device_time, r.device) for r in first.readings]
    assert key == [(r.kind, r.value, r.device_time, r.device) for r in second.readings]
    assert len(key) == 4


async def test_forget_after_send_does_not_resend() -> None:
    async with emulated_oximeter(records=[(97, 64)], forget_after_send=True) as rig:
        first, second = CollectingSink(), CollectingSink()
        link = rig.link_manager()
        await link.read_once(first, timeout=15)
        await rig.oximeter.start_advertising()
        await link.read_once(second, timeout=15)
    assert len(first.readings) == 2 and second.readings == []


async def test_a_slow_sink_loses_nothing_and_keeps_order() -> None:
    records = [(80 + i, 50 + i) for i in range(10)]
    async with emulated_oximeter(records=records) as rig:
        rig.oximeter.disconnect_after(10)  # the device hangs up right after its last record
        sink = CollectingSink(delay=0.02)
        await rig.link_manager().read_once(sink, timeout=15)
    expected = [float(v) for spo2, pulse in records for v in (spo2, pulse)]
    assert [r.value for r in sink.readings] == expected  # all 20, in order, despite the slow sink


async def test_an_error_in_the_sink_surfaces_after_the_link_is_closed() -> None:
    async with emulated_oximeter(records=[(97, 64)]) as rig:

        async def broken_sink(_reading: object) -> None:
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            await rig.link_manager().read_once(broken_sink, timeout=5.0)
        await rig.oximeter.wait_until(lambda: not rig.oximeter.is_connected, timeout=2.0)


async def test_read_once_times_out_when_no_device_is_around() -> None:
    async with emulated_oximeter(advertise_on_attach=False) as rig:
        with pytest.raises(TimeoutError):
            await rig.link_manager().read_once(CollectingSink(), timeout=0.2)


async def test_att_error_during_the_session_ends_it_without_readings() -> None:
    async with emulated_oximeter(records=[(97, 64)]) as rig:
        rig.oximeter.fail_with_att_error("00002a5e-0000-1000-8000-00805f9b34fb", 0x81)
        sink, events = CollectingSink(), EventLog()
        identity = await rig.link_manager(on_event=events).read_once(sink, timeout=15)
    assert identity.serial == "PLX1-000001"  # identity was read before subscribing failed
    assert sink.readings == [] and events.names()[-1] == "disconnected"


async def test_features_att_error_is_tolerated() -> None:
    async with emulated_oximeter(records=[(97, 64)]) as rig:
        rig.oximeter.fail_with_att_error(PLX_FEATURES_UUID, 0x0E)
        sink = CollectingSink()
        await rig.link_manager().read_once(sink, timeout=15)
    assert len(sink.readings) == 2


class SeeingRegistry(Registry):
    """The shipped drivers, counting per address the advertisements the link asks them about."""

    def __init__(self) -> None:
        super().__init__(default_registry())
        self.seen: collections.Counter[str] = collections.Counter()

    def match(self, advertisement: Advertisement) -> Driver | None:
        self.seen[advertisement.address] += 1
        return super().match(advertisement)


async def test_run_reads_devices_as_they_appear_and_respects_the_cool_down() -> None:
    async with emulated_oximeter(records=[(97, 64)], readvertise_after_disconnect=True) as rig:
        sink, events, registry = CollectingSink(), EventLog(), SeeingRegistry()
        link = rig.link_manager(registry, on_event=events, readvertise_gap=5.0)
        running = asyncio.create_task(link.run(sink))
        try:
            await sink.wait_for(2)
            # the hub hung up (settle); the device keeps advertising: the hub sees it again, and
            # again, and does not connect (no reconnect loop)
            await events.wait_for("disconnected")
            address = rig.oximeter.address
            seen = registry.seen[address]
            await until(lambda: registry.seen[address] >= seen + 3, what="the hub seeing the device advertise again")
            assert events.names().count("connected") == 1
            assert rig.oximeter.connection_count == 1
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running


async def test_run_reconnects_when_the_device_hung_up_and_advertises_again() -> None:
    async with emulated_oximeter(records=[(97, 64)], forget_after_send=True) as rig:
        rig.oximeter.disconnect_after(1)  # the device ends each session itself
        sink, events = CollectingSink(), EventLog()
        running = asyncio.create_task(rig.link_manager(on_event=events).run(sink))
        try:
            await sink.wait_for(2)
            await rig.oximeter.wait_until(lambda: not rig.oximeter.is_connected)
            await rig.oximeter.take_live_spot_check(95, 70)  # stored; it advertises again
            await sink.wait_for(4)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert [r.value for r in sink.readings] == [97.0, 64.0, 95.0, 70.0]
    assert rig.oximeter.connection_count == 2
    assert [d["ended_by"] for name, d in events.events if name == "disconnected"][0] == "device"


async def test_sessions_are_serialised() -> None:
    async with emulated_oximeter(records=[(97, 64)]) as rig:
        link = rig.link_manager()
        first, second = CollectingSink(delay=0.05), CollectingSink()

        async def second_reader() -> None:
            await rig.oximeter.wait_until(lambda: rig.oximeter.is_connected, timeout=5.0)
            await rig.oximeter.start_advertising()  # visible again while the first session runs
            await link.read_once(second, timeout=15)

        most = 0
        device_connected = rig.oximeter.on_connected

        def on_connected(connection) -> None:  # every connection, as it is made: none missed
            nonlocal most
            most = max(most, len(rig.oximeter.connections))
            device_connected(connection)

        rig.oximeter.on_connected = on_connected  # type: ignore[method-assign]
        other = asyncio.create_task(second_reader())
        await link.read_once(first, timeout=15)
        await other
        assert rig.oximeter.connection_count == 2 and most == 1  # never two connections at once
    assert len(first.readings) == 2 and len(second.readings) == 2


async def test_the_link_never_unpairs_or_clears_a_bond() -> None:
    async with emulated_oximeter(requires_bonding=True, records=[(97, 64)]) as rig:

        async def tripwire(self: object, *args: object) -> None:
            raise AssertionError("the link must never remove a bond")

        guarded = type("BumbleClient", (rig.radio.client_backend,), {"unpair": tripwire, "clear_cache": tripwire})
        link = rig.link_manager(client_backend=guarded)
        sink = CollectingSink()
        await link.read_once(sink, timeout=15)
        await rig.oximeter.start_advertising()
        await link.read_once(sink, timeout=15)  # the second session re-encrypts with the bond
        assert len(sink.readings) == 4 and await rig.radio.bonded_addresses() == [rig.oximeter.address]


async def test_records_taken_back_to_back_get_distinct_device_times() -> None:
    async with emulated_oximeter(records=[(97, 64), (96, 65), (95, 66)]) as rig:
        sink = CollectingSink()
        await rig.link_manager().read_once(sink, timeout=15)
    times = [r.device_time for r in sink.readings[::2]]
    assert len(set(times)) == 3 and times == sorted(times)


async def test_read_once_takes_the_device_of_the_chosen_family_and_another_only_when_none_answers() -> None:
    """The patient chose a family on the screen: with an oximeter and a thermometer both
    advertising, the thermometer is read when thermometers are preferred; when the preferred kind
    never answers, the device that did is read after the grace period (its value still counts)."""
    from drivers.emulator.thermometer import EmulatedThermometer

    async with emulated_oximeter(records=[(96, 66)]) as rig:
        thermometer = EmulatedThermometer()
        thermometer.record_temperature(37.2)
        await rig.radio.add(thermometer)

        def is_thermometer(driver) -> bool:
            return getattr(driver, "family", None) == "thermometer"

        sink, events = CollectingSink(), EventLog()
        identity = await rig.link_manager(on_event=events).read_once(sink, timeout=10.0, prefer=is_thermometer, prefer_for=5.0)
        assert identity.address == thermometer.address
        assert [r.kind for r in sink.readings] == [MeasurementKind.BODY_TEMPERATURE]
        assert [d["address"] for name, d in events.events if name == "device-found"] == [thermometer.address]

        await thermometer.detach()
        sink = CollectingSink()
        started = time.monotonic()

        def is_glucose(driver) -> bool:
            return getattr(driver, "family", None) == "glucose"

        identity = await rig.link_manager().read_once(sink, timeout=10.0, prefer=is_glucose, prefer_for=1.0)
        assert identity.address == rig.oximeter.address and time.monotonic() - started >= 1.0
        assert values(sink) == [(MeasurementKind.OXYGEN_SATURATION, 96.0), (MeasurementKind.PULSE_RATE, 66.0)]
