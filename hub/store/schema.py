"""The database file: connection settings and schema migrations by `PRAGMA user_version`.

WAL with `synchronous=FULL` is the one setting that survived simulated power cuts with zero
acknowledged commits lost (shared/reference/platform.md); do not relax it for speed — group
commits buy the speed back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

# SQLCipher (statically bundled SQLite with AES-256 pages), the stdlib sqlite3's API: the store is
# encrypted at rest. Named `sqlite3` so that the power-cut proof can swap it for apsw
# (tests/reliability/powercut.py), which sets CIPHER to False: durability is SQLite's, not the cipher's.
from sqlcipher3 import dbapi2 as sqlite3

from hub.store.database import Database
from hub.store.errors import SqliteError, StoreDamaged, StoreError, StoreFull, damaged, store_error
from hub.store.files import header_kind, refuse_damaged_files
from hub.store.keys import StoreKey, StoreKeyError, create_key, key_path, missing, read_key, wrong
from hub.store.transactions import write_transaction

if TYPE_CHECKING:  # imported when a migration is due (migrate): the run path does without it
    import sqlite_utils

__all__ = [
    "SCHEMA_VERSION", "StoreDamaged", "StoreError", "StoreFull", "StoreKeyError", "connect", "migrate", "open_connection",
]  # fmt: skip

# The store is opened encrypted. False only where the SQLite library swapped in has no cipher.
CIPHER = True
CIPHER_PAGE = 4096  # SQLCipher 4's page size: an encrypted file is whole pages

log = logging.getLogger(__name__)


def _v1(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE measurements (
            id TEXT PRIMARY KEY,              -- UUID fixed at capture; Observation.identifier
            kind TEXT NOT NULL,
            value REAL,                       -- NULL exactly when absent_reason is set
            unit TEXT NOT NULL,
            absent_reason TEXT,
            flags TEXT NOT NULL DEFAULT '[]', -- JSON list of QualityFlag values
            provenance TEXT NOT NULL,
            device_address TEXT,
            device_name TEXT,
            device_manufacturer TEXT,
            device_model TEXT,
            device_serial TEXT,
            device_firmware TEXT,
            device_system_id TEXT,
            device_time TEXT,                 -- the device's own clock, as it sent it
            record_id TEXT,
            received_at TEXT NOT NULL,        -- hub clock at reception (UTC)
            effective_time TEXT NOT NULL,     -- corrected onto the hub's timeline
            natural_key TEXT UNIQUE,          -- a device re-sending its memory hits this
            components TEXT NOT NULL DEFAULT '[]',  -- a panel's values (blood pressure), JSON
            body_site TEXT,
            context TEXT NOT NULL DEFAULT '[]',     -- JSON [[name, value], ...] (glucose meal, ...)
            device_user INTEGER,                    -- user number on a shared scale or cuff
            device_clock_offset_s REAL,             -- hub clock − device clock, this session
            received_boot_id TEXT,                  -- with received_boottime: where to place a
            received_boottime REAL,                 --   reading taken while the hub clock was untrusted
            time_pending INTEGER NOT NULL DEFAULT 0,  -- 1: held back until the hub clock is trusted
            -- a number or a reason, never both; a panel has neither and carries components
            CHECK ((value IS NULL) <> (absent_reason IS NULL)
                   OR (value IS NULL AND absent_reason IS NULL AND components <> '[]'))
        )
        """
    )
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            measurement_id TEXT NOT NULL REFERENCES measurements(id),
            destination TEXT NOT NULL,
            -- withdrawn: queued, then the patient withdrew consent for this destination; never sent
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead', 'withdrawn')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            delivered_at TEXT,
            UNIQUE (measurement_id, destination)
        )
        """
    )
    db.execute("CREATE INDEX outbox_due ON outbox (destination, state, next_attempt_at, id)")
    db.execute("CREATE INDEX measurements_effective ON measurements (kind, effective_time)")
    # The patient's consent per destination, as a log: the newest row for a destination is in force.
    # `source`: config (the state the configuration gave when the hub first saw the destination)
    # or patient (the patient's own choice on the hub).
    db.execute(
        """
        CREATE TABLE consent_events (
            id INTEGER PRIMARY KEY,
            destination TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('given', 'withdrawn')),
            source TEXT NOT NULL CHECK (source IN ('config', 'patient')),
            at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX consent_current ON consent_events (destination, id)")
    # Destinations without conditional create (nhn-pmd) keep their own ledger: the batches sent
    # (written before the request, so a re-send after a lost answer is the same batch with the same
    # Bundle.identifier) and every entry the destination acknowledged (never sent again).
    db.execute(
        """
        CREATE TABLE sent_batches (
            destination TEXT NOT NULL,
            bundle_identifier TEXT NOT NULL,
            measurement_ids TEXT NOT NULL,   -- JSON list, in the order sent
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'answered', 'superseded')),
            sends INTEGER NOT NULL DEFAULT 0,
            first_sent_at TEXT NOT NULL,
            answered_at TEXT,
            PRIMARY KEY (destination, bundle_identifier)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE ack_ledger (
            destination TEXT NOT NULL,
            measurement_id TEXT NOT NULL,
            bundle_identifier TEXT NOT NULL,
            status INTEGER NOT NULL,          -- the entry's HTTP status in the batch-response
            location TEXT,                    -- where the destination keeps it, when it said
            acknowledged_at TEXT NOT NULL,
            PRIMARY KEY (destination, measurement_id)
        )
        """
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Continuous oximetry: a chunk's samples beside its measurement, 2 bytes a sample."""
    db.execute("ALTER TABLE measurements ADD COLUMN duration_s REAL")  # a summary's period
    db.execute(
        """
        CREATE TABLE samples (
            measurement_id TEXT PRIMARY KEY REFERENCES measurements(id),
            start TEXT NOT NULL,              -- slot 0 (UTC); the measurement's received_at too
            period_s REAL NOT NULL CHECK (period_s > 0),
            count INTEGER NOT NULL CHECK (count > 0),
            data BLOB NOT NULL                -- uint16 little-endian tenths, 0xFFFF = empty slot
        )
        """
    )


def _v3(db: sqlite_utils.Database) -> None:
    """An outbox of outgoing resources of any kind, not of measurements alone.

    `outgoing`: one row per thing to send, named by the identifier fixed at capture (a
    measurement's own UUID); a measurement is referenced, other kinds carry their payload. The
    outbox's rows point at it. An existing hub's queue is kept row for row (same ids, states,
    attempts, times); every measurement becomes an outgoing resource."""
    db.execute(
        """
        CREATE TABLE outgoing (
            id TEXT PRIMARY KEY,              -- fixed at capture: the identifier every destination sees
            kind TEXT NOT NULL,               -- hub.domain.outgoing.OutgoingKind
            measurement_id TEXT UNIQUE REFERENCES measurements(id),  -- kind 'measurement': its row
            payload TEXT,                     -- every other kind: the domain payload, JSON
            created_at TEXT NOT NULL,
            CHECK ((measurement_id IS NULL) <> (payload IS NULL)),
            CHECK (measurement_id IS NULL OR measurement_id = id)
        )
        """
    )
    db.execute(
        "INSERT INTO outgoing (id, kind, measurement_id, created_at) "
        "SELECT id, 'measurement', id, received_at FROM measurements"
    )
    db.execute(
        """
        CREATE TABLE outbox_v3 (
            id INTEGER PRIMARY KEY,
            resource_id TEXT NOT NULL REFERENCES outgoing(id),
            destination TEXT NOT NULL,
            -- withdrawn: queued, then the patient withdrew consent for this destination; never sent
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead', 'withdrawn')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            delivered_at TEXT,
            UNIQUE (resource_id, destination)
        )
        """
    )
    db.execute(
        "INSERT INTO outbox_v3 (id, resource_id, destination, state, attempts, next_attempt_at, last_error, delivered_at) "
        "SELECT id, measurement_id, destination, state, attempts, next_attempt_at, last_error, delivered_at FROM outbox"
    )
    db.execute("DROP TABLE outbox")
    db.execute("ALTER TABLE outbox_v3 RENAME TO outbox")
    db.execute("CREATE INDEX outbox_due ON outbox (destination, state, next_attempt_at, id)")
    # The ledger of a destination without conditional create names resources, whatever their kind.
    db.execute("ALTER TABLE ack_ledger RENAME COLUMN measurement_id TO resource_id")
    db.execute("ALTER TABLE sent_batches RENAME COLUMN measurement_ids TO resource_ids")


def _v4(db: sqlite_utils.Database) -> None:
    """A measurement's evaluation against the plan, decided when it was recorded, beside it."""
    db.execute(
        """
        CREATE TABLE evaluations (
            measurement_id TEXT PRIMARY KEY REFERENCES measurements(id),
            level TEXT NOT NULL,              -- ObservationInterpretation code of the zone
            display TEXT,
            ranges TEXT NOT NULL DEFAULT '[]',  -- JSON [[level, low, high, text], ...]: every zone
            advice TEXT                       -- what the patient was told to do
        )
        """
    )


def _v5(db: sqlite_utils.Database) -> None:
    """Questionnaires: the forms the hub can offer (cached, usable offline) and the patient's
    answers to them, saved on every answer so a half-answered form survives a power cut."""
    db.execute(
        """
        CREATE TABLE questionnaires (
            url TEXT NOT NULL,                -- canonical url
            version TEXT NOT NULL,            -- a response names url|version: each version is kept
            source TEXT NOT NULL,             -- where it came from: a centre (destination name) or 'folder'
            resource TEXT NOT NULL,           -- the Questionnaire JSON, as the engine accepted it
            title TEXT,
            imported_at TEXT NOT NULL,
            offered INTEGER NOT NULL DEFAULT 1,  -- 1: assigned to the patient now; 0: kept for a form begun on it
            PRIMARY KEY (url, version)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE form_responses (
            id TEXT PRIMARY KEY,              -- the form being answered (not the response's identifier)
            url TEXT NOT NULL,
            version TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'in-progress' CHECK (state IN ('in-progress', 'submitted', 'discarded')),
            response TEXT NOT NULL,           -- QuestionnaireResponse JSON: every answer given, those kept aside too
            step TEXT,                        -- JSON: the path of the item on screen; null: the review
            answered_by TEXT,                 -- null: the patient
            started_at TEXT NOT NULL,
            saved_at TEXT NOT NULL,
            submission_id TEXT REFERENCES outgoing(id),  -- once submitted: the QuestionnaireResponse sent
            FOREIGN KEY (url, version) REFERENCES questionnaires(url, version)
        )
        """
    )
    # One form of a kind answered at a time: starting it again resumes it.
    db.execute("CREATE UNIQUE INDEX form_in_progress ON form_responses (url) WHERE state = 'in-progress'")


def _v6(db: sqlite_utils.Database) -> None:
    """The patient's self-care plan: the whole evaluation as decided, the plans with their
    versions, and where the plan's clockwork stands (missed tasks closed, reminders given)."""
    # NULL: a row written before the care plan (its four columns above are all there is).
    db.execute("ALTER TABLE evaluations ADD COLUMN decided TEXT")
    db.execute(
        """
        CREATE TABLE careplans (
            seq INTEGER PRIMARY KEY,          -- the order plans were applied in
            plan_id TEXT NOT NULL,            -- CarePlan.id
            version TEXT NOT NULL,            -- CarePlan.meta.versionId ('' when it had none)
            source TEXT NOT NULL,             -- where it came from: a FHIR server's name, a folder
            document TEXT NOT NULL,           -- the CarePlan JSON as received (checked before stored)
            in_force_from TEXT NOT NULL,      -- UTC: values measured from then on are judged by it
            received_at TEXT NOT NULL,
            UNIQUE (plan_id, version)
        )
        """
    )
    db.execute("CREATE INDEX careplans_in_force ON careplans (in_force_from, seq)")
    db.execute("CREATE TABLE careplan_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


def _v7(db: sqlite_utils.Database) -> None:
    """Every query the screens and the delivery worker ask is an index lookup, however long the
    backlog (tests/unit/hub/test_store_query_plans.py checks each with EXPLAIN QUERY PLAN).

    - `outbox_pending`: the rows still to send, per destination in queue order, with their next
      try beside them: `due()` reads the oldest due rows in order, never sorting the backlog
      (it sorted every pending row for every batch: quadratic in the backlog). Partial: what was
      delivered drops out of it.
    - `outbox_dead`: what was set aside, in order (the patient's "could not be sent").
    - `measurements_listed`: the values the screens list, newest first (a continuous
      recording's chunks are listed only by kind, through `measurements_effective`).
    - `outbox_tally`: rows per destination and state, kept by triggers in the same transaction
      as every change to the outbox: the patient's "sent / waiting" without counting the outbox.

    Only indexes, a derived table and its triggers: nothing stored is changed, and running it
    again changes nothing."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (destination, id, next_attempt_at) WHERE state = 'pending'"
    )
    db.execute("CREATE INDEX IF NOT EXISTS outbox_dead ON outbox (id) WHERE state = 'dead'")
    db.execute(
        "CREATE INDEX IF NOT EXISTS measurements_listed ON measurements (effective_time) "
        "WHERE kind NOT IN ('oxygen-saturation-series', 'pulse-rate-series')"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS outbox_tally (destination TEXT NOT NULL, state TEXT NOT NULL, "
        "n INTEGER NOT NULL, PRIMARY KEY (destination, state)) WITHOUT ROWID"
    )
    db.execute("DELETE FROM outbox_tally")
    db.execute("INSERT INTO outbox_tally (destination, state, n) SELECT destination, state, count(*) FROM outbox GROUP BY 1, 2")
    db.execute(
        """
        CREATE TRIGGER IF NOT EXISTS outbox_tally_insert AFTER INSERT ON outbox BEGIN
            INSERT INTO outbox_tally (destination, state, n) VALUES (NEW.destination, NEW.state, 1)
                ON CONFLICT (destination, state) DO UPDATE SET n = n + 1;
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER IF NOT EXISTS outbox_tally_delete AFTER DELETE ON outbox BEGIN
            UPDATE outbox_tally SET n = n - 1 WHERE destination = OLD.destination AND state = OLD.state;
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER IF NOT EXISTS outbox_tally_update AFTER UPDATE OF state, destination ON outbox
        WHEN OLD.state IS NOT NEW.state OR OLD.destination IS NOT NEW.destination BEGIN
            UPDATE outbox_tally SET n = n - 1 WHERE destination = OLD.destination AND state = OLD.state;
            INSERT INTO outbox_tally (destination, state, n) VALUES (NEW.destination, NEW.state, 1)
                ON CONFLICT (destination, state) DO UPDATE SET n = n + 1;
        END
        """
    )


def _v8(db: sqlite_utils.Database) -> None:
    """Marking a batch delivered keeps `outbox_tally` itself, once per statement
    (Store.mark_delivered: the rows it moved, counted by their old state), instead of a trigger
    run for every row of the batch (issue 13). Every other change of state — set aside, withdrawn,
    requeued, inserted, deleted — is still counted by the triggers; only mark_delivered moves a
    row to 'delivered', in the same transaction as its count."""
    db.execute("DROP TRIGGER IF EXISTS outbox_tally_update")
    db.execute(
        """
        CREATE TRIGGER outbox_tally_update AFTER UPDATE OF state, destination ON outbox
        WHEN (OLD.state IS NOT NEW.state OR OLD.destination IS NOT NEW.destination) AND NEW.state IS NOT 'delivered' BEGIN
            UPDATE outbox_tally SET n = n - 1 WHERE destination = OLD.destination AND state = OLD.state;
            INSERT INTO outbox_tally (destination, state, n) VALUES (NEW.destination, NEW.state, 1)
                ON CONFLICT (destination, state) DO UPDATE SET n = n + 1;
        END
        """
    )


def _v9(db: sqlite_utils.Database) -> None:
    """An outbox row of a measurement says where its measurement's row is (`measurement_rowid`),
    so that due() finds it by its rowid rather than by its UUID in a text index (issue 13, part
    D3: a random page of that index per row, the part of reading a batch that grew with the
    backlog). Only a hint: the measurements' rowid is implicit (their key is the TEXT id), and
    VACUUM or the export that encrypts a plaintext store may renumber it, so every use checks
    the id too and finds a row whose hint is stale by its UUID, as before. Adds a column and fills
    it; nothing stored is changed."""
    db.execute("ALTER TABLE outbox ADD COLUMN measurement_rowid INTEGER")
    db.execute("UPDATE outbox SET measurement_rowid = (SELECT rowid FROM measurements WHERE id = outbox.resource_id)")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path | str, *, check_files: bool = True) -> Database:
    """Open (or create) the hub database with its durability settings, migrated to the newest schema.

    A file that is there but damaged, or is not a Heima database, is refused with StoreDamaged and
    never replaced: an empty database in its place would hide every measurement it held. Its key
    missing or not its own: StoreKeyError, the files left as they are. A plaintext database (made
    before the store was encrypted) is encrypted in place first, every row kept. The database,
    its -wal/-shm and its key are readable by the hub's user only. `check_files=False`: another
    process owns the folder and is writing its WAL now (it checked the files when it started).
    """
    key: StoreKey | None = None
    if str(path) != ":memory:":
        path = Path(path)
        if check_files:  # before any key is made: a new key must never stand beside data of the old one
            refuse_damaged_files(path, encrypted=CIPHER)
        key = store_key(path, create=check_files) if CIPHER else None
        if check_files and key is not None:
            encrypt_plaintext(path, key)
        _create_private(path)
    conn = _open(path, key)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        _check_integrity(conn, path)  # before anything is written to it
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(path) != ":memory:" and mode.lower() != "wal":
            raise StoreError(f"could not switch the database to WAL mode (got {mode}); is the folder on a normal disk?")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA recursive_triggers = ON")  # as sqlite_utils.Database set it on every connection
        db = Database(conn)
        migrate(db)
    except BaseException as exc:
        conn.close()
        clear = store_error(exc, path) if isinstance(exc, SqliteError) else None
        if clear is not None:
            raise clear from None
        raise
    if str(path) != ":memory:":
        _make_private(path)  # files made before this Heima kept their old mode
    return db


def open_connection(path: Path | str, *, timeout: float = 5.0) -> Any:
    """A plain connection to an existing store, its key set: for tools and tests that read
    heima.db directly (no checks, no migration, nothing written). Every direct open of heima.db
    goes through here or connect(). A missing key raises StoreKeyError."""
    path = Path(path)
    key = store_key(path, create=False) if CIPHER else None
    conn = _open(path, key)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return conn


def store_key(path: Path, *, create: bool) -> StoreKey | None:
    """The key of the database at `path`, checked against the file: created (`create`) when there
    is none and the database is plaintext, and for every new database — a key left from a store
    deleted by hand is not reused, so that store's old blocks stay unreadable; StoreKeyError when
    the file is encrypted and its key is missing, or the key's salt is not the file's."""
    where = key_path(path)
    key = read_key(where)
    kind = header_kind(path)
    if kind == "new" and create and not _has_log(path):
        return create_key(where)
    if key is None:
        if kind == "encrypted":
            raise missing(path, where)
        if not create:
            return None  # plaintext, or nothing yet: opened as it is
        return create_key(where)
    if kind == "encrypted":
        with path.open("rb") as f:
            head = f.read(len(key.salt))
        if path.stat().st_size < CIPHER_PAGE:
            raise damaged(path, "it is shorter than one encrypted page")
        if head != key.salt:
            # The key still opens the pages (its salt is given with it): the header is damaged.
            raise damaged(path, "its first bytes are garbled") if _decrypts(path, key) else wrong(path, where)
    return key


def _has_log(path: Path) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except FileNotFoundError:
        return False


def _decrypts(path: Path, key: StoreKey) -> bool:
    """Whether `key` reads the first page; read-only and lock-free (`immutable`): nothing is written."""
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?immutable=1", uri=True)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(key.pragma())
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except SqliteError:
        return False
    finally:
        conn.close()


def _open(path: Path | str, key: StoreKey | None) -> Any:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    if key is not None:
        try:
            conn.execute("PRAGMA cipher_log_level = NONE")  # our errors say it, in one line
            conn.execute(key.pragma())  # before anything reads the file
            if not conn.execute("PRAGMA cipher_version").fetchall():
                raise StoreError("this Heima's SQLite library cannot encrypt; reinstall Heima (the sqlcipher3 package)")
        except BaseException:
            conn.close()
            raise
    return conn


def encrypt_plaintext(path: Path, key: StoreKey) -> None:
    """A plaintext database (a hub from before encryption) becomes an encrypted one, every row
    kept: checked, its WAL checkpointed into it, exported into `heima.db.encrypting` under the
    key, the row counts compared, fsynced, renamed over it. The plaintext's blocks are then
    overwritten with zeros before they are freed. A cut anywhere leaves the plaintext (done again
    on the next open) or the encrypted database (the leftover plaintext is cleared then)."""
    leftover = path.with_name(path.name + ".plaintext")
    if header_kind(path) != "plaintext":
        if leftover.exists() and header_kind(path) == "encrypted":
            _clear(leftover)  # cut after the rename, before the plaintext was cleared
        return
    target = path.with_name(path.name + ".encrypting")
    target.unlink(missing_ok=True)  # an earlier try cut short
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        _check_integrity(conn, path)  # a damaged plaintext is refused as it is, not copied
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")  # the WAL is folded in and removed
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        before = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        os.close(os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        conn.execute(key.attach(target, "encrypted"))
        conn.execute("SELECT sqlcipher_export('encrypted')")
        conn.execute(f"PRAGMA encrypted.user_version = {int(version)}")  # not copied by the export
        after = {t: conn.execute(f'SELECT count(*) FROM encrypted."{t}"').fetchone()[0] for t in tables}
        conn.execute("DETACH DATABASE encrypted")
    except SqliteError as exc:
        conn.close()
        target.unlink(missing_ok=True)
        raise store_error(exc, path) or StoreError(f"the database {path} could not be encrypted ({type(exc).__name__}); it is left as it was") from None
    except BaseException:
        conn.close()
        target.unlink(missing_ok=True)
        raise
    conn.close()
    if after != before:
        target.unlink(missing_ok=True)
        raise StoreError(f"encrypting the database {path} did not keep every row; it is left as it was (plaintext): ask for help")
    fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    leftover.unlink(missing_ok=True)
    os.link(path, leftover)  # the plaintext's blocks, kept reachable until they are zeroed
    os.replace(target, path)
    for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)  # the plaintext's, empty (its WAL was folded in)
    _fsync_dir(path.parent)
    _clear(leftover)
    log.info("database encrypted at rest (it was a plaintext database from an earlier Heima)")


def _clear(path: Path) -> None:
    """Zeros over a file, fsynced, then removed (an SD card may keep the old blocks elsewhere)."""
    size = path.stat().st_size
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        block = b"\0" * 65536
        done = 0
        while done < size:
            done += os.write(fd, block[: min(len(block), size - done)])
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does: SQLite gives the -wal and -shm it
    makes later the database file's own mode, whatever the process's umask."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _make_private(path: Path) -> None:
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):  # gone (no WAL yet), or another user's file
            if name.stat().st_mode & 0o777 != 0o600:
                name.chmod(0o600)


_CHECK_CACHE_KIB = 512  # the page cache of the integrity check at open


def _check_integrity(conn: Any, path: Path | str) -> None:
    """A damaged database found at start, not halfway through a patient's measurement. One
    read of every page (quick_check: the b-trees without the index-to-table cross-check; about
    0.05 s for 100 MB in the page cache); what was torn off a truncated file shows here. Runs
    before the first write, so a file that is not Heima's is left untouched. Through a small page
    cache, given back after: each page is read once, and the default cache (8 MB) would otherwise
    hold the pages it read — the hub's peak memory growing with the database (issue 13)."""
    size = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{_CHECK_CACHE_KIB}")
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
    finally:
        conn.execute(f"PRAGMA cache_size = {int(size)}")
        conn.execute("PRAGMA shrink_memory")
    if problems != ["ok"]:
        raise damaged(path, "its integrity check failed")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise damaged(path, "it holds tables but no Heima schema version; it is not a Heima database")


def migrate(db: Database | sqlite_utils.Database) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {version}, newer than this Heima ({SCHEMA_VERSION}); "
            "install the newer Heima again rather than downgrading"
        )
    if version == SCHEMA_VERSION:
        return
    import sqlite_utils  # the migrations' tool, only when one is due (hub/store/database.py)

    if not isinstance(db, sqlite_utils.Database):
        db = sqlite_utils.Database(db.conn)
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):

        def apply(conn: object, step: Callable[[sqlite_utils.Database], None] = step, number: int = number) -> None:
            step(db)
            db.execute(f"PRAGMA user_version = {number}")

        write_transaction(db.conn, apply, _path_of(db))
        log.info("database migrated to schema version %d", number)


def _path_of(db: Database | sqlite_utils.Database) -> str:
    """The database file's path, for messages (the main database's file in PRAGMA database_list)."""
    for _seq, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return file or ":memory:"
    return ":memory:"
