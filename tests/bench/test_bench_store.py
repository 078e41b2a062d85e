"""Durable ingest: group commit against one commit per reading, same disk, same run, the same
readings arriving with the same concurrency on both sides."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.store import Store
from tests.unit.hub.factories import measurement, spo2

pytestmark = pytest.mark.bench
N = 2000


async def ingest(path, *, group_commit: bool) -> float:
    store = await Store.open(path, group_commit=group_commit)
    ms = [measurement(spo2(90.0 + i % 10)) for i in range(N)]
    start = time.perf_counter()
    # Readings arrive concurrently (a meter dumping its memory, several devices at once) on both
    # sides: the same concurrency, one COMMIT per reading against COMMITs that hold all waiting.
    await asyncio.gather(*(store.record(m, ["centre", "usb"]) for m in ms))
    elapsed = time.perf_counter() - start
    assert len(await store.measurements(limit=N + 1)) == N
    await store.close()
    return elapsed


async def test_group_commit_against_one_commit_per_reading(tmp_path, report):
    single = await ingest(tmp_path / "single.db", group_commit=False)
    grouped = await ingest(tmp_path / "grouped.db", group_commit=True)
    ratio = single / grouped
    report(
        "durable ingest, group commit vs commit per reading",
        f"{ratio:.1f}x ({N / grouped:,.0f}/s vs {N / single:,.0f}/s)",
        "> 1x",
        ratio > 1.0,
        f"{N} readings arriving at once on both sides, 2 destinations, WAL + synchronous=FULL",
    )
    assert ratio > 1.0
