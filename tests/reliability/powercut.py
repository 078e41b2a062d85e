"""A power cut for SQLite: an apsw VFS that passes every I/O through to the real files but keeps,
as the "disk", only the bytes that were synced.

Model. Each file the database uses has two images: what the process sees (the real file, i.e.
the OS page cache) and what is on the platter (`durable`). `xWrite`/`xTruncate` change the first
at once and are queued for the second; `xSync` moves the queue onto the platter. A file that was
never synced does not exist after a cut (the unix VFS syncs the directory with the file's first
sync). A delete is durable at once (SQLite deletes only journals whose content is already
checkpointed). The -shm index is not a file on the platter (it is rebuilt from the WAL on open).

A harsher variant (`arm(..., torn=rng)`) lets a random part of the unsynced writes land too, in
a random order: what a disk that reorders its write-back cache may leave.

The cut fires before the N-th write/truncate/sync (`cut_at`): that operation and every one after
it fail with an I/O error, and `images()` is the platter at that instant. `restore()` writes the
platter back over the real files and removes the -shm, which is exactly what the next boot sees.

`ApswConnection` lets Heima's own code run unchanged on apsw: `hub.store.schema.connect` (its
pragmas and migrations), and `hub.store.Store` (its INSERTs, group commit and outbox updates)
only need `execute`, `executemany`, cursors with `fetchone/fetchall/rowcount/description`,
`in_transaction` and `close`.
"""

from __future__ import annotations

import os
import random
import types
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw


class PowerIsOff(apsw.IOError):
    pass


@dataclass
class FileState:
    durable: bytearray | None  # None: not on the platter
    pending: list[tuple[int, bytes | None]] = field(default_factory=list)  # (offset, data) or (size, None) for truncate

    def sync(self) -> None:
        if self.durable is None:
            self.durable = bytearray()
        for offset, data in self.pending:
            if data is None:
                del self.durable[offset:]
                continue
            end = offset + len(data)
            if len(self.durable) < offset:
                self.durable.extend(b"\0" * (offset - len(self.durable)))
            self.durable[offset:end] = data
        self.pending.clear()


class PowerCutVFS(apsw.VFS):
    """Register once per process under `name`; arm with `cut_at` before each trial."""

    def __init__(self, name: str = "powercut") -> None:
        self.vfs_name = name
        super().__init__(name, "")
        self.files: dict[str, FileState] = {}
        self.ops = 0
        self.cut_at: int | None = None
        self.cut = False
        self.cut_during: str | None = None  # "db-write", "wal-write", "wal-sync", ... at the cut
        self.syncs: dict[str, int] = {}
        self.torn: random.Random | None = None
        self.torn_writes_landed = 0

    def arm(self, cut_at: int | None, *, torn: random.Random | None = None) -> None:
        """A fresh boot: power on, files read from the real disk, the next cut at op `cut_at`.

        `torn`: at the cut, a random part of the writes not yet synced also reaches the platter,
        in a random order (a disk may write back its cache in any order before it loses power).
        """
        self.files.clear()
        self.torn = torn
        self.ops = 0
        self.cut_at = cut_at
        self.cut = False
        self.cut_during = None

    def state_for(self, filename: str) -> FileState:
        state = self.files.get(filename)
        if state is None:
            durable = bytearray(Path(filename).read_bytes()) if os.path.exists(filename) else None
            state = self.files[filename] = FileState(durable)
        return state

    def tick(self, what: str) -> None:
        if self.cut:
            raise PowerIsOff("the power is off")
        self.ops += 1
        if self.cut_at is not None and self.ops >= self.cut_at:
            self.cut = True
            self.cut_during = what
            raise PowerIsOff("power cut")

    def images(self) -> dict[str, bytes | None]:
        return {name: (bytes(s.durable) if s.durable is not None else None) for name, s in self.files.items()}

    def restore(self) -> None:
        """The next boot: the real files become what was on the platter at the cut."""
        for name, state in self.files.items():
            if self.torn is not None and state.pending:
                landed = [op for op in state.pending if self.torn.random() < 0.5]
                self.torn.shuffle(landed)
                self.torn_writes_landed += len(landed)
                state.pending = landed
                if landed:
                    state.sync()
            if state.durable is None:
                if os.path.exists(name):
                    os.remove(name)
            else:
                Path(name).write_bytes(bytes(state.durable))
            if name.endswith(".db") and os.path.exists(name + "-shm"):
                os.remove(name + "-shm")
        self.files.clear()

    def xOpen(self, name: Any, flags: list[int]) -> apsw.VFSFile:
        return PowerCutFile(self, name, flags)

    def xDelete(self, filename: str, syncdir: bool) -> None:
        self.tick("delete")
        super().xDelete(filename, syncdir)
        state = self.files.get(filename)
        if state is not None:
            state.durable = None
            state.pending.clear()


class PowerCutFile(apsw.VFSFile):
    def __init__(self, vfs: PowerCutVFS, name: Any, flags: list[int]) -> None:
        self.vfs = vfs
        filename = name.filename() if isinstance(name, apsw.URIFilename) else name
        # Temporary files (no name) never need to survive: not tracked.
        self.state = vfs.state_for(filename) if filename else None
        self.kind = "db" if filename and filename.endswith(".db") else ("wal" if filename and filename.endswith("-wal") else "other")
        super().__init__("", name, flags)

    def xWrite(self, data: bytes, offset: int) -> None:
        self.vfs.tick(f"{self.kind}-write")
        super().xWrite(data, offset)
        if self.state is not None:
            self.state.pending.append((offset, bytes(data)))

    def xTruncate(self, newsize: int) -> None:
        self.vfs.tick(f"{self.kind}-truncate")
        super().xTruncate(newsize)
        if self.state is not None:
            self.state.pending.append((newsize, None))

    def xSync(self, flags: int) -> None:
        self.vfs.tick(f"{self.kind}-sync")
        super().xSync(flags)
        if self.state is not None:
            self.state.sync()
            self.vfs.syncs[self.kind] = self.vfs.syncs.get(self.kind, 0) + 1


