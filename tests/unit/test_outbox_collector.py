"""While the outbox drains, the cyclic collector's youngest generation is collected less often
(issue 13, part D3: a batch in flight holds thousands of objects the collector walked again and
again); the thresholds are the process's own again once every drain is done."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime, timedelta

from sync.delivery import EntryResult, Outcome
from sync.outbox import GC_YOUNG_WHILE_DRAINING, OutboxWorker
from hub.store import Store
from tests.unit.hub.factories import measurement, spo2

LATER = datetime.now(UTC) + timedelta(days=1)


class Taking:
    """A destination that takes everything and notes the collector's threshold while it works;
    `gate`: held until the test lets it answer (so two drains overlap)."""

    kind = "fhir"

    def __init__(self, name: str, gate: asyncio.Event | None = None) -> None:
        self.name = name
        self.gate = gate
        self.seen: list[int] = []

    async def send(self, resources):
        self.seen.append(gc.get_threshold()[0])
        if self.gate is not None:
            await self.gate.wait()
        return [EntryResult(r.id, Outcome.DELIVERED) for r in resources]

    async def aclose(self) -> None:
        pass


async def test_the_collector_runs_less_often_while_draining_and_as_before_after():
    before = gc.get_threshold()
    store = await Store.open(":memory:")
    try:
        for i in range(3):
            await store.record(measurement(spo2(90.0 + i)), ["a", "b"])
        gate = asyncio.Event()
        a, b = Taking("a", gate), Taking("b")
        first = asyncio.create_task(OutboxWorker(store, a, clock=lambda: LATER).drain())
        while not a.seen:  # a is mid-drain, waiting for its answer
            await asyncio.sleep(0)
        assert (await OutboxWorker(store, b, clock=lambda: LATER).drain()).delivered == 3
        assert gc.get_threshold()[0] == GC_YOUNG_WHILE_DRAINING  # b done, a still draining
        gate.set()
        assert (await first).delivered == 3
        assert a.seen == b.seen == [GC_YOUNG_WHILE_DRAINING]
        assert gc.get_threshold() == before
    finally:
        await store.close()
        gc.set_threshold(*before)


async def test_a_collector_switched_off_stays_off():
    before = gc.get_threshold()
    store = await Store.open(":memory:")
    try:
        await store.record(measurement(spo2(95.0)), ["a"])
        gc.set_threshold(0)
        dest = Taking("a")
        await OutboxWorker(store, dest, clock=lambda: LATER).drain()
        assert dest.seen == [0] and gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
        await store.close()
