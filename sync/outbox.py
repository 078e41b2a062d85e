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
import logging
import random
import sqlite3
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from hub.domain.outgoing import Outgoing, as_outgoings
from sync.delivery import DeliveryError, Destination, Outcome
from sync.fhir.codes import MappingError

log = logging.getLogger(__name__)


# Ten 10-minute chunks at 1 Hz a request: the hub's memory while draining stays flat however much
# was recorded (measured: tests/bench/test_bench_week_offline.py), and a request stays ~30 KB.
MAX_SAMPLES_PER_BATCH = 6_000


class OutboxQueue(Protocol):
    """What the worker needs from the store (hub.store.Store implements it)."""

    async def due(
        self, destination: str, *, limit: int, now: datetime, max_samples: int | None = None
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
    local = isinstance(exc, (sqlite3.Error, OSError))
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
        """Send batches until nothing is due now or the destination failed."""
        report = DrainReport()
        while True:
            now = self.clock()
            if self._blocked_until is not None and self._blocked_until > now:
                return report
            batch = as_outgoings(await self.queue.due(self.name, limit=self.batch_size, now=now, max_samples=self.max_samples))
            if not batch:
                return report
            ok = await self._send(batch, report)
            if self.on_change:
                self.on_change()
            if not ok:
                return report

    async def _send(self, batch: list[Outgoing], report: DrainReport) -> bool:
        """Send one batch; True when the destination answered (whatever it said per entry)."""
        report.batches += 1
        try:
            try:
                results = await self.destination.send(batch)
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

        by_id = {str(r.resource_id): r for r in results}
        delivered = [str(m.id) for m in batch if by_id.get(str(m.id)) and by_id[str(m.id)].outcome is Outcome.DELIVERED]
        await self.queue.mark_delivered(self.name, delivered)
        report.delivered += len(delivered)
        for m in batch:
            result = by_id.get(str(m.id))
            if result is not None and result.outcome is Outcome.REJECTED:
                await self.queue.dead_letter(self.name, str(m.id), reason=result.reason or "rejected by destination")
                report.dead += 1
        missing = [str(m.id) for m in batch if str(m.id) not in by_id]
        if missing:  # the destination did not account for them: try again later
            await self._back_off_rows(missing, "destination did not report on every entry", None, report)
        self._failures = 0
        self._blocked_until = None
        return True

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
