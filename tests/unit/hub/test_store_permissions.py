"""The database, its -wal/-shm and the data folder's lock file are readable by the hub's user
only (0600), whatever umask the hub was started with: they hold patient data (the lock file
holds a pid, and is private all the same)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest

from hub.store import Store

from .factories import measurement

FILES = ("heima.db", "heima.db-wal", "heima.db-shm", "heima.lock")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets everyone read what is created (Debian's default)."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _modes(folder) -> dict[str, str]:
    return {name: oct(stat.S_IMODE((folder / name).stat().st_mode)) for name in FILES}


async def test_a_new_store_is_private_under_an_open_umask(tmp_path, open_umask):
    store = await Store.open(tmp_path / "heima.db", owner=True)
    try:
        await store.record(measurement(), ["centre"])  # the WAL and its index exist after a write
        assert _modes(tmp_path) == dict.fromkeys(FILES, "0o600")
    finally:
        await store.close()


async def test_a_store_an_older_heima_left_readable_is_made_private(tmp_path, open_umask):
    store = await Store.open(tmp_path / "heima.db")
    await store.record(measurement(), ["centre"])
    await store.close()
    (tmp_path / "heima.db").chmod(0o644)
    (tmp_path / "heima.lock").touch(0o644)
    (tmp_path / "heima.lock").chmod(0o644)
    store = await Store.open(tmp_path / "heima.db", owner=True)
    try:
        await store.record(measurement(), ["centre"])
        assert _modes(tmp_path) == dict.fromkeys(FILES, "0o600")
    finally:
        await store.close()
