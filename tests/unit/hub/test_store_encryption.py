"""The store is encrypted at rest (SQLCipher) with a key kept beside the data folder, not in it.

What a person with the card would check: the files on disk hold none of a reading's bytes; the
key file is the hub user's alone; without the key, or with another database's key, the hub
refuses with one line and leaves the files as they were; a plaintext store from an earlier Heima
is encrypted in place on its first open with every row kept.
"""

from __future__ import annotations

import shutil
import sqlite3  # the stdlib's, without a cipher: what an earlier Heima wrote, and what an attacker has
import subprocess
import sys
from pathlib import Path

import pytest

from hub.domain.readings import DeviceIdentity
from hub.store import Store, StoreDamaged
from hub.store import schema
from hub.store.keys import StoreKeyError, key_path

from .factories import measurement, spo2

ROOT = Path(__file__).resolve().parents[3]
SERIAL = "HEIMA-SERIAL-7F3A9C"  # a device serial as stored with each reading: searched for in the raw files


def _readings(n: int) -> list:
    device = DeviceIdentity(address="F0:11:22:33:44:55", name="Oximeter", serial=SERIAL)
    return [measurement(spo2(90 + i % 8, device=device)) for i in range(n)]


def _on_disk(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("heima.db"))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "heima.lock"}


async def test_the_files_on_disk_hold_none_of_a_readings_bytes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    store = await Store.open(data / "heima.db", owner=True, group_commit=False)
    readings = _readings(20)
    for m in readings:
        await store.record(m, ["centre"])
    try:
        assert (data / "heima.db-wal").stat().st_size > 0  # the commits are in the WAL, not checkpointed
        raw = _on_disk(data)
        assert SERIAL.encode() not in raw
        for m in readings:
            assert str(m.id).encode() not in raw
        assert b"SQLite format 3" not in raw[:16]  # no plaintext header either
    finally:
        await store.close()
    raw = _on_disk(data)  # checkpointed into the main file on close
    assert SERIAL.encode() not in raw and str(readings[0].id).encode() not in raw
    with pytest.raises(sqlite3.DatabaseError):  # what anyone with the card and stock SQLite gets
        sqlite3.connect(data / "heima.db").execute("SELECT count(*) FROM sqlite_master").fetchone()


