"""A backlog drains at the speed of the wire (issue 13): Heima's own CPU per Observation against
the floor for the same work, flat however long the backlog, and the drain pipelined.

Heima's CPU is this process's CPU time (time.process_time: the event loop, the store's thread,
everything the hub does); the reference server runs in its own process and its CPU time is read
from /proc, never counted as Heima's. Wall time on a shared machine is noisy; CPU times and
same-run ratios are not (much).

`make bench-long` (HEIMA_BENCH_LONG=1) adds a backlog of 1,000,000.
"""

from __future__ import annotations

import gc
import os
import shutil
import statistics
import time
from pathlib import Path

import httpx
import orjson
import pytest

from hub.app.runners import freeze_startup_objects
from hub.store import Store
from hub.store.keys import key_path
from sync.destinations import FhirServerDestination
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from sync.fhir.observations import observation_for
from sync.outbox import OutboxWorker
from tests.bench.backlog import Clocks, logging_as_the_hub_runs, queued_backlog
from tests.bench.test_bench_delivery import fhir_server, indexed_server  # noqa: F401 - the indexed server

pytestmark = pytest.mark.bench
BATCH = 500
CTX = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-BENCH-1"))
CPU_TARGET_US = 30.0
FLAT_TARGET = 1.20
PIPELINE_TARGET = 1.2


async def written_backlog(folder: Path, n: int) -> Path:
    """A backlog of `n` written and the store closed: the file a hub finds after a reboot."""
    folder.mkdir(parents=True)
    store = await queued_backlog(folder / "heima.db", n)
    await store.close()
    return folder / "heima.db"


async def drain(path, server, n: int, *, backlog: Path | None = None) -> Clocks:
    """Drain `n` queued Observations from a freshly opened store (SQLite's page cache empty, as
    in a hub after a reboot), never from the connection that wrote them. `backlog`: a written
    backlog to copy (its folder: the database, its key) rather than writing one."""
    if backlog is None:
        backlog = await written_backlog(Path(path).parent / f"{Path(path).stem}-written", n)
    run = Path(path).parent / f"{Path(path).stem}-run"
    shutil.copytree(backlog.parent, run)
    if key_path(backlog).exists():  # an encrypted store's key, in its folder beside the data's
        shutil.copytree(key_path(backlog).parent, key_path(run / backlog.name).parent)
    store = await Store.open(run / backlog.name)
    try:
        async with httpx.AsyncClient(timeout=120) as client:
            worker = OutboxWorker(store, FhirServerDestination("centre", server.base_url, ctx=CTX, client=client), batch_size=BATCH)
            if os.environ.get("HEIMA_GC_FREEZE", "1") == "1":
                freeze_startup_objects()  # as the hub's runners do once it is started
            with logging_as_the_hub_runs(), Clocks(server._proc.pid) as clocks:
                report = await worker.drain()
        assert report.delivered == n and not report.dead and not report.retried
        return clocks
    finally:
        gc.unfreeze()  # the next benchmark starts from a plain collector
        await store.close()
        shutil.rmtree(run)
        shutil.rmtree(key_path(run / backlog.name).parent, ignore_errors=True)


async def floor_us(path, n: int) -> float:
    """The floor for the same work, per Observation: read its row from SQLite and serialise its
    Observation (orjson), nothing else — built beforehand, outside the timing."""
    store = await queued_backlog(path, n)
    try:
        ms = await store.measurements(limit=n)
        observations = [observation_for(m, CTX) for m in ms]
        db = store.db.conn
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for first in range(0, n, BATCH):
                rows = db.execute("SELECT * FROM measurements WHERE rowid > ? ORDER BY rowid LIMIT ?", (first, BATCH)).fetchall()
                for row, obs in zip(rows, observations[first : first + BATCH], strict=False):
                    orjson.dumps(obs)
                del rows
            best = min(best, (time.process_time() - start) / n * 1e6)
        return best
    finally:
        await store.close()


async def test_heima_cpu_per_observation_near_the_floor_and_the_drain_pipelined(tmp_path, fhir_server, report):
    n = 10_000
    floor = await floor_us(tmp_path / "floor.db", n)
    clocks = await drain(tmp_path / "heima.db", fhir_server, n)
    heima_us = clocks.cpu / n * 1e6
    server_us = clocks.server / n * 1e6
    report(
        f"Heima's own CPU per delivered Observation, {n:,} at batch {BATCH}",
        f"{heima_us:.1f} us (floor {floor:.1f} us: {heima_us / floor:.1f}x)",
        f"<= {CPU_TARGET_US:.0f} us",
        heima_us <= CPU_TARGET_US,
        f"server {server_us:.0f} us/Observation (its own process); floor = SQLite row + orjson.dumps",
    )
    bound = max(clocks.cpu, clocks.server)
    ratio = clocks.wall / bound
    report(
        f"drain {n:,} pipelined: wall / max(Heima CPU, server CPU)",
        f"{ratio:.2f} ({clocks.wall:.2f} s vs {clocks.cpu:.2f} s, {clocks.server:.2f} s)",
        f"<= {PIPELINE_TARGET}",
        ratio <= PIPELINE_TARGET,
        "serial would be the sum: " + f"{(clocks.cpu + clocks.server) / bound:.2f}",
    )
    assert heima_us <= CPU_TARGET_US, f"Heima {heima_us:.1f} us per Observation (floor {floor:.1f} us)"
    assert ratio <= PIPELINE_TARGET, f"wall {clocks.wall:.2f} s against {bound:.2f} s of the busier side's CPU"


SIZES = [1_000, 100_000] + ([1_000_000] if os.environ.get("HEIMA_BENCH_LONG") == "1" else [])


RUNS = 3


async def test_heima_cpu_per_observation_flat_with_the_backlog(tmp_path, fhir_server, report):
    # Both sides alike: each size written once, then drained RUNS times, each run from a copy of
    # the written store opened afresh (SQLite's page cache empty, as after a reboot), and the same
    # statistic (the median of RUNS) on both sides.
    per: dict[int, float] = {}
    spread: dict[int, str] = {}
    for n in SIZES:
        backlog = await written_backlog(tmp_path / f"backlog-{n}", n)
        runs = []
        for run in range(RUNS):
            fhir_server.reset()
            clocks = await drain(tmp_path / f"heima-{n}-{run}.db", fhir_server, n, backlog=backlog)
            runs.append(clocks.cpu / n * 1e6)
        per[n] = statistics.median(runs)
        spread[n] = "/".join(f"{r:.1f}" for r in runs)
        shutil.rmtree(backlog.parent)
        shutil.rmtree(key_path(backlog).parent, ignore_errors=True)
    small, large = per[SIZES[0]], max(per[n] for n in SIZES[1:])
    growth = large / small
    report(
        f"Heima's CPU per Observation, {SIZES[0]:,} -> {SIZES[-1]:,} queued",
        " -> ".join(f"{per[n]:.1f} us" for n in SIZES) + f" ({growth:.2f}x)",
        f"<= {FLAT_TARGET:.2f}x",
        growth <= FLAT_TARGET,
        f"batch {BATCH}; median of {RUNS} drains each, each from a freshly opened store; runs "
        + ", ".join(f"{n:,}: {spread[n]} us" for n in SIZES),
    )
    assert growth <= FLAT_TARGET, f"per-Observation CPU grew {growth:.2f}x with the backlog"
