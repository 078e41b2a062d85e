"""The store's open database: its connection and `execute` — all the store and its queries use of
sqlite_utils.Database, without importing sqlite_utils at run time.

sqlite_utils brings click, pluggy, python-dateutil, tabulate, the stdlib's own sqlite3 and a scan
of every installed package's entry points for its plugins: ~3 MB of the touch app's memory
(docs/performance.md, part M1). It stays the migrations' tool (hub.store.schema.migrate), loaded
when a migration is due. The store's connections are opened with `isolation_level=None`, so
sqlite_utils' `execute` (commit a statement that opened an implicit transaction) had nothing to do:
this one runs the statement as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class Database:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        """A cursor over `sql`'s rows, as `sqlite3.Connection.execute`."""
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)

    def close(self) -> None:
        self.conn.close()
