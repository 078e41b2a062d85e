"""The delivery worker: one per destination, draining that destination's outbox rows.

A row is an outgoing resource of any kind (hub.domain.outgoing: a measurement, a Device of the
inventory, ...): the worker never looks inside one; the destination maps it by kind.

Rows are marked delivered only on a parsed success from the destination. A batch that fails as a
whole is retried with exponential backoff and jitter (or after the server's Retry-After); a batch
the destination rejects permanently is split and sent one by one, so one poisoned measurement is
dead-lettered with its reason and never blocks the ones behind it. All state lives in the
database, so a restarted hub resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import sys
import traceback
import contextlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlcipher3.dbapi2

from hub.domain.outgoing import Outgoing, as_outgoings
from hub.domain.usual import id_texts
from sync.delivery import DeliveryError, Destination, EntryResult, Outcome
from sync.fhir.codes import MappingError

log = logging.getLogger(__name__)


# Fifty 10-minute chunks at 1 Hz a request: the hub's memory while draining stays flat however
# much was recorded (measured: tests/bench/test_bench_week_offline.py), a request stays ~150 KB,
# and a week offline goes in ~60 requests rather than ~220 — each request costs Heima about 1.5 ms
# of CPU whatever it carries (httpx, the reads and the commit), most of a week's drain at ten
# chunks a request (issue 13, part W: 0.56-0.83 s -> ~0.35 s).
MAX_SAMPLES_PER_BATCH = 30_000


# While a worker drains, the cyclic collector's youngest generation is collected after this many
# (net) new container objects rather than CPython's 700: a batch in flight holds a few thousand
# (its rows, entries and answer), so at 700 the collector walked them again and again — about
# 1.4 us of Heima's CPU per delivered Observation went to collections that freed nothing (issue
# 13, part D3). Cycles (an exception's traceback) are still collected, a little later.
GC_YOUNG_WHILE_DRAINING = 10_000
_draining = 0
_threshold_before: tuple[int, int, int] | None = None


@contextlib.contextmanager
def _collecting_less_often() -> Iterator[None]:
    """GC_YOUNG_WHILE_DRAINING while any worker drains (workers of several destinations may
    overlap); the collector's own thresholds back when the last one is done."""
    global _draining, _threshold_before
    if _draining == 0:
        _threshold_before = gc.get_threshold()
        young, *older = _threshold_before
        if young and young < GC_YOUNG_WHILE_DRAINING:  # 0: collection switched off; leave it so
            gc.set_threshold(GC_YOUNG_WHILE_DRAINING, *older)
    _draining += 1
    try:
        yield
    finally:
        _draining -= 1
        if _draining == 0 and _threshold_before is not None:
            if gc.get_threshold()[0] == GC_YOUNG_WHILE_DRAINING:  # not changed by anyone since
                gc.set_threshold(*_threshold_before)
            _threshold_before = None


