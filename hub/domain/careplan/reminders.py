"""When to remind the patient of a task: pure scheduling, "now" passed in.

A task is reminded of at its due time and again every `every` until it is done or its window
closes. A reminder that falls in the quiet hours (local time, e.g. 22:00–07:00) is not given. A
task done on any path — the device, typed in by hand, the nurse's measurement — is never reminded
of after the value that did it (the completions are the same as the due list's). The schedule is
a function of the plan, the completions and the time alone, so it survives a restart unchanged:
the hub keeps only how far it has reminded (hub.services.careplan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from hub.domain.careplan.due import Completion, _match, _paused
from hub.domain.careplan.model import CarePlan


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local [start, end): no reminder sounds then. start > end wraps past midnight (22–07)."""

    start: time
    end: time

    def contains(self, instant: datetime, zone: tzinfo) -> bool:
        t = instant.astimezone(zone).time()
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    every: timedelta = timedelta(minutes=15)
    quiet: QuietHours | None = QuietHours(time(22, 0), time(7, 0))


@dataclass(frozen=True, slots=True)
class Reminder:
    """Remind of one task now: which, when it was due and until when it can be done."""

    activity: str
    title: str
    due: datetime  # UTC
    closes: datetime
    at: datetime  # this reminder's slot

    @property
    def key(self) -> str:
        return f"{self.activity}|{self.due.isoformat()}"


def reminders_between(
    plan: CarePlan,
    since: datetime,
    until: datetime,
    done: Sequence[Completion] = (),
    *,
    zone: tzinfo,
    policy: ReminderPolicy = ReminderPolicy(),
) -> list[Reminder]:
    """Every reminder slot in (since, until], in time order. A caller that was away (a restart,
    a power cut) gives the latest slot of each task only: see `latest_per_task`."""
    if policy.every <= timedelta(0):
        raise ValueError("reminders need a positive interval")
    out: list[Reminder] = []
    for activity in plan.activities:
        if activity.timing is None:
            continue
        # Windows that may still be open in (since, until]: due at most a window's length before.
        lookback = since - activity.timing.after - timedelta(days=1)
        # `between` is [start, end): a task due exactly at `until` is reminded of now.
        occurrences = [o for o in activity.timing.between(lookback, until + timedelta(microseconds=1)) if not _paused(plan, activity, o.due)]
        for o, done_at in zip(occurrences, _match(activity, occurrences, done), strict=True):
            slot = o.due
            while slot < o.closes and slot <= until:
                if done_at is not None and done_at <= slot:
                    break
                if slot > since and not (policy.quiet and policy.quiet.contains(slot, zone)):
                    out.append(Reminder(activity.id, activity.title, o.due, o.closes, slot))
                slot += policy.every
    return sorted(out, key=lambda r: (r.at, r.activity))


def latest_per_task(reminders: Sequence[Reminder]) -> list[Reminder]:
    """One reminder per task, its latest slot: after time away the patient hears once, not a
    burst of the reminders missed."""
    latest: dict[str, Reminder] = {}
    for r in reminders:
        latest[r.key] = r
    return sorted(latest.values(), key=lambda r: (r.at, r.activity))


__all__ = ["QuietHours", "Reminder", "ReminderPolicy", "latest_per_task", "reminders_between"]
