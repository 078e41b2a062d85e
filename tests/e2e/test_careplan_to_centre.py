"""The self-care plan end to end: an emulated blood-pressure cuff on a Bumble virtual radio (real
ATT/GATT/SMP) → a red value → the plan asks to measure again after 5 minutes' rest, with the
patient's own words → a second red → both stored with their evaluations, and at the reference FHIR
server (Medplum) the two Observations carry the zone and VKP triage in `interpretation` and every
level's limits as typed `referenceRange`s on their components, and exactly one DetectedIssue
implicates both — however often delivery runs.

Real parts all the way: the heart-failure example plan from the data folder's careplans/
(docs/care-plan-format.md), `hub.app.start_hub` with a `fhir` destination, the drivers and the
LinkManager over the virtual radio, SQLite, the outbox worker, Medplum's engine.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from drivers.devices import default_registry
from drivers.emulator import VirtualRadio
from drivers.emulator.blood_pressure_monitor import EmulatedBloodPressureMonitor
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider
from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig, PatientConfig
from tests.emulated import FAST_LINK

EXAMPLES = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "careplans"
LOINC = "http://loinc.org"
BP_PANEL, SYSTOLIC = "85354-9", "8480-6"
TRIAGE = "http://ehelse.no/fhir/CodeSystem/vkp-triage-v090"
ZONES = "http://hl7.no/fhir/ig/planer-hacking/CodeSystem/planer-hacking-observation-severity-zone-cs"


async def wait_until_sent(hub, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            counts = await hub.store.outbox_counts()
            if counts and all(c.get("pending", 0) == 0 for c in counts.values()):
                return
            await asyncio.sleep(0.05)


async def measure_once(hub, radio, monitor, systolic: int, diastolic: int) -> None:
    """The patient puts the cuff on and presses start: one reading, read over the radio."""
    monitor.record_measurement(systolic, diastolic, pulse_rate=84, timestamp=False)  # no clock: the hub's time
    await radio.add(monitor)
    link = LinkManager(
        default_registry(local_zone=hub.config.zone),
        scanner_backend=radio.scanner_backend,
        client_backend=radio.client_backend,
        passkey_provider=FixedPasskeyProvider(123456),
        **FAST_LINK,
    )
    await link.read_once(hub.record, timeout=10)
    await monitor.detach()


def codes(concept: dict, system: str) -> set[str]:
    return {c["code"] for c in concept.get("coding", []) if c["system"] == system}


async def test_two_red_values_advice_remeasure_and_one_alert_at_the_centre(tmp_path, fhir_server) -> None:
    config = HubConfig(
        data_dir=tmp_path / "hub",
        serial="HUB-E2E-PLAN",
        timezone="Europe/Oslo",
        patient=PatientConfig(identifier="13116900216"),
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )
    (config.data_dir / "careplans").mkdir(parents=True)
    shutil.copyfile(EXAMPLES / "heart-failure.json", config.data_dir / "careplans" / "plan.json")
    hub = await start_hub(config)
    try:
        assert hub.api.plan() is not None and hub.api.plan().title == "Egenbehandlingsplan hjertesvikt"
        monitor = EmulatedBloodPressureMonitor(serial="BP-E2E-PLAN")
        async with VirtualRadio() as radio:
            await measure_once(hub, radio, monitor, 186, 98)
            [first] = await hub.api.recent(kind=hub_kind("blood-pressure"))
            e = first.evaluation
            assert (e.zone, e.rule, e.remeasure, e.remeasure_after_s, e.alert) == ("red", "sys-high-red", True, 300, False)
            assert e.advice.startswith("Blodtrykket er svært høyt") and e.advice_in("en").startswith("Your blood pressure is very high")

            await measure_once(hub, radio, monitor, 184, 97)
        second = next(v for v in await hub.api.recent(kind=hub_kind("blood-pressure")) if v.id != first.id)
        assert (second.evaluation.zone, second.evaluation.remeasure, second.evaluation.alert) == ("red", False, True)

        await wait_until_sent(hub)
        await hub.deliver_now()  # once more: nothing is sent twice
    finally:
        await hub.stop()

    panels = [o for o in fhir_server.observations() if BP_PANEL in codes(o["code"], LOINC)]
    assert {o["identifier"][0]["value"] for o in panels} == {f"urn:uuid:{first.id}", f"urn:uuid:{second.id}"}
    for o in panels:
        [interpretation] = [i for i in o["interpretation"] if codes(i, TRIAGE)]
        assert codes(interpretation, TRIAGE) == {"R"} and codes(interpretation, ZONES) == {"red"}
        [systolic] = [c for c in o["component"] if SYSTOLIC in codes(c["code"], LOINC)]
        ranges = {(r["type"]["coding"][0]["code"], r.get("low", {}).get("value"), r.get("high", {}).get("value")) for r in systolic["referenceRange"]}
        assert ("HH", 180, None) in ranges and all(r["low"]["code"] == "mm[Hg]" for r in systolic["referenceRange"] if "low" in r)
    [issue] = fhir_server.resources("DetectedIssue")
    assert issue["severity"] == "high" and codes(issue["code"], TRIAGE) == {"R"}
    assert [i["identifier"]["value"] for i in issue["implicated"]] == [f"urn:uuid:{first.id}", f"urn:uuid:{second.id}"]
    assert "186" not in issue["detail"] and "184" not in issue["detail"]  # the colour and the rule, never a value


def hub_kind(name: str):
    from hub.api import MeasurementKind

    return MeasurementKind(name)
