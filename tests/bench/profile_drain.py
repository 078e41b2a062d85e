"""Profile a drain of N queued Observations to the reference server (batch 500):

    .venv/bin/python -m tests.bench.profile_drain --n 100000 [--out build/drain.prof]

Prints wall time, the hub's own CPU time (this process), the server's CPU time (the node
process, read from /proc), the store thread's CPU time per kind of work (cProfile sees only the
event loop's thread) and cProfile's top functions by own time and by cumulative time.

`--plain`: no cProfile — the drain as the benchmark runs it, its CPU split by thread (the event
loop's, the store's), user and system time, context switches, and the collector's time: what to
compare between an idle machine and a busy one (issue 13, part D3). With `--phases`, the event
loop's own work split too, unprofiled (each step's thread CPU time, part D4): preparing the
batches (building and serialising), reading the answers, settling; the rest is httpx, asyncio and
the worker's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import os
import pstats
import resource
import tempfile
import time
from pathlib import Path

import httpx

from hub.app.runners import freeze_startup_objects
from hub.store import Store
from sync.destinations import FhirServerDestination
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from sync.outbox import OutboxWorker
from tests.bench.backlog import Clocks, logging_as_the_hub_runs, queued_backlog
from tests.servers.fhir_server import ReferenceFhirServer

CTX = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-BENCH-1"))


def time_store_thread(store) -> collections.Counter:
    """CPU seconds the store's thread spends per kind of work (reading a batch, marking it)."""
    spent: collections.Counter = collections.Counter()
    run = store._run

    async def timed_run(fn, *args):
        def timed(*a):
            start = time.thread_time()
            try:
                return fn(*a)
            finally:
                spent[getattr(fn, "__qualname__", "?")] += time.thread_time() - start

        return await run(timed, *args)

    store._run = timed_run
    return spent


class Collections:
    """The cyclic collector's runs and CPU time while it is entered."""

    def __init__(self) -> None:
        self.runs = [0, 0, 0]
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._start
            self.runs[info["generation"]] += 1

    def __enter__(self) -> Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def time_loop_steps() -> collections.Counter:
    """CPU seconds the event loop's thread spends in each synchronous step of the FHIR
    destination's exchange (the methods wrapped with time.thread_time, on the class)."""
    from sync.destinations.fhir_server import FhirServerDestination as Fhir

    spent: collections.Counter = collections.Counter()
    steps = {"prepare": "preparing the batches (build, orjson.dumps)", "_outcomes": "reading the answers (orjson.loads, the checks)",
             "_results": "the results per resource"}
    for name, label in steps.items():
        method = getattr(Fhir, name)

        def timed(*args, _method=method, _label=label, **kwargs):
            start = time.thread_time()
            try:
                return _method(*args, **kwargs)
            finally:
                spent[_label] += time.thread_time() - start

        setattr(Fhir, name, timed)
    return spent


async def plain(n: int, batch: int, server: ReferenceFhirServer, phases: bool = False) -> None:
    """The drain unprofiled, from a freshly opened store (as the benchmark), its CPU by thread."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await queued_backlog(Path(tmp) / "heima.db", n)
        await store.close()
        store = await Store.open(Path(tmp) / "heima.db")
        spent = time_store_thread(store)
        steps = time_loop_steps() if phases else collections.Counter()
        async with httpx.AsyncClient(timeout=120) as client:
            worker = OutboxWorker(store, FhirServerDestination("centre", server.base_url, ctx=CTX, client=client), batch_size=batch)
            freeze_startup_objects()
            before, usage, loop = os.times(), resource.getrusage(resource.RUSAGE_SELF), time.thread_time()
            with logging_as_the_hub_runs(), Clocks(server._proc.pid) as clocks, Collections() as collected:
                report = await worker.drain()
            loop = time.thread_time() - loop
            after, usage_after = os.times(), resource.getrusage(resource.RUSAGE_SELF)
            gc.unfreeze()
        await store.close()
    assert report.delivered == n, report
    per = 1e6 / n
    store_cpu = sum(v for k, v in spent.items() if "close" not in k)
    print(f"drained {n:,} at batch {batch}: wall {clocks.wall:.2f} s, hub CPU {clocks.cpu * per:.1f} us/Observation "
          f"(user {(after.user - before.user) * per:.1f}, system {(after.system - before.system) * per:.1f}), "
          f"server CPU {clocks.server * per:.0f} us/Observation, wall / max(hub, server) {clocks.wall / max(clocks.cpu, clocks.server):.2f}")
    print(f"  event loop's thread {loop * per:.1f} us/Observation; store thread {store_cpu * per:.1f} us/Observation: "
          + ", ".join(f"{name} {seconds * per:.1f}" for name, seconds in spent.most_common(3)))
    if steps:
        print("  event loop's thread by step: " + ", ".join(f"{name} {seconds * per:.2f}" for name, seconds in steps.most_common())
              + f"; the rest (httpx, asyncio, the worker, the collector) {(loop - sum(steps.values())) * per:.2f} us/Observation")
    print(f"  context switches: {usage_after.ru_nvcsw - usage.ru_nvcsw} voluntary, {usage_after.ru_nivcsw - usage.ru_nivcsw} "
          f"involuntary; collector: {collected.runs} runs by generation, {collected.seconds * per:.2f} us/Observation")


async def drain(n: int, batch: int, server: ReferenceFhirServer, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await queued_backlog(Path(tmp) / "heima.db", n)
        spent = time_store_thread(store)
        async with httpx.AsyncClient(timeout=120) as client:
            worker = OutboxWorker(store, FhirServerDestination("centre", server.base_url, ctx=CTX, client=client), batch_size=batch)
            profile = cProfile.Profile()
            with logging_as_the_hub_runs(), Clocks(server._proc.pid) as clocks:
                profile.enable()
                report = await worker.drain()
                profile.disable()
        await store.close()
    assert report.delivered == n, report
    print(f"drained {n:,} at batch {batch}: wall {clocks.wall:.1f} s, hub CPU {clocks.cpu:.1f} s "
          f"({clocks.cpu / n * 1e6:.0f} us/Observation), server CPU {clocks.server:.1f} s "
          f"({clocks.server / n * 1e6:.0f} us/Observation)")
    for name, seconds in spent.most_common(4):
        print(f"  store thread, {name}: {seconds / n * 1e6:.1f} us/Observation")
    profile.dump_stats(out)
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("build/drain.prof"))
    parser.add_argument("--plain", action="store_true", help="no cProfile: CPU by thread, user/system, switches, collector")
    parser.add_argument("--phases", action="store_true", help="with --plain: the event loop's own work by step, unprofiled")
    args = parser.parse_args()
    args.out.parent.mkdir(exist_ok=True)
    with ReferenceFhirServer(identifier_index=True) as server:
        if args.plain:
            asyncio.run(plain(args.n, args.batch, server, args.phases))
        else:
            asyncio.run(drain(args.n, args.batch, server, args.out))


if __name__ == "__main__":
    main()
