"""Recording a reading: who it belongs to, where it may go, what the patient is told."""

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hub.domain.readings import QualityFlag
from hub.services.measurements import MeasurementService
from hub.store import Store

from .factories import OXIMETER, spo2


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "heima.db")
    yield s
    await s.close()


def service(store, **kw) -> MeasurementService:
    return MeasurementService(store, destinations_for=lambda kind: ("centre", "usb"), local_zone=ZoneInfo("Europe/Oslo"), **kw)


async def test_a_reading_is_stored_and_queued_for_every_destination(store):
    outcome = await service(store).record_reading(spo2())
    assert outcome.created
    states = await store.delivery_states(str(outcome.measurement.id))
    assert [s.destination for s in states] == ["centre", "usb"]


async def test_the_same_stored_record_twice_is_one_measurement_with_the_first_id(store):
    svc = service(store)
    first = await svc.record_reading(spo2(stored_at=datetime(2026, 11, 20, 8, 0)))
    again = await svc.record_reading(spo2(stored_at=datetime(2026, 11, 20, 8, 0)))
    assert not again.created and again.measurement.id == first.measurement.id
    assert len(await store.measurements()) == 1


async def test_another_users_weighing_on_a_shared_device_never_enters_the_hub(store):
    svc = service(store, device_users={OXIMETER.serial: 2})
    assert (await svc.record_reading(replace(spo2(), device_user=1))).measurement is None
    assert (await svc.record_reading(replace(spo2(), device_user=2))).created
    assert len(await store.measurements()) == 1


async def test_an_unconfigured_shared_device_gives_the_patient_user_one(store):
    svc = service(store)
    assert (await svc.record_reading(replace(spo2(), device_user=3))).measurement is None
    assert (await svc.record_reading(replace(spo2(), device_user=1))).created


async def test_a_control_solution_result_is_kept_marked_but_never_queued(store):
    svc = service(store)
    outcome = await svc.record_reading(replace(spo2(), flags=frozenset({QualityFlag.CONTROL_SOLUTION})))
    assert outcome.created
    assert await store.delivery_states(str(outcome.measurement.id)) == []
    [kept] = await store.measurements()
    assert QualityFlag.CONTROL_SOLUTION in kept.reading.flags


async def test_a_manual_value_is_marked_manual_and_has_no_natural_key(store):
    from hub.domain.readings import MeasurementKind, Provenance

    outcome = await service(store).record_manual(MeasurementKind.OXYGEN_SATURATION, 95.0, "%")
    assert outcome.measurement.provenance is Provenance.MANUAL
    assert outcome.measurement.natural_key is None and outcome.measurement.reading.device is None


class WrongUntilSyncedClock:
    """The hub's clock as a Pi sees it: wrong after boot, right after NTP. (A test double: the
    machine's real clock cannot be set wrong here without disturbing everything else.)"""

    def __init__(self) -> None:
        from hub.domain.measurements import MonotonicAnchor

        self.trusted = False
        self.boot_seconds = 50.0
        self.wall = datetime(2026, 1, 1, 12, 0).astimezone()
        self._anchor = MonotonicAnchor

    def now(self):
        return self.wall

    def anchor(self):
        return self._anchor("boot-A", self.boot_seconds)

    def is_trusted(self):
        return self.trusted


async def test_readings_before_the_hub_clock_is_trusted_wait_and_are_then_placed_exactly(store):
    from datetime import timedelta

    clock = WrongUntilSyncedClock()
    svc = service(store, hub_clock=clock)
    outcome = await svc.record_reading(spo2(received_at=clock.wall))
    assert QualityFlag.HUB_CLOCK_UNTRUSTED in outcome.measurement.reading.flags
    far_future = datetime.now().astimezone() + timedelta(days=400)
    assert await store.due("centre", limit=10, now=far_future) == []  # held back

    clock.trusted, clock.boot_seconds = True, 110.0  # NTP answered 60 s later
    clock.wall = datetime(2026, 11, 21, 9, 0).astimezone()
    assert await store.place_held_times(now=clock.now(), now_anchor=clock.anchor()) == 1
    [queued] = await store.due("centre", limit=10, now=far_future)
    due = queued.payload
    assert due.id == outcome.measurement.id
    assert due.effective_time == clock.wall - timedelta(seconds=60)
    assert QualityFlag.HUB_CLOCK_UNTRUSTED not in due.reading.flags


async def test_the_technician_sees_why_a_measurement_could_not_be_sent(store):
    from hub.api import HubApi
    from hub.services.events import EventBus

    svc = service(store)
    outcome = await svc.record_reading(spo2())
    await store.dead_letter("centre", str(outcome.measurement.id), reason="FHIR server answered 422 (error/invalid)")
    api = HubApi(measurements=svc, queries=store, events=EventBus())
    [item] = await api.could_not_be_sent()
    assert (item.measurement_id, item.destination, item.kind) == (str(outcome.measurement.id), "centre", "oxygen-saturation")
    assert "422" in item.reason


async def test_a_value_no_body_can_have_is_stored_and_queued_as_no_value_and_the_patient_asked_again(store):
    from hub.api import HubApi, MeasurementView
    from hub.domain.readings import AbsentReason
    from hub.services.events import EventBus
    from ui.i18n import Translator
    from ui.kinds import quality_text

    svc = service(store)
    outcome = await svc.record_reading(spo2(127.0))  # an oximeter's "missing" marker sent as a number
    [kept] = await store.measurements()
    assert (kept.reading.value, kept.reading.absent_reason) == (None, AbsentReason.IMPLAUSIBLE)
    assert [s.destination for s in await store.delivery_states(str(outcome.measurement.id))] == ["centre", "usb"]
    [shown] = await HubApi(measurements=svc, queries=store, events=EventBus()).recent()
    assert isinstance(shown, MeasurementView) and shown.value is None
    text, again = quality_text(Translator("en"), shown)
    assert again and "measure again" in text


async def test_a_manual_value_no_body_can_have_never_becomes_a_value(store):
    from hub.domain.readings import AbsentReason, MeasurementKind

    outcome = await service(store).record_manual(MeasurementKind.BODY_WEIGHT, 0.0, "kg")
    assert (outcome.measurement.reading.value, outcome.measurement.reading.absent_reason) == (None, AbsentReason.IMPLAUSIBLE)


async def test_a_device_that_resends_an_impossible_record_is_still_one_measurement(store):
    svc = service(store)
    first = await svc.record_reading(spo2(127.0, stored_at=datetime(2026, 11, 20, 8, 0)))
    again = await svc.record_reading(spo2(127.0, stored_at=datetime(2026, 11, 20, 8, 0)))
    assert not again.created and again.measurement.id == first.measurement.id
