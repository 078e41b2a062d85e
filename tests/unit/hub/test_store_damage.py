"""A damaged database is refused at start with one clear line — never a traceback, never a fresh
empty database in its place, and the damaged files are left exactly as they were.

The damage is made to real files SQLite wrote: the header garbled, the file cut short, the
write-ahead log garbled (its header, or a frame with committed transactions after it), and a
SQLite file that is not Heima's. The WAL cases copy the files of an open store after its commits,
which is what a hub killed with kill -9 leaves on disk.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hub.store import Store, StoreDamaged
WAL_HEADER = 32  # bytes (https://www.sqlite.org/fileformat2.html#walformat)

from .factories import measurement

ROOT = Path(__file__).resolve().parents[3]


async def _store_with(folder: Path, n: int, *, keep_wal: bool) -> set[str]:
    """A data folder whose heima.db holds `n` measurements, each its own commit. `keep_wal`: the
    files as a killed hub leaves them (committed in the WAL, not yet checkpointed)."""
    folder.mkdir(parents=True, exist_ok=True)
    live = folder / "live"
    live.mkdir()
    store = await Store.open(live / "heima.db", group_commit=False)
    ids = {(await store.record(measurement(), ["centre"])).measurement_id for _ in range(n)}
    if keep_wal:
        for name in ("heima.db", "heima.db-wal"):
            shutil.copyfile(live / name, folder / name)
    await store.close()
    if not keep_wal:
        shutil.copyfile(live / "heima.db", folder / "heima.db")
    shutil.rmtree(live)
    return ids


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


async def _refused(folder: Path) -> StoreDamaged:
    before = _files(folder)
    with pytest.raises(StoreDamaged) as refused:
        await Store.open(folder / "heima.db", owner=True)
    message = str(refused.value)
    assert "damaged" in message and "\n" not in message
    after = {name: data for name, data in _files(folder).items() if name != "heima.lock"}
    assert after == before, "the damaged files were changed"
    return refused.value


def _garble(path: Path, start: int, length: int) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(7)
    for i in range(start, start + length):
        data[i] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))


async def test_a_garbled_database_header_is_refused(tmp_path):
    await _store_with(tmp_path, 20, keep_wal=False)
    _garble(tmp_path / "heima.db", 0, 16)
    await _refused(tmp_path)


async def test_a_truncated_database_is_refused(tmp_path):
    await _store_with(tmp_path, 200, keep_wal=False)
    db = tmp_path / "heima.db"
    os.truncate(db, db.stat().st_size // 2)
    await _refused(tmp_path)


async def test_a_garbled_wal_header_is_refused_not_silently_dropped(tmp_path):
    # SQLite ignores a WAL whose header is garbled: the 30 commits in it would vanish unseen.
    await _store_with(tmp_path, 30, keep_wal=True)
    _garble(tmp_path / "heima.db-wal", 0, WAL_HEADER)
    await _refused(tmp_path)


async def test_a_wal_garbled_before_later_commits_is_refused(tmp_path):
    await _store_with(tmp_path, 30, keep_wal=True)
    page_size = sqlite3.connect(":memory:").execute("PRAGMA page_size").fetchone()[0]
    _garble(tmp_path / "heima.db-wal", WAL_HEADER + 24 + 24 + page_size + 100, 8)  # inside the 2nd frame's page
    await _refused(tmp_path)


async def test_a_sqlite_file_that_is_not_heimas_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "heima.db") as other:
        other.execute("CREATE TABLE photos (name TEXT)")
    other.close()
    await _refused(tmp_path)


async def test_what_a_kill_leaves_in_the_wal_opens_with_every_commit(tmp_path):
    """Not damage: the WAL of a killed hub is read back whole."""
    ids = await _store_with(tmp_path, 30, keep_wal=True)
    store = await Store.open(tmp_path / "heima.db", owner=True)
    try:
        assert {str(m.id) for m in await store.measurements()} == ids
    finally:
        await store.close()


async def test_the_torn_tail_of_an_unacknowledged_commit_is_not_damage(tmp_path):
    """A power cut can tear only the last, unacknowledged transaction: its frames are dropped
    as SQLite always has, and the store opens with every earlier commit."""
    ids = await _store_with(tmp_path, 30, keep_wal=True)
    wal = tmp_path / "heima.db-wal"
    _garble(wal, wal.stat().st_size - 50, 8)  # inside the last frame: the last commit is torn
    store = await Store.open(tmp_path / "heima.db", owner=True)
    try:
        assert len(ids - {str(m.id) for m in await store.measurements()}) == 1
    finally:
        await store.close()


def test_heima_refuses_a_damaged_store_with_one_line_and_no_traceback(tmp_path):
    import asyncio

    asyncio.run(_store_with(tmp_path, 20, keep_wal=False))
    _garble(tmp_path / "heima.db", 0, 16)
    before = (tmp_path / "heima.db").read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "sync", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("heima: ") and "damaged" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "heima.db").read_bytes() == before
