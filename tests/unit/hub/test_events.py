"""The hub's event feed: typed events, one per kind, safe to publish from another thread."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import FrozenInstanceError

import pytest

from hub.domain.devices import DeviceFamily
from hub.domain.readings import MeasurementKind
from hub.services.events import (
    ConsentFailed,
    Connected,
    CuffPressure,
    DeliveryChanged,
    DeviceFound,
    Disconnected,
    DownloadProgress,
    EventBus,
    LiveReading,
    MeasuringStarted,
    PairingNeeded,
    ReadingReceived,
    device_event,
)


async def test_an_event_published_on_another_thread_reaches_listeners_on_the_loops_thread():
    """The MQTT network thread (and BlueZ callbacks) publish off the loop: listeners (the UI,
    the services) still run on the loop's own thread, in order."""
    bus = EventBus()
    loop_thread = threading.get_ident()
    seen: list[tuple[object, int]] = []
    got_both = asyncio.Event()

    def listener(event: object) -> None:
        seen.append((event, threading.get_ident()))
        if len(seen) == 2:
            got_both.set()

    bus.subscribe(listener)
    publisher = threading.Thread(target=lambda: (bus.publish(DeliveryChanged()), bus.publish(MeasuringStarted(DeviceFamily.WEIGHT))))
    publisher.start()
    await asyncio.to_thread(publisher.join)
    async with asyncio.timeout(5):
        await got_both.wait()
    assert [e for e, _ in seen] == [DeliveryChanged(), MeasuringStarted(DeviceFamily.WEIGHT)]
    assert {thread for _, thread in seen} == {loop_thread}


async def test_on_the_loops_thread_an_event_is_delivered_at_once():
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    bus.publish(DeliveryChanged())
    assert seen == [DeliveryChanged()]


def test_a_broken_listener_does_not_stop_the_others(caplog):
    bus = EventBus()
    seen: list[object] = []

    def broken(event: object) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    stop = bus.subscribe(seen.append)
    bus.publish(Connected("F0:11:22:33:44:01", "Heima PLX 1"))
    assert seen == [Connected("F0:11:22:33:44:01", "Heima PLX 1")]
    assert "Connected" in caplog.text
    stop()
    bus.publish(DeliveryChanged())
    assert len(seen) == 1


def test_events_are_frozen():
    with pytest.raises(FrozenInstanceError):
        Connected("a").address = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "details", "event"),
    [
        ("device-found", {"address": "A", "name": "Heima PLX 1", "driver": "plx-standard"}, DeviceFound("A", "Heima PLX 1", "plx-standard")),
        ("connected", {"address": "A", "name": None, "driver": "bp-standard"}, Connected("A", None, "bp-standard")),
        ("disconnected", {"address": "A", "ended_by": "hub", "readings": 2, "skipped": 0}, Disconnected("A", "hub", 2, 0)),
        ("pairing-needed", {"address": "A", "method": "consent-code", "user_index": 3}, PairingNeeded("A", "consent-code", 3)),
        ("consent-failed", {"address": "A", "name": "Scale", "user_index": 1, "advice": "x"}, ConsentFailed("A", "Scale", 1, "x")),
        ("reading", {"address": "A", "kind": "body-weight"}, ReadingReceived("A", "body-weight")),
        ("cuff-pressure", {"address": "A", "pressure": 162, "unit": "mm[Hg]"}, CuffPressure("A", 162.0)),
        ("live-reading", {"address": "A", "kind": "pulse-rate", "value": 81, "unit": "/min"}, LiveReading("A", MeasurementKind.PULSE_RATE, 81.0, "/min")),
        ("download-progress", {"address": "A", "done": 3, "total": 40}, DownloadProgress("A", 3, 40)),
    ],
)
def test_a_drivers_event_becomes_its_typed_event(name, details, event):
    assert device_event(name, details) == event


@pytest.mark.parametrize(
    ("name", "details"),
    [
        ("something-new", {"address": "A"}),
        ("live-reading", {"address": "A", "kind": "not-a-kind", "value": 1}),
        ("live-reading", {"address": "A", "kind": "pulse-rate", "value": "81"}),  # a value in text: never
        ("download-progress", {"done": 3}),
        ("connected", {"name": "no address"}),
    ],
)
def test_an_event_the_hub_does_not_know_or_that_does_not_fit_is_dropped(name, details):
    assert device_event(name, details) is None
