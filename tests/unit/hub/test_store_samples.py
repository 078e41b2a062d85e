"""A chunk's samples are stored beside its measurement, compactly, and come back with it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.measurements import Measurement
from hub.domain.oximetry import SampledSeries, series_readings
from hub.domain.readings import Provenance
from hub.store import Store

from .factories import OXIMETER, measurement

NIGHT = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path):
    # The hub's clock reads the night the chunks were recorded, whatever the calendar says today.
    s = await Store.open(tmp_path / "heima.db", clock=lambda: NIGHT)
    yield s
    await s.close()


def chunk(start: datetime = NIGHT, n: int = 600) -> tuple[Measurement, Measurement]:
    values = tuple(None if i % 50 == 0 else 90.0 + i % 9 for i in range(n))
    spo2, pulse = series_readings(SampledSeries(start, 1.0, values), SampledSeries(start, 1.0, values), device=OXIMETER)
    return tuple(Measurement(uuid.uuid4(), r, Provenance.DEVICE, start, None) for r in (spo2, pulse))  # type: ignore[return-value]


async def test_a_chunk_comes_back_from_the_outbox_with_every_sample(store):
    spo2, pulse = chunk()
    await store.record(spo2, ["centre"])
    await store.record(pulse, ["centre"])
    due = [o.payload for o in await store.due("centre", limit=10, now=NIGHT + timedelta(days=1))]
    assert due == [spo2, pulse]
    assert due[0].reading.samples.values[0] is None and due[0].reading.samples.values[1] == 91.0


async def test_samples_take_two_bytes_each_in_the_database(store):
    spo2, _ = chunk()
    await store.record(spo2, ["centre"])
    size, count = store.db.execute("SELECT length(data), count FROM samples").fetchone()
    assert (size, count) == (1200, 600)


async def test_the_patients_list_leaves_chunks_out_unless_asked_for_by_kind(store):
    spot = measurement()
    await store.record(spot, ["centre"])
    spo2, pulse = chunk()
    await store.record(spo2, ["centre"])
    await store.record(pulse, ["centre"])
    assert await store.measurements() == [spot]
    assert await store.measurements(kind="oxygen-saturation-series") == [spo2]


async def test_a_hub_with_a_version_1_database_keeps_its_measurements_after_the_upgrade(tmp_path):
    import sqlite3

    import sqlite_utils

    from hub.store.rows import measurement_to_row
    from hub.store.schema import _v1

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    _v1(db)
    old = measurement()
    row = measurement_to_row(old)
    row.pop("duration_s")
    db["measurements"].insert(row)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    store = await Store.open(path)
    try:
        assert await store.measurements() == [old]
    finally:
        await store.close()


async def test_a_batch_is_cut_before_it_would_carry_more_samples_than_allowed(store):
    for _ in range(3):
        for m in chunk():
            await store.record(m, ["centre"])
    spot = measurement()
    await store.record(spot, ["centre"])
    later = NIGHT + timedelta(days=1)
    assert len(await store.due("centre", limit=10, now=later, max_samples=1_800)) == 3  # 600 samples each
    assert len(await store.due("centre", limit=10, now=later, max_samples=100)) == 1  # never less than one
    assert len(await store.due("centre", limit=10, now=later)) == 7  # no cap: the limit alone
