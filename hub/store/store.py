"""The hub's durable memory: measurements, the outgoing resources and their outbox, behind one
writer thread.

Every database call runs on one dedicated thread, so a slow fsync never stalls the asyncio loop
(and with it the UI and the Bluetooth link). Measurements that arrive while a commit is in
flight are written together in the next transaction: a group commit, each reading acknowledged
only after the COMMIT that holds it has returned.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate
from operator import itemgetter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from hub.domain.clock import place_after_trust
from hub.domain.measurements import Measurement, MonotonicAnchor
from hub.domain.outgoing import Outgoing, OutgoingKind
from hub.domain.readings import DeviceIdentity, MeasurementKind
from hub.store.rows import (
    EVALUATION_COLUMNS,
    EVALUATION_ROW,
    MEASUREMENT_COLUMNS,
    SAMPLE_COLUMNS,
    USUAL_COLUMNS,
    USUAL_JSON,
    USUAL_SHAPE,
    json_reals_exact,
    evaluation_to_row,
    measurement_from_row,
    measurement_to_row,
    outgoing_from_payload,
    outgoing_of_row,
    payload_to_json,
    samples_to_row,
    usual_outgoing_of_row,
)
from hub.store.lock import DataFolderLock
from hub.store.database import Database
from hub.store.schema import connect
from hub.store.transactions import write_transaction

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ERROR_LENGTH = 500
# Resources a measurement raised (a zone alert), each with its destinations: written in its transaction.
Extras = tuple[tuple[Outgoing, tuple[str, ...]], ...]
WITHDRAWN_REASON = "consent withdrawn by the patient; not sent"
# Chunks of a continuous recording: many a night, listed only when asked for by kind.
SERIES_KINDS = (MeasurementKind.OXYGEN_SATURATION_SERIES.value, MeasurementKind.PULSE_RATE_SERIES.value)
# The screens' list: written as the partial index measurements_listed (schema 7) is, word for
# word, so the planner reads that index newest first instead of sorting every measurement.
_LISTED = "m.kind NOT IN ('oxygen-saturation-series', 'pulse-rate-series')"
assert _LISTED == f"m.kind NOT IN ({', '.join(repr(k) for k in SERIES_KINDS)})"
_MEASUREMENT_SELECT = (
    ", ".join(f"m.{c.strip()}" for c in MEASUREMENT_COLUMNS.split(",")) + f", {SAMPLE_COLUMNS}, {EVALUATION_COLUMNS}"
)
# What _MEASUREMENT_SELECT needs beside `measurements m`: its samples and its evaluation.
_MEASUREMENT_JOINS = "LEFT JOIN samples s ON s.measurement_id = m.id LEFT JOIN evaluations e ON e.measurement_id = m.id"
# An outbox row with its outgoing resource and, for a measurement, the measurement (o, g, m).
_OUTBOX_JOIN = "outbox o JOIN outgoing g ON g.id = o.resource_id LEFT JOIN measurements m ON m.id = g.measurement_id"
# An outbox row's outgoing kind and payload, looked up only when it is no measurement (a join
# would look every row up in `outgoing` by its UUID: a random page per row in a long backlog).
_OUTGOING_UNLESS_MEASURED = (
    "CASE WHEN m.id IS NULL THEN (SELECT kind FROM outgoing WHERE id = o.resource_id) END, "
    "CASE WHEN m.id IS NULL THEN (SELECT payload FROM outgoing WHERE id = o.resource_id) END"
)
# due() finds a measurement by the rowid its outbox row holds (schema 9), its id checked: a hint
# gone stale (VACUUM, the encrypting export) or missing finds nothing, and such a row is then
# read as a resource of another kind is — in full, by its UUID — its hold looked up by its UUID.
_BY_ROWID = "m.rowid = o.measurement_rowid AND m.id = o.resource_id"
_HELD_UNLESS_FOUND = (
    "(m.rowid IS NOT NULL OR coalesce((SELECT time_pending FROM measurements WHERE id = o.resource_id), 0) = 0)"
)
# due()'s short rows: [outbox rowid, samples, the usual row or None].
_ROWID_OF, _SAMPLES = itemgetter(0), itemgetter(1)
_MARK_DELIVERED = "UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1, last_error = NULL"
# Rows due() handed out and not yet marked, per destination, before they are forgotten (then
# marked by their resource id, as ever): two batches in flight, many times over.
_HANDED_OUT_MAX = 20_000
# The page cache while delivering (KiB): the indexes a batch looks its rows up in (about 0.25 KiB
# per queued row: the outbox's pending index, the measurements' ids), at least SQLite's default
# and at most 32 MB — a long backlog's random lookups stay in memory, while a backlog of a few
# long rows (continuous oximetry: a row per ten minutes) is read through a small cache and the
# hub's memory does not grow with how long it recorded (issue 13).
_PAGE_CACHE_KIB = 32_768
_PAGE_CACHE_MIN_KIB = 2_048
_PAGE_CACHE_KIB_PER_ROW = 0.25
# The consent in force for destination `?`: its newest event; none yet means given.
CONSENT_GIVEN_SQL = (
    "coalesce((SELECT state FROM consent_events WHERE destination = ? ORDER BY id DESC LIMIT 1), 'given') = 'given'"
)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the store did with one measurement."""

    measurement_id: str  # the stored measurement's id (the earlier one for a duplicate)
    created: bool  # False: the natural key was already there; nothing new was written


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """The consent in force for one destination, and where it came from."""

    destination: str
    state: str  # given | withdrawn
    source: str  # config | patient
    at: datetime


