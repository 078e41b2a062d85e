"""Values no body can have, sent by real drivers over the virtual radio, are stored and sent as
no value with a reason — never as the patient's reading.

Real parts: emulated devices on a Bumble virtual radio sending the bytes below as they are
(real ATT/GATT), bleak, the drivers and the LinkManager, `hub.app.start_hub` with its SQLite
store, the outbox and a `directory` destination writing the FHIR bundles a centre would get.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from drivers.devices import default_registry
from drivers.emulator import EmulatedPulseOximeter, VirtualRadio
from drivers.emulator.blood_pressure_monitor import EmulatedBloodPressureMonitor
from drivers.emulator.thermometer import EmulatedThermometer
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider
from hub.app import Hub, start_hub
from hub.config import DestinationConfig, HubConfig
from hub.domain.readings import AbsentReason, MeasurementKind, QualityFlag
from tests.emulated import FAST_LINK

K = MeasurementKind
LOINC = "http://loinc.org"
SPO2, PULSE, TEMPERATURE, BP_PANEL, SYSTOLIC, DIASTOLIC = "59408-5", "8867-4", "8310-5", "85354-9", "8480-6", "8462-4"

# Byte fixtures, as the devices send them (IEEE 11073 SFLOAT/FLOAT, little-endian):
# PLX Spot-check: flags 0, SpO2 0x007F = 127 % (a "missing" marker sent as a number), pulse 64.
SPOT_CHECK_127_PERCENT = bytes.fromhex("00 7f00 4000")
# Temperature Measurement: flags 0 (Celsius), FLOAT mantissa 600, exponent -1 = 60.0 °C.
TEMPERATURE_60_C = bytes.fromhex("00 580200ff")
# Blood Pressure Measurement: flags 0 (mmHg), systolic 320, diastolic 80, mean 160.
PRESSURE_320_OVER_80 = bytes.fromhex("00 4001 5000 a000")


def config_for(tmp_path) -> HubConfig:
    return HubConfig(
        data_dir=tmp_path / "hub",
        serial="HUB-PLAUSIBLE-1",
        timezone="Europe/Oslo",
        destinations=(DestinationConfig(name="usb", kind="directory", path=tmp_path / "bundles"),),
    )


@asynccontextmanager
async def hub_reading(tmp_path, *devices: Any) -> AsyncIterator[Hub]:
    """A hub that reads each device once over the radio, then delivers what is due."""
    config = config_for(tmp_path)
    hub = await start_hub(config, deliver=False)
    try:
        async with VirtualRadio() as radio:
            link = LinkManager(
                default_registry(local_zone=config.zone),
                scanner_backend=radio.scanner_backend,
                client_backend=radio.client_backend,
                passkey_provider=FixedPasskeyProvider(123456),
                **FAST_LINK,
            )
            for device in devices:
                await radio.add(device)
                await link.read_once(hub.record, timeout=15)
                await device.detach()
        await hub.deliver_now()
        yield hub
    finally:
        await hub.stop()


def sent_observations(tmp_path) -> list[dict]:
    found = []
    for path in sorted((tmp_path / "bundles").glob("*.fhir.json")):
        found += [e["resource"] for e in json.loads(path.read_text())["entry"] if e["resource"]["resourceType"] == "Observation"]
    return found


def coded(resource: dict, code: str) -> bool:
    return any(c["system"] == LOINC and c["code"] == code for c in resource["code"]["coding"])


def one(observations: list[dict], code: str) -> dict:
    [found] = [o for o in observations if coded(o, code)]
    return found


def absent_code(element: dict) -> str:
    assert "valueQuantity" not in element
    return element["dataAbsentReason"]["coding"][0]["code"]


async def test_an_oximeter_thermometer_and_cuff_sending_impossible_bytes_give_no_values(tmp_path) -> None:
    oximeter = EmulatedPulseOximeter(serial="PLX-IMPOSSIBLE")
    oximeter.record_raw_spot_check(SPOT_CHECK_127_PERCENT)
    thermometer = EmulatedThermometer(serial="TH-IMPOSSIBLE")
    thermometer.record_raw(TEMPERATURE_60_C)
    monitor = EmulatedBloodPressureMonitor(serial="BP-IMPOSSIBLE")
    monitor.record_raw(PRESSURE_320_OVER_80)

    async with hub_reading(tmp_path, oximeter, thermometer, monitor) as hub:
        stored = {m.reading.kind: m.reading for m in await hub.store.measurements()}
        shown = {v.kind: v for v in await hub.api.recent()}

    # The store: no value with the reason, the possible values untouched.
    assert (stored[K.OXYGEN_SATURATION].value, stored[K.OXYGEN_SATURATION].absent_reason) == (None, AbsentReason.IMPLAUSIBLE)
    assert stored[K.PULSE_RATE].value == 64.0
    assert (stored[K.BODY_TEMPERATURE].value, stored[K.BODY_TEMPERATURE].absent_reason) == (None, AbsentReason.IMPLAUSIBLE)
    systolic, diastolic = (stored[K.BLOOD_PRESSURE].components[i] for i in (0, 1))
    assert (systolic.value, systolic.absent_reason) == (None, AbsentReason.IMPLAUSIBLE)
    assert diastolic.value == 80.0
    assert QualityFlag.QUESTIONABLE in stored[K.BLOOD_PRESSURE].flags

    # What the patient's screen is given: no number for SpO2 or temperature; the cuff's panel
    # questioned (the screen asks to measure again for both: ui.kinds.quality_text).
    assert shown[K.OXYGEN_SATURATION].value is None and shown[K.BODY_TEMPERATURE].value is None
    assert QualityFlag.QUESTIONABLE in shown[K.BLOOD_PRESSURE].flags

    # What a centre gets: a dataAbsentReason, never 127 %, 60 °C or 320 mmHg.
    observations = sent_observations(tmp_path)
    assert len(observations) == 4
    assert absent_code(one(observations, SPO2)) == "error"
    assert one(observations, PULSE)["valueQuantity"]["value"] == 64
    assert absent_code(one(observations, TEMPERATURE)) == "error"
    panel = one(observations, BP_PANEL)
    assert absent_code(one(panel["component"], SYSTOLIC)) == "error"
    assert one(panel["component"], DIASTOLIC)["valueQuantity"]["value"] == 80
    assert any(c["code"] == "questionable" for i in panel["interpretation"] for c in i["coding"])
    # Every value sent, wherever it sits, as a number or as text (not a substring of the JSON: an
    # id or a time may hold "127" by chance).
    values = [value for o in observations for value in leaves(o)]
    for impossible in (127, 320, 60):
        assert impossible not in values and str(impossible) not in values and f"{impossible}.0" not in values


def leaves(resource) -> list:
    if isinstance(resource, dict):
        return [n for v in resource.values() for n in leaves(v)]
    if isinstance(resource, list):
        return [n for v in resource for n in leaves(v)]
    return [] if isinstance(resource, bool) else [resource]


async def test_a_temperature_stamped_hours_ahead_of_the_thermometers_own_clock_is_placed_at_its_reception(tmp_path) -> None:
    thermometer = EmulatedThermometer(serial="TH-AHEAD")
    ahead = thermometer.device_time() + timedelta(hours=3)  # by the device's own clock, read in the session
    thermometer.record_temperature(37.2, timestamp=ahead)
    before = datetime.now().astimezone()
    async with hub_reading(tmp_path, thermometer) as hub:
        [kept] = await hub.store.measurements()
    after = datetime.now().astimezone()
    assert kept.reading.value == 37.2 and kept.reading.device_time == ahead  # the device's time is kept as it sent it
    assert QualityFlag.TIME_QUESTIONABLE in kept.reading.flags
    assert before <= kept.effective_time <= after  # placed at its reception, not three hours on
    [observation] = sent_observations(tmp_path)
    assert datetime.fromisoformat(observation["effectiveDateTime"]) <= after
    assert any(c["code"] == "questionable" for i in observation["interpretation"] for c in i["coding"])
