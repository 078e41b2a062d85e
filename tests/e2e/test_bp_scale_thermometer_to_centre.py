"""The whole walk for blood pressure, weight and temperature: emulated devices → the hub's store →
the reference FHIR server.

Real parts all the way: emulated A&D / Omron monitors, a standard scale, a thermometer and a
Xiaomi broadcast scale on a Bumble virtual radio (real ATT/GATT/SMP), bleak, the drivers and the
LinkManager, `hub.app.start_hub` with a `fhir` destination, the outbox worker, Medplum's engine.

The hub keeps device clocks in its configured zone (Europe/Oslo): the drivers are given that
zone, and the emulated devices' clocks show Oslo wall-clock time, whatever the machine's zone.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from drivers.devices import default_registry
from drivers.emulator import VirtualRadio
from drivers.emulator.blood_pressure_monitor import EmulatedAndUA651, EmulatedOmronBP
from drivers.emulator.scales import EmulatedMiScale, EmulatedWeightScale
from drivers.emulator.thermometer import EmulatedThermometer
from drivers.gatt.ieee11073 import SpecialValue
from drivers.gatt.thermometer import TemperatureType
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider
from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig
from tests.emulated import FAST_LINK, scanning, until

LOINC = "http://loinc.org"
SYSTOLIC, DIASTOLIC, MEAN, BP_PANEL, PULSE = "8480-6", "8462-4", "8478-0", "85354-9", "8867-4"
WEIGHT, HEIGHT, BMI, TEMPERATURE = "29463-7", "8302-2", "39156-5", "8310-5"


def config_for(tmp_path, fhir_server) -> HubConfig:
    return HubConfig(
        data_dir=tmp_path / "hub",
        serial="HUB-E2E-BPST",
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


def loinc(coded: dict) -> set[str]:
    return {c["code"] for c in coded["code"]["coding"] if c["system"] == LOINC}


def by_code(observations: list[dict], code: str) -> list[dict]:
    return [o for o in observations if code in loinc(o)]


def component(observation: dict, code: str) -> dict:
    [found] = [c for c in observation["component"] if code in loinc(c)]
    return found


async def test_blood_pressure_weight_and_temperature_reach_the_centre(tmp_path, fhir_server) -> None:
    config = config_for(tmp_path, fhir_server)
    zone = config.zone

    def oslo_wall_clock() -> datetime:
        return datetime.now(zone).replace(tzinfo=None, microsecond=0)

    hub = await start_hub(config)
    monitor = EmulatedAndUA651(clock=oslo_wall_clock, clock_error=timedelta(hours=-2), serial="AND-E2E-1")
    taken = monitor.true_time() - timedelta(minutes=50)
    monitor.record_measurement(138, 87, 104, pulse_rate=71, timestamp=taken - timedelta(hours=2))  # on its clock
    monitor.record_measurement(SpecialValue.NAN, 85, pulse_rate=69)  # "Err" for the systolic
    omron = EmulatedOmronBP(clock=oslo_wall_clock, serial="OMR-E2E-1")
    omron.record_measurement(121, 79, pulse_rate=64)  # user 1: the patient
    omron.record_measurement(150, 96, pulse_rate=88, user_id=2)  # the spouse: never enters the hub
    scale = EmulatedWeightScale(clock=oslo_wall_clock, current_time_service=True, user=1, serial="SC-E2E-1")
    scale.record_weighing(74.85, bmi=24.2, height=1.76)
    thermometer = EmulatedThermometer(clock=oslo_wall_clock, fahrenheit=True, serial="TH-E2E-1")
    thermometer.record_temperature(100.4, temperature_type=TemperatureType.EAR)
    mi_scale = EmulatedMiScale(clock=oslo_wall_clock)
    try:
        async with VirtualRadio() as radio:
            events: list[tuple[str, dict[str, Any]]] = []
            link = LinkManager(
                default_registry(local_zone=zone),
                scanner_backend=radio.scanner_backend,
                client_backend=radio.client_backend,
                passkey_provider=FixedPasskeyProvider(123456),
                on_event=lambda name, details: events.append((name, details)),
                **FAST_LINK,
            )
            for device in (monitor, omron, scale, thermometer):
                await radio.add(device)
                await link.read_once(hub.record, timeout=10)
                await device.detach()
            await radio.add(mi_scale)
            listening = asyncio.create_task(link.run(hub.record))
            await scanning(radio)
            await mi_scale.weigh(74.8, step=0.05, hold=0.25)
            await until(lambda: ("reading", {"address": mi_scale.address, "kind": "body-weight"}) in events, what="the weighing")
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
        await wait_until_sent(hub)
    finally:
        await hub.stop()

    observations = fhir_server.observations()
    stored = await hub_measurements(config)
    assert len(observations) == len(stored) == 2 + 2 + 2 + 3 + 1 + 1  # A&D 2×2, Omron user 1, scale, thermometer, Mi
    assert {o["identifier"][0]["value"] for o in observations} == stored

    panels = by_code(observations, BP_PANEL)
    assert len(panels) == 3 and all("valueQuantity" not in p for p in panels)
    systolic_by_diastolic = {
        component(p, DIASTOLIC)["valueQuantity"]["value"]: component(p, SYSTOLIC).get("valueQuantity", {}).get("value")
        for p in panels
    }
    assert systolic_by_diastolic == {87: 138, 85: None, 79: 121}  # the spouse's 150/96 is not there
    err = next(p for p in panels if component(p, DIASTOLIC)["valueQuantity"]["value"] == 85)
    assert "valueQuantity" not in component(err, SYSTOLIC)  # "Err" never travels as 2047
    assert component(err, SYSTOLIC)["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"
    stored_bp = next(p for p in panels if component(p, DIASTOLIC)["valueQuantity"]["value"] == 87)
    assert component(stored_bp, SYSTOLIC)["valueQuantity"]["code"] == "mm[Hg]"
    assert component(stored_bp, MEAN)["valueQuantity"]["value"] == 104
    # stamped by a clock two hours behind, placed by the offset read in the same session
    effective = datetime.fromisoformat(stored_bp["effectiveDateTime"])
    assert abs(effective - taken.replace(tzinfo=zone)) <= timedelta(seconds=1)
    assert sorted(o["valueQuantity"]["value"] for o in by_code(observations, PULSE)) == [64, 69, 71]

    weights = sorted(o["valueQuantity"]["value"] for o in by_code(observations, WEIGHT))
    assert weights == [74.8, 74.85]
    assert [o["valueQuantity"]["value"] for o in by_code(observations, BMI)] == [24.2]
    [height] = by_code(observations, HEIGHT)
    assert (height["valueQuantity"]["value"], height["valueQuantity"]["code"]) == (176, "cm")
    [temperature] = by_code(observations, TEMPERATURE)
    assert (temperature["valueQuantity"]["value"], temperature["valueQuantity"]["code"]) == (38, "Cel")
    assert "bodySite" in temperature

    # the patient's screen saw no cuff pressure here (the A&D has none); no event carried a value
    assert not any(name == "cuff-pressure" for name, _ in events)
    assert all("138" not in str(details) for name, details in events if name != "cuff-pressure")
    assert all(abs(datetime.fromisoformat(o["effectiveDateTime"]) - datetime.now(UTC)) < timedelta(hours=2) for o in observations)


async def hub_measurements(config: HubConfig) -> set[str]:
    hub = await start_hub(config, deliver=False)
    try:
        return {m.urn for m in await hub.store.measurements()}
    finally:
        await hub.stop()