class OutboxQueue(Protocol):
    """What the worker needs from the store (hub.store.Store implements it)."""

    async def due(
        self,
        destination: str,
        *,
        limit: int,
        now: datetime,
        max_samples: int | None = None,
        excluding: Collection[str] = (),
    ) -> list[Outgoing]: ...

    async def next_attempt_at(self, destination: str) -> datetime | None: ...

    async def mark_delivered(self, destination: str, resource_ids: Sequence[str]) -> None: ...

    async def schedule_retry(
        self, destination: str, resource_ids: Sequence[str], *, not_before: datetime, reason: str
    ) -> None: ...

    async def dead_letter(self, destination: str, resource_id: str, *, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: base · factor^n, capped, spread ±jitter."""

    base: float = 2.0
    factor: float = 2.0
    cap: float = 600.0
    jitter: float = 0.25
    max_retry_after: float = 3600.0  # a server asking for more than this is asking too much

    def delay(self, consecutive_failures: int, rng: random.Random, retry_after: float | None = None) -> float:
        backoff = min(self.cap, self.base * self.factor ** max(0, consecutive_failures - 1))
        backoff *= 1 + rng.uniform(-self.jitter, self.jitter)
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return backoff


@dataclass(slots=True)
class DrainReport:
    """What one pass did; numbers only, safe to log."""

    delivered: int = 0
    dead: int = 0
    retried: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _stack(exc: BaseException) -> str:
    """Where `exc` came from, frame by frame, without its message: an exception raised while
    reading a server's reply may quote that reply, and what a server says is never logged. The
    hub's own database and disk (sqlite3, OSError) speak for themselves."""
    # The store's SQLite is SQLCipher; the stdlib's sqlite3 only if something loaded it (not
    # imported for this test alone: its library is ~0.8 MB of the touch app's memory, part M1).
    stdlib = sys.modules.get("sqlite3")
    local = isinstance(exc, (sqlcipher3.dbapi2.Error, OSError, *((stdlib.Error,) if stdlib is not None else ())))
    return "".join(traceback.format_tb(exc.__traceback__)) + (f"{type(exc).__name__}: {exc}" if local else type(exc).__name__)


class OutboxWorker:
    def __init__(
        self,
        queue: OutboxQueue,
        destination: Destination,
        *,
        batch_size: int = 100,
        policy: RetryPolicy = RetryPolicy(),
        clock: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
        on_change: Callable[[], None] | None = None,
        max_samples: int = MAX_SAMPLES_PER_BATCH,
    ) -> None:
        """`batch_size`: resources per request; `max_samples`: continuous-oximetry samples per
        request (a batch is cut before it would carry more, never below one resource)."""
        if batch_size < 1 or max_samples < 1:
            raise ValueError("batch_size and max_samples must be at least 1")
        self.queue = queue
        self.destination = destination
        self.batch_size = batch_size
        self.max_samples = max_samples
        self.policy = policy
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_change = on_change
        self._wake = asyncio.Event()
        self._failures = 0
        self._blocked_until: datetime | None = None

    @property
    def name(self) -> str:
        return self.destination.name

    def wake(self) -> None:
        """New rows are waiting: look now (unless the destination asked us to back off)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled."""
        while True:
            try:
                report = await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or a broken database: keep the worker alive, say so
                log.error(
                    "outbox %s: delivery pass failed; retrying in %.0f s\n%s", self.name, self.policy.base, _stack(exc)
                )
                report = DrainReport()
                await asyncio.sleep(self.policy.base)
                continue
            await self._sleep_until_due(report)

    async def _sleep_until_due(self, report: DrainReport) -> None:
        now = self.clock()
        wait: float | None = None
        if self._blocked_until is not None and self._blocked_until > now:
            wait = (self._blocked_until - now).total_seconds()
        else:
            next_at = await self.queue.next_attempt_at(self.name)
            if next_at is not None:
                wait = max(0.0, (next_at - now).total_seconds())
        self._wake.clear()
        if wait == 0.0:
            return
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=wait)
        except TimeoutError:
            pass
        if self._blocked_until is not None and self._blocked_until > self.clock():
            # Woken while backing off: honour the backoff, then look again.
            await asyncio.sleep((self._blocked_until - self.clock()).total_seconds())

    async def drain(self) -> DrainReport:
        """Send batches until nothing is due now or the destination failed.

        Pipelined: while the destination works on batch k, batch k+1 is read (rows due that are
        not k's) and, where the destination can, built and serialised; when k's answer comes,
        k+1 goes out at once and k's rows are marked while the destination works on k+1. The
        batch after that is read only once k is marked, so no row is ever read while another
        batch carries it. Reading changes nothing: a batch read ahead and not sent (k failed,
        the hub stopped) is read again next time. Rows are marked only from an answer, as ever."""
        with _collecting_less_often():
            return await self._drain()

    async def _drain(self) -> DrainReport:
        report = DrainReport()
        loop = asyncio.get_running_loop()
        ahead: asyncio.Task[tuple[list[Outgoing], object | None]] | None = None
        exchange: asyncio.Task[list[EntryResult] | bool] | None = None
        try:
            batch, prepared = await self._next(())
            if batch and not self._blocked():
                exchange = loop.create_task(self._exchange(batch, prepared, report))
            while exchange is not None:
                ahead = loop.create_task(self._next(id_texts(batch)))
                answer = await exchange
                exchange = None
                if answer is False:  # failed as a whole: backing off (the batch read ahead waits too)
                    if self.on_change:
                        self.on_change()
                    return report
                following, following_prepared = await ahead
                ahead = None
                if following and not self._blocked():
                    exchange = loop.create_task(self._exchange(following, following_prepared, report))
                if answer is not True:  # the destination's answer, entry by entry: mark k's rows
                    await self._settle(batch, answer, report)
                # k's request is done: its httpx Request/Response cycle (the body sent, the reply)
                # freed now, not after GC_YOUNG_WHILE_DRAINING more objects — a batch of chunks
                # allocates few, so dozens of bodies waited (peak RSS +25 % with 1M samples queued;
                # +9 % with this: tests/bench/test_bench_week_offline.py, part W)
                if gc.isenabled() and not getattr(self.destination, "frees_its_requests", False):
                    gc.collect(0)  # (a destination whose requests are freed when dropped: not needed, part D4)
                if self.on_change:
                    self.on_change()
                batch = following
            return report
        finally:
            for task in (exchange, ahead):
                if task is not None:  # stopped midway: what was on its way stays pending, sent again later
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task

    def _blocked(self) -> bool:
        return self._blocked_until is not None and self._blocked_until > self.clock()

    async def _next(self, excluding: Collection[str]) -> tuple[list[Outgoing], object | None]:
        """The next batch due (not one of `excluding`, still on its way), and its requests when
        the destination prepares them ahead (None: it is mapped when sent)."""
        now = self.clock()
        batch = as_outgoings(
            await self.queue.due(self.name, limit=self.batch_size, now=now, max_samples=self.max_samples, excluding=excluding)
        )
        prepare = getattr(self.destination, "prepare", None)
        if not batch or prepare is None:
            return batch, None
        try:
            return batch, prepare(batch)
        except Exception:  # mapping refused (or a bug): `send` maps it again and handles it as ever
            return batch, None

    async def _send(self, batch: list[Outgoing], report: DrainReport, prepared: object | None = None) -> bool:
        """Send one batch and mark its rows; True when the destination answered (whatever it
        said per entry)."""
        answer = await self._exchange(batch, prepared, report)
        if isinstance(answer, bool):
            return answer
        await self._settle(batch, answer, report)
        return True

    async def _exchange(
        self, batch: list[Outgoing], prepared: object | None, report: DrainReport
    ) -> list[EntryResult] | bool:
        """Send one batch: the destination's results (to be settled), True when a refusal was
        handled here (the entries sent one by one and settled), False when it failed as a whole
        (rows scheduled for a retry)."""
        report.batches += 1
        try:
            try:
                if prepared is not None:
                    results = await self.destination.send_prepared(prepared)  # type: ignore[attr-defined]
                else:
                    results = await self.destination.send(batch)
                # The destination answered: it works again (before the next batch goes out, so
                # a failure of that one is never cleared by settling this one).
                self._failures = 0
                self._blocked_until = None
                return results
            except MappingError as exc:  # one resource FHIR cannot express: same as a refusal
                raise DeliveryError(
                    f"cannot be expressed in FHIR ({type(exc).__name__}); kept on the hub", permanent=True
                ) from exc
        except DeliveryError as exc:
            if exc.permanent:
                if len(batch) == 1:
                    reason = f"{exc.reason}; set aside, not retried"
                    await self.queue.dead_letter(self.name, str(batch[0].id), reason=reason)
                    report.dead += 1
                    log.warning("outbox %s: one %s rejected for good: %s", self.name, batch[0].kind.value, reason)
                    return True
                # Find the poisoned entry: send each alone; the good ones go through.
                log.info("outbox %s: %s; sending the %d entries one by one", self.name, exc.reason, len(batch))
                for item in batch:
                    if not await self._send([item], report):
                        return False
                return True
            await self._back_off(batch, exc.reason, exc.retry_after, report)
            return False
        except Exception as exc:  # a destination bug must not lose rows: treat as transient
            reason = f"unexpected {type(exc).__name__} in destination"
            log.error("outbox %s: %s\n%s", self.name, reason, _stack(exc))
            await self._back_off(batch, reason, None, report)
            return False

    async def _settle(self, batch: list[Outgoing], results: Sequence[EntryResult], report: DrainReport) -> None:
        """Mark a batch's rows from the destination's answer: delivered, set aside, or — those
        it did not account for — tried again later."""
        if len(results) == len(batch) and all(r.resource_id is m.id for r, m in zip(results, batch)):
            answered = results  # the usual answer: one result per row, in order, naming the batch's own ids
        else:
            by_id = {r.resource_id: r for r in results}
            answered = [by_id.get(m.id) for m in batch]
        delivered: list[str] = []
        rejected: list[tuple[str, str]] = []
        missing: list[str] = []
        for text, result in zip(id_texts(batch), answered):
            if result is None:
                missing.append(text)
            elif result.outcome is Outcome.DELIVERED:
                delivered.append(text)
            elif result.outcome is Outcome.REJECTED:
                rejected.append((text, result.reason or "rejected by destination"))
        await self.queue.mark_delivered(self.name, delivered)
        report.delivered += len(delivered)
        for rid, reason in rejected:
            await self.queue.dead_letter(self.name, rid, reason=reason)
            report.dead += 1
        if missing:  # the destination did not account for them: try again later (it answered, so
            # the worker is not blocked: the next batch may already be on its way)
            reason = "destination did not report on every entry"
            delay = self.policy.delay(self._failures + 1, self.rng)
            await self.queue.schedule_retry(self.name, missing, not_before=self.clock() + timedelta(seconds=delay), reason=reason)
            report.retried += len(missing)
            report.errors.append(reason)
            log.info("outbox %s: %s; %d waiting, next try in %.1f s", self.name, reason, len(missing), delay)

    async def _back_off(self, batch: list[Outgoing], reason: str, retry_after: float | None, report: DrainReport) -> None:
        await self._back_off_rows([str(m.id) for m in batch], reason, retry_after, report)

    async def _back_off_rows(self, ids: list[str], reason: str, retry_after: float | None, report: DrainReport) -> None:
        self._failures += 1
        delay = self.policy.delay(self._failures, self.rng, retry_after)
        not_before = self.clock() + timedelta(seconds=delay)
        self._blocked_until = not_before
        await self.queue.schedule_retry(self.name, ids, not_before=not_before, reason=reason)
        report.retried += len(ids)
        report.errors.append(reason)
        log.info("outbox %s: %s; %d waiting, next try in %.1f s", self.name, reason, len(ids), delay)
