"""due() reads the usual row short (issue 13, part D3): a device's number as a few columns, every
other row — flagged, with words, a series, an evaluation, a resource that is no measurement —
read in full by its rowid. What comes out is what was recorded, in queue order, whatever the mix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.domain.outgoing import of_device
from hub.domain.readings import DeviceIdentity, QualityFlag
from hub.domain.usual import UsualOutgoing
from hub.store import Store
from tests.unit.hub.factories import T0, measurement, spo2
from tests.unit.hub.test_store_query_plans import _captured, _plan, _problems

LATER = T0 + timedelta(days=3650)
OTHER = DeviceIdentity(address="AA:BB:CC:DD:EE:02", name='a "quoted" name\\ – Målar\u00e9', serial=None, system_id="FEEDABEEDEAD77C3")


async def _mixed(store: Store) -> list:
    usual = [measurement(spo2(90.0 + i, received_at=T0 + timedelta(minutes=i))) for i in range(3)]
    flagged = measurement(spo2(88.0, flags=frozenset({QualityFlag.QUESTIONABLE})))
    absent = measurement(spo2(None))
    other_device = measurement(spo2(93.0, device=OTHER))
    device = of_device(OTHER)
    queued = [usual[0], flagged, usual[1], device, absent, other_device, usual[2]]
    for item in queued:
        if item is device:
            await store.enqueue(item, ["centre"])
        else:
            await store.record(item, ["centre"])
    return queued


@pytest.mark.parametrize("as_json", [True, False], ids=["one JSON text a batch", "row by row"])
async def test_a_queue_of_every_shape_comes_out_in_order_as_it_was_recorded(tmp_path, as_json):
    """Row by row: a SQLite whose JSON does not read back every real as written (before 3.43 or so)."""
    store = await Store.open(tmp_path / "heima.db")
    store._json_reals_exact = as_json
    try:
        queued = await _mixed(store)
        batch = await store.due("centre", limit=10, now=LATER)
        assert [i.id for i in batch] == [q.id for q in queued]
        shapes = [type(i) is UsualOutgoing for i in batch]
        assert shapes == [True, False, True, False, False, True, True]  # another device's number is usual too
        for item, recorded in zip(batch, queued):
            assert item.payload == (recorded.payload if recorded is queued[3] else recorded)
        assert batch[5].usual.device == OTHER  # the device's fields, quotes and all, read back
        # marking finds each by the rowid due() read, whatever its shape
        await store.mark_delivered("centre", [str(i.id) for i in batch])
        assert (await store.outbox_counts())["centre"] == {"delivered": len(queued)}
    finally:
        await store.close()


async def test_the_full_read_of_the_other_rows_is_by_rowid(tmp_path):
    store = await Store.open(tmp_path / "heima.db")
    try:
        await _mixed(store)
        queries = await _captured(store, lambda: store.due("centre", limit=10, now=LATER))
        full = [q for q in queries if "o.id IN (SELECT value FROM json_each" in q]
        assert len(full) == 1, queries  # one statement for the batch's other rows
        plan = _plan(store, full[0])
        assert not _problems(plan), plan
        assert any(step.startswith("SEARCH o USING INTEGER PRIMARY KEY (rowid=?)") for step in plan), plan
    finally:
        await store.close()


async def test_a_number_json_cannot_hold_is_read_in_full(tmp_path):
    """JSON has no infinity: a row holding one is read in full, and the batch still comes out."""
    store = await Store.open(tmp_path / "heima.db")
    try:
        queued = [measurement(spo2(91.0)), measurement(spo2(92.0)), measurement(spo2(93.0))]
        for m in queued:
            await store.record(m, ["centre"])
        await store._run(lambda: store.db.conn.execute(
            "UPDATE measurements SET received_boot_id = 'boot', received_boottime = 9e999 WHERE id = ?", [str(queued[1].id)]
        ))
        batch = await store.due("centre", limit=10, now=LATER)
        assert [i.id for i in batch] == [m.id for m in queued]
        assert batch[1].payload.received_anchor.seconds == float("inf")
        assert [i.payload for i in batch[::2]] == queued[::2]
    finally:
        await store.close()


# -- schema 9: the outbox row says where its measurement's row is ------------------------------------


async def test_due_finds_each_measurement_by_the_rowid_its_outbox_row_holds(tmp_path):
    store = await Store.open(tmp_path / "heima.db")
    try:
        await _mixed(store)
        queries = await _captured(store, lambda: store.due("centre", limit=10, now=LATER))
        short = [q for q in queries if "group_concat" in q]
        assert len(short) == 1, queries
        plan = _plan(store, short[0])
        assert not _problems(plan), plan
        assert any(step.startswith("SEARCH m USING INTEGER PRIMARY KEY (rowid=?)") for step in plan), plan
    finally:
        await store.close()


@pytest.mark.parametrize("as_json", [True, False], ids=["one JSON text a batch", "row by row"])
async def test_a_stale_or_missing_rowid_finds_the_measurement_by_its_id_and_keeps_its_hold(tmp_path, as_json):
    """The measurements' rowid is implicit: VACUUM or the encrypting export may renumber it. A
    hint that names another row (or none) must neither send another measurement nor send a
    measurement held for the hub's clock."""
    store = await Store.open(tmp_path / "heima.db")
    store._json_reals_exact = as_json
    try:
        ms = [measurement(spo2(90.0 + i, received_at=T0 + timedelta(minutes=i))) for i in range(4)]
        for m in ms:
            await store.record(m, ["centre"])

        def spoil(conn=store.db.conn) -> None:
            rowid = dict(conn.execute("SELECT id, rowid FROM measurements").fetchall())
            a, b, c, d = (str(m.id) for m in ms)
            conn.execute("UPDATE outbox SET measurement_rowid = ? WHERE resource_id = ?", [rowid[b], a])  # names b
            conn.execute("UPDATE outbox SET measurement_rowid = ? WHERE resource_id = ?", [rowid[a], b])  # names a
            conn.execute("UPDATE outbox SET measurement_rowid = NULL WHERE resource_id = ?", [c])
            conn.execute("UPDATE outbox SET measurement_rowid = 999999 WHERE resource_id = ?", [d])
            conn.execute("UPDATE measurements SET time_pending = 1 WHERE id = ?", [d])  # held, its hint stale

        await store._run(spoil)
        batch = await store.due("centre", limit=10, now=LATER)
        assert [i.id for i in batch] == [m.id for m in ms[:3]]  # d held
        assert [i.payload for i in batch] == ms[:3]
        await store.mark_delivered("centre", [str(i.id) for i in batch])
        assert (await store.outbox_counts())["centre"] == {"delivered": 3, "pending": 1}
    finally:
        await store.close()


