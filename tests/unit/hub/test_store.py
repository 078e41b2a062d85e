"""The store keeps every measurement once, with one outbox row per destination, durably."""

import asyncio
from sqlcipher3 import dbapi2 as sqlite3  # the store's SQLite (SQLCipher)
import uuid

import pytest
import sqlite_utils

from hub.store import SCHEMA_VERSION, Store, StoreError
from hub.store.rows import measurement_from_row, measurement_to_row

from .factories import measurement, spo2


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "heima.db")
    yield s
    await s.close()


async def test_the_database_is_durable_wal_with_synchronous_full(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_recording_writes_the_measurement_and_one_outbox_row_per_destination(store):
    m = measurement()
    recorded = await store.record(m, ["centre", "usb"])
    assert recorded.created and recorded.measurement_id == str(m.id)
    states = await store.delivery_states(str(m.id))
    assert [(s.destination, s.state) for s in states] == [("centre", "pending"), ("usb", "pending")]
    [stored] = await store.measurements()
    assert stored == m


async def test_a_record_the_device_sends_again_is_not_stored_twice(store):
    first = measurement(natural_key="SN-1|oxygen-saturation|t=2026-11-20T08:00:00")
    again = measurement(natural_key="SN-1|oxygen-saturation|t=2026-11-20T08:00:00")
    assert (await store.record(first, ["centre"])).created
    duplicate = await store.record(again, ["centre"])
    assert not duplicate.created and duplicate.measurement_id == str(first.id)
    assert len(await store.measurements()) == 1
    assert await store.outbox_counts() == {"centre": {"pending": 1}}


async def test_many_readings_at_once_share_commits_and_each_is_acknowledged(store):
    commits = []
    store.db.conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    ms = [measurement() for _ in range(50)]
    results = await asyncio.gather(*(store.record(m, ["centre"]) for m in ms))
    assert all(r.created for r in results)
    assert len(await store.measurements()) == 50
    assert len(commits) < 50


async def test_a_failed_batch_loses_nothing_already_stored(store):
    kept = measurement()
    await store.record(kept, ["centre"])
    bad = measurement()
    # A destination list with the same name twice violates UNIQUE: the whole transaction rolls back.
    with pytest.raises(sqlite3.IntegrityError):
        await store.record(bad, ["centre", "centre"])
    assert [m.id for m in await store.measurements()] == [kept.id]
    assert await store.delivery_states(str(bad.id)) == []


async def test_a_value_and_an_absent_reason_cannot_both_be_stored(store):
    row = measurement_to_row(measurement())
    row["absent_reason"] = "not-a-number"
    with pytest.raises(sqlite3.IntegrityError):
        sqlite_utils.Database(store.db.conn)["measurements"].insert(row)  # the store itself runs SQL only


async def test_rows_round_trip_an_absent_reading():
    m = measurement(spo2(None))
    assert measurement_from_row(measurement_to_row(m)) == m


async def test_a_blood_pressure_panel_is_stored_with_its_components(store):
    from datetime import timedelta

    from hub.domain.readings import AbsentReason, Component, MeasurementKind, Reading

    from .factories import OXIMETER, T0

    panel = Reading(
        kind=MeasurementKind.BLOOD_PRESSURE,
        value=None,
        unit="mm[Hg]",
        received_at=T0,
        device=OXIMETER,
        components=(
            Component(MeasurementKind.SYSTOLIC_PRESSURE, 120.0, "mm[Hg]"),
            Component(MeasurementKind.DIASTOLIC_PRESSURE, 80.0, "mm[Hg]"),
            Component(MeasurementKind.MEAN_ARTERIAL_PRESSURE, None, "mm[Hg]", AbsentReason.NOT_A_NUMBER),
        ),
        context=(("position", "sitting"),),
        device_user=2,
        device_clock_offset=timedelta(seconds=-42),
    )
    m = measurement(panel)
    await store.record(m, ["centre"])
    assert (await store.measurements()) == [m]


async def test_a_database_from_a_newer_heima_is_refused_with_advice(tmp_path):
    path = tmp_path / "heima.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await Store.open(path)


async def test_measurements_survive_reopening(tmp_path):
    s = await Store.open(tmp_path / "heima.db")
    m = measurement()
    await s.record(m, ["centre"])
    await s.close()
    s = await Store.open(tmp_path / "heima.db")
    assert [x.id for x in await s.measurements()] == [m.id]
    await s.close()


async def test_outbox_rows_move_pending_to_delivered_or_dead(store):
    from datetime import UTC, datetime, timedelta

    a, b, c = measurement(), measurement(), measurement()
    for m in (a, b, c):
        await store.record(m, ["centre"])
    now = datetime.now(UTC)
    assert [m.id for m in await store.due("centre", limit=10, now=now)] == [a.id, b.id, c.id]
    await store.mark_delivered("centre", [str(a.id)])
    await store.dead_letter("centre", str(b.id), reason="server said 422")
    await store.schedule_retry("centre", [str(c.id)], not_before=now + timedelta(minutes=5), reason="503")
    assert await store.due("centre", limit=10, now=now) == []
    assert [m.id for m in await store.due("centre", limit=10, now=now + timedelta(minutes=6))] == [c.id]
    [dead] = await store.delivery_states(str(b.id))
    assert (dead.state, dead.last_error) == ("dead", "server said 422")
    assert uuid.UUID(str(a.id))


async def test_the_last_record_number_of_a_device_is_remembered(store):
    from dataclasses import replace
    from datetime import datetime

    from hub.domain.readings import MeasurementKind

    from .factories import OXIMETER

    assert await store.last_sequence(OXIMETER, MeasurementKind.OXYGEN_SATURATION) is None
    for seq in (11, 12, 1, 2):  # the meter's memory was cleared after record 12
        r = replace(spo2(stored_at=datetime(2026, 11, 20, 8, seq)), record_id=str(seq))
        await store.record(measurement(r, natural_key=f"k{seq}"), ["centre"])
    assert await store.last_sequence(OXIMETER, MeasurementKind.OXYGEN_SATURATION) == 2
    assert await store.last_sequence(OXIMETER, MeasurementKind.PULSE_RATE) is None
