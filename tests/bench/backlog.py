"""A queued backlog for the drain benchmarks and the profile: N SpO2 readings stored and queued
for one destination, written by the store's own recording code in large transactions (the same
rows `Store.record` writes, without awaiting each reading: 1M rows in minutes, not hours)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from hub.store import Store
from tests.unit.hub.factories import measurement, spo2

CHUNK = 20_000


async def queued_backlog(path: Path, n: int, destination: str = "centre") -> Store:
    store = await Store.open(path)

    def fill() -> None:
        for start in range(0, n, CHUNK):
            batch = [(measurement(spo2(85.0 + i % 15)), (destination,), ()) for i in range(start, min(n, start + CHUNK))]
            store._write_batch(batch)  # the recording transaction itself, CHUNK readings at a time

    await store._run(fill)
    return store


def server_cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used so far: the reference server's, read from
    /proc so the hub's figures can exclude it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class Clocks:
    """Wall time, this process's CPU time and the server's CPU time over a block."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid

    def __enter__(self) -> Clocks:
        self._wall, self._cpu, self._srv = time.perf_counter(), time.process_time(), server_cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        self.server = server_cpu_seconds(self.pid) - self._srv


# What `heima` sets at the root when it starts without -v (hub/cli.py): warnings and errors only.
HUB_LOG_LEVEL = logging.WARNING


@contextlib.contextmanager
def logging_as_the_hub_runs() -> Iterator[None]:
    """The root logger at the level `heima` gives it, for a measured drain, then put back.

    Why: a benchmark measures the hub as it runs, and `heima` logs at WARNING. In one pytest
    process an earlier test can leave the root logger at NOTSET (importing Kivy in its own log mode
    does, with its history handler attached: `make bench` collects the touch app's benchmarks):
    then httpx and httpcore create, and every handler formats, about 11 DEBUG records per request
    — 3-4 us of the 10,000-Observation drain's 22-26 us per Observation, work the hub never does.
    Only the level is set: Heima's own warnings and errors are logged and counted as ever."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(HUB_LOG_LEVEL)
    try:
        yield
    finally:
        root.setLevel(level)