# -- Heima's own code on apsw -------------------------------------------------------------------------


class Cursor:
    """What sqlite3.Cursor gives that Heima's store uses: rows fetched eagerly."""

    def __init__(self, rows: list[tuple], description: Sequence | None, rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.description = description
        self.rowcount = rowcount

    def fetchone(self) -> tuple | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def __iter__(self):
        return iter(self.fetchall())


class ApswConnection:
    """A sqlite3-like connection over apsw (autocommit, like isolation_level=None).

    `synchronous` rewrites `PRAGMA synchronous = ...` as it goes by: the control experiment runs
    Heima's code with NORMAL under the same VFS. Every statement is logged in `pragmas` when it is
    a PRAGMA, so a test can show which settings Heima's connect() really applied.
    """

    def __init__(self, path: str, *, vfs: str, synchronous: str | None = None) -> None:
        self._conn = apsw.Connection(path, vfs=vfs)
        self._synchronous = synchronous
        self.pragmas: list[str] = []

    @property
    def in_transaction(self) -> bool:
        return not self._conn.get_autocommit()

    def _rewrite(self, sql: str) -> str:
        head = " ".join(sql.split()).lower()
        if head.startswith("pragma"):
            if self._synchronous and head.startswith("pragma synchronous"):
                sql = f"PRAGMA synchronous = {self._synchronous}"
            self.pragmas.append(" ".join(sql.split()))
        return sql

    def execute(self, sql: str, parameters: Sequence | dict | None = None) -> Cursor:
        sql = self._rewrite(sql)
        cursor = self._conn.cursor()
        cursor.execute(sql, parameters if parameters is not None else ())
        try:
            description = cursor.get_description()
        except apsw.ExecutionCompleteError:
            description = None
        rows = [tuple(r) for r in cursor] if description else []
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        rowcount = self._conn.changes() if verb in ("INSERT", "UPDATE", "DELETE", "REPLACE") else -1
        return Cursor(rows, description, rowcount)

    def executemany(self, sql: str, seq: Iterable[Sequence]) -> Cursor:
        total = 0
        for params in seq:
            total += max(0, self.execute(sql, params).rowcount)
        return Cursor([], None, total)

    def close(self) -> None:
        try:
            self._conn.close(True)
        except apsw.Error:  # closing after the power went: the checkpoint/WAL delete fails, as it would
            pass


def check_image(path: str) -> tuple[str, set[str], dict[tuple[str, str], str]]:
    """Open what is on disk with stock SQLite (apsw's, default VFS, no checkpoint on close, so the
    image is left as it was): (integrity_check, ids of every measurement and outgoing resource,
    {(resource, destination): state})."""
    conn = apsw.Connection(path)
    try:
        conn.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)
        integrity = "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "measurements" not in tables:  # cut before the first migration committed
            return integrity, set(), {}
        ids = {r[0] for r in conn.execute("SELECT id FROM measurements")}
        if "outgoing" in tables:  # not before the schema that has it
            ids |= {r[0] for r in conn.execute("SELECT id FROM outgoing")}
        column = "resource_id" if "outgoing" in tables else "measurement_id"
        outbox = {(m, d): s for m, d, s in conn.execute(f"SELECT {column}, destination, state FROM outbox")}
        return integrity, ids, outbox
    finally:
        conn.close()


# --- Heima's own store code on the VFS --------------------------------------------------------

_OPEN: list[ApswConnection] = []


def close_everything() -> None:
    """Connections a cut left half-open (e.g. inside connect()) must not hold locks into the next boot."""
    while _OPEN:
        _OPEN.pop().close()


def heima_on_apsw(
    monkeypatch: Any, vfs: PowerCutVFS, synchronous: str, *, opened: Callable[[ApswConnection], None] | None = None
) -> None:
    """hub.store.schema.connect — Heima's pragmas and migrations, unchanged — opens apsw on the VFS.
    `synchronous` other than FULL overrides what connect() sets (the control); `opened` sees each
    connection as it is made."""
    from hub.store import schema

    def connect(path: str, **_: object) -> ApswConnection:
        conn = ApswConnection(path, vfs=vfs.vfs_name, synchronous=None if synchronous == "FULL" else synchronous)
        _OPEN.append(conn)
        if opened is not None:
            opened(conn)
        return conn

    monkeypatch.setattr(schema, "sqlite3", types.SimpleNamespace(connect=connect))
    # apsw's SQLite has no cipher: the store is plaintext here. Durability is SQLite's WAL and
    # fsyncs, the same with SQLCipher's pages (docs/data-safety.md says so).
    monkeypatch.setattr(schema, "CIPHER", False)


def discard_database(path: Path) -> None:
    """A corrupt image is started afresh, as a hub would after restoring nothing."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def power_on(
    path: Path, vfs: PowerCutVFS, work: Callable[[Any], Awaitable[None]], *, cut_errors: tuple[type[BaseException], ...] = (apsw.Error,)
) -> None:
    """One power-on: `work` on Heima's Store over the VFS. An error the cut raised ends the boot
    quietly (opening included); any other error, or one before the cut, is the test's failure."""
    from hub.store import Store

    store = None
    try:
        store = await Store.open(path)
        await work(store)
    except cut_errors:
        if not vfs.cut:
            raise
    finally:
        if store is not None:
            try:
                await store.close()
            except apsw.Error:  # closing after the power went
                pass