async def test_a_store_at_schema_8_keeps_its_queue_and_learns_where_each_measurement_is(tmp_path):
    from hub.store import SCHEMA_VERSION

    path = tmp_path / "heima.db"
    store = await Store.open(path)
    queued = await _mixed(store)
    await store.mark_delivered("centre", [str(queued[0].id)])

    def back_to_8(conn=store.db.conn) -> None:  # the file as the previous Heima left it
        conn.execute("ALTER TABLE outbox DROP COLUMN measurement_rowid")
        conn.execute("PRAGMA user_version = 8")

    await store._run(back_to_8)
    before = await store._run(lambda: store.db.conn.execute("SELECT * FROM outbox ORDER BY id").fetchall())
    await store.close()
    store = await Store.open(path)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 9
        after = store.db.execute("SELECT * FROM outbox ORDER BY id").fetchall()
        assert [row[:-1] for row in after] == before  # every row kept as it was, the hint beside it
        hints = store.db.execute(
            "SELECT o.resource_id, o.measurement_rowid, m.rowid FROM outbox o LEFT JOIN measurements m ON m.id = o.resource_id"
        ).fetchall()
        assert all(hint == rowid for _, hint, rowid in hints)  # a measurement's row; None for the device
        assert sum(hint is None for _, hint, _ in hints) == 1
        batch = await store.due("centre", limit=10, now=LATER)
        assert [i.id for i in batch] == [q.id for q in queued[1:]]
        assert batch[0].payload == queued[1]
    finally:
        await store.close()
