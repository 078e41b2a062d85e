"""Judging one value against the patient's plan: its zone, the rule that decided it, the patient's
own advice, whether to measure again first, and whether the centre is alerted.

Pure: the value's own time is "now"; the history is passed in (in time order, either way) and read
from its newest end, only as far back as a rule or a confirmation needs — a year of history costs
no more than a week of it.

- Limits are half-open, [low, high): a value on a boundary belongs to the zone above it.
- A rule (FHIRPath) that is true puts the value in its zone; the most severe zone wins, limits
  before rules at the same level (plan order otherwise).
- A value the device flagged questionable asks to measure again and alarms nothing.
- An alerting zone (red by default) needs `confirmations` values in a row (2 by default): the
  first asks to measure again after the activity's wait; the one that completes the count raises
  the alert, once — later values of the same run do not raise it again. A flagged value neither
  counts nor breaks the run.
- Without a plan for this kind, or without a number: None. No advice is ever invented.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hub.domain.careplan import codes
from hub.domain.careplan.model import CarePlan, Level, MeasurementActivity, Zone, ZoneKind
from hub.domain.careplan.units import convert
from hub.domain.evaluation import Code, Evaluation, ReferenceRange
from hub.domain.measurements import Measurement
from hub.domain.readings import MeasurementKind, QualityFlag

# Flags that make the value itself doubtful: measure again before anything is decided on it.
REMEASURE_FLAGS = frozenset(
    {
        QualityFlag.QUESTIONABLE,
        QualityFlag.INVALID,
        QualityFlag.EARLY_ESTIMATE,
        QualityFlag.MEASUREMENT_ONGOING,
        QualityFlag.UNLIKELY_VALUE,
        QualityFlag.SENSOR_PROBLEM,
        QualityFlag.DEVICE_FAULT,
        QualityFlag.BODY_MOVEMENT,
        QualityFlag.CUFF_LOOSE,
        QualityFlag.IMPROPER_POSITION,
        QualityFlag.SAMPLE_TOO_SMALL,
        QualityFlag.STRIP_ERROR,
        QualityFlag.READ_INTERRUPTED,
        QualityFlag.TEMPERATURE_OUT_OF_RANGE,
    }
)
_FLAG_NAMES = frozenset(f.value for f in REMEASURE_FLAGS)


@dataclass(frozen=True, slots=True)
class Observed:
    """The part of a measurement a plan reads: kind, numbers in UCUM, time, the device's flags."""

    kind: MeasurementKind
    time: datetime
    value: float | None = None
    unit: str = ""
    components: tuple[tuple[MeasurementKind, float, str], ...] = ()
    flags: frozenset[str] = frozenset()
    id: str | None = None

    @property
    def flagged(self) -> bool:
        return bool(self.flags & _FLAG_NAMES)

    def value_for(self, target: MeasurementKind, activity: MeasurementActivity) -> float | None:
        """The number a zone reads, in the activity's unit; None when absent or not convertible."""
        if self.kind in activity.kinds and target not in codes.LOINC_BY_COMPONENT:
            raw, unit = self.value, self.unit
        else:
            found = [(v, u) for k, v, u in self.components if k == target]
            if not found:
                return None
            raw, unit = found[0]
        if raw is None:
            return None
        return convert(target, raw, unit, codes.CANONICAL_UNIT.get(target, unit)) if unit else raw


def observed(m: Measurement | Observed) -> Observed:
    """A stored Measurement as the plan sees it."""
    if isinstance(m, Observed):
        return m
    r = m.reading
    return Observed(
        kind=r.kind,
        time=m.effective_time,
        value=r.value,
        unit=r.unit,
        components=tuple((c.kind, c.value, c.unit) for c in r.components if c.value is not None),
        flags=frozenset(f.value for f in r.flags),
        id=str(m.id),
    )


@dataclass(frozen=True, slots=True)
class _Decision:
    level: Level
    zone: Zone | None  # None: the default level
    target: MeasurementKind


@dataclass
class _Prior:
    """History of one activity, newest first, read lazily from the end of the stored list."""

    points: Iterator[Observed]
    seen: list[Observed] = field(default_factory=list)
    done: bool = False

    def upto(self, oldest: datetime) -> list[Observed]:
        while not self.done and (not self.seen or self.seen[-1].time >= oldest):
            nxt = next(self.points, None)
            if nxt is None:
                self.done = True
            else:
                self.seen.append(nxt)
        return [p for p in self.seen if p.time >= oldest]


