"""Every emulated device, one at a time, all the way: its memory or its stream → bleak over the
virtual radio → the default registry's driver → the hub's store → the reference FHIR server.

One case per emulated device class (ids are the real devices' names). Each case scripts one or
two plausible measurements, reads the device with a `LinkManager` on the default registry (the
driver it picks is checked by name, from the link's own "device-found" / "connected" events,
and the stored device identity is checked too), waits for the outbox to drain, and asserts at
the server: exactly the expected Observations (LOINC code, UCUM unit, value; the blood pressure
panel by its components), each identified by a stored measurement's urn, at the right time.
A device that sends its memory again is read a second time: nothing may arrive twice.

Real parts all the way: Bumble's virtual radio (real ATT/GATT/SMP, passkey bonding where the
device asks for it), bleak, the drivers, `hub.app.start_hub` with a `fhir` destination, the
outbox worker, Medplum's engine. The hub keeps device clocks in Europe/Oslo; the emulated
clocks show Oslo wall-clock time whatever the machine's zone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from drivers.devices import default_registry
from drivers.protocol.oximeter_stability import StabilityRule
from drivers.devices.proprietary_oximeters import Nonin3230Driver, StreamingOximeterDriver
from drivers.emulator import EmulatedPulseOximeter, VirtualRadio
from drivers.emulator.blood_pressure_monitor import EmulatedAndUA651, EmulatedBloodPressureMonitor, EmulatedOmronBP
from drivers.emulator.glucose_meter import EmulatedAccuChekGuide, EmulatedContourNextOne, EmulatedGlucoseMeter
from drivers.emulator.proprietary_oximeters import (
    EmulatedBerryMed,
    EmulatedJumperOximeter,
    EmulatedNonin3230,
    OximetryPhase,
    finger_out,
)
from drivers.emulator.scales import EmulatedAndUC352, EmulatedMiBodyCompositionScale, EmulatedMiScale, EmulatedWeightScale
from drivers.emulator.thermometer import EmulatedThermometer
from drivers.gatt.glucose import GLUCOSE_MOLAR_MASS, Meal
from drivers.gatt.thermometer import TemperatureType
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider
from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig
from tests.emulated import FAST_LINK, scanning, until

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SPO2, PULSE = "2708-6", "8867-4"
BP_PANEL, SYSTOLIC, DIASTOLIC, MEAN = "85354-9", "8480-6", "8462-4", "8478-0"
WEIGHT, HEIGHT, BMI, BODY_FAT = "29463-7", "8302-2", "39156-5", "41982-0"
TEMPERATURE, GLUCOSE = "8310-5", "15074-8"

Clock = Callable[[], datetime]

# The streaming oximeters' stability rule holds a stream for 5 s by default (and the Nonin waits
# 3 s for its own spot-check after that). `default_registry()` takes no such options, so the
# test tunes its streaming drivers in place (same drivers, same order): 0.5 s of ≥ 5 good frames,
# a 0.3 s grace. Everything else in the registry is as the hub ships it.
FAST_RULE = StabilityRule(hold_seconds=0.5, min_samples=5)
FAST_SPOT_CHECK_GRACE = 0.3


def registry_for_tests(zone):
    registry = default_registry(local_zone=zone)
    for driver in registry:
        if isinstance(driver, StreamingOximeterDriver):
            driver.rule = FAST_RULE
        if isinstance(driver, Nonin3230Driver):
            driver.spot_check_grace = FAST_SPOT_CHECK_GRACE
    return registry


# --- what a case is -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """One Observation at the centre: LOINC code, UCUM unit (None: a panel), the value (a panel:
    component code -> value), and when it was taken (an Oslo wall-clock time the device stamped
    a stored record with; None: measured during the session, placed at its reception)."""

    code: str
    unit: str | None
    value: float | dict[str, float]
    taken: datetime | None = None


@dataclass
class Scripted:
    device: Any
    expected: list[Expected]
    # Broadcast-only scales: what the person does on the scale while the hub listens.
    weighing: Callable[[], Awaitable[None]] | None = None
    # Read again after the first delivery: the device sends its memory once more (None: no memory
    # to re-send, e.g. a live stream). Called before the second read (to change the script).
    again: Callable[[], None] | None = None
    resent: int = 0  # readings the second session delivers again (all of them duplicates)
    serial: str | None = None  # the serial the stored identity must carry (Device Information)
    model: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    driver: str
    make: Callable[[Clock], Scripted]
    marks: tuple[Any, ...] = field(default=())


def _nothing() -> None:
    return None


def ago(clock: Clock, **delta: float) -> datetime:
    return clock() - timedelta(**delta)


def bp(systolic: float, diastolic: float, mean: float, taken: datetime) -> Expected:
    return Expected(BP_PANEL, None, {SYSTOLIC: systolic, DIASTOLIC: diastolic, MEAN: mean}, taken)


# --- pulse oximeters ------------------------------------------------------------------------------


def standard_plx(clock: Clock) -> Scripted:
    first, second = ago(clock, hours=3), ago(clock, minutes=40)
    device = EmulatedPulseOximeter(clock=clock)  # keeps its records and sends them on every connection
    device.record_spot_check(97, 64, timestamp=first)
    device.record_spot_check(95, 70, timestamp=second)
    expected = [
        Expected(SPO2, "%", 97, first),
        Expected(PULSE, "/min", 64, first),
        Expected(SPO2, "%", 95, second),
        Expected(PULSE, "/min", 70, second),
    ]
    return Scripted(device, expected, again=_nothing, resent=4, serial=device.serial, model=device.model)


def _streaming(device: Any, spo2: int, pulse: int) -> list[Expected]:
    device.script = [finger_out(0.2), OximetryPhase(1.0, spo2=spo2, pulse_rate=pulse)]
    return [Expected(SPO2, "%", spo2), Expected(PULSE, "/min", pulse)]


def nonin_3230(clock: Clock) -> Scripted:
    stored = ago(clock, hours=2)
    device = EmulatedNonin3230(clock=clock, rate_hz=20)  # the 1 Hz stream, 20 times faster
    device.record_spot_check(97, 64, timestamp=stored)  # in its PLX memory, re-sent on every connection
    expected = _streaming(device, 96, 72)  # the live stream, stable: the spot reading

    def switched_on_without_a_finger() -> None:
        device.script = []  # no stream values: only the memory comes again

    expected += [Expected(SPO2, "%", 97, stored), Expected(PULSE, "/min", 64, stored)]
    return Scripted(device, expected, again=switched_on_without_a_finger, resent=2, serial=device.serial, model="3230")


def jumper(clock: Clock) -> Scripted:
    device = EmulatedJumperOximeter(rate_hz=50, values_every=5)  # values at 10 Hz
    return Scripted(device, _streaming(device, 98, 66))


def berrymed(clock: Clock) -> Scripted:
    device = EmulatedBerryMed(rate_hz=50, notification_size=7)  # frames straddle notifications
    return Scripted(device, _streaming(device, 95, 80), model="BM1000C")


# --- blood pressure -------------------------------------------------------------------------------
# Standard health devices forget a record once confirmed; `forget_after_send=False` makes them
# send their whole memory again on the next connection, as some monitors and scales do.


def standard_bp(clock: Clock) -> Scripted:
    first, second = ago(clock, hours=5), ago(clock, minutes=30)
    device = EmulatedBloodPressureMonitor(clock=clock, forget_after_send=False)
    device.record_measurement(128, 82, 97, pulse_rate=67, timestamp=first)
    device.record_measurement(134, 86, 102, pulse_rate=71, timestamp=second)
    expected = [
        bp(128, 82, 97, first),
        Expected(PULSE, "/min", 67, first),
        bp(134, 86, 102, second),
        Expected(PULSE, "/min", 71, second),
    ]
    return Scripted(device, expected, again=_nothing, resent=len(expected), serial=device.serial, model=device.model)


def and_ua_651(clock: Clock) -> Scripted:
    taken = ago(clock, hours=1)
    device = EmulatedAndUA651(clock=clock, forget_after_send=False)
    device.record_measurement(141, 89, 106, pulse_rate=74, timestamp=taken)
    expected = [bp(141, 89, 106, taken), Expected(PULSE, "/min", 74, taken)]
    return Scripted(device, expected, again=_nothing, resent=len(expected), serial=device.serial, model=device.model)


def omron(clock: Clock) -> Scripted:
    taken = ago(clock, minutes=90)
    device = EmulatedOmronBP(clock=clock, forget_after_send=False)  # user 1
    device.record_measurement(121, 79, 93, pulse_rate=64, timestamp=taken)
    expected = [bp(121, 79, 93, taken), Expected(PULSE, "/min", 64, taken)]
    return Scripted(device, expected, again=_nothing, resent=len(expected), serial=device.serial, model=device.model)


# --- scales ---------------------------------------------------------------------------------------


def standard_scale(clock: Clock) -> Scripted:
    first, second = ago(clock, days=1), ago(clock, hours=2)
    device = EmulatedWeightScale(clock=clock, user=1, forget_after_send=False)
    device.record_weighing(81.4, bmi=25.1, height=1.80, timestamp=first)
    device.record_weighing(81.1, timestamp=second)
    expected = [
        Expected(WEIGHT, "kg", 81.4, first),
        Expected(BMI, "kg/m2", 25.1, first),
        Expected(HEIGHT, "cm", 180, first),
        Expected(WEIGHT, "kg", 81.1, second),
    ]
    return Scripted(device, expected, again=_nothing, resent=len(expected), serial=device.serial, model=device.model)


def body_composition_scale(clock: Clock) -> Scripted:
    taken = ago(clock, hours=4)
    device = EmulatedWeightScale(
        address="F0:11:22:33:66:02",
        name="Heima BCS 1",
        serial="BCS1-000001",
        weight_service=False,  # the Body Composition Service alone: it carries the weight too
        body_composition=True,
        clock=clock,
        user=1,
        forget_after_send=False,
    )
    device.record_body_composition(23.5, weight=81.4, height=1.80, timestamp=taken)
    expected = [
        Expected(BODY_FAT, "%", 23.5, taken),
        Expected(WEIGHT, "kg", 81.4, taken),
        Expected(HEIGHT, "cm", 180, taken),
    ]
    return Scripted(device, expected, again=_nothing, resent=len(expected), serial=device.serial, model=device.model)


def and_uc_352(clock: Clock) -> Scripted:
    taken = ago(clock, hours=6)
    device = EmulatedAndUC352(clock=clock, forget_after_send=False)
    device.record_weighing(68.2, timestamp=taken)
    expected = [Expected(WEIGHT, "kg", 68.2, taken)]
    return Scripted(device, expected, again=_nothing, resent=len(expected), serial=device.serial, model=device.model)


def mi_scale(clock: Clock) -> Scripted:
    device = EmulatedMiScale(clock=clock)

    async def weighing() -> None:  # the stabilised weight is advertised again and again: one reading
        await device.weigh(74.8, step=0.05, hold=0.25)

    return Scripted(device, [Expected(WEIGHT, "kg", 74.8)], weighing=weighing, model="Mi Scale")


def mi_body_composition_scale(clock: Clock) -> Scripted:
    device = EmulatedMiBodyCompositionScale(clock=clock)

    async def weighing() -> None:  # the impedance is broadcast but never turned into a figure
        await device.weigh(62.35, step=0.05, hold=0.25, impedance=480)

    return Scripted(device, [Expected(WEIGHT, "kg", 62.35)], weighing=weighing, model="Mi Body Composition Scale 2")


# --- thermometer, glucose meters ------------------------------------------------------------------


def thermometer(clock: Clock) -> Scripted:
    first, second = ago(clock, hours=8), ago(clock, minutes=20)
    device = EmulatedThermometer(clock=clock, forget_after_send=False)
    device.record_temperature(37.2, temperature_type=TemperatureType.MOUTH, timestamp=first)
    device.record_temperature(38.1, temperature_type=TemperatureType.EAR, timestamp=second)
    expected = [Expected(TEMPERATURE, "Cel", 37.2, first), Expected(TEMPERATURE, "Cel", 38.1, second)]
    return Scripted(device, expected, again=_nothing, resent=len(expected), serial=device.serial, model=device.model)


# A meter keeps its memory; the hub asks only for records after the last one it stored, so the
# second session delivers nothing (`resent=0`).


def standard_glucose(clock: Clock) -> Scripted:
    first, second = ago(clock, hours=10), ago(clock, hours=1)
    device = EmulatedGlucoseMeter(clock=clock)
    device.add_record(5.8, time=first, meal=Meal.FASTING)
    device.add_record(7.4, time=second, meal=Meal.POSTPRANDIAL)
    expected = [Expected(GLUCOSE, "mmol/L", 5.8, first), Expected(GLUCOSE, "mmol/L", 7.4, second)]
    return Scripted(device, expected, again=_nothing, serial=device.serial, model=device.model)


def contour_next_one(clock: Clock) -> Scripted:
    taken = ago(clock, hours=3)
    device = EmulatedContourNextOne(clock=clock)  # an mg/dL meter
    device.add_record(mg_per_dl=110, time=taken)
    mmol = 110 * 10 / float(GLUCOSE_MOLAR_MASS)  # 6.106 mmol/L, unrounded
    expected = [Expected(GLUCOSE, "mmol/L", mmol, taken)]
    return Scripted(device, expected, again=_nothing, serial=device.serial, model=device.model)


def accu_chek_guide(clock: Clock) -> Scripted:
    first, second = ago(clock, hours=7), ago(clock, hours=5)
    device = EmulatedAccuChekGuide(clock=clock)
    device.add_record(6.4, time=first, meal=Meal.PREPRANDIAL)
    device.add_record(8.9, time=second, meal=Meal.POSTPRANDIAL)
    expected = [Expected(GLUCOSE, "mmol/L", 6.4, first), Expected(GLUCOSE, "mmol/L", 8.9, second)]
    return Scripted(device, expected, again=_nothing, serial=device.serial, model=device.model)


CASES = [
    Case("standard-plx", "plx-standard", standard_plx),
    Case("nonin-3230", "nonin-3230", nonin_3230),
    Case("jumper-jpd-500f", "jumper-jpd-500f", jumper),
    Case("berrymed-bm1000", "berrymed-bm1000", berrymed),
    Case("standard-bp", "bp-standard", standard_bp),
    Case("and-ua-651ble", "and-ua-651ble", and_ua_651),
    Case("omron-blesmart", "omron-blesmart", omron),
    Case("standard-weight-scale", "scale-standard", standard_scale),
    Case("body-composition-scale", "scale-standard", body_composition_scale),
    Case("and-uc-352ble", "and-uc-352ble", and_uc_352),
    Case("xiaomi-mi-scale-v1", "xiaomi-mi-scale", mi_scale),
    Case("xiaomi-mi-body-composition-scale-2", "xiaomi-mi-body-composition-scale", mi_body_composition_scale),
    Case("health-thermometer", "thermometer-standard", thermometer),
    Case("standard-glucose", "glucose-standard", standard_glucose),
    Case("contour-next-one", "glucose-contour-next-one", contour_next_one),
    Case("accu-chek-guide", "glucose-accu-chek-guide", accu_chek_guide),
]


# --- the walk -------------------------------------------------------------------------------------


def config_for(tmp_path, fhir_server) -> HubConfig:
    return HubConfig(
        data_dir=tmp_path / "hub",
        serial="HUB-E2E-EVERY",
        timezone="Europe/Oslo",
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )


async def wait_until_sent(hub, timeout: float = 15.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            counts = await hub.store.outbox_counts()
            if counts and all(c.get("pending", 0) == 0 for c in counts.values()):
                return counts
            await asyncio.sleep(0.05)


async def listen_while(
    link: LinkManager, radio: VirtualRadio, sink, weighing: Callable[[], Awaitable[None]], *, done: Callable[[], bool]
) -> None:
    """The hub listening while a broadcast scale weighs, until `done()` (its readings are in)."""
    listening = asyncio.create_task(link.run(sink))
    try:
        await scanning(radio)
        await weighing()
        await until(done, what="the weighing's readings")
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening


async def read_again(link: LinkManager, sink, device: Any) -> None:
    """The patient switches the device on again: it advertises, the hub reads it once more."""
    await device.wait_until(lambda: not device.is_connected)
    if not device.is_advertising:
        await device.start_advertising()
    await link.read_once(sink, timeout=10)


def loinc(coded: dict) -> list[str]:
    return [c["code"] for c in coded["code"]["coding"] if c["system"] == LOINC]


def quantity(holder: dict) -> tuple[str, float]:
    q = holder["valueQuantity"]
    assert q["system"] == UCUM
    return q["code"], round(float(q["value"]), 3)


def summary(observation: dict) -> tuple:
    """(first LOINC code, UCUM unit, value) — a panel: (code, None, its components' summaries)."""
    code = loinc(observation)[0]
    if "component" in observation and "valueQuantity" not in observation:
        parts = tuple(sorted((loinc(c)[0], *quantity(c)) for c in observation["component"]))
        return code, None, parts
    return (code, *quantity(observation))


def expected_summary(expected: Expected) -> tuple:
    if isinstance(expected.value, dict):
        parts = tuple(sorted((code, "mm[Hg]", round(float(v), 3)) for code, v in expected.value.items()))
        return expected.code, None, parts
    return expected.code, expected.unit, round(float(expected.value), 3)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
async def test_every_device_reaches_the_centre_once(case: Case, tmp_path, fhir_server) -> None:
    config = config_for(tmp_path, fhir_server)
    zone = config.zone

    def oslo_wall_clock() -> datetime:
        return datetime.now(zone).replace(tzinfo=None, microsecond=0)

    scripted = case.make(oslo_wall_clock)
    device = scripted.device
    events: list[tuple[str, dict[str, Any]]] = []
    hub = await start_hub(config)
    try:
        async with VirtualRadio() as radio:
            await radio.add(device)
            link = LinkManager(
                registry_for_tests(zone),
                scanner_backend=radio.scanner_backend,
                client_backend=radio.client_backend,
                passkey_provider=FixedPasskeyProvider(device.passkey if device.passkey is not None else 123456),
                history=hub.store,
                on_event=lambda name, details: events.append((name, dict(details))),
                **FAST_LINK,
            )
            if scripted.weighing is not None:
                expected = len(scripted.expected)
                await listen_while(
                    link, radio, hub.record, scripted.weighing, done=lambda: [n for n, _ in events].count("reading") >= expected
                )
            else:
                identity = await link.read_once(hub.record, timeout=10)
                assert identity.address == device.address
            await wait_until_sent(hub)
            first = fhir_server.observations()
            if scripted.again is not None:
                scripted.again()
                await read_again(link, hub.record, device)
                await wait_until_sent(hub)
        stored = await hub.store.measurements()
        observations = fhir_server.observations()
    finally:
        await hub.stop()

    # the right driver, by the link's own word
    chosen = {d["driver"] for name, d in events if name in ("device-found", "connected")}
    assert chosen == {case.driver}
    connected = [d for name, d in events if name == "connected"]
    if scripted.weighing is None:
        assert len(connected) == (2 if scripted.again is not None else 1)
    else:
        assert connected == []  # a broadcast scale is never connected to
    # ... and the identity the hub stored
    identities = {m.reading.device for m in stored}
    assert len(identities) == 1
    [stored_identity] = identities
    assert stored_identity is not None and stored_identity.address == device.address
    if scripted.serial is not None:
        assert stored_identity.serial == scripted.serial
    if scripted.model is not None:
        assert stored_identity.model == scripted.model

    # exactly the expected Observations, each once, each a stored measurement
    assert Counter(summary(o) for o in observations) == Counter(expected_summary(e) for e in scripted.expected)
    identifiers = [o["identifier"][0]["value"] for o in observations]
    assert len(identifiers) == len(set(identifiers))
    assert set(identifiers) == {m.urn for m in stored}
    assert len(stored) == len(scripted.expected)
    assert sorted(o["id"] for o in first) == sorted(o["id"] for o in observations)  # the second read added nothing
    sessions = [d for name, d in events if name == "disconnected"]
    if scripted.again is not None:  # ... though the device did send its memory again
        assert [s["readings"] for s in sessions][1:] == [scripted.resent]

    # panels: every component in mm[Hg], the panel itself without a value
    for observation in observations:
        if BP_PANEL in loinc(observation):
            assert "valueQuantity" not in observation
            assert {c["valueQuantity"]["code"] for c in observation["component"]} == {"mm[Hg]"}

    # when: a stored record at the time the device stamped it, a live one at its reception
    now = datetime.now(zone)
    for expected in scripted.expected:
        [observation] = [o for o in observations if summary(o) == expected_summary(expected)]
        effective = datetime.fromisoformat(observation["effectiveDateTime"])
        if expected.taken is None:
            assert abs(effective - now) < timedelta(minutes=1)
        else:
            assert abs(effective - expected.taken.replace(tzinfo=zone)) <= timedelta(seconds=2)
