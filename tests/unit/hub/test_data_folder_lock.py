"""One process owns a data folder; a reader's brief look (`heima status`) never stops a hub starting."""

from __future__ import annotations

import fcntl
import os

import pytest

from hub.store import lock as lock_module
from hub.store.lock import LOCK_NAME, DataFolderInUse, DataFolderLock


def test_a_hub_starting_while_status_peeks_waits_for_the_peek_instead_of_refusing(tmp_path, monkeypatch):
    (tmp_path / LOCK_NAME).touch()
    reader = os.open(tmp_path / LOCK_NAME, os.O_RDONLY)
    fcntl.flock(reader, fcntl.LOCK_SH | fcntl.LOCK_NB)  # `heima status` asking "is a hub running?"
    # The pause between tries is where the reader finishes its look and lets go.
    monkeypatch.setattr(lock_module.time, "sleep", lambda _s: os.close(reader))
    owner = DataFolderLock.acquire(tmp_path)
    try:
        assert owner.held and DataFolderLock.in_use(tmp_path)  # the hub holds it; a reader now sees it running
    finally:
        owner.release()


def test_a_second_owner_is_refused_while_the_first_holds_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(lock_module.time, "sleep", lambda _s: None)
    first = DataFolderLock.acquire(tmp_path)
    try:
        with pytest.raises(DataFolderInUse, match=f"pid {os.getpid()}"):
            DataFolderLock.acquire(tmp_path)
    finally:
        first.release()
    DataFolderLock.acquire(tmp_path).release()  # free again once released
