"""FHIR Timing in the patient's own time zone: when a task is due, and the window it may be done in.

Local times are local: a daily 08:00 task is due at 08:00 on the wall clock on both sides of a
daylight-saving change, and once on the day itself. A time that does not exist on the
spring-forward day (02:30 in Oslo) falls at the same distance after the gap (03:30); a time that
happens twice on the fall-back day is due the first time. Every instant this module hands out is
in UTC, so the arithmetic on windows is elapsed time, never wall-clock time.

Supported (docs/care-plan-format.md): boundsPeriod, count, frequency/period/periodUnit
(min, h, d, wk, mo, a), timeOfDay, dayOfWeek, when (+ offset) from a fixed table of local
times, and event (fixed instants). Pure: the day and "now" are always passed in.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

DAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAILY_UNITS = ("d", "wk", "mo", "a")
SUB_DAILY_UNITS = {"min": timedelta(minutes=1), "h": timedelta(hours=1)}

# `when` codes as local times (FHIR's event-timing; meals at fixed hours). AC* is before a meal,
# PC* after it: offset moves away from the meal in that direction; for the rest it is after.
WHEN_TIMES: dict[str, tuple[time, ...]] = {
    "WAKE": (time(7, 0),),
    "MORN": (time(8, 0),),
    "MORN.early": (time(7, 0),),
    "MORN.late": (time(10, 0),),
    "NOON": (time(12, 0),),
    "AFT": (time(14, 0),),
    "AFT.early": (time(13, 0),),
    "AFT.late": (time(16, 0),),
    "EVE": (time(18, 0),),
    "EVE.early": (time(17, 0),),
    "EVE.late": (time(20, 0),),
    "NIGHT": (time(22, 0),),
    "HS": (time(21, 30),),
    "PHS": (time(22, 30),),
    "C": (time(8, 0), time(12, 0), time(17, 0)),
    "CM": (time(8, 0),),
    "CD": (time(12, 0),),
    "CV": (time(17, 0),),
    "AC": (time(8, 0), time(12, 0), time(17, 0)),
    "ACM": (time(8, 0),),
    "ACD": (time(12, 0),),
    "ACV": (time(17, 0),),
    "PC": (time(8, 0), time(12, 0), time(17, 0)),
    "PCM": (time(8, 0),),
    "PCD": (time(12, 0),),
    "PCV": (time(17, 0),),
}

DEFAULT_BEFORE = timedelta(minutes=30)  # a value taken a little early still counts
DEFAULT_AFTER = timedelta(hours=2)  # how long a timed task stays open after its time


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC; end None: open-ended."""

    start: datetime
    end: datetime | None = None

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant and (self.end is None or instant < self.end)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One time a task is due: the instant, and the window in which doing it counts (UTC)."""

    due: datetime
    opens: datetime
    closes: datetime
    index: int | None = None  # its number since the Timing's start, when counting matters


@dataclass(frozen=True)
class Timing:
    """A parsed FHIR Timing; instants in UTC, local times in `zone`."""

    zone: str
    start: datetime | None = None  # boundsPeriod, UTC
    end: datetime | None = None
    count: int | None = None
    frequency: int = 1
    period: float = 1
    unit: str = "d"
    times_of_day: tuple[time, ...] = ()
    days_of_week: frozenset[int] = frozenset()  # 0 = Monday
    events: tuple[datetime, ...] = ()  # fixed instants, UTC
    before: timedelta = DEFAULT_BEFORE
    after: timedelta = DEFAULT_AFTER

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @cached_property
    def anchor(self) -> date:
        """The local day periods are counted from: the start's, else a Monday (weeks start on it)."""
        return self.start.astimezone(self.tz).date() if self.start else date(2000, 1, 3)

    # -- the public questions ----------------------------------------------------------------

    def on_day(self, day: date) -> list[Occurrence]:
        """Every occurrence due on the local `day`, in time order, within bounds and count."""
        if self.events:
            found = [self._fixed(e) for e in self.events if e.astimezone(self.tz).date() == day]
        elif self.unit in SUB_DAILY_UNITS:
            found = self._sub_daily(day)
        else:
            found = self._daily(day)
        found = [o for o in found if self._in_bounds(o.due)]
        if self.count is not None:
            first = self._count_before(day)
            found = [_with_index(o, first + i) for i, o in enumerate(found) if first + i < self.count]
        return found

    def between(self, start: datetime, end: datetime) -> list[Occurrence]:
        """Occurrences due in [start, end)."""
        a = start.astimezone(self.tz).date()
        b = end.astimezone(self.tz).date()
        out: list[Occurrence] = []
        day = a
        while day <= b:
            out.extend(o for o in self.on_day(day) if start <= o.due < end)
            day += timedelta(days=1)
        return out

    def first_occurrence(self) -> Occurrence | None:
        """The first time this Timing fires (searched over two of its periods from its start), or None."""
        per_period = {"d": 1, "wk": 7, "mo": 31, "a": 366}.get(self.unit, 1)
        horizon_days = max(800, int(self.period) * per_period * 2 + 2)
        if self.events:
            found = sorted(e for e in self.events if self._in_bounds(e))
            return self._fixed(found[0]) if found and (self.count is None or self.count > 0) else None
        day = self.anchor
        last = self.end.astimezone(self.tz).date() if self.end else None
        for _ in range(horizon_days):
            if last is not None and day > last:
                return None
            got = self.on_day(day)
            if got:
                return got[0]
            day += timedelta(days=1)
        return None

    # -- how occurrences are made -------------------------------------------------------------

    def _local(self, day: date, at: time) -> datetime:
        # fold=0: a repeated time is the first one; a skipped one lands after the gap.
        return datetime.combine(day, at, tzinfo=self.tz).astimezone(UTC)

    def _day_start(self, day: date) -> datetime:
        return self._local(day, time(0, 0))

    def _in_bounds(self, instant: datetime) -> bool:
        return (self.start is None or instant >= self.start) and (self.end is None or instant < self.end)

    def _fixed(self, instant: datetime) -> Occurrence:
        return Occurrence(instant, instant - self.before, instant + self.after)

    def is_active_day(self, day: date) -> bool:
        """Whether the period/dayOfWeek rules put any task on this local day (bounds aside)."""
        offset = (day - self.anchor).days
        if offset < 0 and self.start is not None:
            return False
        period = int(self.period)
        if self.unit == "d":
            ok = offset % period == 0
        elif self.unit == "wk":
            # Weeks are counted from the Monday of the anchor's week.
            weeks = ((day - self.anchor).days + self.anchor.weekday()) // 7
            ok = weeks % period == 0 and (bool(self.days_of_week) or day.weekday() == self.anchor.weekday())
        elif self.unit == "mo":
            months = (day.year - self.anchor.year) * 12 + day.month - self.anchor.month
            ok = months % period == 0 and day.day == _clamped_day(day.year, day.month, self.anchor.day)
        else:  # "a"
            ok = (day.year - self.anchor.year) % period == 0 and day.month == self.anchor.month and day.day == _clamped_day(
                day.year, day.month, self.anchor.day
            )
        return ok and (not self.days_of_week or day.weekday() in self.days_of_week)

    def _per_day(self) -> int:
        return len(self.times_of_day) if self.times_of_day else self.frequency

    def _daily(self, day: date) -> list[Occurrence]:
        if not self.is_active_day(day):
            return []
        if not self.times_of_day:
            # No time named: the day is cut into `frequency` equal windows (once a day: all day).
            start, end = self._day_start(day), self._day_start(day + timedelta(days=1))
            step = (end - start) / self.frequency
            return [Occurrence(start + i * step, start + i * step, start + (i + 1) * step) for i in range(self.frequency)]
        dues = [self._local(day, t) for t in self.times_of_day]
        out = []
        for i, due in enumerate(dues):
            closes = due + self.after
            if i + 1 < len(dues):  # windows never overlap: the next task's window starts it
                closes = min(closes, dues[i + 1] - self.before)
            out.append(Occurrence(due, due - self.before, max(closes, due + timedelta(minutes=1))))
        return out

    def _sub_daily(self, day: date) -> list[Occurrence]:
        step = SUB_DAILY_UNITS[self.unit] * self.period / self.frequency
        origin = self.start or self._day_start(day)
        first, last = self._day_start(day), self._day_start(day + timedelta(days=1))
        k = max(0, -((origin - first) // step))  # ceil((first - origin) / step)
        out = []
        due = origin + k * step
        while due < last:
            if due >= first:
                out.append(Occurrence(due, due, due + step, index=k if self.start else None))
            k += 1
            due = origin + k * step
        return out

    def _count_before(self, day: date) -> int:
        """How many occurrences fell before the local `day` since the start (for `count`)."""
        if self.events:
            return sum(1 for e in self.events if self._in_bounds(e) and e.astimezone(self.tz).date() < day)
        if self.start is None:
            return 0
        if self.unit in SUB_DAILY_UNITS:
            step = SUB_DAILY_UNITS[self.unit] * self.period / self.frequency
            return max(0, -((self.start - self._day_start(day)) // step))
        if day <= self.anchor:
            return 0
        # The start's own day counts only what falls after the start instant.
        n = sum(1 for o in self._daily(self.anchor) if self._in_bounds(o.due))
        per_day, d = self._per_day(), self.anchor + timedelta(days=1)
        while d < day:
            if self.is_active_day(d):
                n += per_day
            d += timedelta(days=1)
        return n


def _with_index(o: Occurrence, index: int) -> Occurrence:
    return Occurrence(o.due, o.opens, o.closes, index)


def _clamped_day(year: int, month: int, wanted: int) -> int:
    return min(wanted, calendar.monthrange(year, month)[1])


def describe(t: Timing) -> str:
    """A short English description for `heima plan check` (no patient data in a Timing)."""
    if t.events:
        return f"{len(t.events)} fixed time(s), {t.zone}"
    every = f"every {t.period:g} {t.unit}" if t.period != 1 else f"every {t.unit}"
    times = ", ".join(x.strftime("%H:%M") for x in t.times_of_day)
    days = ",".join(DAY_CODES[d] for d in sorted(t.days_of_week))
    parts = [f"{t.frequency}x {every}" if not times else every]
    if times:
        parts.append(f"at {times}")
    if days:
        parts.append(f"on {days}")
    if t.count is not None:
        parts.append(f"{t.count} times")
    parts.append(t.zone)
    return " ".join(parts)
