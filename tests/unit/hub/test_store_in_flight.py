"""The batch on its way is never read again (issue 13): due(excluding=…) passes the rows of the
batch in flight over — by the outbox rowids due() handed out for them (part D4: the pending
index holds them, so those rows are not read at all), or by resource id when it cannot know them
— and a pipelined drain reads every row exactly once, whatever the mix of rows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.domain.outgoing import of_device
from hub.store import Store
from hub.store.store import _excluded
from tests.unit.hub.factories import T0, measurement, spo2
from tests.unit.hub.test_store_short_read import OTHER

LATER = T0 + timedelta(days=1)  # the rows are stamped by the store's clock (T0): all due then


async def _queued(store: Store, n: int) -> list[str]:
    ids = []
    for i in range(n):
        if i % 4 == 3:  # a resource that is no measurement, between the measurements
            item = of_device(OTHER)
            await store.enqueue(item, ["centre"])
        else:
            item = measurement(spo2(90.0 + i % 7, received_at=T0 + timedelta(minutes=i)))
            await store.record(item, ["centre"])
        ids.append(str(item.id))
    return ids


@pytest.mark.parametrize("forgotten", [False, True], ids=["by rowid", "by resource id (rowids forgotten)"])
async def test_the_batch_in_flight_is_passed_over(tmp_path, forgotten):
    store = await Store.open(tmp_path / "heima.db", clock=lambda: T0)
    try:
        ids = await _queued(store, 9)
        first = [str(i.id) for i in await store.due("centre", limit=4, now=LATER)]
        if forgotten:  # as after _HANDED_OUT_MAX rows read and never marked
            store._handed_out.clear()
        following = [str(i.id) for i in await store.due("centre", limit=4, now=LATER, excluding=first)]
        assert first == ids[:4] and following == ids[4:8]
    finally:
        await store.close()


async def test_a_resource_the_store_never_handed_out_is_passed_over_too(tmp_path):
    store = await Store.open(tmp_path / "heima.db", clock=lambda: T0)
    try:
        ids = await _queued(store, 6)
        await store.due("centre", limit=2, now=LATER)  # ids[0], ids[1] handed out
        following = [str(i.id) for i in await store.due("centre", limit=3, now=LATER, excluding=[ids[0], ids[2]])]
        assert following == [ids[1], ids[3], ids[4]]
    finally:
        await store.close()


async def test_a_pipelined_drain_reads_every_row_once_in_queue_order(tmp_path):
    """As sync.outbox drains: batch k+1 read while k is on its way, then k marked."""
    store = await Store.open(tmp_path / "heima.db", clock=lambda: T0)
    try:
        ids = await _queued(store, 23)
        read: list[str] = []
        batch = [str(i.id) for i in await store.due("centre", limit=5, now=LATER)]
        while batch:
            read += batch
            following = [str(i.id) for i in await store.due("centre", limit=5, now=LATER, excluding=batch)]
            await store.mark_delivered("centre", batch)
            batch = following
        assert read == ids
        assert (await store.outbox_counts())["centre"] == {"delivered": 23}
    finally:
        await store.close()


def test_rows_handed_out_are_passed_over_by_rowid_others_by_resource_id():
    clause, (param,) = _excluded({"a": 7, "b": 9}, ["a", "b"])
    assert "o.id NOT IN" in clause and param == "[7,9]"
    clause, (param,) = _excluded({"a": 7}, ["a", "b"])
    assert "o.resource_id NOT IN" in clause and param == '["a","b"]'
    assert _excluded({"a": 7}, []) == ("", [])