class PlanEvaluator:
    """The plan in force, ready to judge values: `evaluate(measurement, history)`."""

    def __init__(self, plan: CarePlan, language: str = "nb") -> None:
        self.plan = plan
        self.language = language
        # How many of the latest values of a kind a caller should pass: enough for every rule's
        # history and a run of confirmations (the evaluation reads no further back than it needs).
        counts = [z.history_count for a in plan.activities if isinstance(a, MeasurementActivity) for z in a.zones if z.rule]
        self.history_limit = max(counts, default=0) + 20

    def evaluate(self, measurement: Measurement | Observed, history: Sequence[Measurement | Observed] = ()) -> Evaluation | None:
        return evaluate(self.plan, measurement, history, language=self.language)


def evaluate(
    plan: CarePlan | None,
    measurement: Measurement | Observed,
    history: Sequence[Measurement | Observed] = (),
    *,
    language: str = "nb",
) -> Evaluation | None:
    """The plan's judgement of `measurement`, or None when the plan says nothing about it."""
    if plan is None:
        return None
    current = observed(measurement)
    activity = plan.activity_for(current.kind)
    if activity is None or not activity.zones and activity.default_level is None:
        return None
    prior = _Prior(_history(activity, current, history))
    decision = _decide(activity, current, prior, current.time)
    if decision is None:
        return None
    zone = decision.zone
    action = zone.action if zone else activity.default_action
    picked = action.pick(language) if action else None
    confirmations = zone.confirmations if zone and zone.alerts else 0
    remeasure = alert = False
    reason: str | None = None
    seen = 0
    implicated: tuple[str, ...] = ()
    if current.flagged:
        remeasure, reason = True, "flagged"
    elif zone is not None and zone.alerts:
        earlier = _confirming(activity, decision.level, current, prior)
        seen = 1 + len(earlier)
        if seen < zone.confirmations:
            remeasure, reason = True, "confirm"
        alert = seen == zone.confirmations
        if alert:  # the values of the run that raised it, oldest first (the DetectedIssue names them)
            implicated = tuple(p.id for p in reversed(earlier[: zone.confirmations - 1]) if p.id is not None)
    level = decision.level
    ranges = reference_ranges(activity)
    obs_code = next((r.type.code for r in ranges if zone is not None and r.zone == zone.id), None)
    obs_code = obs_code or {"green": "N", "yellow": "A", "red": "AA"}[level.value]
    return Evaluation(
        plan=plan.reference,
        activity=activity.id,
        zone=level.value,
        rule=zone.id if zone else "default",
        rule_kind=(zone.kind if zone else ZoneKind.DEFAULT).value,
        language=picked[0] if picked else None,
        advice=picked[1] if picked else None,
        advice_texts=action.texts if action else (),
        remeasure=remeasure,
        remeasure_reason=reason,
        remeasure_after_s=int(activity.remeasure_wait.total_seconds()) if remeasure else None,
        alert=alert,
        confirmations_seen=seen,
        confirmations_needed=confirmations,
        implicated=implicated,
        interpretation=(
            Code(codes.OBSERVATION_INTERPRETATION, obs_code),
            Code(codes.ZONE_SYSTEM, level.value, codes.LEVEL_TEXT[level.value]),
            Code(codes.VKP_TRIAGE, codes.TRIAGE_BY_LEVEL[level.value], codes.LEVEL_TEXT[level.value]),
        ),
        reference_ranges=ranges,
    )


def _newest_first(history: Sequence[Measurement | Observed]) -> Iterator[Measurement | Observed]:
    """The history from its newest end: stored lists come oldest first, a store's "latest N"
    query newest first; either is read without sorting."""
    if len(history) > 1 and observed(history[0]).time > observed(history[-1]).time:
        return iter(history)
    return reversed(history)


def _history(activity: MeasurementActivity, current: Observed, history: Sequence[Measurement | Observed]) -> Iterator[Observed]:
    """This activity's earlier values, newest first (the value itself and later ones skipped)."""
    for item in _newest_first(history):
        p = observed(item)
        if p.kind not in activity.kinds or (current.id is not None and p.id == current.id) or p.time > current.time:
            continue
        yield p


