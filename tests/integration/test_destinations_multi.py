"""Several destinations through the whole hub: one outbox row each, routing by `receives` and
consent, a silent destination that never delays another, a destination that leaves the
configuration with rows queued."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.app import start_hub
from hub.config import parse_config
from hub.services.consent import ConsentState
from tests.unit.hub.factories import spo2

PATIENT = {"identifier": "13116900216"}


@pytest.fixture
def silent_socket() -> Iterator[int]:
    """A TCP port that accepts connections (the kernel completes them) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def config(tmp_path: Path, *destinations: dict, data: str = "data"):
    return parse_config(
        {"hub": {"data_dir": str(tmp_path / data)}, "patient": PATIENT, "destinations": list(destinations)}
    )


def fhir(name: str, url: str, **kw) -> dict:
    return {"name": name, "kind": "fhir", "url": url, **kw}


def folder(name: str, path: Path, **kw) -> dict:
    return {"name": name, "kind": "directory", "path": str(path), **kw}


async def _delivery_latencies(hub, n: int, *, destination: str = "centre") -> list[float]:
    latencies = []
    for i in range(n):
        started = time.monotonic()
        outcome = await hub.service.record_reading(spo2(90 + i, received_at=datetime.now(UTC) - timedelta(seconds=n - i)))
        mid = str(outcome.measurement.id)
        while True:
            states = {s.destination: s.state for s in await hub.store.delivery_states(mid)}
            if states.get(destination) == "delivered":
                break
            if time.monotonic() - started > 10:
                raise AssertionError(f"not delivered to {destination} within 10 s: {states}")
            await asyncio.sleep(0.005)
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.02)
    return latencies


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def test_a_silent_destination_never_delays_another(tmp_path, fhir_server, silent_socket):
    n = 20
    alone = await start_hub(config(tmp_path, fhir("centre", fhir_server.base_url), data="alone"))
    try:
        baseline = await _delivery_latencies(alone, n)
    finally:
        await alone.stop()
    fhir_server.reset()
    both = await start_hub(
        config(
            tmp_path,
            fhir("silent", f"http://127.0.0.1:{silent_socket}/fhir/R4", timeout=60),
            fhir("centre", fhir_server.base_url),
            data="both",
        )
    )
    try:
        with_silent = await _delivery_latencies(both, n)
        counts = await both.store.outbox_counts()
    finally:
        await both.stop()
    assert counts["silent"] == {"pending": n}  # nothing lost, nothing sent, waiting for the silent one
    assert counts["centre"] == {"delivered": n}
    assert len(fhir_server.observations()) == n
    # The silent server holds a request for 60 s; the centre's deliveries are as quick as alone.
    print(f"centre delivery p95: alone {p95(baseline) * 1000:.0f} ms, beside a silent destination {p95(with_silent) * 1000:.0f} ms")
    assert max(with_silent) < 1.0, with_silent
    assert p95(with_silent) <= p95(baseline) + 0.15, (p95(baseline), p95(with_silent))


async def test_one_row_per_destination_routed_by_receives_and_consent(tmp_path, fhir_server):
    usb, alerts_only = tmp_path / "usb", tmp_path / "alerts"
    hub = await start_hub(
        config(
            tmp_path,
            fhir("centre", fhir_server.base_url),
            folder("usb", usb),
            folder("alarmsentral", alerts_only, receives=["alerts"]),
            folder("fastlege", tmp_path / "gp", consent="not-given"),
        ),
        deliver=False,
    )
    try:
        first = (await hub.service.record_reading(spo2(97))).measurement
        assert sorted(s.destination for s in await hub.store.delivery_states(str(first.id))) == ["centre", "usb"]
        assert await hub.consent.withdraw("usb") == 1  # queued, not yet sent: set aside
        second = (await hub.service.record_reading(spo2(96, received_at=datetime.now(UTC)))).measurement
        assert [s.destination for s in await hub.store.delivery_states(str(second.id))] == ["centre"]
        reports = await hub.deliver_now()
        views = {v.name: v for v in await hub.consent.destinations()}
    finally:
        await hub.stop()
    assert reports["centre"].delivered == 2 and reports["usb"].delivered == 0
    assert not usb.exists() or list(usb.iterdir()) == []  # nothing reached the withdrawn destination
    assert not alerts_only.exists()
    assert views["usb"].consent is ConsentState.WITHDRAWN and views["usb"].withdrawn == 1
    assert views["fastlege"].consent is ConsentState.NOT_GIVEN and views["fastlege"].delivered == 0
    assert views["centre"].consent is ConsentState.GIVEN and views["centre"].delivered == 2
    assert [v.name for v in views.values()] == ["centre", "usb", "alarmsentral", "fastlege"]


async def test_a_destination_removed_with_rows_queued_keeps_them_until_it_returns(tmp_path, fhir_server, caplog):
    usb = tmp_path / "usb"
    both = config(tmp_path, fhir("centre", fhir_server.base_url), folder("usb", usb))
    hub = await start_hub(both, deliver=False)
    try:
        m = (await hub.service.record_reading(spo2(97))).measurement
    finally:
        await hub.stop()

    caplog.set_level("WARNING")
    hub = await start_hub(config(tmp_path, fhir("centre", fhir_server.base_url)), deliver=False)
    try:
        reports = await hub.deliver_now()
        views = {v.name: v for v in await hub.consent.destinations()}
        states = {s.destination: s.state for s in await hub.store.delivery_states(str(m.id))}
    finally:
        await hub.stop()
    assert "outbox usb: destination no longer configured" in caplog.text
    assert reports == {"centre": reports["centre"]} and reports["centre"].delivered == 1
    assert states == {"centre": "delivered", "usb": "pending"}  # kept, not sent elsewhere
    assert not views["usb"].configured and views["usb"].waiting == 1
    assert not usb.exists()

    hub = await start_hub(both, deliver=False)  # configured again: it goes out
    try:
        reports = await hub.deliver_now()
    finally:
        await hub.stop()
    assert reports["usb"].delivered == 1 and len(list(usb.glob("heima-*.fhir.json"))) == 1
    assert len(fhir_server.observations(m.urn)) == 1
