"""The self-care plan in the running hub, over a real SQLite store with a controlled clock: the plan
in force when a value was measured judges it, a new version applies to new values only, a bad plan
keeps the last good one, missed tasks are recorded once whatever restarts happen, reminders repeat
until done and survive a restart, and today's due list is answered by hub.api."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from hub.api import HubApi, PlanChanged, ReminderDue, TaskMissed, TaskState
from hub.domain.outgoing import OutgoingKind
from hub.domain.readings import MeasurementKind, Provenance, Reading
from hub.services.careplan import CarePlanClock, CarePlanService
from hub.services.events import EventBus
from hub.services.measurements import MeasurementService
from hub.services.outgoing import OutgoingService
from hub.store import Store
from hub.store.plans import PlanStore
from tests.unit.careplan.plans import measurement, plan, timing, zone

SPO2 = MeasurementKind.OXYGEN_SATURATION
# 2026-03-02 is a Monday in winter time: 08:00 in Oslo is 07:00 UTC.
MORNING = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
DUE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 08:00 Oslo; the window is 07:30–10:00 Oslo


def spo2_plan(version: str = "1", *, red_below: float = 88) -> dict:
    zones = [zone("red", "red", high=red_below), zone("yellow", "yellow", low=red_below, high=92), zone("green", "green", low=92)]
    doc = plan(measurement("spo2", "2708-6", zones, timing_=timing(("08:00:00",)), wait=(5, "min")))
    doc["meta"]["versionId"] = version
    doc["subject"] = {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "13116900216"}}
    return doc


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Hub:
    """The plan's parts as start_hub wires them, over one data folder."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock, self.events = store, clock, EventBus()
        self.seen: list = []
        self.events.subscribe(self.seen.append)
        self.plans = PlanStore(store)
        self.service = MeasurementService(
            store, destinations_for=lambda kind: ("centre",), local_zone=UTC, events=self.events, clock=clock,
            resource_destinations=lambda kind: ("centre",),
        )
        self.careplan = CarePlanService(
            self.plans, events=self.events, clock=clock, local_zone=_oslo(), on_change=lambda e: setattr(self.service, "evaluator", e)
        )
        self.outgoing = OutgoingService(store, destinations_for=lambda kind: ("centre",))
        self.plan_clock = CarePlanClock(self.careplan, self.plans, share=self.outgoing.share, events=self.events)
        self.api = HubApi(measurements=self.service, queries=store, events=self.events, local_zone=_oslo(), clock=clock, careplan=self.careplan)

    @classmethod
    async def open(cls, path, clock: Clock) -> Hub:
        hub = cls(await Store.open(path, clock=clock), clock)
        await hub.careplan.load()
        return hub

    async def measure(self, value: float, at: datetime, provenance: Provenance = Provenance.DEVICE):
        reading = Reading(kind=SPO2, value=value, unit="%", received_at=at)
        return (await self.service.record_reading(reading, provenance)).measurement

    async def queued(self, kind: OutgoingKind) -> list:
        return [o for o in await self.store.due("centre", limit=100, now=self.clock.now + timedelta(days=30)) if o.kind is kind]


def _oslo():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Oslo")


@pytest.fixture
async def hub(tmp_path):
    h = await Hub.open(tmp_path / "heima.db", Clock(MORNING))
    yield h
    await h.store.close()


async def test_without_a_plan_no_advice_is_invented(hub):
    m = await hub.measure(80, MORNING)
    assert m.evaluation is None and await hub.api.due_today() == [] and hub.api.plan() is None
    assert hub.api.plan_kinds() == frozenset()