def _decide(activity: MeasurementActivity, current: Observed, prior: _Prior, now: datetime) -> _Decision | None:
    """The most severe zone over every value the plan reads in `current` (None: no number)."""
    best: _Decision | None = None
    for target in activity.targets:
        value = current.value_for(target, activity)
        if value is None:
            continue
        found = _limit_zone(activity, target, value)
        for zone in activity.zones:
            if zone.rule is None or zone.target != target:
                continue
            if (found is None or zone.level.severity > found.level.severity) and _rule_holds(zone, activity, value, prior, now):
                found = _Decision(zone.level, zone, target)
        if found is not None and (best is None or found.level.severity > best.level.severity):
            best = found
    return best


def _limit_zone(activity: MeasurementActivity, target: MeasurementKind, value: float) -> _Decision | None:
    for zone in activity.zones:
        if zone.rule is None and zone.target == target and zone.covers(value):
            return _Decision(zone.level, zone, target)
    if activity.default_level is not None:
        return _Decision(activity.default_level, None, target)
    return None


def _rule_holds(zone: Zone, activity: MeasurementActivity, value: float, prior: _Prior, now: datetime) -> bool:
    points = []
    for p in prior.upto(now - zone.history_window):
        if p.time > now or p.flagged:
            continue
        v = p.value_for(zone.target, activity)
        if v is not None:
            age = (now - p.time).total_seconds()
            points.append({"value": v, "hoursAgo": age / 3600, "daysAgo": age / 86400})
            if len(points) >= zone.history_count:
                break
    context = {"value": value, "baseline": activity.baseline, "history": points}
    assert zone.compiled is not None
    try:
        return zone.compiled({}, context) == [True]
    except Exception:  # a rule that fails on real data decides nothing (it passed the dry run)
        return False


def _confirming(activity: MeasurementActivity, level: Level, current: Observed, prior: _Prior) -> list[Observed]:
    """The values just before this one (newest first), within the confirmation window, at this level."""
    found: list[Observed] = []
    for p in prior.upto(current.time - activity.confirm_within):
        if p.time < current.time - activity.confirm_within:
            break
        if p.flagged:
            continue  # a doubtful value neither confirms nor breaks the run
        got = _decide(activity, p, _Prior(_older_than(prior, p)), p.time)
        if got is None or got.level.severity < level.severity:
            break
        found.append(p)
    return found


def _older_than(prior: _Prior, point: Observed) -> Iterator[Observed]:
    """The history before `point`, reading on from where `prior` stopped when it has to."""
    index = next(i for i, q in enumerate(prior.seen) if q is point)
    yield from prior.seen[index + 1 :]
    while not prior.done:
        nxt = next(prior.points, None)
        if nxt is None:
            prior.done = True
            return
        prior.seen.append(nxt)
        yield nxt


def reference_ranges(activity: MeasurementActivity) -> tuple[ReferenceRange, ...]:
    """Every limit zone as a typed range: green N; below green L/LL, above it H/HH; else A/AA."""
    out = []
    for zone in activity.zones:
        if zone.rule is not None:
            continue
        greens = [z for z in activity.zones if z.rule is None and z.target == zone.target and z.level is Level.GREEN]
        out.append(
            ReferenceRange(
                level=zone.level.value,
                type=Code(codes.OBSERVATION_INTERPRETATION, _range_type(zone, greens)),
                text=codes.LEVEL_TEXT[zone.level.value],
                unit=codes.CANONICAL_UNIT.get(zone.target, activity.unit),
                low=zone.low,
                high=zone.high,
                component=codes.LOINC_BY_COMPONENT.get(zone.target),
                zone=zone.id,
            )
        )
    return tuple(out)


def _range_type(zone: Zone, greens: list[Zone]) -> str:
    if zone.level is Level.GREEN:
        return "N"
    severe = zone.level is Level.RED
    if greens:
        g = greens[0]
        if zone.high is not None and g.low is not None and zone.high <= g.low:
            return "LL" if severe else "L"
        if zone.low is not None and g.high is not None and zone.low >= g.high:
            return "HH" if severe else "H"
    return "AA" if severe else "A"


__all__ = ["Code", "Evaluation", "Observed", "PlanEvaluator", "REMEASURE_FLAGS", "ReferenceRange", "evaluate", "observed", "reference_ranges"]
