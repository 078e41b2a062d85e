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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.store import Store, StoreDamaged
from hub.store.files import WAL_HEADER, wal_problem
from hub.store.keys import key_path
from hub.store.schema import connect

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
    # The store is encrypted: its key goes with it, into the key folder beside `folder`.
    key_path(folder / "heima.db").parent.mkdir(mode=0o700, exist_ok=True)
    shutil.copyfile(key_path(live / "heima.db"), key_path(folder / "heima.db"))
    shutil.rmtree(live)
    shutil.rmtree(key_path(live / "heima.db").parent)
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


# --- the WAL reader, byte by byte (Hypothesis) ------------------------------------------------

def _real_wal(commits: int) -> tuple[bytes, list[int]]:
    """A WAL SQLite wrote through Heima's connect(): `commits` transactions, none checkpointed.
    Returns its bytes and the index of each commit frame."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"  # its key folder, data-keys, is removed with `folder`
        data_dir.mkdir()
        db = connect(data_dir / "heima.db")
        db.execute("PRAGMA wal_autocheckpoint = 0")
        for i in range(commits):
            db.execute("INSERT INTO consent_events (destination, state, source, at) VALUES (?, 'given', 'config', ?)", [f"d{i}", str(i)])
        data = (data_dir / "heima.db-wal").read_bytes()
        db.conn.close()
    page_size = int.from_bytes(data[8:12], "big")
    frame = 24 + page_size
    marks = [i for i in range((len(data) - WAL_HEADER) // frame) if int.from_bytes(data[WAL_HEADER + i * frame + 4 : WAL_HEADER + i * frame + 8], "big")]
    return data, marks


WAL, COMMIT_FRAMES = _real_wal(12)
FRAME = 24 + int.from_bytes(WAL[8:12], "big")


@given(st.binary(min_size=WAL_HEADER, max_size=3 * FRAME))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_are_read_without_an_exception(data):
    problem = wal_problem(data)
    assert problem is None or isinstance(problem, str)


@given(st.integers(min_value=WAL_HEADER, max_value=len(WAL)))
def test_a_wal_cut_anywhere_is_not_damage(length):
    """A crash or power cut leaves the log cut short: never called damaged."""
    assert wal_problem(WAL[:length]) is None


@given(st.integers(min_value=0, max_value=WAL_HEADER - 1), st.integers(min_value=1, max_value=255))
def test_any_garbled_header_byte_is_damage(offset, flip):
    data = bytearray(WAL)
    data[offset] ^= flip
    assert wal_problem(bytes(data)) is not None


@given(st.data(), st.integers(min_value=1, max_value=255))
def test_any_garbled_byte_before_the_last_three_commits_is_damage(draw, flip):
    last = COMMIT_FRAMES[-3]  # frames up to this one have three committed transactions after them
    offset = draw.draw(st.integers(min_value=WAL_HEADER, max_value=WAL_HEADER + last * FRAME - 1))
    data = bytearray(WAL)
    data[offset] ^= flip
    assert wal_problem(bytes(data)) is not None
