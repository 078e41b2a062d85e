"""The patient's self-care plan on the running hub: which plan is in force, judging values with it,
what is due today, the tasks whose window closed undone, and reminders.

- Plans arrive from the centre (sync.pull.careplans) or a folder; each is checked with the same
  code `heima plan check` runs. A good new version is stored and judges values measured from now
  on; values measured earlier keep the plan that was in force then. A bad plan is refused with its
  reason in the log (never patient data) and the last good one stays in force.
- `PlanEvaluator` is the recording use case's Evaluator port: the plan in force at the value's
  time, the history from the store's latest-N query of its kind. Without a plan it says nothing.
- `CarePlanClock.tick(now)` closes the windows that closed since the last tick (a missed-task
  record for each, queued for the centre once, whatever restarts happen) and gives the reminders
  due (a `ReminderDue` event per task, its latest slot only after time away). Its progress is
  stored, so a restart or a power cut neither loses nor repeats one.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Protocol

from hub.domain.careplan import (
    CarePlan,
    Completion,
    DueTask,
    PlanError,
    Reminder,
    ReminderPolicy,
    due_list,
    evaluate,
    latest_per_task,
    missed_tasks,
    parse_plan,
    reminders_between,
)
from hub.domain.careplan.model import MeasurementActivity
from hub.domain.evaluation import Evaluation
from hub.domain.measurements import Measurement
from hub.domain.outgoing import Outgoing, of_missed_task
from hub.domain.readings import MeasurementKind
from hub.services.events import EventBus, PlanChanged, ReminderDue, TaskMissed

log = logging.getLogger(__name__)

MISSED_THROUGH = "missed-through"
REMINDED_THROUGH = "reminded-through"


class StoredPlanLike(Protocol):
    plan_id: str
    version: str
    source: str
    document: dict[str, Any]
    in_force_from: datetime


class PlanStorePort(Protocol):
    """hub.store.plans.PlanStore."""

    async def plans(self) -> Sequence[StoredPlanLike]: ...

    async def add(self, plan_id: str, version: str, source: str, document: dict[str, Any], *, in_force_from: datetime) -> bool: ...

    async def state(self, name: str) -> str | None: ...

    async def set_state(self, name: str, value: str) -> None: ...

    async def completions(self, since: datetime, until: datetime) -> list[Completion]: ...


@dataclass(frozen=True, slots=True)
class PlanInForce:
    """A plan and the time from which it judges values."""

    plan: CarePlan
    since: datetime
    source: str


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """What offering a plan did: applied (a new version), unchanged (this version is in force
    already), or refused (with the reason; the last good plan stays)."""

    state: str  # applied | unchanged | refused
    reference: str | None = None
    reason: str | None = None


class PlanEvaluator:
    """The Evaluator port (hub.services.evaluation) with the patient's plans: a value is judged by
    the plan that was in force when it was measured. Pure once built; rebuilt when a plan changes."""

    def __init__(self, versions: Sequence[PlanInForce] = (), *, language: str = "nb") -> None:
        self.versions = sorted(versions, key=lambda v: v.since)
        self._starts = [v.since for v in self.versions]
        self.language = language
        counts = [
            z.history_count
            for v in self.versions
            for a in v.plan.activities
            if isinstance(a, MeasurementActivity)
            for z in a.zones
            if z.rule
        ]
        # Enough of the latest values of a kind for every rule's history and a run of confirmations.
        self.history_limit = (max(counts, default=0) + 20) if self.versions else 0

    def plan_at(self, instant: datetime) -> CarePlan | None:
        i = bisect.bisect_right(self._starts, instant) - 1
        return self.versions[i].plan if i >= 0 else None

    def evaluate(self, measurement: Measurement, history: Sequence[Measurement]) -> Evaluation | None:
        plan = self.plan_at(measurement.effective_time)
        if plan is None:
            return None  # no plan in force when it was measured: no advice is invented
        return evaluate(plan, measurement, history, language=self.language)


def plan_version(document: dict[str, Any]) -> str:
    meta = document.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    return str(version) if version is not None else ""


class CarePlanService:
    def __init__(
        self,
        store: PlanStorePort,
        *,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        local_zone: tzinfo = UTC,
        language: str = "nb",
        on_change: Callable[[PlanEvaluator], None] | None = None,
    ) -> None:
        """`on_change`: handed the new evaluator whenever the plans change (the root gives it to
        the recording use case)."""
        self.store = store
        self.events = events or EventBus()
        self.clock = clock
        self.local_zone = local_zone
        self.language = language
        self.on_change = on_change
        self.versions: list[PlanInForce] = []
        self.evaluator = PlanEvaluator(language=language)

    async def load(self) -> None:
        """The plans stored before (a restart): each was checked when it came."""
        versions = []
        for stored in await self.store.plans():
            try:
                versions.append(PlanInForce(parse_plan(stored.document), stored.in_force_from, stored.source))
            except PlanError as exc:  # checked when stored; a Heima that reads it differently now
                log.warning("a stored care plan can no longer be used and is skipped: %s", exc)
        self._set(versions)

    def _set(self, versions: list[PlanInForce]) -> None:
        self.versions = sorted(versions, key=lambda v: v.since)
        self.evaluator = PlanEvaluator(self.versions, language=self.language)
        if self.on_change:
            self.on_change(self.evaluator)

    @property
    def current(self) -> PlanInForce | None:
        return self.versions[-1] if self.versions else None

    def plan_at(self, instant: datetime) -> CarePlan | None:
        return self.evaluator.plan_at(instant)

    async def offer(self, document: Any, *, source: str) -> PlanOutcome:
        """A plan from `source` (a centre's name, a folder): applied from now when it is good and
        new, else the plan in force stays."""
        try:
            plan = parse_plan(document)
        except PlanError as exc:
            # The reason names the activity and what to change; never a value or the patient.
            log.warning("care plan from %s refused, the plan in force stays: %s", source, exc)
            return PlanOutcome("refused", reason=str(exc))
        current = self.current
        if current is not None and current.plan.id == plan.id and (current.plan.version or "") == plan_version(document):
            return PlanOutcome("unchanged", plan.reference)
        now = self.clock()
        if current is not None and now <= current.since:
            now = current.since + timedelta(microseconds=1)  # a clock set back: still after the last one
        if not await self.store.add(plan.id, plan_version(document), source, dict(document), in_force_from=now):
            return PlanOutcome("unchanged", plan.reference)  # an older version offered again: kept as it was
        self._set([*self.versions, PlanInForce(plan, now, source)])
        log.info("care plan %s from %s is in force for values measured from now on", plan.reference, source)
        self.events.publish(PlanChanged(plan.reference, plan.title))
        return PlanOutcome("applied", plan.reference)

    # -- what is due ------------------------------------------------------------------------

    def kinds(self) -> frozenset[MeasurementKind]:
        """The measurement kinds the plan in force asks for (none without a plan)."""
        current = self.current
        return current.plan.measurement_kinds if current else frozenset()

    async def due_today(self, now: datetime | None = None) -> list[DueTask]:
        """Today's tasks (the patient's local day) with their state at `now`: due now, later,
        done, missed. Empty without a plan."""
        now = now or self.clock()
        plan = self.plan_at(now)
        if plan is None:
            return []
        day = now.astimezone(self.local_zone).date()
        done = await self._completions_around(day)
        return due_list(plan, day, now, done)

    async def _completions_around(self, day: date) -> list[Completion]:
        start = datetime.combine(day, datetime.min.time(), self.local_zone).astimezone(UTC)
        return await self.store.completions(start - timedelta(days=2), start + timedelta(days=2))


class CarePlanClock:
    """Closes task windows and gives reminders as time passes: `tick(now)` from the hub's loop."""

    def __init__(
        self,
        plans: CarePlanService,
        store: PlanStorePort,
        *,
        share: Callable[[Outgoing], Any],
        events: EventBus | None = None,
        policy: ReminderPolicy = ReminderPolicy(),
    ) -> None:
        """`share`: queue an outgoing resource for the destinations that take it
        (hub.services.outgoing.OutgoingService.share)."""
        self.plans = plans
        self.store = store
        self.share = share
        self.events = events or plans.events
        self.policy = policy

    async def tick(self, now: datetime) -> tuple[list[Outgoing], list[Reminder]]:
        missed = await self.close_windows(now)
        reminded = await self.remind(now)
        return missed, reminded

    async def _since(self, name: str, now: datetime) -> datetime | None:
        stored = await self.store.state(name)
        if stored is not None:
            return datetime.fromisoformat(stored)
        first = self.plans.versions[0].since if self.plans.versions else None
        return first if first is not None and first < now else None

    async def close_windows(self, now: datetime) -> list[Outgoing]:
        """A missed-task record for every window that closed undone since the last call, each
        judged by the plan in force when it closed; queued once (named by plan, task and time)."""
        since = await self._since(MISSED_THROUGH, now)
        if since is None or since >= now:
            if since is None and self.plans.versions:
                await self.store.set_state(MISSED_THROUGH, now.isoformat())
            return []
        queued: list[Outgoing] = []
        done = await self.store.completions(since - timedelta(days=3), now)
        for plan, start, end in self._spans(since, now):
            for task in missed_tasks(plan, start, end, done):
                item = of_missed_task(task)
                await self.share(item)
                queued.append(item)
                self.events.publish(TaskMissed(task.activity, task.due, task.closes))
        await self.store.set_state(MISSED_THROUGH, now.isoformat())
        if queued:
            log.info("%d task window(s) closed undone; recorded as missed", len(queued))
        return queued

    def _spans(self, since: datetime, until: datetime) -> Iterable[tuple[CarePlan, datetime, datetime]]:
        """(plan, start, end): the parts of (since, until] each plan version was in force for."""
        versions = self.plans.versions
        for i, v in enumerate(versions):
            end = versions[i + 1].since if i + 1 < len(versions) else until
            a, b = max(since, v.since), min(until, end)
            if a < b:
                yield v.plan, a, b

    async def remind(self, now: datetime) -> list[Reminder]:
        """A ReminderDue for every task with a reminder slot since the last call (its latest one)."""
        since = await self._since(REMINDED_THROUGH, now)
        if since is None or since >= now:
            if since is None and self.plans.versions:
                await self.store.set_state(REMINDED_THROUGH, now.isoformat())
            return []
        done = await self.store.completions(since - timedelta(days=2), now + timedelta(minutes=1))
        found: list[Reminder] = []
        for plan, start, end in self._spans(since, now):
            found += reminders_between(plan, start, end, done, zone=self.plans.local_zone, policy=self.policy)
        given = latest_per_task(found)
        for r in given:
            self.events.publish(ReminderDue(r.activity, r.title, r.due, r.closes, r.at))
        await self.store.set_state(REMINDED_THROUGH, now.isoformat())
        return given


__all__ = ["CarePlanClock", "CarePlanService", "PlanEvaluator", "PlanInForce", "PlanOutcome", "PlanStorePort", "plan_version"]
