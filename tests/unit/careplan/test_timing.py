"""FHIR Timing in Europe/Oslo: local times stay local across daylight saving, once a day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.careplan import parse_timing
from tests.unit.careplan.plans import timing

OSLO = ZoneInfo("Europe/Oslo")
SPRING = date(2026, 3, 29)  # 02:00 -> 03:00
AUTUMN = date(2026, 10, 25)  # 03:00 -> 02:00


def t(**kw):
    return parse_timing(timing(**kw), None)


def local(o):
    return o.due.astimezone(OSLO)


def test_daily_0800_is_0800_local_on_both_sides_of_both_changes():
    daily = t(start="2020-01-01")
    for change in (SPRING, AUTUMN):
        for day in (change - timedelta(days=1), change, change + timedelta(days=1)):
            got = daily.on_day(day)
            assert len(got) == 1 and local(got[0]).time() == time(8, 0) and local(got[0]).date() == day
    # UTC moves, the wall clock does not.
    assert daily.on_day(SPRING - timedelta(days=1))[0].due.hour == 7 and daily.on_day(SPRING)[0].due.hour == 6
    assert daily.on_day(AUTUMN - timedelta(days=1))[0].due.hour == 6 and daily.on_day(AUTUMN)[0].due.hour == 7


def test_a_time_in_the_spring_gap_fires_once_after_it_and_a_repeated_time_once():
    gap = t(times=("02:30:00",), start="2020-01-01").on_day(SPRING)
    assert len(gap) == 1 and local(gap[0]).time() == time(3, 30)
    twice = t(times=("02:30:00",), start="2020-01-01").on_day(AUTUMN)
    assert len(twice) == 1 and twice[0].due == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (summer time)


@settings(max_examples=300, deadline=None)
@given(day=st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31)), at=st.sampled_from(["00:00:00", "02:30:00", "08:00:00", "23:59:00"]))
def test_a_daily_task_fires_exactly_once_per_local_day_at_its_local_time(day, at):
    daily = t(times=(at,), start="2000-01-01")
    got = daily.on_day(day)
    assert len(got) == 1
    wanted = time.fromisoformat(at)
    seen = local(got[0])
    assert seen.date() == day
    # At the local time — except in the spring gap, where it is the same distance after it.
    if seen.time() != wanted:
        assert wanted == time(2, 30) and seen.time() == time(3, 30)
    # And over the whole day in UTC, no other occurrence.
    start = datetime.combine(day, time(0), tzinfo=OSLO)
    assert len(daily.between(start, start + timedelta(days=1))) <= 2  # a 25-hour day is still one local day
    assert [o.due for o in daily.between(start.astimezone(UTC), datetime.combine(day + timedelta(days=1), time(0), tzinfo=OSLO))] == [got[0].due]


@settings(max_examples=50, deadline=None)
@given(day=st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31)))
def test_the_window_is_elapsed_time_after_the_due_time(day):
    o = t(start="2000-01-01", before=(30, "min"), after=(3, "h")).on_day(day)[0]
    assert o.closes - o.due == timedelta(hours=3) and o.due - o.opens == timedelta(minutes=30)


def test_dayofweek_every_other_day_weekly_monthly():
    weekdays = t(days=["mon", "thu"], start="2026-01-01")
    week = [SPRING + timedelta(days=i) for i in range(7)]
    assert [d.strftime("%a") for d in week if weekdays.on_day(d)] == ["Mon", "Thu"]
    every_other = t(period=2, start="2026-03-01")
    assert [d.day for d in (date(2026, 3, i) for i in range(1, 8)) if every_other.on_day(d)] == [1, 3, 5, 7]
    fortnightly = t(unit="wk", period=2, days=["wed"], start="2026-03-02")
    assert [d for d in (date(2026, 3, 2) + timedelta(days=i) for i in range(28)) if fortnightly.on_day(d)] == [date(2026, 3, 4), date(2026, 3, 18)]
    monthly = t(unit="mo", start="2026-01-31")
    days = [d for d in (date(2026, 1, 1) + timedelta(days=i) for i in range(120)) if monthly.on_day(d)]
    assert days == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]


def test_bounds_and_count():
    bounded = t(start="2026-03-10", end="2026-03-12")  # a date end: its whole day
    assert [bool(bounded.on_day(date(2026, 3, d))) for d in (9, 10, 11, 12, 13)] == [False, True, True, True, False]
    counted = t(times=("08:00:00", "20:00:00"), start="2026-03-10T12:00:00+01:00", count=5)
    per_day = [len(counted.on_day(date(2026, 3, d))) for d in range(9, 15)]
    assert per_day == [0, 1, 2, 2, 0, 0]  # 10th: only 20:00 is after the start
    assert [o.index for o in counted.on_day(date(2026, 3, 12))] == [3, 4]


def test_when_codes_with_offset():
    before_meals = t(times=(), when=["ACM", "ACV"], offset=15)
    assert [local(o).time() for o in before_meals.on_day(SPRING)] == [time(7, 45), time(16, 45)]
    after = t(times=(), when=["PCD"], offset=60)
    assert [local(o).time() for o in after.on_day(SPRING)] == [time(13, 0)]


def test_once_a_day_any_time_is_open_all_local_day_even_23_hours_long():
    any_time = t(times=())
    (o,) = any_time.on_day(SPRING)
    assert local(o).time() == time(0) and o.closes - o.opens == timedelta(hours=23)


def test_every_8_hours_is_elapsed_time_across_the_change():
    every8 = t(times=(), unit="h", period=8, start="2026-03-28T06:00:00+01:00")
    dues = [o.due for o in every8.between(datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))]
    assert all(b - a == timedelta(hours=8) for a, b in zip(dues, dues[1:], strict=False))
    assert [local(o).time() for o in every8.on_day(date(2026, 3, 30))] == [time(7, 0), time(15, 0), time(23, 0)]


def test_fixed_events():
    once = t(events=["2026-03-29T10:00:00+02:00", "2026-04-02T10:00:00"])
    assert len(once.on_day(SPRING)) == 1 and local(once.on_day(date(2026, 4, 2))[0]).time() == time(10, 0)


def test_two_times_a_day_have_windows_that_do_not_overlap():
    two = t(times=("08:00:00", "09:00:00"), after=(3, "h"))
    a, b = two.on_day(SPRING)
    assert a.closes <= b.opens
