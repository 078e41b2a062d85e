"""Latency from the device's indication to the Observation committed at the reference server:
with one destination, and with three (two reference servers and one that is down) against the
one-destination baseline in the same run."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import Iterator

import pytest

from hub.api import DeliveryChanged
from hub.app import Hub, start_hub
from hub.config import DestinationConfig, HubConfig
from tests.emulated import emulated_oximeter
from tests.servers.fhir_server import ReferenceFhirServer

pytestmark = pytest.mark.bench
READINGS = 200


async def indication_latencies(hub: Hub, destinations: list[str], n: int = READINGS) -> dict[str, list[float]]:
    """For `n` live spot-checks (SpO2 + pulse each) from an emulated oximeter over the virtual
    radio: seconds from the indication until each destination's worker had both Observations
    accepted by its server (the outbox row is marked delivered only on a parsed success)."""
    latencies: dict[str, list[float]] = {name: [] for name in destinations}
    delivered = asyncio.Event()
    unsubscribe = hub.events.subscribe(lambda e: delivered.set() if isinstance(e, DeliveryChanged) else None)
    try:
        async with emulated_oximeter() as rig:
            link = rig.link_manager(settle=600.0, max_session=600.0)  # one session for every reading
            session = asyncio.create_task(link.read_once(hub.record, timeout=10))
            await rig.oximeter.wait_until(lambda: rig.oximeter.spot_check_indicating)  # discovery and subscription done
            for i in range(n):
                delivered.clear()
                waiting = set(destinations)
                start = time.perf_counter()
                await rig.oximeter.take_live_spot_check(90 + i % 10, 60 + i % 30)
                while waiting:  # the workers report each delivery; the servers are the judges
                    await asyncio.wait_for(delivered.wait(), 5)
                    delivered.clear()
                    counts = await hub.store.outbox_counts()
                    now = time.perf_counter()
                    for name in list(waiting):
                        if counts.get(name, {}).get("delivered", 0) >= 2 * (i + 1):
                            latencies[name].append(now - start)
                            waiting.discard(name)
            session.cancel()
    finally:
        unsubscribe()
    return latencies


def p50_p95(values: list[float]) -> tuple[float, float]:
    return statistics.median(values) * 1000, statistics.quantiles(values, n=100)[94] * 1000


async def test_indication_to_observation_committed_at_the_server(tmp_path, fhir_server, report):
    config = HubConfig(
        data_dir=tmp_path / "hub",
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )
    hub = await start_hub(config)
    try:
        latencies = (await indication_latencies(hub, ["centre"]))["centre"]
        assert len(fhir_server.observations()) == 2 * READINGS
    finally:
        await hub.stop()
    p50, p95 = p50_p95(latencies)
    report(
        "indication → Observation committed at server",
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms",
        "p95 <= 250 ms",
        p95 <= 250,
        f"{READINGS} live spot-checks (SpO2 + pulse each)",
    )


@pytest.fixture(params=["silent", "refused"])
def down_port(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A destination that is down. "silent": the kernel accepts the connection and nobody ever
    answers (each request hangs until the destination's time-out); "refused": nothing listens
    on the port (each attempt fails at once, and the worker backs off)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if request.param == "silent":
        sock.listen(64)
    else:
        sock.close()
    try:
        yield request.param, port
    finally:
        sock.close()


@pytest.fixture
def second_fhir_server() -> Iterator[ReferenceFhirServer]:
    """A second reference server (its own Node process): the hospital beside the municipality."""
    with ReferenceFhirServer() as server:
        yield server


async def test_three_destinations_one_down_against_one_destination(tmp_path, fhir_server, second_fhir_server, down_port, report):
    """Issue #4 item 6: end-to-end latency p95 with three destinations, one of them down, is at
    most 300 ms for the others; the one-destination baseline is measured first in the same run."""
    how, port = down_port
    alone = await start_hub(
        HubConfig(
            data_dir=tmp_path / "alone",
            destinations=(DestinationConfig(name="kommune", kind="fhir", url=fhir_server.base_url),),
        )
    )
    try:
        baseline = (await indication_latencies(alone, ["kommune"]))["kommune"]
    finally:
        await alone.stop()
    fhir_server.reset()
    three = await start_hub(
        HubConfig(
            data_dir=tmp_path / "three",
            destinations=(
                DestinationConfig(name="kommune", kind="fhir", url=fhir_server.base_url),
                DestinationConfig(name="sykehus", kind="fhir", url=second_fhir_server.base_url),
                DestinationConfig(name="fastlege", kind="fhir", url=f"http://127.0.0.1:{port}/fhir/R4", timeout=60),
            ),
        )
    )
    try:
        latencies = await indication_latencies(three, ["kommune", "sykehus"])
        counts = await three.store.outbox_counts()
    finally:
        await three.stop()
    assert len(fhir_server.observations()) == len(second_fhir_server.observations()) == 2 * READINGS
    assert counts["fastlege"] == {"pending": 2 * READINGS}  # nothing lost: all waiting for the one that is down
    b50, b95 = p50_p95(baseline)
    k50, k95 = p50_p95(latencies["kommune"])
    s50, s95 = p50_p95(latencies["sykehus"])
    both = [max(a, b) for a, b in zip(latencies["kommune"], latencies["sykehus"], strict=True)]
    a50, a95 = p50_p95(both)
    print(
        f"\nindication → committed, p50/p95 ms: one destination {b50:.0f}/{b95:.0f}; three, one down ({how}): "
        f"kommune {k50:.0f}/{k95:.0f}, sykehus {s50:.0f}/{s95:.0f}, both {a50:.0f}/{a95:.0f}"
    )
    report(
        f"indication → committed, 3 destinations (1 {how})",
        f"p95 {a95:.0f} ms at both healthy servers (kommune {k95:.0f}, sykehus {s95:.0f}); alone {b95:.0f} ms",
        "p95 <= 300 ms for the healthy ones",
        a95 <= 300,
        f"{READINGS} live spot-checks; the third "
        + ("accepts and never answers" if how == "silent" else "refuses connections (nothing listens)"),
    )
    assert a95 <= 300, (b95, k95, s95, a95)
