"""The whole walk for a glucose meter: its memory → the hub → the reference FHIR server.

Real parts all the way: an emulated meter speaking real ATT/GATT/SMP over a Bumble virtual radio,
bleak, the glucose driver and the LinkManager with the hub's store as its DeviceHistory,
`hub.app.start_hub` with a `fhir` destination, the outbox worker, Medplum's FHIR engine.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta

from drivers.devices import default_registry
from drivers.emulator import VirtualRadio
from drivers.emulator.glucose_meter import EmulatedAccuChekGuide
from drivers.gatt.glucose import GlucoseSampleLocation, GlucoseSampleType, Meal
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider
from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig
from tests.emulated import FAST_LINK

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"


def system_zone() -> str:
    """The machine's IANA zone: the hub's zone on a Pi set up by the installer, and the one the
    driver reads the hub's wall clock in for the clock offset."""
    if os.environ.get("TZ"):
        return os.environ["TZ"].lstrip(":")
    target = os.path.realpath("/etc/localtime")
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"


def config_for(tmp_path, fhir_server) -> HubConfig:
    return HubConfig(
        data_dir=tmp_path / "hub",
        serial="HUB-E2E-GLU",
        timezone=system_zone(),
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )


async def wait_until_sent(hub, timeout: float = 15.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            counts = await hub.store.outbox_counts()
            if counts and all(c.get("pending", 0) == 0 for c in counts.values()):
                return counts
            await asyncio.sleep(0.05)


def codes(observation: dict, system: str) -> set[str]:
    return {c["code"] for c in observation["code"]["coding"] if c["system"] == system}


async def test_a_meters_memory_arrives_at_the_centre_once_incrementally_without_control_solution(tmp_path, fhir_server) -> None:
    hub = await start_hub(config_for(tmp_path, fhir_server))
    meter = EmulatedAccuChekGuide(drift=timedelta(minutes=-12))
    meter.add_record(5.8, meal=Meal.PREPRANDIAL)
    meter.add_record(9.4, meal=Meal.POSTPRANDIAL, location=GlucoseSampleLocation.ALTERNATE_SITE_TEST)
    meter.add_record(6.0, sample_type=GlucoseSampleType.CONTROL_SOLUTION, location=GlucoseSampleLocation.CONTROL_SOLUTION)
    try:
        async with VirtualRadio() as radio:
            await radio.add(meter)
            link = LinkManager(
                default_registry(),
                scanner_backend=radio.scanner_backend,
                client_backend=radio.client_backend,
                passkey_provider=FixedPasskeyProvider(meter.passkey),
                history=hub.store,
                **FAST_LINK,
            )
            await link.read_once(hub.record, timeout=10)
            await wait_until_sent(hub)
            first = fhir_server.observations()

            meter.add_record(7.1, meal=Meal.FASTING)  # the next morning
            meter.racp_requests.clear()
            await meter.wait_until(lambda: not meter.is_connected)
            await meter.start_advertising()
            await link.read_once(hub.record, timeout=10)
            await wait_until_sent(hub)
            assert meter.racp_requests == [bytes.fromhex("0106"), bytes.fromhex("0103010400")]
        stored = await hub.store.measurements()
        observations = fhir_server.observations()
    finally:
        await hub.stop()

    assert len(stored) == 4  # the control-solution result is kept at home, marked
    assert len(first) == 2 and len(observations) == 3  # ... and never sent; nothing sent twice
    assert {o["identifier"][0]["value"] for o in observations} <= {m.urn for m in stored}
    by_value = {o["valueQuantity"]["value"]: o for o in observations}
    assert set(by_value) == {5.8, 9.4, 7.1}
    for observation in observations:
        assert "15074-8" in codes(observation, LOINC) and "160184" in codes(observation, MDC)
        assert observation["valueQuantity"]["code"] == "mmol/L"
        assert observation["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    meal = by_value[5.8]["component"][0]
    assert "8417864" in {c["code"] for c in meal["code"]["coding"]}
    assert "8417868" in {c["code"] for c in meal["valueCodeableConcept"]["coding"]}  # preprandial
    assert "8417852" in {c["code"] for c in by_value[9.4]["bodySite"]["coding"]}  # alternate site
    # the meter ran 12 minutes late: the centre gets the corrected time, 12 minutes after its stamp
    [first_record] = [m for m in stored if m.reading.record_id == "1"]
    device_time = first_record.reading.device_time.replace(tzinfo=hub.config.zone)
    assert abs((first_record.effective_time - device_time).total_seconds() - 12 * 60) <= 2
    sent = datetime.fromisoformat(by_value[5.8]["effectiveDateTime"])
    assert abs((sent - first_record.effective_time).total_seconds()) <= 1