async def test_a_value_is_judged_by_the_plan_in_force_when_it_was_measured(hub):
    assert (await hub.careplan.offer(spo2_plan("1", red_below=88), source="centre")).state == "applied"
    assert [type(e) for e in hub.seen] == [PlanChanged] and hub.seen[0].plan == "CarePlan/p1/_history/1"
    before = await hub.measure(89, MORNING + timedelta(minutes=1))
    assert before.evaluation.zone == "yellow" and before.evaluation.plan == "CarePlan/p1/_history/1"

    hub.clock.now = MORNING + timedelta(hours=1)  # the centre raises the red limit to 90
    assert (await hub.careplan.offer(spo2_plan("2", red_below=90), source="centre")).state == "applied"
    assert (await hub.careplan.offer(spo2_plan("2", red_below=90), source="centre")).state == "unchanged"
    after = await hub.measure(89, MORNING + timedelta(hours=1, minutes=1))
    assert after.evaluation.zone == "red" and after.evaluation.plan == "CarePlan/p1/_history/2"
    # A meter's memory read now, taken before the new version: judged by the old one.
    late = await hub.measure(89, MORNING + timedelta(minutes=30))
    assert late.evaluation.zone == "yellow" and late.evaluation.plan == "CarePlan/p1/_history/1"
    # Stored as decided: read back whole, whatever plan is in force now.
    [stored] = [m for m in await hub.store.measurements(kind=SPO2.value) if m.id == before.id]
    assert stored.evaluation == before.evaluation
    assert hub.api.plan().reference == "CarePlan/p1/_history/2" and hub.api.plan_kinds() == frozenset({SPO2})


async def test_a_bad_plan_is_refused_with_its_reason_and_the_last_good_one_stays(hub, caplog):
    await hub.careplan.offer(spo2_plan("1"), source="centre")
    bad = spo2_plan("2")
    bad["activity"][0]["detail"]["extension"][0] = zone("red", "red", high=95)  # overlaps yellow and green
    caplog.set_level(logging.INFO)
    outcome = await hub.careplan.offer(bad, source="centre")
    assert outcome.state == "refused" and "overlap" in outcome.reason
    assert any("refused" in r.getMessage() and "overlap" in r.getMessage() for r in caplog.records)
    assert all("13116900216" not in r.getMessage() and "95" not in r.getMessage() for r in caplog.records)
    assert (await hub.careplan.offer({"resourceType": "Patient"}, source="folder x.json")).state == "refused"
    m = await hub.measure(80, MORNING + timedelta(minutes=5))
    assert m.evaluation.plan == "CarePlan/p1/_history/1" and m.evaluation.zone == "red"
    assert [s.version for s in await hub.plans.plans()] == ["1"]  # the bad one was never stored


async def test_two_reds_ask_to_measure_again_then_raise_one_alert_queued_with_the_value(hub):
    await hub.careplan.offer(spo2_plan(), source="centre")
    first = await hub.measure(85, MORNING + timedelta(minutes=1))
    assert first.evaluation.remeasure and first.evaluation.remeasure_after_s == 300 and not first.evaluation.alert
    assert first.evaluation.advice == "råd red" and dict(first.evaluation.advice_texts)["en"] == "advice red"
    assert await hub.queued(OutgoingKind.ZONE_ALERT) == []
    second = await hub.measure(84, MORNING + timedelta(minutes=7))
    assert second.evaluation.alert and not second.evaluation.remeasure
    [alert] = await hub.queued(OutgoingKind.ZONE_ALERT)
    assert alert.payload.measurements == (str(first.id), str(second.id)) and alert.payload.zone == "red"
    await hub.measure(83, MORNING + timedelta(minutes=12))  # the same run: no second alert
    assert len(await hub.queued(OutgoingKind.ZONE_ALERT)) == 1


async def test_todays_due_list_in_the_patients_time_zone(hub):
    await hub.careplan.offer(spo2_plan(), source="centre")
    hub.clock.now = DUE - timedelta(minutes=45)  # 07:15 in Oslo: the window opens at 07:30
    [task] = await hub.api.due_today()
    assert (task.activity, task.state, task.due) == ("spo2", TaskState.LATER, DUE)
    hub.clock.now = DUE + timedelta(minutes=5)
    assert [t.state for t in await hub.api.due_today()] == [TaskState.DUE_NOW]
    await hub.api.record_manual(SPO2, 95, "%")  # typed in by hand: it does the task too
    assert [t.state for t in await hub.api.due_today()] == [TaskState.DONE]


