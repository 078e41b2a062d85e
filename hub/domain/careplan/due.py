"""What the plan asks for today: due now, later today, done, missed — and the missed-task records.

A task is done by any value of its kind (or a response to its form) taken inside its window,
whoever entered it: the device, the patient by hand, the nurse. Each value completes one task
at most, the earliest open one. A window that closes undone is a missed task: a record
(`MissedTask`) the services store and send (Observation, dataAbsentReason not-performed, triage
blue, basedOn the plan, effectivePeriod the window). Tasks due inside a pause (a hospital stay)
are not asked for and never missed. Pure: the day and "now" are passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from hub.domain.careplan.model import Activity, CarePlan, FormActivity, MeasurementActivity
from hub.domain.careplan.timing import Occurrence, Period
from hub.domain.readings import MeasurementKind


class TaskState(enum.StrEnum):
    DUE_NOW = "due-now"
    LATER = "later"
    DONE = "done"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class Completion:
    """Something the patient (or anyone) did: a measurement kind's value or a form's canonical."""

    what: str  # MeasurementKind value, or the Questionnaire canonical URL
    at: datetime


@dataclass(frozen=True, slots=True)
class DueTask:
    activity: str
    title: str
    due: datetime  # UTC
    opens: datetime
    closes: datetime
    state: TaskState
    done_at: datetime | None = None
    kinds: frozenset[MeasurementKind] = frozenset()  # what a measurement task asks for (Today's button)
    questionnaire: str | None = None  # a form task's canonical (Today opens that form)


@dataclass(frozen=True, slots=True)
class MissedTask:
    """A window that closed undone, as data: enough to build the centre's 'missed' Observation."""

    plan: str  # CarePlan reference
    activity: str
    opens: datetime  # the window: effectivePeriod
    closes: datetime
    due: datetime
    code: str | None = None  # LOINC of a measurement activity
    questionnaire: str | None = None  # canonical of a form activity

    @property
    def key(self) -> str:
        """Stable per task and window: storing the same miss twice is recognisable."""
        return f"{self.plan}|{self.activity}|{self.due.isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan, "activity": self.activity, "opens": self.opens.isoformat(),
            "closes": self.closes.isoformat(), "due": self.due.isoformat(), "code": self.code,
            "questionnaire": self.questionnaire,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MissedTask:
        return cls(
            plan=d["plan"], activity=d["activity"], opens=datetime.fromisoformat(d["opens"]),
            closes=datetime.fromisoformat(d["closes"]), due=datetime.fromisoformat(d["due"]),
            code=d.get("code"), questionnaire=d.get("questionnaire"),
        )


def _paused(plan: CarePlan, activity: Activity, instant: datetime) -> bool:
    pauses: Iterable[Period] = (*plan.pauses, *activity.pauses)
    return activity.paused or any(p.contains(instant) for p in pauses)


def _match(activity: Activity, occurrences: Sequence[Occurrence], done: Sequence[Completion]) -> list[datetime | None]:
    """For each occurrence (in time order), the completion that did it, each used once."""
    if not occurrences:
        return []
    lo, hi = occurrences[0].opens, max(o.closes for o in occurrences)
    mine = sorted(c.at for c in done if lo <= c.at < hi and activity.completed_by(c.what))
    used = [False] * len(mine)
    out: list[datetime | None] = []
    for o in occurrences:
        hit = None
        for i, at in enumerate(mine):
            if not used[i] and o.opens <= at < o.closes:
                used[i], hit = True, at
                break
        out.append(hit)
    return out


def _state(o: Occurrence, done_at: datetime | None, now: datetime) -> TaskState:
    if done_at is not None:
        return TaskState.DONE
    if now >= o.closes:
        return TaskState.MISSED
    return TaskState.DUE_NOW if now >= o.opens else TaskState.LATER


def due_list(plan: CarePlan, day: date, now: datetime, done: Sequence[Completion] = ()) -> list[DueTask]:
    """Every task the plan puts on the local `day`, with its state at `now`, in time order."""
    tasks: list[DueTask] = []
    for activity in plan.activities:
        if activity.timing is None:
            continue
        # A window from yesterday still open (or a value taken early) is matched in one pass.
        occurrences = [o for o in activity.timing.on_day(day) if not _paused(plan, activity, o.due)]
        for o, done_at in zip(occurrences, _match(activity, occurrences, done), strict=True):
            tasks.append(
                DueTask(
                    activity.id, activity.title, o.due, o.opens, o.closes, _state(o, done_at, now), done_at,
                    kinds=activity.kinds if isinstance(activity, MeasurementActivity) else frozenset(),
                    questionnaire=activity.questionnaire if isinstance(activity, FormActivity) else None,
                )
            )
    return sorted(tasks, key=lambda t: (t.due, t.activity))


def missed_tasks(plan: CarePlan, since: datetime, until: datetime, done: Sequence[Completion] = ()) -> list[MissedTask]:
    """Tasks whose window closed in (since, until] undone: what to record after a tick or a restart."""
    missed: list[MissedTask] = []
    for activity in plan.activities:
        if activity.timing is None:
            continue
        # A window closes at most a day and its "after" past its due time.
        lookback = since - timedelta(days=1) - activity.timing.after - timedelta(days=1)
        occurrences = [o for o in activity.timing.between(lookback, until) if not _paused(plan, activity, o.due)]
        for o, done_at in zip(occurrences, _match(activity, occurrences, done), strict=True):
            if done_at is None and since < o.closes <= until:
                missed.append(
                    MissedTask(
                        plan=plan.reference, activity=activity.id, opens=o.opens, closes=o.closes, due=o.due,
                        code=activity.code if isinstance(activity, MeasurementActivity) else None,
                        questionnaire=activity.questionnaire if isinstance(activity, FormActivity) else None,
                    )
                )
    return sorted(missed, key=lambda m: (m.closes, m.activity))
