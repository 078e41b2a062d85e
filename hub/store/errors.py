"""What can go wrong with the database, said so that the reader knows what to do.

Messages name the folder and the problem, never a stored value.
"""

from __future__ import annotations

from pathlib import Path

# The store's SQLite is SQLCipher's (hub/store/schema.py); its Error by its own name: the power-cut
# proof swaps hub.store.schema's `sqlite3` for apsw.
from sqlcipher3.dbapi2 import Error as SqliteError

__all__ = ["SqliteError", "StoreDamaged", "StoreError", "StoreFull", "damaged", "store_error"]


class StoreError(RuntimeError):
    """The database cannot be used as it is; the message says what to do."""


class StoreDamaged(StoreError):
    """The database file (or its WAL) is damaged or is not a Heima database: refused, left as it is."""


class StoreFull(StoreError):
    """The disk (or the database's size limit) is full: nothing more can be written until space is freed."""


# SQLite's primary result codes (the low byte of the extended code Python reports).
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 11, 13, 26


def store_error(exc: SqliteError, path: Path | str) -> StoreError | None:
    """The clear error for what SQLite said, when there is one (disk full, damage); else None."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    folder = Path(path).parent if str(path) != ":memory:" else path
    if code == _SQLITE_FULL:
        return StoreFull(
            f"disk full: nothing more can be stored in {folder} until space is freed; "
            "everything stored before is kept and was not changed"
        )
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return damaged(path, "SQLite cannot read it")
    return None


def damaged(path: Path | str, what: str) -> StoreDamaged:
    return StoreDamaged(
        f"the database {path} is damaged ({what}); Heima will not use it or replace it, and has left it "
        "as it is: stop the hub, keep a copy of the whole data folder (and of the key folder beside it: "
        "the database is encrypted) and ask your technician to restore it"
    )
