"""Draining a queue to the reference server: Heima's batches against one POST per Observation.

Both run against the same Medplum-based server in the same run, each starting from an empty
repository, each idempotent (conditional create on the measurement's identifier), both on a
server warmed up first (`warm_up`: the first side measured no longer pays its JIT and heap growth).

On loopback the row also says where the time goes, so a miss can be told apart from Heima's own
cost: the server's CPU per Observation in batches and per POST (its process, from /proc), Heima's
CPU per Observation, and the server alone on Heima's very requests — the same bodies posted back
to back by a client that does nothing else, the least wall time any client could take to have
the server do this work. The POST-each time over that is the ratio's ceiling on this server.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest

from hub.store import Store
from tests.bench.backlog import Clocks
from tests.bench.conftest import heima_peak_rss
from sync.destinations import FhirServerDestination
from sync.fhir.bundles import build
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from sync.fhir.observations import observation_for
from sync.outbox import OutboxWorker
from tests.unit.hub.factories import measurement, spo2

pytestmark = pytest.mark.bench
N = 10_000
BATCH = 500


@pytest.fixture(scope="module")
def indexed_server():
    """Medplum's engine with identifier searches indexed, as a database-backed server has them;
    warmed up before anything is measured."""
    from tests.servers.fhir_server import ReferenceFhirServer

    with ReferenceFhirServer(identifier_index=True) as server:
        warm_up(server)
        yield server


def warm_up(server) -> None:
    """Both sides measured on a warm server. The server starts with this module and the first
    thing measured is Heima's drain: it used to pay the server's warm-up (its JIT, its heap
    growing: 87-93 against 65-72 us of the server's CPU per Observation for the same drain
    again, in a trial) while the POST-each run after it found the server warm. So the server
    first does the same kinds of work once — N Observations in batches, a few hundred POSTed one
    by one — and is emptied."""
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
    batched = [measurement(spo2(90.0)) for _ in range(N)]
    with httpx.Client(timeout=60) as client:
        for start in range(0, N, BATCH):
            body = orjson.dumps(build(batched[start : start + BATCH], CTX, "batch").bundle)
            client.post(server.base_url, content=body, headers=headers).raise_for_status()
        for m in (measurement(spo2(91.0)) for _ in range(300)):
            client.post(
                f"{server.base_url}/Observation",
                content=orjson.dumps(observation_for(m, CTX)),
                headers={"Content-Type": "application/fhir+json", "If-None-Exist": f"identifier=urn:ietf:rfc:3986|{m.urn}"},
            ).raise_for_status()
    server.reset()


@pytest.fixture
def fhir_server(indexed_server):  # noqa: F811 - the benchmarks use the indexed server
    indexed_server.reset()
    return indexed_server


CTX = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-BENCH-1"))


async def queued_store(path, n: int) -> tuple[Store, list]:
    store = await Store.open(path)
    ms = [measurement(spo2(85.0 + i % 15)) for i in range(n)]
    for start in range(0, n, 1000):
        await asyncio.gather(*(store.record(m, ["centre"]) for m in ms[start : start + 1000]))
    return store, ms


def the_server_alone(base_url: str, bodies: list[bytes], headers: dict[str, str]) -> float:
    """Wall seconds for the server to answer `bodies` posted back to back, one at a time, by a
    client that does nothing between them (no reading, building, parsing or marking)."""
    with httpx.Client(timeout=60) as client:
        start = time.perf_counter()
        for body in bodies:
            client.post(base_url, content=body, headers=headers).raise_for_status()
        return time.perf_counter() - start


async def naive_post_each(base_url: str, ms: list) -> tuple[float, int]:
    """The baseline: what a simple client does — one POST /Observation per measurement."""
    requests = 0
    async with httpx.AsyncClient(timeout=30) as client:
        start = time.perf_counter()
        for m in ms:
            r = await client.post(
                f"{base_url}/Observation",
                json=observation_for(m, CTX),
                headers={"Content-Type": "application/fhir+json", "If-None-Exist": f"identifier=urn:ietf:rfc:3986|{m.urn}"},
            )
            r.raise_for_status()
            requests += 1
        return time.perf_counter() - start, requests


@pytest.mark.parametrize(
    "n, network_ms",
    [(N, 0), (2_000, 20)],
    ids=["loopback", "20ms-network"],
)
async def test_draining_queued_measurements_against_one_post_per_observation(tmp_path, fhir_server, report, n, network_ms):
    """`network_ms`: the server holds each request this long, as a 4G link's round trip would."""
    store, ms = await queued_store(tmp_path / "heima.db", n)
    if network_ms:
        fhir_server.fault("delay", ms=network_ms, count=10**6)
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:  # Heima's request, kept for the replay below
        sent.append(request)

    async with httpx.AsyncClient(timeout=60, event_hooks={"request": [keep]}) as client:
        worker = OutboxWorker(store, FhirServerDestination("centre", fhir_server.base_url, ctx=CTX, client=client), batch_size=BATCH)
        with Clocks(fhir_server._proc.pid) as drain:
            drained = await worker.drain()
        heima = drain.wall
    assert drained.delivered == n
    heima_requests = fhir_server.stats()["requests"]
    assert len(fhir_server.observations()) == min(n, 1000)  # (the helper reads at most 1,000)
    await store.close()

    fhir_server.reset()
    if network_ms:
        fhir_server.fault("delay", ms=network_ms, count=10**6)
    with Clocks(fhir_server._proc.pid) as each:
        naive, naive_requests = await naive_post_each(fhir_server.base_url, ms)
    ratio = naive / heima
    where = ""
    if not network_ms:
        fhir_server.reset()
        headers = {k: v for k, v in sent[0].headers.items() if k.lower() in ("content-type", "accept", "prefer")}
        alone = the_server_alone(fhir_server.base_url, [r.content for r in sent], headers)
        assert len(fhir_server.observations()) == min(n, 1000)
        us = 1e6 / n
        where = (
            f"; server CPU {drain.server * us:.0f} us/Observation in batches, {each.server * us:.0f} per POST; "
            f"Heima's CPU {drain.cpu * us:.0f} us/Observation; POST each: its client {each.cpu * us:.0f} us/POST"
        )
    label = f"drain {n:,} queued, {'loopback' if not network_ms else f'{network_ms} ms per request'}: batches vs POST each"
    if network_ms:
        # With a round trip per request, batching is what decides: one round trip per 500.
        report(label, f"{ratio:.1f}x ({heima:.1f} s vs {naive:.1f} s)", ">= 20x", ratio >= 20, f"{heima_requests} vs {naive_requests} requests; batch {BATCH}")
        assert ratio >= 20, f"batches only {ratio:.1f}x faster than a POST each ({heima:.1f} s vs {naive:.1f} s)"
        return
    # On loopback there is no round trip to save: the ratio is bounded by the server's own work per
    # Observation in a batch (Medplum's engine: ~60-90 us) against its work per POST, whatever the
    # client does (docs/performance.md, part L: the ceiling, the server answering Heima's very
    # requests posted back to back by a client doing nothing else, was 6-19x in every run). Issue
    # #2's ">= 20x" is asserted on the 20 ms row above, where batching decides. Here what Heima
    # controls is asserted: that the server is the bound — the drain's wall time within 1.2x the
    # server's own CPU time during it (Heima builds batch k+1 while the server works on k).
    # The ceiling is reported beside it; it is not the assertion, because the replay runs third on
    # the same server (warmer, after 10,000 POSTs) and so flatters the ceiling by 10-25 %.
    bound = heima / drain.server
    report(
        label,
        f"{ratio:.1f}x ({heima:.1f} s vs {naive:.1f} s); wall {bound:.2f}x the server's CPU",
        "server-bound: wall <= 1.2x the server's CPU",
        bound <= 1.2,
        f"{heima_requests} vs {naive_requests} requests; batch {BATCH}{where}",
    )
    report(
        "drain 10,000, loopback: the ceiling = POST each / the server alone on Heima's requests",
        f"{naive / alone:.1f}x (the server alone {alone:.2f} s; Heima's drain {heima / alone:.2f}x that)",
        "-",
        None,
        "Heima's request bodies posted back to back by a client doing nothing else, after the POST-each run",
    )
    assert bound <= 1.2, (
        f"the drain took {heima:.2f} s against the server's {drain.server:.2f} s of CPU ({bound:.2f}x): "
        f"Heima, not the server, set the pace ({ratio:.1f}x a POST each, the ceiling {naive / alone:.1f}x)"
    )


def test_peak_memory_of_the_headless_hub_while_draining(tmp_path, fhir_server, report):
    data_dir = tmp_path / "hub"
    data_dir.mkdir()

    async def fill() -> None:
        store, _ = await queued_store(data_dir / "heima.db", N)
        await store.close()

    asyncio.run(fill())
    config = tmp_path / "heima.toml"
    config.write_text(
        f'[hub]\ndata_dir = "{data_dir}"\n[patient]\nidentifier = "13116900216"\n'
        f'[[destinations]]\nname = "centre"\nkind = "fhir"\n'
        f'url = "{fhir_server.base_url}"\nbatch_size = {BATCH}\n'
    )
    peak_mb, output = heima_peak_rss("--config", str(config), "sync")
    assert f"delivered {N}" in output
    report("peak RSS, headless hub draining 10,000", f"{peak_mb:.0f} MB", "<= 120 MB", peak_mb <= 120, "heima sync, whole process")
    assert peak_mb <= 120, f"peak RSS {peak_mb:.0f} MB"