async def test_the_key_is_beside_the_data_folder_and_the_hubs_user_alone_reads_it(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    store = await Store.open(data / "heima.db", owner=True)
    await store.record(measurement(), ["centre"])
    key = key_path(data / "heima.db")
    try:
        assert key == tmp_path / "data-keys" / "heima.db.key" and key.exists()
        assert not key.is_relative_to(data)  # a copy of the data folder carries no key
        assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
        for name in ("heima.db", "heima.db-wal", "heima.db-shm"):
            assert (data / name).stat().st_mode & 0o777 == 0o600, name
        assert list(key.parent.iterdir()) == [key]  # no temporary file left
    finally:
        await store.close()


async def _closed_store(data: Path, n: int = 5) -> set[str]:
    data.mkdir(parents=True, exist_ok=True)
    store = await Store.open(data / "heima.db", owner=True)
    ids = {(await store.record(m, ["centre"])).measurement_id for m in _readings(n)}
    await store.close()
    return ids


async def test_without_its_key_the_store_is_refused_with_one_line_and_left_as_it_is(tmp_path):
    data = tmp_path / "data"
    await _closed_store(data)
    key_path(data / "heima.db").unlink()
    before = _files(data)
    with pytest.raises(StoreKeyError) as refused:
        await Store.open(data / "heima.db", owner=True)
    message = str(refused.value)
    assert "key file" in message and "missing" in message and "\n" not in message and SERIAL not in message
    assert _files(data) == before
    assert not key_path(data / "heima.db").exists()  # no new key made for a store that has one


async def test_another_databases_key_is_refused_as_the_wrong_key_not_as_damage(tmp_path):
    data, other = tmp_path / "data", tmp_path / "other"
    await _closed_store(data)
    await _closed_store(other, 1)
    shutil.copyfile(key_path(other / "heima.db"), key_path(data / "heima.db"))
    before = _files(data)
    with pytest.raises(StoreKeyError) as refused:
        await Store.open(data / "heima.db", owner=True)
    assert not isinstance(refused.value, StoreDamaged)
    assert "was not encrypted with the key" in str(refused.value) and "\n" not in str(refused.value)
    assert _files(data) == before


async def test_a_damaged_key_file_is_refused_and_a_damaged_page_is_damage(tmp_path):
    data = tmp_path / "data"
    await _closed_store(data, 50)
    key = key_path(data / "heima.db")
    good = key.read_bytes()
    key.write_bytes(b"heima-store-key/1 zz\n")
    with pytest.raises(StoreKeyError, match="key file .* is damaged"):
        await Store.open(data / "heima.db", owner=True)
    key.write_bytes(good)
    db = data / "heima.db"
    raw = bytearray(db.read_bytes())
    raw[4096 + 100] ^= 0x55  # inside page 2: its HMAC no longer matches
    db.write_bytes(bytes(raw))
    with pytest.raises(StoreDamaged):
        await Store.open(db, owner=True)


def test_the_command_line_says_the_key_is_missing_in_one_line_with_exit_3(tmp_path):
    import asyncio

    data = tmp_path / "data"
    asyncio.run(_closed_store(data))
    key_path(data / "heima.db").unlink()
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "sync", "--data-dir", str(data)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("heima: ") and "key file" in lines[0], result.stderr


async def test_a_plaintext_store_from_an_earlier_heima_is_encrypted_in_place_with_every_row(tmp_path, monkeypatch):
    """A hub in the field: its plaintext store, with commits still in the WAL, is encrypted on
    the first open after the upgrade; every measurement and its queue are there afterwards."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(schema, "CIPHER", False)  # the earlier Heima: the same schema, no cipher
    old = await Store.open(data / "heima.db", owner=True, group_commit=False)
    readings = _readings(40)
    for m in readings:
        await old.record(m, ["centre", "kommune"])
    await old.record(_readings(1)[0], ["centre"])
    # Copied while open: what a hub switched off mid-day leaves (commits in the WAL).
    field = tmp_path / "field"
    field.mkdir()
    for name in ("heima.db", "heima.db-wal"):
        shutil.copyfile(data / name, field / name)
    await old.close()
    assert (field / "heima.db").read_bytes().startswith(b"SQLite format 3\x00")
    with sqlite3.connect(field / "heima.db") as plain:
        expected = {t: plain.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in ("measurements", "outgoing", "outbox")}
    plain.close()
    (field / "heima.db.encrypting").write_bytes(b"an earlier try cut short")
    monkeypatch.setattr(schema, "CIPHER", True)

    store = await Store.open(field / "heima.db", owner=True)
    try:
        assert {m.id for m in await store.measurements()} >= {m.id for m in readings}
        counts = {t: store.db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in expected}
        assert counts == expected
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    finally:
        await store.close()
    names = sorted(p.name for p in field.iterdir())
    assert "heima.db.encrypting" not in names and "heima.db.plaintext" not in names
    raw = _on_disk(field)
    assert not raw.startswith(b"SQLite format 3") and SERIAL.encode() not in raw
    assert (field / "heima.db").stat().st_mode & 0o777 == 0o600


async def test_a_plaintext_copy_left_by_an_upgrade_cut_after_the_rename_is_cleared(tmp_path):
    data = tmp_path / "data"
    await _closed_store(data)
    left = data / "heima.db.plaintext"  # the old plaintext, hard-linked, not yet zeroed when the power went
    left.write_bytes(b"SQLite format 3\x00" + SERIAL.encode() * 100)
    store = await Store.open(data / "heima.db", owner=True)
    await store.close()
    assert not left.exists()


async def test_a_damaged_plaintext_store_is_refused_as_it_is_not_encrypted(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "heima.db") as other:  # not Heima's: tables, no schema version
        other.execute("CREATE TABLE photos (name TEXT)")
    other.close()
    before = _files(data)
    with pytest.raises(StoreDamaged):
        await Store.open(data / "heima.db", owner=True)
    assert _files(data) == before


async def test_the_key_file_never_shows_its_bytes(tmp_path):
    data = tmp_path / "data"
    await _closed_store(data, 1)
    from hub.store.keys import read_key

    key = read_key(key_path(data / "heima.db"))
    assert key is not None and key.key.hex() not in repr(key) and key.key.hex() not in str(key)


def test_opening_stays_fast_with_a_raw_key(tmp_path):
    """No key derivation (a raw key): opening stays quick. `pytest -s` prints the figure."""
    import asyncio
    import time

    data = tmp_path / "data"
    asyncio.run(_closed_store(data, 200))
    times = []
    for _ in range(5):
        started = time.perf_counter()
        db = schema.connect(data / "heima.db")
        times.append(time.perf_counter() - started)
        db.conn.close()
    print(f"\nencrypted store open (200 measurements): best {min(times) * 1000:.1f} ms")
    assert min(times) < 1.0  # a KDF of 256 000 rounds alone would take ~0.3-1 s on a Pi



async def test_a_new_store_gets_a_new_key_even_where_an_old_one_was_left(tmp_path):
    """A store deleted by hand leaves its key: the next store must not reuse it, or the old
    store's blocks left on the card would be readable with the new store's key."""
    data = tmp_path / "data"
    await _closed_store(data, 1)
    old = key_path(data / "heima.db").read_bytes()
    for name in ("heima.db", "heima.db-wal", "heima.db-shm"):
        (data / name).unlink(missing_ok=True)
    await _closed_store(data, 1)
    assert key_path(data / "heima.db").read_bytes() != old