@dataclass(frozen=True, slots=True)
class OpenBatch:
    """A batch sent to a destination without conditional create whose answer never came."""

    bundle_identifier: str
    resource_ids: tuple[str, ...]  # in the order they were sent


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """Where one measurement stands at one destination."""

    destination: str
    state: str  # pending | delivered | dead
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class SetAside:
    """A resource (a measurement, mostly) a destination will never take as it is: "could not be
    sent", and why."""

    measurement_id: str  # the outgoing resource's id (a measurement's own)
    destination: str
    kind: str  # the measurement's kind; for another resource, its outgoing kind
    taken_at: datetime  # when it was measured; for another resource, when it was captured
    reason: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """What waits for one destination, why, and when it is tried next (`heima sync`, `status`)."""

    destination: str
    count: int  # rows still to be sent
    held: int  # of them: held until the hub's clock is trusted (not due before that)
    next_attempt_at: datetime | None  # the earliest try of the others; None when all are held
    last_error: str | None  # the newest reason a try failed: the hub's own words, never a server's


@dataclass(frozen=True, slots=True)
class Requeued:
    """What `requeue` did with a removed destination's waiting rows."""

    queued: int  # new rows for the target destination
    already: int  # the target had a row for the measurement already (queued, sent, set aside)
    left: int  # still waiting for the source: kinds the target does not take, or no consent


def wall_clock() -> datetime:
    """The hub's own clock: what a Store stamps its rows with unless it is given another."""
    return datetime.now(UTC)


