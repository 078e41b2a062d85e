"""One write transaction, and what its failure says.

SQLite rolls a transaction back by itself when the disk is full (and on some I/O errors); a
ROLLBACK after that fails with "cannot rollback - no transaction is active" and used to hide the
real reason. Here the rollback happens only when a transaction is still open, and SQLite's
error becomes StoreFull / StoreDamaged when it is one of those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hub.store.errors import SqliteError, store_error

log = logging.getLogger(__name__)
T = TypeVar("T")


def write_transaction(conn: Any, fn: Callable[[Any], T], path: Path | str) -> T:
    """Run `fn(conn)` between BEGIN IMMEDIATE and COMMIT; nothing of it stays if it fails."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
    except SqliteError as exc:
        clear = store_error(exc, path)
        if clear is not None:
            raise clear from exc
        raise
    return result


def rollback(conn: Any) -> None:
    """Undo the open transaction, if SQLite has not already; never mask the error that led here."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except SqliteError as exc:
        log.warning("rollback after a failed write failed too (%s)", type(exc).__name__)
