"""The return destroys the store's key first: a copy of the store's bytes taken before the wipe
(what an SD card's controller may keep of the deleted blocks) cannot be read afterwards — not
with Heima, not with the next patient's key, not with stock SQLite."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from hub.cli import main
from hub.store import Store
from hub.store.keys import StoreKeyError, key_path

from .hubs import PIN, leftovers, make_hub


def run(monkeypatch, argv: list[str]) -> int:  # noqa: ANN001
    monkeypatch.setattr(sys, "stdin", io.StringIO(PIN + "\n"))
    return main(argv)


def test_after_the_return_the_key_is_gone_and_a_kept_copy_of_the_store_cannot_be_read(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    hub = make_hub(tmp_path, measurements=3)
    key = key_path(hub.data / "heima.db")
    assert key.exists()
    kept = tmp_path / "what-the-card-kept"
    kept.mkdir()
    for name in ("heima.db", "heima.db-wal"):
        if (hub.data / name).exists():
            shutil.copyfile(hub.data / name, kept / name)
    with sqlite3.connect(kept / "heima.db") as plain:  # the copy is whole: stock SQLite just cannot read it
        with pytest.raises(sqlite3.DatabaseError):
            plain.execute("SELECT count(*) FROM measurements").fetchone()
    plain.close()

    assert run(monkeypatch, hub.cli("return")) == 0
    assert not key.exists() and list(key.parent.iterdir()) == []  # no temporary copy of it either
    assert leftovers(hub) == []
    record = json.loads((hub.data / "wipe-record.json").read_text())
    assert record["store_key_destroyed"] is True

    with pytest.raises(StoreKeyError, match="key file .* is missing"):
        asyncio.run(Store.open(kept / "heima.db"))
    # The next patient's key (a new one, made by a new store) does not open it either.
    fresh = tmp_path / "next"
    fresh.mkdir()
    asyncio.run(_open_close(fresh / "heima.db"))
    key_path(kept / "heima.db").parent.mkdir(mode=0o700)
    shutil.copyfile(key_path(fresh / "heima.db"), key_path(kept / "heima.db"))
    with pytest.raises(StoreKeyError, match="not encrypted with the key"):
        asyncio.run(Store.open(kept / "heima.db"))


async def _open_close(path: Path) -> None:
    store = await Store.open(path)
    await store.close()


def test_a_wipe_finished_from_an_old_journal_without_the_key_still_destroys_it(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A return journal written before the store was encrypted names no key: the plan's is destroyed."""
    hub = make_hub(tmp_path, measurements=1)
    journal = {
        "phase": "wiping", "hub_id": "h", "profile_id": "p", "started_at": "2026-03-02T09:00:00+00:00",
        "measurements_stored": 1, "delivered_now": {"centre-inbox": 1}, "exported": {}, "export_dir": None,
        "not_sent_device_inventory": 0, "targets": [str(hub.data / "heima.db"), str(hub.config)],
    }  # fmt: skip
    (hub.data / "return-journal.json").write_text(json.dumps(journal))
    assert run(monkeypatch, hub.cli("return")) == 0
    assert not key_path(hub.data / "heima.db").exists() and not (hub.data / "heima.db").exists()
