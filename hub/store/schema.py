"""The database file: connection settings and schema migrations by `PRAGMA user_version`.

WAL with `synchronous=FULL` is the one setting that survived simulated power cuts with zero
acknowledged commits lost (shared/reference/platform.md); do not relax it for speed — group
commits buy the speed back.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

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


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The database cannot be used as it is; the message says what to do."""


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open (or create) the hub database with its durability settings, migrated to the newest schema."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(path) != ":memory:" and mode.lower() != "wal":
        raise StoreError(f"could not switch the database to WAL mode (got {mode}); is the folder on a normal disk?")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    db = sqlite_utils.Database(conn)
    migrate(db)
    return db


def migrate(db: sqlite_utils.Database) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {version}, newer than this Heima ({SCHEMA_VERSION}); "
            "install the newer Heima again rather than downgrading"
        )
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        log.info("database migrated to schema version %d", number)