class Store:
    """Open with `await Store.open(path)`; close with `await store.close()`.

    `owner=True` (every command that records or delivers): this process owns the data folder —
    the folder's lock is taken before the database is opened and held until `close`; a second
    owner fails with DataFolderInUse. A reader (`heima status`) opens without it.
    """

    def __init__(
        self, path: Path | str, *, group_commit: bool = True, clock: Callable[[], datetime] = wall_clock
    ) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self.group_commit = group_commit
        # Every stamp the store writes (recorded, due, delivered) comes from here, so a test can
        # set the hub's time instead of depending on the calendar it runs on.
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heima-store")
        self._db: Database | None = None
        self._pending: list[tuple[Measurement, tuple[str, ...], asyncio.Future[Recorded], Extras]] = []
        self._flushing = False
        self._lock: DataFolderLock | None = None
        # The outbox rows due() handed out, per destination: resource id -> outbox rowid, so
        # marking finds each row by its rowid (in queue order) rather than by a random UUID.
        self._handed_out: dict[str, dict[str, int]] = {}
        self._cache_sized = False
        self._json_reals_exact: bool | None = None  # due() reads a batch as JSON when True

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        group_commit: bool = True,
        clock: Callable[[], datetime] = wall_clock,
        owner: bool = False,
    ) -> Store:
        store = cls(path, group_commit=group_commit, clock=clock)
        check_files = True
        if isinstance(store.path, Path):
            if owner:
                store._lock = DataFolderLock.acquire(store.path.parent)
            else:  # a reader beside a running hub: its WAL is being written this moment
                check_files = not DataFolderLock.in_use(store.path.parent)
        try:
            store._db = await store._run(lambda: connect(path, check_files=check_files))
        except BaseException:
            store._executor.shutdown(wait=False)
            if store._lock is not None:
                store._lock.release()
            raise
        return store

    async def close(self) -> None:
        while self._flushing or self._pending:
            await asyncio.sleep(0.005)
        if self._db is not None:
            db, self._db = self._db, None
            await self._run(db.conn.close)
        self._executor.shutdown(wait=True)
        if self._lock is not None:  # after the close: the next owner finds the WAL checkpointed
            self._lock.release()

    def _now(self) -> str:
        return self.clock().astimezone(UTC).isoformat()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    # --- writing measurements ------------------------------------------------------------

    async def record(
        self, measurement: Measurement, destinations: Iterable[str], *, with_: Sequence[tuple[Outgoing, Sequence[str]]] = ()
    ) -> Recorded:
        """Write the measurement, its outgoing resource and one outbox row per destination in one
        transaction — and `with_`, resources it raised (a zone alert), each with its destinations.

        Returns after the COMMIT is durable. A measurement whose natural key is already stored
        writes nothing (nor its `with_`) and returns the earlier measurement's id with `created=False`.
        """
        destinations = tuple(destinations)
        extras: Extras = tuple((item, tuple(d)) for item, d in with_)
        if not self.group_commit:
            return (await self._run(self._write_batch, [(measurement, destinations, extras)]))[0]
        future: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._pending.append((measurement, destinations, future, extras))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._run(self._write_batch, [(m, d, x) for m, d, _, x in batch])
                except Exception as exc:  # nothing in this batch was committed
                    for _, _, future, _ in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future, _), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flushing = False

    def _write_batch(self, batch: Sequence[tuple[Measurement, tuple[str, ...], Extras]]) -> list[Recorded]:
        columns = [c.strip() for c in MEASUREMENT_COLUMNS.split(",")]
        insert = (
            f"INSERT INTO measurements ({MEASUREMENT_COLUMNS}) VALUES ({', '.join('?' * len(columns))}) "
            "ON CONFLICT DO NOTHING"
        )

        def write(conn: Any) -> list[Recorded]:
            results: list[Recorded] = []
            for measurement, destinations, extras in batch:
                row = measurement_to_row(measurement)
                cursor = conn.execute(insert, [row[c] for c in columns])
                if cursor.rowcount == 1:
                    samples = samples_to_row(measurement)
                    if samples is not None:
                        conn.execute(
                            "INSERT INTO samples (measurement_id, start, period_s, count, data) VALUES (?, ?, ?, ?, ?)",
                            [samples["measurement_id"], samples["start"], samples["period_s"], samples["count"], samples["data"]],
                        )
                    evaluation = evaluation_to_row(measurement)
                    if evaluation is not None:  # decided before this transaction, stored in it
                        conn.execute(
                            f"INSERT INTO evaluations ({', '.join(EVALUATION_ROW)}) VALUES ({', '.join('?' * len(EVALUATION_ROW))})",
                            [evaluation[c] for c in EVALUATION_ROW],
                        )
                    now = self._now()
                    conn.execute(
                        "INSERT INTO outgoing (id, kind, measurement_id, created_at) VALUES (?, ?, ?, ?)",
                        [row["id"], OutgoingKind.MEASUREMENT.value, row["id"], now],
                    )
                    _queue(conn, row["id"], destinations, now)
                    for item, targets in extras:
                        if conn.execute(
                            "INSERT INTO outgoing (id, kind, payload, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            [str(item.id), item.kind.value, payload_to_json(item), now],
                        ).rowcount:
                            _queue(conn, str(item.id), targets, now)
                    results.append(Recorded(row["id"], created=True))
                else:
                    existing = conn.execute(
                        "SELECT id FROM measurements WHERE natural_key = ? OR id = ?",
                        (row["natural_key"], row["id"]),
                    ).fetchone()
                    results.append(Recorded(existing[0], created=False))
            return results

        return write_transaction(self.db.conn, write, self.path)

    async def enqueue(self, item: Outgoing, destinations: Iterable[str]) -> bool:
        """Write an outgoing resource other than a measurement (those come through `record`) and
        one outbox row per destination, in one transaction; True when it was new. The same id
        again writes nothing: what was captured once is queued once."""
        if item.kind is OutgoingKind.MEASUREMENT:
            raise ValueError("a measurement is queued by record(), with the measurement itself")
        destinations = tuple(destinations)
        payload = payload_to_json(item)

        def write(conn: Any) -> bool:
            now = self._now()
            created = conn.execute(
                "INSERT INTO outgoing (id, kind, payload, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [str(item.id), item.kind.value, payload, now],
            ).rowcount
            if created:
                _queue(conn, str(item.id), destinations, now)
            return bool(created)

        return await self._transaction(write)

    # --- reading measurements ------------------------------------------------------------

    async def measurements(self, *, kind: str | None = None, limit: int = 1000) -> list[Measurement]:
        """The newest measurements first. The chunks of continuous recordings only when asked for
        by their kind (a night holds hundreds; the night's summary is listed)."""

        def query() -> list[Measurement]:
            if kind:
                where, params = "WHERE m.kind = ?", [kind]
            else:
                where, params = f"WHERE {_LISTED}", []
            rows = self.db.execute(
                f"SELECT {_MEASUREMENT_SELECT} FROM measurements m {_MEASUREMENT_JOINS} "
                f"{where} ORDER BY m.effective_time DESC, m.rowid DESC LIMIT ?",
                [*params, limit],
            ).fetchall()
            return [measurement_from_row(r) for r in rows]

        return await self._run(query)

    async def last_sequence(self, device: DeviceIdentity, kind: MeasurementKind) -> int | None:
        """hub.domain.devices.DeviceHistory: the record number of the record this device sent
        most recently. Not the highest ever: after the meter's memory was cleared its numbers
        start again, and the newest record tells where the meter stands now."""

        def query() -> int | None:
            column = "device_serial" if device.serial else "device_address"
            row = self.db.execute(
                f"SELECT CAST(record_id AS INTEGER) FROM measurements WHERE {column} = ? AND kind = ? "
                "AND record_id GLOB '[0-9]*' ORDER BY rowid DESC LIMIT 1",
                [device.stable_id, kind.value],
            ).fetchone()
            return row[0] if row else None

        return await self._run(query)

    async def place_held_times(self, *, now: datetime, now_anchor: MonotonicAnchor) -> int:
        """The hub clock is trusted now: place every reading held for it, release it to the outbox."""

        def write(conn: Any) -> int:
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
                # a chunk's slot 0 is its reception time: it moves with it
                conn.execute("UPDATE samples SET start = ? WHERE measurement_id = ?", [new["received_at"], new["id"]])
            return len(rows)

        return await self._transaction(write)

    async def delivery_states(self, measurement_id: str) -> list[DeliveryState]:
        def query() -> list[DeliveryState]:
            rows = self.db.execute(
                "SELECT destination, state, attempts, last_error FROM outbox WHERE resource_id = ? ORDER BY destination",
                [measurement_id],
            ).fetchall()
            return [DeliveryState(*r) for r in rows]

        return await self._run(query)

    async def delivery_states_of(self, resource_ids: Sequence[str]) -> dict[str, list[DeliveryState]]:
        """Each resource's outbox rows (by destination), in one query per 500 ids: what a screen
        showing several values asks (hub.api's read models)."""

        def query() -> dict[str, list[DeliveryState]]:
            found: dict[str, list[DeliveryState]] = {rid: [] for rid in resource_ids}
            ids = list(found)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for rid, *state in self.db.execute(
                    "SELECT resource_id, destination, state, attempts, last_error FROM outbox "
                    f"WHERE resource_id IN ({', '.join('?' * len(chunk))}) ORDER BY resource_id, destination",
                    chunk,
                ):
                    found[rid].append(DeliveryState(*state))
            return found

        return await self._run(query)

    async def count_measurements(self) -> int:
        return await self._run(lambda: self.db.execute("SELECT count(*) FROM measurements").fetchone()[0])

    async def set_aside(self) -> list[SetAside]:
        """Every resource a destination refused for good, with the reason (oldest first)."""

        def query() -> list[SetAside]:
            rows = self.db.execute(
                "SELECT o.resource_id, o.destination, coalesce(m.kind, g.kind), coalesce(m.effective_time, g.created_at), "
                f"o.last_error FROM {_OUTBOX_JOIN} WHERE o.state = 'dead' ORDER BY o.id"
            ).fetchall()
            return [SetAside(r[0], r[1], r[2], datetime.fromisoformat(r[3]), r[4] or "") for r in rows]

        return await self._run(query)

    async def outbox_counts(self) -> dict[str, dict[str, int]]:
        """{destination: {state: count}} — what the patient's "sent ✓ / waiting" comes from."""

        def query() -> dict[str, dict[str, int]]:
            # outbox_tally: kept with every change to the outbox, in its transaction (by triggers,
            # schema 7; marking delivered by mark_delivered itself, schema 8): a handful of rows
            # however long the outbox is
            counts: dict[str, dict[str, int]] = {}
            for dest, state, n in self.db.execute("SELECT destination, state, n FROM outbox_tally WHERE n > 0"):
                counts.setdefault(dest, {})[state] = n
            return counts

        return await self._run(query)

    # --- the outbox, as the delivery worker sees it (sync.outbox.OutboxQueue) -------------

    async def due(
        self,
        destination: str,
        *,
        limit: int,
        now: datetime,
        max_samples: int | None = None,
        excluding: Collection[str] = (),
    ) -> list[Outgoing]:
        """The oldest rows due for `destination`, whatever their kind: at most `limit` resources,
        and — with `max_samples` — no more continuous-oximetry samples than that in all (always at
        least one resource), so one request's memory does not grow with how long a recording was.
        A measurement held for the hub's clock is not due. `excluding`: resources already on
        their way (the batch before this one, still unanswered), never read twice.

        Reads the partial index outbox_pending in queue order (schema 7): the cost of a batch
        does not grow with the backlog behind it. A measurement's row is found by its id alone
        (a measurement's outgoing row says only that it is one); another resource's by its
        outgoing row."""

        def query() -> list[Outgoing]:
            self._size_page_cache()
            skip, skipped = _excluded(self._handed_out.get(destination, {}), excluding)
            params = [destination, now.astimezone(UTC).isoformat(), *skipped, limit]
            rows = self._short_rows(skip, params)
            if max_samples is not None and rows:  # (part W) as far as max_samples, at least one
                cut = bisect_right(list(accumulate(map(_SAMPLES, rows))), max_samples)
                del rows[max(cut, 1) :]
            batch: list[Outgoing] = []
            handed = self._handed_out.setdefault(destination, {})
            if len(handed) > _HANDED_OUT_MAX:  # read and never marked (failures): forget, mark by id
                handed.clear()
            usual = [usual_outgoing_of_row(row[2]) if row[2] is not None else None for row in rows]
            others = [row[0] for row, item in zip(rows, usual) if item is None]
            full = self._full_rows(others) if others else {}
            for row, item in zip(rows, usual):
                if item is not None:
                    batch.append(item)
                    handed[row[2][0]] = row[0]
                    continue
                got = full.get(row[0])
                if got is None:  # gone between the two reads (never: this thread is the one writer)
                    continue
                if got[2] is not None:  # a resource that carries its own payload
                    item = outgoing_from_payload(got[0], got[1], got[2])
                else:
                    item = outgoing_of_row(got[3:])
                batch.append(item)
                handed[got[0]] = row[0]
            return batch

        return await self._run(query)

    def _short_rows(self, skip: str, params: list[Any]) -> list[list[Any]]:
        """The batch's rows in queue order, each [outbox rowid, its samples (0: none), the usual
        row's USUAL_COLUMNS or None] (on the store's thread). One statement and one step for the
        whole batch: its rows as one JSON text (with SQLite's JSON writing every real so that it
        reads back the same double; checked on this connection, else row by row)."""
        where = (
            f"FROM outbox o INDEXED BY outbox_pending LEFT JOIN measurements m ON {_BY_ROWID} {_MEASUREMENT_JOINS} "
            f"WHERE o.destination = ? AND o.state = 'pending' AND o.next_attempt_at <= ? {skip}"
            f"AND coalesce(m.time_pending, 0) = 0 AND {_HELD_UNLESS_FOUND} ORDER BY o.id LIMIT ?"
        )
        if self._json_reals_exact is None:
            self._json_reals_exact = json_reals_exact(self.db.conn)
        if not self._json_reals_exact:
            found = self.db.execute(f"SELECT o.id, coalesce(s.count, 0), {USUAL_SHAPE}, {USUAL_COLUMNS} {where}", params)
            return [[r[0], r[1], r[3:] if r[2] else None] for r in found.fetchall()]
        # Each row '[rowid,samples,usual]', joined as text (no JSON subtype crosses the subquery);
        # group_concat promises no order, so the rows are put in queue order here.
        text = self.db.execute(
            "SELECT '[' || group_concat('[' || r || ',' || n || ',' || ifnull(u, 'null') || ']', ',') || ']' FROM "
            f"(SELECT o.id AS r, coalesce(s.count, 0) AS n, CASE WHEN {USUAL_SHAPE} THEN {USUAL_JSON} END AS u {where})",
            params,
        ).fetchone()[0]
        if text is None:
            return []
        rows: list[list[Any]] = orjson.loads(text)
        rows.sort(key=_ROWID_OF)
        return rows

    def _full_rows(self, rowids: list[int]) -> dict[int, tuple]:
        """Outbox rows by rowid, in full (on the store's thread): {rowid: (resource id, outgoing
        kind, payload — those two only for a resource that is no measurement —, then the
        measurement's columns, its samples' and its evaluation's)}."""
        found = self.db.execute(
            f"SELECT o.id, o.resource_id, {_OUTGOING_UNLESS_MEASURED}, {_MEASUREMENT_SELECT} "
            f"FROM outbox o LEFT JOIN measurements m ON m.id = o.resource_id {_MEASUREMENT_JOINS} "
            "WHERE o.id IN (SELECT value FROM json_each(?))",
            [_json_list(rowids)],
        ).fetchall()
        return {row[0]: row[1:] for row in found}

    async def next_attempt_at(self, destination: str) -> datetime | None:
        def query() -> datetime | None:
            row = self.db.execute(
                "SELECT min(next_attempt_at) FROM outbox WHERE destination = ? AND state = 'pending'",
                [destination],
            ).fetchone()
            return datetime.fromisoformat(row[0]) if row and row[0] else None

        return await self._run(query)

    async def mark_delivered(self, destination: str, resource_ids: Sequence[str]) -> None:
        # 'withdrawn' too: a batch already on its way when the patient withdrew did arrive, and
        # the record must say so (what was sent stays sent, and is shown as sent).
        if not resource_ids:
            return
        ids = list(resource_ids)

        def write(conn: Any) -> None:
            now, wanted = self._now(), _json_list(ids)
            handed = self._handed_out.get(destination, {})
            found = [handed.pop(rid) for rid in ids if rid in handed]
            rowids = _json_list(found)
            # Rows the patient withdrew from are marked too; most destinations have none.
            withdrawn = conn.execute(
                "SELECT n FROM outbox_tally WHERE destination = ? AND state = 'withdrawn' AND n > 0", [destination]
            ).fetchone()
            moved: dict[str, int] = {}
            for state in ("pending", "withdrawn") if withdrawn else ("pending",):
                if not found:
                    moved[state] = 0
                    continue
                # The rows due() read, by rowid: in queue order, near each other. Which rows are
                # marked is still decided by destination and resource id (a rowid only finds them).
                moved[state] = conn.execute(
                    f"{_MARK_DELIVERED} WHERE rowid IN (SELECT value FROM json_each(?)) AND +destination = ? "
                    "AND +resource_id IN (SELECT value FROM json_each(?)) AND +state = ?",
                    [now, rowids, destination, wanted, state],
                ).rowcount
            if sum(moved.values()) < len(ids):
                # The others, each found by its resource id (the unary + keeps the planner off
                # walking every pending row instead); those just marked are no longer pending.
                for state in moved:
                    moved[state] += conn.execute(
                        f"{_MARK_DELIVERED} WHERE +destination = ? AND resource_id IN (SELECT value FROM json_each(?)) "
                        "AND +state = ?",
                        [now, destination, wanted, state],
                    ).rowcount
            _tally_moved(conn, destination, moved, "delivered")

        await self._transaction(write)

    def _size_page_cache(self) -> None:
        """The first time the outbox is read: a page cache that holds the outbox's and the
        measurements' indexes for a long backlog (each batch looks 500 random UUIDs up in them;
        with SQLite's default cache every lookup read, and decrypted, pages again), sized by the
        rows queued so that a backlog of few rows does not fill it with pages read once."""
        if not self._cache_sized:
            row = self.db.execute("SELECT sum(n) FROM outbox_tally WHERE state = 'pending'").fetchone()
            wanted = _PAGE_CACHE_MIN_KIB + int((row[0] or 0) * _PAGE_CACHE_KIB_PER_ROW)
            self.db.execute(f"PRAGMA cache_size = -{min(_PAGE_CACHE_KIB, wanted)}")
            self._cache_sized = True

    async def schedule_retry(
        self, destination: str, resource_ids: Sequence[str], *, not_before: datetime, reason: str
    ) -> None:
        await self._update_outbox(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
            "WHERE destination = ? AND resource_id = ? AND state = 'pending'",
            [(not_before.astimezone(UTC).isoformat(), reason[:MAX_ERROR_LENGTH], destination, rid) for rid in resource_ids],
        )

    async def dead_letter(self, destination: str, resource_id: str, *, reason: str) -> None:
        await self._update_outbox(
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? "
            "WHERE destination = ? AND resource_id = ? AND state = 'pending'",
            [(reason[:MAX_ERROR_LENGTH], destination, resource_id)],
        )

    async def _update_outbox(self, sql: str, params: list[tuple]) -> None:
        await self._transaction(lambda conn: conn.executemany(sql, params))

    async def _transaction(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(conn)` in one write transaction on the writer thread."""

        return await self._run(lambda: write_transaction(self.db.conn, fn, self.path))

    # --- consent (hub.services.consent.ConsentStore) --------------------------------------------

    async def consent_states(self) -> dict[str, ConsentRecord]:
        """The consent in force per destination the hub has ever seen."""

        def query() -> dict[str, ConsentRecord]:
            rows = self.db.execute(
                "SELECT destination, state, source, at FROM consent_events e WHERE id = "
                "(SELECT max(id) FROM consent_events WHERE destination = e.destination)"
            ).fetchall()
            return {r[0]: ConsentRecord(r[0], r[1], r[2], datetime.fromisoformat(r[3])) for r in rows}

        return await self._run(query)

    async def initialise_consent(self, defaults: dict[str, str], *, at: datetime) -> list[str]:
        """Write the configuration's consent for destinations that have no consent record yet
        (the first start with them). Returns the names initialised; existing choices stand."""

        def write(conn: Any) -> list[str]:
            known = {r[0] for r in conn.execute("SELECT DISTINCT destination FROM consent_events")}
            new = [(name, state) for name, state in defaults.items() if name not in known]
            conn.executemany(
                "INSERT INTO consent_events (destination, state, source, at) VALUES (?, ?, 'config', ?)",
                [(name, state, at.astimezone(UTC).isoformat()) for name, state in new],
            )
            return [name for name, _ in new]

        return await self._transaction(write)

    async def set_consent(self, destination: str, state: str, *, at: datetime) -> int:
        """Record the patient's choice. Withdrawing also sets every row still queued for that
        destination aside as 'withdrawn' (kept, visible, never sent), in the same transaction.
        Returns how many queued rows were set aside."""
        if state not in ("given", "withdrawn"):
            raise ValueError("consent state must be given or withdrawn")

        def write(conn: Any) -> int:
            conn.execute(
                "INSERT INTO consent_events (destination, state, source, at) VALUES (?, ?, 'patient', ?)",
                [destination, state, at.astimezone(UTC).isoformat()],
            )
            if state != "withdrawn":
                return 0
            cursor = conn.execute(
                "UPDATE outbox SET state = 'withdrawn', last_error = ? WHERE destination = ? AND state = 'pending'",
                [WITHDRAWN_REASON, destination],
            )
            return cursor.rowcount

        return await self._transaction(write)

    # --- the ack ledger (sync.destinations.nhn_pmd.AckLedger) -----------------------------------

    async def acknowledged(self, destination: str, resource_ids: Sequence[str]) -> set[str]:
        """Which of these the destination has already acknowledged (never to be sent again)."""

        def query() -> set[str]:
            found: set[str] = set()
            ids = list(resource_ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                found.update(
                    r[0]
                    for r in self.db.execute(
                        f"SELECT resource_id FROM ack_ledger WHERE destination = ? "
                        f"AND resource_id IN ({', '.join('?' * len(chunk))})",
                        [destination, *chunk],
                    )
                )
            return found

        return await self._run(query)

    async def open_batches(self, destination: str) -> list[OpenBatch]:
        """Batches sent whose answer never came, oldest first."""

        def query() -> list[OpenBatch]:
            rows = self.db.execute(
                "SELECT bundle_identifier, resource_ids FROM sent_batches WHERE destination = ? AND state = 'open' "
                "ORDER BY first_sent_at, rowid",
                [destination],
            ).fetchall()
            return [OpenBatch(r[0], tuple(json.loads(r[1]))) for r in rows]

        return await self._run(query)

    async def batch_sending(self, destination: str, bundle_identifier: str, resource_ids: Sequence[str]) -> None:
        """Written before the request: this batch is on its way (again)."""
        ids = json.dumps(list(resource_ids))  # in the order sent: a repeat is the same bundle
        await self._update_outbox(
            "INSERT INTO sent_batches (destination, bundle_identifier, resource_ids, sends, first_sent_at) "
            "VALUES (?, ?, ?, 1, ?) ON CONFLICT (destination, bundle_identifier) DO UPDATE SET "
            "sends = sends + 1, state = CASE WHEN state = 'superseded' THEN 'open' ELSE state END",
            [(destination, bundle_identifier, ids, self._now())],
        )

    async def batch_answered(
        self, destination: str, bundle_identifier: str, acks: Sequence[tuple[str, int, str | None]]
    ) -> None:
        """The destination answered this batch: its acknowledged entries (resource id, status,
        location) go into the ledger, in one transaction with closing the batch."""

        def write(conn: Any) -> None:
            now = self._now()
            conn.executemany(
                "INSERT INTO ack_ledger (destination, resource_id, bundle_identifier, status, location, "
                "acknowledged_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(destination, mid, bundle_identifier, status, location, now) for mid, status, location in acks],
            )
            conn.execute(
                "UPDATE sent_batches SET state = 'answered', answered_at = ? WHERE destination = ? AND bundle_identifier = ?",
                [now, destination, bundle_identifier],
            )

        await self._transaction(write)

    async def batch_superseded(self, destination: str, bundle_identifier: str) -> None:
        """An open batch cannot be sent again as it was (some of its rows are no longer due)."""
        await self._update_outbox(
            "UPDATE sent_batches SET state = 'superseded' WHERE destination = ? AND bundle_identifier = ? AND state = 'open'",
            [(destination, bundle_identifier)],
        )

    # --- for the operator: what waits, export, a removed destination's rows ----------------

    async def waiting(self) -> list[Waiting]:
        """Per destination with rows still to be sent: how many, why the last try failed, and
        when the next is due (the newest reason is on the rows scheduled last)."""

        def query() -> list[Waiting]:
            rows = self.db.execute(
                "SELECT o.destination, count(*), sum(coalesce(m.time_pending, 0)), "
                "min(CASE WHEN coalesce(m.time_pending, 0) = 0 THEN o.next_attempt_at END), "
                "(SELECT e.last_error FROM outbox e WHERE e.destination = o.destination AND e.state = 'pending' "
                "AND e.last_error IS NOT NULL ORDER BY e.next_attempt_at DESC, e.id DESC LIMIT 1) "
                f"FROM {_OUTBOX_JOIN} WHERE o.state = 'pending' "
                "GROUP BY o.destination ORDER BY o.destination"
            ).fetchall()
            return [Waiting(r[0], r[1], r[2] or 0, datetime.fromisoformat(r[3]) if r[3] else None, r[4]) for r in rows]

        return await self._run(query)

    async def measurement_times(self, *, destination: str | None = None) -> list[tuple[str, datetime, bool]]:
        """(id, effective time, held for the hub's clock) of every measurement, series chunks
        included; with `destination`, only those it has not taken: waiting for it or set aside
        by it (not those sent, nor those the patient withdrew from it)."""

        def query() -> list[tuple[str, datetime, bool]]:
            sql = "SELECT m.id, m.effective_time, m.time_pending FROM measurements m"
            params: list[Any] = []
            if destination is not None:
                sql += (
                    " WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.resource_id = m.id AND o.destination = ? "
                    "AND o.state IN ('pending', 'dead'))"
                )
                params.append(destination)
            return [(r[0], datetime.fromisoformat(r[1]), bool(r[2])) for r in self.db.execute(sql, params)]

        return await self._run(query)

    async def measurements_by_id(self, ids: Sequence[str]) -> list[Measurement]:
        """These measurements with their samples, in no particular order."""

        def query() -> list[Measurement]:
            found: list[Measurement] = []
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                found.extend(
                    measurement_from_row(r)
                    for r in self.db.execute(
                        f"SELECT {_MEASUREMENT_SELECT} FROM measurements m {_MEASUREMENT_JOINS} "
                        f"WHERE m.id IN ({', '.join('?' * len(chunk))})",
                        chunk,
                    )
                )
            return found

        return await self._run(query)

    async def requeue(
        self, source: str, target: str, *, kinds: Collection[str], resource_kinds: Collection[str] = ()
    ) -> Requeued:
        """Hand the rows still waiting for `source` (a destination no longer configured) to
        `target`, in one transaction: a new row for `target` where it has none (with the patient's
        consent for it, checked here as when recording), and the source's row removed wherever the
        target now has one — so each resource is queued once, never twice, and never lost.
        Only measurements of `kinds` and other resources of `resource_kinds` (what the target
        takes) move; the others stay waiting."""
        if source == target:
            raise ValueError("source and target are the same destination")
        kind_list = sorted(kinds)
        other_list = sorted(str(k) for k in resource_kinds if k != OutgoingKind.MEASUREMENT.value)
        in_kinds = f"m.kind IN ({', '.join('?' * len(kind_list))})" if kind_list else "0"
        in_others = f"g.kind IN ({', '.join('?' * len(other_list))})" if other_list else "0"

        def write(conn: Any) -> Requeued:
            waiting_for_source = (
                f"SELECT o.resource_id, o.measurement_rowid FROM {_OUTBOX_JOIN} "
                f"WHERE o.destination = ? AND o.state = 'pending' AND (({in_kinds}) OR "
                f"(g.kind <> '{OutgoingKind.MEASUREMENT.value}' AND {in_others}))"
            )
            queued = conn.execute(
                "INSERT INTO outbox (resource_id, destination, next_attempt_at, measurement_rowid) "
                f"SELECT resource_id, ?, ?, measurement_rowid FROM ({waiting_for_source}) WHERE {CONSENT_GIVEN_SQL} "
                "ON CONFLICT (resource_id, destination) DO NOTHING",
                [target, self._now(), source, *kind_list, *other_list, target],
            ).rowcount
            covered = conn.execute(
                "DELETE FROM outbox WHERE destination = ? AND state = 'pending' AND resource_id IN "
                "(SELECT resource_id FROM outbox WHERE destination = ?)",
                [source, target],
            ).rowcount
            left = conn.execute(
                "SELECT count(*) FROM outbox WHERE destination = ? AND state = 'pending'", [source]
            ).fetchone()[0]
            return Requeued(queued=queued, already=covered - queued, left=left)

        return await self._transaction(write)


def _tally_moved(conn: Any, destination: str, moved: dict[str, int], to: str) -> None:
    """outbox_tally after one statement moved rows of `destination` (counted by their old state)
    to state `to`: what the per-row trigger does, once (schema 8: for 'delivered' only this does)."""
    total = 0
    for state, n in moved.items():
        if n:
            conn.execute("UPDATE outbox_tally SET n = n - ? WHERE destination = ? AND state = ?", [n, destination, state])
            total += n
    if total:
        conn.execute(
            "INSERT INTO outbox_tally (destination, state, n) VALUES (?, ?, ?) "
            "ON CONFLICT (destination, state) DO UPDATE SET n = n + excluded.n",
            [destination, to, total],
        )


def _excluded(handed: dict[str, int], excluding: Collection[str]) -> tuple[str, list[str]]:
    """due()'s clause and parameter leaving out the rows of `excluding` (resources on their way).
    By their outbox rowids when due() handed them all out on this connection (it remembers which
    row it read for each): the partial index outbox_pending holds the rowid, so a batch in flight
    is passed over in the index, its rows not read; otherwise by resource id, each row read."""
    if not excluding:
        return "", []
    rowids = [handed.get(rid) for rid in excluding]
    if None not in rowids:
        return "AND o.id NOT IN (SELECT value FROM json_each(?)) ", [_json_list(rowids)]
    return "AND o.resource_id NOT IN (SELECT value FROM json_each(?)) ", [_json_list(excluding)]


def _json_list(values: Iterable[Any]) -> str:
    """A list as one JSON parameter (json_each): orjson, 500 ids per batch on the delivery path."""
    return orjson.dumps(list(values)).decode()


def _queue(conn: Any, resource_id: str, destinations: Sequence[str], now: str) -> None:
    """One outbox row per destination, with its measurement's rowid when it is one (schema 9).
    Consent is checked again inside the caller's transaction: a row is never queued for a
    destination whose consent was withdrawn before its COMMIT."""
    conn.executemany(
        "INSERT INTO outbox (resource_id, destination, next_attempt_at, measurement_rowid) "
        f"SELECT ?, ?, ?, (SELECT rowid FROM measurements WHERE id = ?) WHERE {CONSENT_GIVEN_SQL}",
        [(resource_id, name, now, resource_id, name) for name in destinations],
    )
