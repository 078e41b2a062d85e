"""The hub's durable memory: measurements and their outbox, behind one writer thread.

Every database call runs on one dedicated thread, so a slow fsync never stalls the asyncio loop
(and with it the UI and the Bluetooth link). Measurements that arrive while a commit is in
flight are written together in the next transaction: a group commit, each reading acknowledged
only after the COMMIT that holds it has returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from hub.domain.clock import place_after_trust
from hub.domain.measurements import Measurement, MonotonicAnchor
from hub.domain.readings import DeviceIdentity, MeasurementKind
from hub.store.rows import MEASUREMENT_COLUMNS, measurement_from_row, measurement_to_row
from hub.store.schema import connect

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the store did with one measurement."""

    measurement_id: str  # the stored measurement's id (the earlier one for a duplicate)
    created: bool  # False: the natural key was already there; nothing new was written


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """Where one measurement stands at one destination."""

    destination: str
    state: str  # pending | delivered | dead
    attempts: int
    last_error: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Store:
    """Open with `await Store.open(path)`; close with `await store.close()`."""

    def __init__(self, path: Path | str, *, group_commit: bool = True) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self.group_commit = group_commit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heima-store")
        self._db: sqlite_utils.Database | None = None
        self._pending: list[tuple[Measurement, tuple[str, ...], asyncio.Future[Recorded]]] = []
        self._flushing = False

    @classmethod
    async def open(cls, path: Path | str, *, group_commit: bool = True) -> Store:
        store = cls(path, group_commit=group_commit)
        store._db = await store._run(connect, path)
        return store

    async def close(self) -> None:
        while self._flushing or self._pending:
            await asyncio.sleep(0.005)
        if self._db is not None:
            db, self._db = self._db, None
            await self._run(db.conn.close)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def db(self) -> sqlite_utils.Database:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    # --- writing measurements ------------------------------------------------------------

    async def record(self, measurement: Measurement, destinations: Iterable[str]) -> Recorded:
        """Write the measurement and one outbox row per destination in one transaction.

        Returns after the COMMIT is durable. A measurement whose natural key is already stored
        writes nothing and returns the earlier measurement's id with `created=False`.
        """
        destinations = tuple(destinations)
        if not self.group_commit:
            return (await self._run(self._write_batch, [(measurement, destinations)]))[0]
        future: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._pending.append((measurement, destinations, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._run(self._write_batch, [(m, d) for m, d, _ in batch])
                except Exception as exc:  # nothing in this batch was committed
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flushing = False

    def _write_batch(self, batch: Sequence[tuple[Measurement, tuple[str, ...]]]) -> list[Recorded]:
        conn = self.db.conn
        results: list[Recorded] = []
        columns = [c.strip() for c in MEASUREMENT_COLUMNS.split(",")]
        insert = (
            f"INSERT INTO measurements ({MEASUREMENT_COLUMNS}) VALUES ({', '.join('?' * len(columns))}) "
            "ON CONFLICT DO NOTHING"
        )
        conn.execute("BEGIN IMMEDIATE")
        try:
            for measurement, destinations in batch:
                row = measurement_to_row(measurement)
                cursor = conn.execute(insert, [row[c] for c in columns])
                if cursor.rowcount == 1:
                    now = _now()
                    conn.executemany(
                        "INSERT INTO outbox (measurement_id, destination, next_attempt_at) VALUES (?, ?, ?)",
                        [(row["id"], name, now) for name in destinations],
                    )
                    results.append(Recorded(row["id"], created=True))
                else:
                    existing = conn.execute(
                        "SELECT id FROM measurements WHERE natural_key = ? OR id = ?",
                        (row["natural_key"], row["id"]),
                    ).fetchone()
                    results.append(Recorded(existing[0], created=False))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return results

    # --- reading measurements ------------------------------------------------------------

    async def measurements(self, *, kind: str | None = None, limit: int = 1000) -> list[Measurement]:
        """The newest measurements first."""

        def query() -> list[Measurement]:
            where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
            rows = self.db.execute(
                f"SELECT {MEASUREMENT_COLUMNS} FROM measurements {where} "
                "ORDER BY effective_time DESC, rowid DESC LIMIT ?",
                [*params, limit],
            ).fetchall()
            return [measurement_from_row(r) for r in rows]

        return await self._run(query)

    async def last_sequence(self, device: DeviceIdentity, kind: MeasurementKind) -> int | None:
        """hub.domain.devices.DeviceHistory: the highest stored record number of this device."""

        def query() -> int | None:
            column = "device_serial" if device.serial else "device_address"
            row = self.db.execute(
                f"SELECT max(CAST(record_id AS INTEGER)) FROM measurements WHERE {column} = ? AND kind = ? "
                "AND record_id GLOB '[0-9]*'",
                [device.stable_id, kind.value],
            ).fetchone()
            return row[0] if row and row[0] is not None else None

        return await self._run(query)

    async def place_held_times(self, *, now: datetime, now_anchor: MonotonicAnchor) -> int:
        """The hub clock is trusted now: place every reading held for it, release it to the outbox."""

        def write() -> int:
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute(f"SELECT {MEASUREMENT_COLUMNS} FROM measurements WHERE time_pending = 1").fetchall()
                for row in rows:
                    held = measurement_from_row(row)
                    anchor = held.received_anchor or MonotonicAnchor("unknown", 0.0)
                    placed = place_after_trust(held, anchor, now=now, now_anchor=now_anchor)
                    new = measurement_to_row(placed)
                    conn.execute(
                        "UPDATE measurements SET received_at = ?, effective_time = ?, flags = ?, time_pending = 0 WHERE id = ?",
                        [new["received_at"], new["effective_time"], new["flags"], new["id"]],
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return len(rows)

        return await self._run(write)

    async def delivery_states(self, measurement_id: str) -> list[DeliveryState]:
        def query() -> list[DeliveryState]:
            rows = self.db.execute(
                "SELECT destination, state, attempts, last_error FROM outbox WHERE measurement_id = ? ORDER BY destination",
                [measurement_id],
            ).fetchall()
            return [DeliveryState(*r) for r in rows]

        return await self._run(query)

    async def outbox_counts(self) -> dict[str, dict[str, int]]:
        """{destination: {state: count}} — what the patient's "sent ✓ / waiting" comes from."""

        def query() -> dict[str, dict[str, int]]:
            counts: dict[str, dict[str, int]] = {}
            for dest, state, n in self.db.execute(
                "SELECT destination, state, count(*) FROM outbox GROUP BY destination, state"
            ):
                counts.setdefault(dest, {})[state] = n
            return counts

        return await self._run(query)

    # --- the outbox, as the delivery worker sees it (sync.outbox.OutboxQueue) -------------

    async def due(self, destination: str, *, limit: int, now: datetime) -> list[Measurement]:
        def query() -> list[Measurement]:
            cols = ", ".join(f"m.{c.strip()}" for c in MEASUREMENT_COLUMNS.split(","))
            rows = self.db.execute(
                f"SELECT {cols} FROM outbox o JOIN measurements m ON m.id = o.measurement_id "
                "WHERE o.destination = ? AND o.state = 'pending' AND o.next_attempt_at <= ? AND m.time_pending = 0 "
                "ORDER BY o.id LIMIT ?",
                [destination, now.astimezone(UTC).isoformat(), limit],
            ).fetchall()
            return [measurement_from_row(r) for r in rows]

        return await self._run(query)

    async def next_attempt_at(self, destination: str) -> datetime | None:
        def query() -> datetime | None:
            row = self.db.execute(
                "SELECT min(next_attempt_at) FROM outbox WHERE destination = ? AND state = 'pending'",
                [destination],
            ).fetchone()
            return datetime.fromisoformat(row[0]) if row and row[0] else None

        return await self._run(query)

    async def mark_delivered(self, destination: str, measurement_ids: Sequence[str]) -> None:
        await self._update_outbox(
            "UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1, last_error = NULL "
            "WHERE destination = ? AND measurement_id = ? AND state = 'pending'",
            [(_now(), destination, mid) for mid in measurement_ids],
        )

    async def schedule_retry(
        self, destination: str, measurement_ids: Sequence[str], *, not_before: datetime, reason: str
    ) -> None:
        await self._update_outbox(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
            "WHERE destination = ? AND measurement_id = ? AND state = 'pending'",
            [(not_before.astimezone(UTC).isoformat(), reason[:MAX_ERROR_LENGTH], destination, mid) for mid in measurement_ids],
        )

    async def dead_letter(self, destination: str, measurement_id: str, *, reason: str) -> None:
        await self._update_outbox(
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? "
            "WHERE destination = ? AND measurement_id = ? AND state = 'pending'",
            [(reason[:MAX_ERROR_LENGTH], destination, measurement_id)],
        )

    async def _update_outbox(self, sql: str, params: list[tuple]) -> None:
        def write() -> None:
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._run(write)
