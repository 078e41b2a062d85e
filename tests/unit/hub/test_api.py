"""The facade the touch app talks to: today, history, manual entry, families, pairing prompts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.api import (
    Connection,
    DeviceFamily,
    HubApi,
    ManualValueError,
    Pairing,
    SendState,
    device_label,
    family_of,
    send_state_of,
)
from hub.domain.readings import MeasurementKind, Provenance, QualityFlag
from hub.services.events import EventBus, MeasuringEnded, MeasuringStarted
from hub.services.measurements import MeasurementService
from hub.store import Store

from .factories import OXIMETER, spo2

OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
K = MeasurementKind


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "heima.db")
    yield s
    await s.close()


def make_api(store, *, now=NOW, **kw) -> tuple[HubApi, MeasurementService, EventBus]:
    events = EventBus()
    svc = MeasurementService(store, destinations_for=lambda kind: ("centre",), local_zone=OSLO, events=events, clock=lambda: now)
    api = HubApi(measurements=svc, queries=store, events=events, local_zone=OSLO, clock=lambda: now, **kw)
    return api, svc, events


async def test_today_lists_each_family_done_or_not_with_its_send_state(store):
    api, svc, _ = make_api(store, families=[DeviceFamily.PULSE_OXIMETER, DeviceFamily.WEIGHT])
    await svc.record_reading(spo2(96, received_at=NOW - timedelta(hours=1)))
    await svc.record_reading(spo2(91, received_at=NOW - timedelta(days=1)))  # yesterday: not today's
    today = await api.today()
    assert today.day.isoformat() == "2026-11-21"
    ox, weight = today.items
    assert ox.done and [v.value for v in ox.latest] == [96]
    assert ox.send_state is SendState.WAITING
    assert not weight.done and weight.send_state is None
    assert today.send_state is SendState.WAITING and today.waiting == 2
    assert today.connection is Connection.OK
    [m] = [v for v in ox.latest]
    await store.mark_delivered("centre", [m.id])
    assert (await api.today()).items[0].send_state is SendState.SENT


async def test_today_tells_a_refused_value_and_an_unreachable_centre(store):
    api, svc, _ = make_api(store)
    a = await svc.record_reading(spo2(96, received_at=NOW - timedelta(minutes=5)))
    await store.dead_letter("centre", str(a.measurement.id), reason="400")
    today = await api.today()
    assert today.items[0].send_state is SendState.FAILED and today.send_state is SendState.FAILED
    b = await svc.record_reading(spo2(95, received_at=NOW - timedelta(minutes=1)))
    await store.schedule_retry("centre", [str(b.measurement.id)], not_before=NOW + timedelta(minutes=1), reason="ConnectError")
    assert (await api.today()).connection is Connection.TRYING


async def test_a_low_battery_is_told_until_the_device_sends_without_the_flag(store):
    api, svc, _ = make_api(store)
    await svc.record_reading(spo2(96, received_at=NOW - timedelta(hours=2), flags=frozenset({QualityFlag.BATTERY_LOW})))
    assert (await api.today()).battery_low == (OXIMETER.name,)
    await svc.record_reading(spo2(97, received_at=NOW - timedelta(hours=1)))
    assert (await api.today()).battery_low == ()


async def test_history_is_oldest_first_within_the_window(store):
    api, svc, _ = make_api(store)
    for days in (40, 20, 5, 1):
        await svc.record_reading(spo2(90 + days % 10, received_at=NOW - timedelta(days=days)))
    week = await api.history(K.OXYGEN_SATURATION, days=7)
    month = await api.history(K.OXYGEN_SATURATION, days=30)
    assert [v.taken_at for v in week] == sorted(v.taken_at for v in week) and len(week) == 2
    assert len(month) == 3


async def test_manual_values_are_marked_manual_and_blood_pressure_is_one_panel(store):
    api, _, _ = make_api(store, families=list(DeviceFamily))
    views = await api.record_manual_family(
        DeviceFamily.BLOOD_PRESSURE,
        {K.SYSTOLIC_PRESSURE: 142, K.DIASTOLIC_PRESSURE: 88, K.CUFF_PULSE_RATE: 70},
    )
    assert [v.kind for v in views] == [K.BLOOD_PRESSURE, K.CUFF_PULSE_RATE]
    assert all(v.provenance is Provenance.MANUAL for v in views)
    assert views[0].component(K.SYSTOLIC_PRESSURE).value == 142
    stored = await api.measurement(views[0].id)
    assert stored is not None and stored.component(K.DIASTOLIC_PRESSURE).value == 88


@pytest.mark.parametrize("weight", [1.0, 1200.0])
async def test_a_value_no_person_can_have_is_refused_and_nothing_is_stored(store, weight):
    api, _, _ = make_api(store, families=list(DeviceFamily))
    with pytest.raises(ManualValueError) as err:
        await api.record_manual_family(DeviceFamily.WEIGHT, {K.BODY_WEIGHT: weight})
    assert err.value.field.kind is K.BODY_WEIGHT
    assert await api.recent() == []
    [view] = await api.record_manual_family(DeviceFamily.WEIGHT, {K.BODY_WEIGHT: 123.4})  # three digits are fine
    assert view.value == 123.4 and view.unit == "kg"


async def test_families_say_which_ones_a_device_can_measure(store):
    api, _, _ = make_api(store)
    assert [f.family for f in api.families()] == [DeviceFamily.PULSE_OXIMETER] and not api.can_measure

    async def measure(timeout: float, *, family=None) -> None:
        return None

    api2, _, _ = make_api(
        store, measure=measure, families=list(DeviceFamily), device_families=[DeviceFamily.PULSE_OXIMETER]
    )
    by_device = {f.family: f.by_device for f in api2.families()}
    assert by_device[DeviceFamily.PULSE_OXIMETER] and not by_device[DeviceFamily.WEIGHT]
    assert family_of(K.SYSTOLIC_PRESSURE) is DeviceFamily.BLOOD_PRESSURE


async def test_measure_now_tells_when_it_starts_and_how_it_ended(store):
    async def nothing_found(timeout: float, *, family=None) -> None:
        raise TimeoutError

    api, _, events = make_api(store, measure=nothing_found)
    seen = []
    events.subscribe(seen.append)
    with pytest.raises(TimeoutError):
        await api.measure_now(timeout=0.1, family=DeviceFamily.GLUCOSE)
    assert seen == [MeasuringStarted(DeviceFamily.GLUCOSE), MeasuringEnded("no-device")]


async def test_measure_now_hands_the_chosen_family_to_the_measure_command(store):
    asked = []

    async def by_family(timeout: float, *, family=None) -> None:
        asked.append(family)

    api, _, _ = make_api(store, measure=by_family)
    await api.measure_now(timeout=0.1, family=DeviceFamily.GLUCOSE)
    await api.measure_now(timeout=0.1)
    assert asked == [DeviceFamily.GLUCOSE, None]


# What each shipped driver reads: a new driver must be added here with its family.
SHIPPED_DRIVER_FAMILIES = {
    "nonin-3230": DeviceFamily.PULSE_OXIMETER,
    "jumper-jpd-500f": DeviceFamily.PULSE_OXIMETER,
    "berrymed-bm1000": DeviceFamily.PULSE_OXIMETER,
    "plx-standard": DeviceFamily.PULSE_OXIMETER,
    "and-ua-651ble": DeviceFamily.BLOOD_PRESSURE,
    "omron-blesmart": DeviceFamily.BLOOD_PRESSURE,
    "bp-standard": DeviceFamily.BLOOD_PRESSURE,
    "and-uc-352ble": DeviceFamily.WEIGHT,
    "xiaomi-mi-scale": DeviceFamily.WEIGHT,
    "xiaomi-mi-body-composition-scale": DeviceFamily.WEIGHT,
    "scale-standard": DeviceFamily.WEIGHT,
    "thermometer-standard": DeviceFamily.THERMOMETER,
    "glucose-contour-next-one": DeviceFamily.GLUCOSE,
    "glucose-accu-chek-guide": DeviceFamily.GLUCOSE,
    "glucose-standard": DeviceFamily.GLUCOSE,
}


def test_every_shipped_driver_declares_the_family_it_reads():
    from drivers.devices import default_registry
    from hub.app import driver_family

    drivers = list(default_registry())
    assert {d.name: driver_family(d) for d in drivers} == SHIPPED_DRIVER_FAMILIES
    assert all(isinstance(type(d).family, DeviceFamily) for d in drivers)  # declared on the class, typed


async def test_pairing_asks_the_attached_prompt_and_refuses_without_one():
    pairing = Pairing()
    assert await pairing.passkey_for("AA:BB") is None and not await pairing.confirm_numeric("AA:BB", 1)
    assert await pairing.consent_code_for("AA:BB", 1) is None  # nobody there to type it: cancelled

    class Prompt:
        async def passkey_for(self, device):
            return 123456

        async def confirm_numeric(self, device, number):
            return number == 42

        async def consent_code_for(self, device, user_index):
            return 1230 + user_index

    detach = pairing.attach(Prompt())
    assert await pairing.passkey_for(OXIMETER) == 123456 and await pairing.confirm_numeric("x", 42)
    assert await pairing.consent_code_for(OXIMETER, 4) == 1234
    detach()
    assert not pairing.attached
    assert device_label(OXIMETER) == "Heima PLX 1" and device_label(replace(OXIMETER, name=None, model=None)) == OXIMETER.address


def test_send_state_of():
    assert send_state_of(["delivered", "pending"]) is SendState.WAITING
    assert send_state_of(["delivered", "dead", "pending"]) is SendState.FAILED
    assert send_state_of(["delivered"]) is SendState.SENT
    assert send_state_of(["delivered", "withdrawn"]) is SendState.NOT_SHARED  # never "sent"
    assert send_state_of(["withdrawn", "pending"]) is SendState.WAITING
    assert send_state_of(["withdrawn", "dead"]) is SendState.FAILED


def test_the_composition_root_names_the_families_its_drivers_read():
    from types import SimpleNamespace

    from hub.app import device_families

    class Driver:
        def __init__(self, name, family=None):
            self.name = name
            if family:
                self.family = family

    link = SimpleNamespace(
        registry=[
            Driver("a", DeviceFamily.GLUCOSE),
            Driver("omron-bpm"),  # a name that sounds like a family is not a family: nothing guessed
            Driver("b", DeviceFamily.THERMOMETER),
            Driver("c", DeviceFamily.GLUCOSE),
            Driver("d", "weight"),  # a bare string is not a declared DeviceFamily
        ]
    )
    assert device_families(link) == [DeviceFamily.GLUCOSE, DeviceFamily.THERMOMETER]
    assert device_families(None) == []


async def test_an_older_back_filled_glucose_record_is_found_by_its_id(store):
    """A meter's memory download stores records measured days ago; the screen asks for each by
    the id its event named. Behind hundreds of newer values, it is still found (a lookup, not a
    scan of the newest rows)."""
    api, svc, _ = make_api(store)
    meter = replace(OXIMETER, address="F0:11:22:33:44:04", name="Heima Glucose 1", serial="GL1")
    from hub.domain.readings import Reading

    def record(seq: int, at: datetime, value: float) -> Reading:
        return Reading(K.BLOOD_GLUCOSE, value, "mmol/L", at, device=meter, record_id=str(seq))

    old = await svc.record_reading(record(1, NOW - timedelta(days=20), 6.4))
    for seq in range(2, 252):  # the meter's memory: 250 newer records of the same kind
        await svc.record_reading(record(seq, NOW - timedelta(days=19) + timedelta(hours=seq), 7.0))
    assert old.measurement is not None
    found = await api.measurement(str(old.measurement.id), kind=K.BLOOD_GLUCOSE)
    assert found is not None and found.value == 6.4 and found.kind is K.BLOOD_GLUCOSE
    assert await api.measurement(str(old.measurement.id), kind=K.BODY_WEIGHT) is None  # not of that kind
    assert await api.measurement("00000000-0000-0000-0000-000000000000") is None


async def test_today_reads_the_outbox_once_however_many_values_it_shows(store):
    class Counting:
        """The real store, counting what today() asks of it."""

        def __init__(self, inner):
            self.inner, self.calls = inner, []

        def __getattr__(self, name):
            self.calls.append(name)
            return getattr(self.inner, name)

    counting = Counting(store)
    api, svc, _ = make_api(store, families=list(DeviceFamily))
    api = HubApi(measurements=svc, queries=counting, events=EventBus(), families=list(DeviceFamily), local_zone=OSLO, clock=lambda: NOW)
    await svc.record_reading(spo2(96, received_at=NOW - timedelta(hours=1)))
    await svc.record_manual(K.PULSE_RATE, 64, "/min", taken_at=NOW - timedelta(hours=1))
    await svc.record_manual(K.BODY_WEIGHT, 80.2, "kg", taken_at=NOW - timedelta(minutes=30))
    await svc.record_manual(K.BODY_TEMPERATURE, 37.1, "Cel", taken_at=NOW - timedelta(minutes=20))
    today = await api.today()
    assert sum(len(i.latest) for i in today.items) == 4
    assert sorted(counting.calls) == ["delivery_states_of", "measurements", "outbox_counts"]
