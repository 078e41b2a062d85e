"""The self-care plan's two hot paths, each against a naive baseline in the same run.

- Evaluation of one value with a year of history, trend rules included (target p95 <= 5 ms).
  Baseline: the same rules given the whole year of the kind's history, as a rule engine without
  history windows would.
- A year-long plan's due list for one day (target <= 20 ms). Baseline: every occurrence of the
  year generated, then the day's picked out.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.domain.careplan import Completion, Observed, due_list, evaluate, parse_plan
from hub.domain.careplan.due import _match
from hub.domain.readings import MeasurementKind
from tests.unit.careplan.plans import example, form, measurement, plan, spo2_zones, timing

pytestmark = pytest.mark.bench
OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2026, 1, 1, 7, 30, tzinfo=OSLO).astimezone(UTC)
W, SPO2, BP = MeasurementKind.BODY_WEIGHT, MeasurementKind.OXYGEN_SATURATION, MeasurementKind.BLOOD_PRESSURE


def year_of_history() -> list[Observed]:
    out: list[Observed] = []
    for d in range(365):
        day = START + timedelta(days=d)
        out.append(Observed(W, day, 80 + (d % 7) * 0.3, "kg"))
        out.append(Observed(SPO2, day + timedelta(minutes=20), 93 + d % 3, "%"))
        out.append(Observed(SPO2, day + timedelta(hours=12), 94 + d % 2, "%"))
        for h in (0, 12):
            out.append(Observed(BP, day + timedelta(minutes=30, hours=h), None, "mm[Hg]",
                                ((MeasurementKind.SYSTOLIC_PRESSURE, 130 + d % 40, "mm[Hg]"), (MeasurementKind.DIASTOLIC_PRESSURE, 80, "mm[Hg]"))))
    return out


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def naive_evaluate(p, value: Observed, history: list[Observed]) -> str:
    """Every zone checked, every rule given the kind's whole history."""
    activity = p.activity_for(value.kind)
    worst = activity.default_level.value if activity.default_level else None
    points = [
        {"value": h.value, "hoursAgo": (value.time - h.time).total_seconds() / 3600, "daysAgo": (value.time - h.time).total_seconds() / 86400}
        for h in reversed(history) if h.kind == value.kind and h.time <= value.time
    ]
    order = {"green": 0, "yellow": 1, "red": 2}
    for z in activity.zones:
        hit = z.compiled({}, {"value": value.value, "baseline": activity.baseline, "history": points}) == [True] if z.rule else z.covers(value.value)
        if hit and (worst is None or order[z.level.value] > order[worst]):
            worst = z.level.value
    return worst


def test_evaluation_with_a_year_of_history(report) -> None:
    hf, copd = parse_plan(example("heart-failure")), parse_plan(example("copd"))
    history = year_of_history()
    end = history[-1].time
    values = [(hf, Observed(W, end + timedelta(minutes=i), 81 + (i % 5) * 0.7, "kg")) for i in range(100)]
    values += [(copd, Observed(SPO2, end + timedelta(minutes=i), 88 + i % 8, "%")) for i in range(100)]
    for p, v in values[:5]:
        evaluate(p, v, history)  # warm up
    ours, naive, agree = [], [], 0
    for p, v in values:
        t0 = time.perf_counter()
        e = evaluate(p, v, history)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = naive_evaluate(p, v, history)
        naive.append(time.perf_counter() - t0)
        agree += e.zone == n
    ours_p95, naive_p95 = p95(ours) * 1000, p95(naive) * 1000
    report(
        "care plan: evaluate one value, a year of history (trend rules)",
        f"p95 {ours_p95:.2f} ms", "p95 <= 5 ms", ours_p95 <= 5,
        f"{len(history)} values of history; baseline (rules over the whole year): p95 {naive_p95:.2f} ms ({naive_p95 / ours_p95:.0f}x); zones agree {agree}/{len(values)}",
    )
    assert agree == len(values)
    assert ours_p95 <= 5


def year_long_plan():
    bounds = {"start": "2026-01-01", "end": "2026-12-31"}
    t = lambda **kw: timing(start=bounds["start"], end=bounds["end"], **kw)  # noqa: E731
    return parse_plan(plan(
        measurement("spo2", "2708-6", spo2_zones(), timing_=t(times=("08:00:00", "14:00:00", "20:00:00"), count=1100)),
        measurement("vekt", "29463-7", [], default="green", timing_=t(times=("07:30:00",))),
        measurement("bt", "85354-9", [], default="green", timing_=t(times=("08:00:00", "20:00:00"), days=["mon", "wed", "fri"])),
        measurement("temp", "8310-5", [], default="green", timing_=t(times=(), period=2)),
        form("cat", "https://example.no/Questionnaire/cat|1", t(times=("10:00:00",), days=["mon"], unit="wk")),
        pauses=[{"start": "2026-06-01", "end": "2026-06-10"}], tz="Europe/Oslo",
    ))


def naive_due(p, day: date, done: list[Completion]) -> int:
    n = 0
    for a in p.activities:
        year = a.timing.between(datetime(2026, 1, 1, tzinfo=UTC) - timedelta(days=1), datetime(2027, 1, 1, tzinfo=UTC))
        todays = [o for o in year if o.due.astimezone(OSLO).date() == day]
        n += len(_match(a, todays, done))
    return n


def test_due_list_for_a_day_of_a_year_long_plan(report) -> None:
    p = year_long_plan()
    day = date(2026, 12, 14)
    done = [Completion(k, START + timedelta(days=d, minutes=m)) for d in range(347) for k, m in
            (("oxygen-saturation", 30), ("body-weight", 0), ("blood-pressure", 35), ("body-temperature", 60))]
    now = datetime(2026, 12, 14, 12, tzinfo=OSLO)
    due_list(p, day, now, done)
    ours, naive = [], []
    for _ in range(30):
        t0 = time.perf_counter()
        tasks = due_list(p, day, now, done)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        count = naive_due(p, day, done)
        naive.append(time.perf_counter() - t0)
    assert len(tasks) == count == 3 + 1 + 2 + 0 + 1  # a Monday; temperature on even days only
    worst, base = max(ours) * 1000, statistics.median(naive) * 1000
    report(
        "care plan: a year-long plan's due list for one day",
        f"max {worst:.2f} ms (median {statistics.median(ours) * 1000:.2f})", "<= 20 ms", worst <= 20,
        f"5 activities (one with count), {len(done)} values done; baseline (the whole year generated): median {base:.1f} ms",
    )
    assert worst <= 20
