"""Where the reference server's time goes: Heima's batches against one POST per Observation.

    .venv/bin/python -m tests.bench.profile_server [--n 10000] [--batch 500] [--out build/server-prof]

Starts its own reference servers (tests/servers/fhir/server.mjs with the benchmarks' identifier
index, as the delivery benchmark's fixture runs it) under `node --cpu-prof`, one for Heima's drain
of N queued Observations and one for the POST-each client of tests/bench/test_bench_delivery.py,
and prints the server's time per Observation by kind of work (startup and idle left out), its
process's CPU time (from /proc; the profiler adds its own) and the clients' CPU. The fixture and
the benchmark are untouched: this only reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

from sync.destinations import FhirServerDestination
from sync.outbox import OutboxWorker
from tests.bench.backlog import Clocks
from tests.bench.test_bench_delivery import CTX, naive_post_each, queued_store
from tests.servers.fhir_server import HERE, NODE, SERVER

# Kinds of work, by the first frame (leaf to root) a pattern matches: "name url" of each frame.
KINDS: list[tuple[str, re.Pattern[str]]] = [
    (kind, re.compile(pattern))
    for kind, pattern in [
        ("startup", r"^(evaluate|compileSourceTextModule|indexStructureDefinitionBundle|indexSearchParameterBundle) |module_job|esm/loader|esm/translators"),
        ("idle", r"^\(idle\)"),
        ("garbage collection", r"^\(garbage collector\)"),
        ("batch: rewriteIds (each entry copied, a regex on every string)", r"^rewriteIds"),
        ("batch: dispatchPreEvent (JSON.stringify of the whole bundle)", r"^dispatchPreEvent "),
        ("batch: preprocessing's own ifNoneExist search", r"^resolveCreateIdentity "),
        ("create: the ifNoneExist search", r"^repo\.searchSync "),
        ("create: storing (JSON round trip, id, deepClone)", r"^createResourceSync "),
        ("create: the rest of the create", r"^(processBatchEntry|conditionalCreate|createResourceImpl) "),
        ("batch: the rest (routing, ordering, answers)", r"^(preprocess|preprocessBundle|processEntriesAndBuild|processNextEntryImpl|getRouteForEntry) "),
        ("the HTTP shim (body JSON.parse, answer JSON.stringify)", r"server\.mjs$"),
    ]
]


def kinds_of(profile: dict) -> dict[str, float]:
    """Microseconds of samples by kind of work."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", ())}
    names = {i: f"{n['callFrame']['functionName']} {n['callFrame']['url']}" for i, n in nodes.items()}
    kind_of: dict[int, str] = {}
    totals: dict[str, float] = defaultdict(float)
    for sample, delta in zip(profile["samples"], profile["timeDeltas"]):
        if sample not in kind_of:
            chain = []
            node: int | None = sample
            while node is not None:
                chain.append(names[node])
                node = parent.get(node)
            kind_of[sample] = next(
                (kind for kind, pattern in KINDS for frame in chain if pattern.search(frame)), "other (node:http, promises)"
            )
        totals[kind_of[sample]] += delta
    return totals


class ProfiledServer:
    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.proc = subprocess.Popen(
            [str(NODE), "--cpu-prof", f"--cpu-prof-dir={out}", str(SERVER), "0"],
            cwd=HERE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "HEIMA_FHIR_IDENTIFIER_INDEX": "1"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"the reference server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{line.split()[1]}/fhir/R4"

    def stop(self) -> dict:
        self.proc.terminate()
        self.proc.wait(30)
        (profile,) = sorted(self.out.glob("*.cpuprofile"))[-1:]
        return json.loads(profile.read_text())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("build/server-prof"))
    args = parser.parse_args()
    n = args.n
    store, ms = await queued_store(Path(tempfile.mkdtemp()) / "heima.db", n)

    server = ProfiledServer(args.out / f"batches-{time.time_ns()}")
    async with httpx.AsyncClient(timeout=60) as client:
        worker = OutboxWorker(store, FhirServerDestination("centre", server.base_url, ctx=CTX, client=client), batch_size=args.batch)
        with Clocks(server.proc.pid) as drain:
            assert (await worker.drain()).delivered == n
    await store.close()
    batches = kinds_of(server.stop())

    server = ProfiledServer(args.out / f"each-{time.time_ns()}")
    with Clocks(server.proc.pid) as each:
        await naive_post_each(server.base_url, ms)
    posts = kinds_of(server.stop())

    print(f"{n:,} Observations; us per Observation (profiled: the profiler adds its own cost)")
    print(f"{'':62} {'batches of ' + str(args.batch):>16} {'POST each':>10}")
    work = {}
    for label, totals in (("b", batches), ("p", posts)):
        work[label] = sum(t for k, t in totals.items() if k not in ("startup", "idle"))
    for kind in sorted((set(batches) | set(posts)) - {"startup"}, key=lambda k: -batches.get(k, 0)):
        print(f"{kind:62} {batches.get(kind, 0) / n:16.1f} {posts.get(kind, 0) / n:10.1f}")
    print(f"{'the server at work (not startup, not idle)':62} {work['b'] / n:16.1f} {work['p'] / n:10.1f}")
    print(f"{'its process CPU time (/proc, every thread)':62} {drain.server / n * 1e6:16.1f} {each.server / n * 1e6:10.1f}")
    print(f"{'wall time':62} {drain.wall / n * 1e6:16.1f} {each.wall / n * 1e6:10.1f}")
    print(f"{'the client process CPU time':62} {drain.cpu / n * 1e6:16.1f} {each.cpu / n * 1e6:10.1f}")


if __name__ == "__main__":
    asyncio.run(main())
