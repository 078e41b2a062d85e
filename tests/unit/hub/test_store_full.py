"""A full disk says "disk full", and nothing acknowledged is lost.

Two ways to fill it, both ending in SQLite's SQLITE_FULL inside a write transaction (after which
SQLite has already rolled the transaction back itself — the case whose ROLLBACK used to fail with
"cannot rollback - no transaction is active" and hide the real reason):

- a real full file system: a 1 MB tmpfs mounted for the test (needs root; skipped elsewhere).
  The write that fails is the kernel's ENOSPC on the WAL, exactly as on a full SD card;
- `PRAGMA max_page_count`: SQLite's own size limit makes the database full at a page count the
  test chooses. It runs anywhere and fails in the same place (the pager cannot add a page), so
  the store sees the same error and must take the same path.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.store import Store, StoreFull

from .factories import measurement


async def _record_until_full(store: Store, limit: int = 2000) -> tuple[set[str], StoreFull]:
    acknowledged: set[str] = set()
    for _ in range(limit):
        try:
            recorded = await store.record(measurement(), ["centre"])
        except StoreFull as full:
            return acknowledged, full
        acknowledged.add(recorded.measurement_id)
    raise AssertionError("the store never filled up")


def _says_disk_full(full: StoreFull) -> None:
    message = str(full)
    assert message.startswith("disk full") and "\n" not in message
    assert "rollback" not in message and "transaction" not in message


async def _stored_ids(path: Path) -> set[str]:
    store = await Store.open(path)
    try:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {r[0] for r in store.db.execute("SELECT id FROM measurements")}
    finally:
        await store.close()


async def test_a_database_at_its_size_limit_says_disk_full_and_keeps_what_was_acknowledged(tmp_path):
    store = await Store.open(tmp_path / "heima.db", owner=True)
    try:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages + 6}")
        acknowledged, full = await _record_until_full(store)
        _says_disk_full(full)
        assert acknowledged, "the limit left no room for a single measurement"
        with pytest.raises(StoreFull):  # an outbox update on a full disk says so too
            await store.mark_delivered("centre", sorted(acknowledged))
        # space freed: the hub records again without a restart
        store.db.execute(f"PRAGMA max_page_count = {pages + 1000}")
        again = await store.record(measurement(), ["centre"])
        acknowledged.add(again.measurement_id)
    finally:
        await store.close()
    assert await _stored_ids(tmp_path / "heima.db") == acknowledged


@pytest.fixture
def tiny_disk(tmp_path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", f"heima-{uuid.uuid4().hex[:8]}", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("mounting a tmpfs needs root; the max_page_count test covers the same path")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_file_system_says_disk_full_and_keeps_what_was_acknowledged(tiny_disk):
    path = tiny_disk / "heima.db"
    store = await Store.open(path, owner=True)
    try:
        acknowledged, full = await _record_until_full(store)
        _says_disk_full(full)
        assert acknowledged
    finally:
        with contextlib.suppress(StoreFull):
            await store.close()  # the checkpoint at close may not fit either; the WAL keeps it all
    subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_disk)], check=True)  # space freed
    assert await _stored_ids(path) == acknowledged
