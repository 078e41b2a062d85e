"""Every query the screens and the delivery worker ask is an index lookup (issue 13): SQLite's
own EXPLAIN QUERY PLAN for each, on a real store, with no SCAN of a table that grows with the
backlog and no temporary B-tree for an ORDER BY.

The queries are captured as the store runs them (sqlite3's trace callback), so the test checks
what the store really asks, not a copy of its SQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from hub.store import Store
from tests.unit.hub.factories import T0, measurement, spo2

# Tables whose size does not grow with the data: a handful of rows per destination; the ids a
# caller passes (json_each); a SELECT of constants alone (SCAN CONSTANT ROW: due()'s check, once
# per connection, that SQLite's JSON reads back the reals it writes).
BOUNDED = {"outbox_tally", "consent_events", "json_each", "CONSTANT"}
# Indexes walked in the order asked, every row they hold being wanted (or LIMIT stops the walk):
# partial indexes of exactly the rows a screen lists.
ORDERED_WALKS = {"measurements_listed", "outbox_dead"}


async def _captured(store: Store, call: Callable[[], Awaitable[object]]) -> list[str]:
    seen: list[str] = []
    await store._run(lambda: store.db.conn.set_trace_callback(seen.append))
    try:
        await call()
    finally:
        await store._run(lambda: store.db.conn.set_trace_callback(None))
    return [q for q in seen if q.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH"))]


def _plan(store: Store, sql: str) -> list[str]:
    return [row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]


def _problems(plan: list[str]) -> list[str]:
    bad = []
    for step in plan:
        if "TEMP B-TREE" in step:
            bad.append(step)
        scan = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", step)
        if scan and scan.group(1) not in BOUNDED and scan.group(2) not in ORDERED_WALKS:
            bad.append(step)
    return bad


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(tmp_path / "heima.db")
    ms = [measurement(spo2(90.0 + i % 10, received_at=T0 + timedelta(minutes=i))) for i in range(50)]
    await asyncio.gather(*(store.record(m, ["centre", "usb"]) for m in ms))
    await store.mark_delivered("usb", [str(m.id) for m in ms[:10]])
    await store.dead_letter("usb", str(ms[10].id), reason="refused")
    yield store, ms
    await store.close()


QUERIES: dict[str, Callable[[Store, list], Awaitable[object]]] = {
    "due (the worker's next batch)": lambda s, ms: s.due("centre", limit=500, now=T0 + timedelta(days=1)),
    "due, excluding the batch in flight": lambda s, ms: s.due(
        "centre", limit=500, now=T0 + timedelta(days=1), excluding=[str(m.id) for m in ms[:5]]
    ),
    "next_attempt_at": lambda s, ms: s.next_attempt_at("centre"),
    "mark_delivered": lambda s, ms: s.mark_delivered("centre", [str(m.id) for m in ms[:3]]),
    "dead_letter": lambda s, ms: s.dead_letter("centre", str(ms[4].id), reason="refused"),
    "measurements (the screens' list)": lambda s, ms: s.measurements(limit=50),
    "measurements of a kind (history)": lambda s, ms: s.measurements(kind="oxygen-saturation", limit=50),
    "measurements_by_id": lambda s, ms: s.measurements_by_id([str(m.id) for m in ms[:3]]),
    "delivery_states": lambda s, ms: s.delivery_states(str(ms[0].id)),
    "delivery_states_of (today)": lambda s, ms: s.delivery_states_of([str(m.id) for m in ms[:5]]),
    "outbox_counts (sent / waiting)": lambda s, ms: s.outbox_counts(),
    "set_aside (could not be sent)": lambda s, ms: s.set_aside(),
}


# Queries given ids must be driven by them, not walk the destination's rows testing each.
BY_KEY = {
    "mark_delivered": "SEARCH outbox USING INDEX sqlite_autoindex_outbox_1 (resource_id=?",
    "dead_letter": "SEARCH outbox USING INDEX sqlite_autoindex_outbox_1 (resource_id=?",
    "delivery_states_of (today)": "SEARCH outbox USING INDEX sqlite_autoindex_outbox_1 (resource_id=?",
}


@pytest.mark.parametrize("name", list(QUERIES))
async def test_every_query_of_the_screens_and_the_outbox_is_an_index_lookup(store, name):
    s, ms = store
    queries = await _captured(s, lambda: QUERIES[name](s, ms))
    assert queries, f"{name} asked nothing"
    for sql in queries:
        plan = _plan(s, sql)
        assert not _problems(plan), f"{name}: {sql}\n" + "\n".join(plan)
        if name in BY_KEY and "outbox_tally" not in sql:  # the tally's upkeep: a bounded table
            assert any(step.startswith(BY_KEY[name]) for step in plan), f"{name}: {sql}\n" + "\n".join(plan)


async def test_marking_the_rows_due_read_finds_each_by_its_rowid(store):
    """The worker marks what due() handed out: one UPDATE, each row found by its rowid (in queue
    order), not by a random UUID in the resource index."""
    s, ms = store
    batch = await s.due("centre", limit=5, now=T0 + timedelta(days=36500))  # after the rows were queued
    traced = await _captured(s, lambda: s.mark_delivered("centre", [str(i.id) for i in batch]))
    queries = sorted({q for q in traced if q.startswith("UPDATE outbox ")})  # traced again per trigger step
    assert len(queries) == 1 and "rowid IN" in queries[0], queries
    plan = _plan(s, queries[0])
    assert not _problems(plan) and any(step.startswith("SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)") for step in plan), plan
    assert (await s.outbox_counts())["centre"] == {"delivered": 5, "pending": 45}


async def test_the_tally_agrees_with_the_outbox_after_every_kind_of_change(store):
    """outbox_counts reads a tally kept by triggers: it must say what counting the outbox says."""
    s, ms = store
    await s.schedule_retry("centre", [str(ms[20].id)], not_before=T0, reason="later")
    await s.set_consent("centre", "withdrawn", at=T0)
    counted: dict[str, dict[str, int]] = {}
    for dest, state, n in s.db.execute("SELECT destination, state, count(*) FROM outbox GROUP BY 1, 2"):
        counted.setdefault(dest, {})[state] = n
    assert await s.outbox_counts() == counted
    assert counted["usb"] == {"delivered": 10, "dead": 1, "pending": 39}
    assert counted["centre"] == {"withdrawn": 50}


async def test_the_tally_agrees_with_the_outbox_however_a_batch_is_marked(store):
    """Marking keeps the tally itself, once per statement (schema 8): rows found by the rowid
    due() read, by their resource id, already delivered, and withdrawn rows whose batch was on
    its way — each leaves the tally saying what counting the outbox says."""
    s, ms = store

    async def agrees() -> dict[str, dict[str, int]]:
        counted: dict[str, dict[str, int]] = {}
        for dest, state, n in s.db.execute("SELECT destination, state, count(*) FROM outbox GROUP BY 1, 2"):
            counted.setdefault(dest, {})[state] = n
        assert await s.outbox_counts() == counted
        return counted

    later = T0 + timedelta(days=36500)
    batch = [str(i.id) for i in await s.due("centre", limit=5, now=later)]
    await s.mark_delivered("centre", batch)  # by rowid
    await s.mark_delivered("centre", [*batch, str(ms[5].id)])  # one again, one by its resource id
    assert (await agrees())["centre"] == {"delivered": 6, "pending": 44}
    on_its_way = [str(i.id) for i in await s.due("centre", limit=3, now=later)]
    await s.set_consent("centre", "withdrawn", at=T0)
    await s.mark_delivered("centre", on_its_way)  # sent before the patient withdrew: it arrived
    assert (await agrees())["centre"] == {"delivered": 9, "withdrawn": 41}
    await s.mark_delivered("usb", [str(m.id) for m in ms[:12]])  # delivered, dead, pending
    assert (await agrees())["usb"] == {"delivered": 11, "dead": 1, "pending": 38}
