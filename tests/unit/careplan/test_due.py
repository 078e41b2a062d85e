"""What is due today: due now, later, done, missed; pauses; the missed-task records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hub.domain.careplan import Completion, MissedTask, TaskState, due_list, missed_tasks, parse_plan
from tests.unit.careplan.plans import example, form, measurement, plan, spo2_zones, timing

OSLO = ZoneInfo("Europe/Oslo")
DAY = date(2026, 3, 3)


def at(h, m=0, day=DAY):
    return datetime(day.year, day.month, day.day, h, m, tzinfo=OSLO).astimezone(UTC)


def heart_failure():
    return parse_plan(example("heart-failure"))  # weight 07:30, blood pressure 08:00 and 20:00


def states(tasks):
    return [(t.activity, t.due.astimezone(OSLO).strftime("%H:%M"), t.state.value) for t in tasks]


def test_the_days_list_at_morning():
    tasks = due_list(heart_failure(), DAY, now=at(7, 45))
    assert states(tasks) == [("vekt", "07:30", "due-now"), ("blodtrykk", "08:00", "due-now"), ("blodtrykk", "20:00", "later")]


def test_done_by_any_value_of_the_kind_in_the_window_each_value_once():
    done = [Completion("body-weight", at(7, 20)), Completion("blood-pressure", at(8, 3)), Completion("blood-pressure", at(8, 9))]
    tasks = due_list(heart_failure(), DAY, now=at(12), done=done)
    assert states(tasks) == [("vekt", "07:30", "done"), ("blodtrykk", "08:00", "done"), ("blodtrykk", "20:00", "later")]
    assert tasks[1].done_at == at(8, 3)  # the second cuff reading does not do the evening task


def test_a_closed_window_undone_is_missed():
    tasks = due_list(heart_failure(), DAY, now=at(10, 1))
    assert states(tasks)[:2] == [("vekt", "07:30", "missed"), ("blodtrykk", "08:00", "missed")]
    tasks = due_list(heart_failure(), DAY, now=at(9, 59))
    assert states(tasks)[1] == ("blodtrykk", "08:00", "due-now")


def test_a_value_taken_too_early_or_too_late_does_not_count():
    done = [Completion("blood-pressure", at(7, 29)), Completion("blood-pressure", at(10, 0))]
    assert states(due_list(heart_failure(), DAY, now=at(12), done=done))[1][2] == "missed"


def test_missed_task_records_are_data():
    p = heart_failure()
    missed = missed_tasks(p, since=at(9), until=at(10, 30), done=[Completion("body-weight", at(7, 31))])
    assert [(m.activity, m.opens.astimezone(OSLO).strftime("%H:%M"), m.closes.astimezone(OSLO).strftime("%H:%M")) for m in missed] == [
        ("blodtrykk", "07:30", "10:00")
    ]
    m = missed[0]
    assert m.plan == "CarePlan/hjertesvikt-eksempel/_history/1" and m.code == "85354-9" and m.questionnaire is None
    assert MissedTask.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    # A later tick finds nothing new; a restart that looks back over the whole day finds both.
    assert missed_tasks(p, since=at(10, 30), until=at(11)) == []
    assert len(missed_tasks(p, since=at(0), until=at(23, 59))) == 3


def test_a_pause_asks_for_nothing_and_misses_nothing():
    p = heart_failure()  # paused 2026-02-09 .. 2026-02-13 (a hospital stay)
    assert due_list(p, date(2026, 2, 10), now=at(23, day=date(2026, 2, 10))) == []
    assert missed_tasks(p, since=at(0, day=date(2026, 2, 9)), until=at(0, day=date(2026, 2, 14))) == []
    assert len(due_list(p, date(2026, 2, 14), now=at(12, day=date(2026, 2, 14)))) == 3
    one = parse_plan(plan(measurement("spo2", "2708-6", spo2_zones(), timing_=timing(), pauses=[{"start": "2026-03-03T00:00:00+01:00", "end": "2026-03-04"}])))
    assert due_list(one, DAY, now=at(12)) == [] and due_list(one, DAY + timedelta(days=1), now=at(12)) == []


def test_a_form_is_done_by_a_response_to_its_questionnaire():
    p = parse_plan(plan(form("cat", "https://example.no/Questionnaire/cat|1.0", timing(times=("10:00:00",), days=["tue"], unit="wk", after=(10, "h")))))
    done = [Completion("https://example.no/Questionnaire/cat|1.0", at(17))]
    assert [t.state for t in due_list(p, DAY, now=at(18), done=done)] == [TaskState.DONE]
    assert [t.state for t in due_list(p, DAY, now=at(20, 1))] == [TaskState.MISSED]
    assert due_list(p, DAY + timedelta(days=1), now=at(12)) == []


def test_the_example_plans_due_lists():
    copd = parse_plan(example("copd"))
    monday = date(2026, 3, 2)
    assert [t.activity for t in due_list(copd, monday, now=at(6, day=monday))] == ["spo2", "temperatur", "cat"]
    dm = parse_plan(example("diabetes"))
    friday = date(2026, 3, 6)
    assert [(t.activity, t.due.astimezone(OSLO).strftime("%H:%M")) for t in due_list(dm, friday, now=at(6, day=friday))] == [
        ("blodsukker", "08:00"), ("blodsukker", "17:00"), ("trivsel", "18:00")
    ]
