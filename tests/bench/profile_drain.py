"""Profile a drain of N queued Observations to the reference server (batch 500):

    .venv/bin/python -m tests.bench.profile_drain --n 100000 [--out build/drain.prof]

Prints wall time, the hub's own CPU time (this process), the server's CPU time (the node
process, read from /proc), the store thread's CPU time per kind of work (cProfile sees only the
event loop's thread) and cProfile's top functions by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import httpx

from sync.destinations import FhirServerDestination
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from sync.outbox import OutboxWorker
from tests.bench.backlog import Clocks, queued_backlog
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


async def drain(n: int, batch: int, server: ReferenceFhirServer, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await queued_backlog(Path(tmp) / "heima.db", n)
        spent = time_store_thread(store)
        async with httpx.AsyncClient(timeout=120) as client:
            worker = OutboxWorker(store, FhirServerDestination("centre", server.base_url, ctx=CTX, client=client), batch_size=batch)
            profile = cProfile.Profile()
            with Clocks(server._proc.pid) as clocks:
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
    args = parser.parse_args()
    args.out.parent.mkdir(exist_ok=True)
    with ReferenceFhirServer(identifier_index=True) as server:
        asyncio.run(drain(args.n, args.batch, server, args.out))


if __name__ == "__main__":
    main()