async def test_a_missed_task_is_recorded_once_across_ticks_and_restarts(tmp_path):
    clock = Clock(MORNING)
    hub = await Hub.open(tmp_path / "heima.db", clock)
    await hub.careplan.offer(spo2_plan(), source="centre")
    assert await hub.plan_clock.close_windows(DUE + timedelta(hours=2) - timedelta(seconds=1)) == []  # open until 10:00 Oslo
    [missed] = await hub.plan_clock.close_windows(DUE + timedelta(hours=2))
    assert missed.kind is OutgoingKind.MISSED_TASK and missed.payload.activity == "spo2"
    assert (missed.payload.opens, missed.payload.closes) == (DUE - timedelta(minutes=30), DUE + timedelta(hours=2))
    assert [e for e in hub.seen if isinstance(e, TaskMissed)] == [TaskMissed("spo2", DUE, DUE + timedelta(hours=2))]
    assert await hub.plan_clock.close_windows(DUE + timedelta(hours=3)) == []
    await hub.store.close()

    # After a restart (and a power cut's lost tick) the same window is not recorded again.
    clock.now = DUE + timedelta(hours=5)
    hub = await Hub.open(tmp_path / "heima.db", clock)
    assert await hub.plan_clock.close_windows(DUE + timedelta(hours=5)) == []
    assert len(await hub.queued(OutgoingKind.MISSED_TASK)) == 1
    # The next day's task, done in its window, is not missed.
    await hub.measure(96, DUE + timedelta(days=1, minutes=10))
    assert await hub.plan_clock.close_windows(DUE + timedelta(days=1, hours=3)) == []
    await hub.store.close()


async def test_reminders_repeat_until_done_and_survive_a_restart(tmp_path):
    clock = Clock(MORNING)
    hub = await Hub.open(tmp_path / "heima.db", clock)
    await hub.careplan.offer(spo2_plan(), source="centre")

    async def tick(h: Hub, at: datetime) -> list[datetime]:
        return [r.at for r in await h.plan_clock.remind(at)]

    assert await tick(hub, DUE - timedelta(minutes=1)) == []
    assert await tick(hub, DUE) == [DUE]
    assert await tick(hub, DUE + timedelta(minutes=10)) == []
    assert await tick(hub, DUE + timedelta(minutes=15)) == [DUE + timedelta(minutes=15)]
    reminders = [e for e in hub.seen if isinstance(e, ReminderDue)]
    assert [(r.activity, r.due) for r in reminders] == [("spo2", DUE)] * 2
    await hub.store.close()

    # Off for 25 minutes: once on the way back (the latest slot), not a burst.
    clock.now = DUE + timedelta(minutes=41)
    hub = await Hub.open(tmp_path / "heima.db", clock)
    assert await tick(hub, DUE + timedelta(minutes=41)) == [DUE + timedelta(minutes=30)]
    # Done on another path (the nurse typed it in): never reminded again.
    await hub.measure(95, DUE + timedelta(minutes=42), Provenance.MANUAL)
    assert await tick(hub, DUE + timedelta(minutes=46)) == []
    assert await tick(hub, DUE + timedelta(hours=3)) == []
    await hub.store.close()


async def test_no_reminder_sounds_in_the_quiet_hours(hub):
    late = spo2_plan()
    late["activity"][0]["detail"]["scheduledTiming"] = timing(("22:30:00",))
    await hub.careplan.offer(late, source="centre")
    at_2230 = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)
    assert [r.at for r in await hub.plan_clock.remind(at_2230 + timedelta(hours=2))] == []
