"""The self-care plan with the touch app over the real stack: the heart-failure example plan from
the data folder, an emulated blood pressure monitor on the virtual radio (real ATT/GATT/SMP),
`start_hub` as `heima` composes it, SQLite, the reference FHIR server (Medplum's engine) as the
centre. The patient taps Blodtrykk → Start, the cuff gives a red value → the screen asks to
measure again, first, with the plan's 5 minutes' rest and the guide → Mål på nytt → a second red
→ the patient's own action text from the plan, with the zone in words, on the screen and read
aloud → at the centre both Observations carry the zone in `interpretation` and the plan's limits
as `referenceRange`, and exactly one DetectedIssue implicates them, however often delivery runs.
The advice is decided on the hub as the value is recorded, so the screen does not wait for the
centre (the centre is reachable here only so the same walk can be checked there)."""

from __future__ import annotations

import shutil
from pathlib import Path

from drivers.emulator import VirtualRadio
from drivers.emulator.blood_pressure_monitor import EmulatedBloodPressureMonitor
from hub.api import MeasurementKind, Pairing
from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig, PatientConfig
from hub.services.events import EventBus
from ui.app import HeimaApp, drive
from ui.scenes import settle
from ui.speech import RecordingSpeaker

from .conftest import find, tap, texts, wait_for
from .test_e2e_devices import hub_link

EXAMPLES = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "careplans"
ADVICE = "Blodtrykket er svært høyt. Ring oppfølgingssenteret nå. Ring 113 hvis du har brystsmerter eller blir lam."


LOINC = "http://loinc.org"
BP_PANEL, SYSTOLIC = "85354-9", "8480-6"
ZONES = "http://hl7.no/fhir/ig/planer-hacking/CodeSystem/planer-hacking-observation-severity-zone-cs"


def codes(concept: dict, system: str) -> set[str]:
    return {c["code"] for c in concept.get("coding", []) if c["system"] == system}


async def test_two_red_values_ask_to_measure_again_then_show_and_say_the_patients_own_advice(tmp_path, fhir_server):
    config = HubConfig(
        data_dir=tmp_path / "hub",
        serial="HUB-UI-PLAN",
        timezone="Europe/Oslo",
        patient=PatientConfig(identifier="13116900216"),
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )
    (config.data_dir / "careplans").mkdir(parents=True)
    shutil.copyfile(EXAMPLES / "heart-failure.json", config.data_dir / "careplans" / "plan.json")
    events, pairing = EventBus(), Pairing()
    speaker = RecordingSpeaker()
    monitor = EmulatedBloodPressureMonitor(serial="BP-UI-PLAN")
    async with VirtualRadio() as radio:
        await radio.add(monitor)
        hub = await start_hub(config, link=hub_link(config, radio, events, pairing), pairing=pairing, events=events)
        try:
            assert hub.api.plan() is not None

            async def measure(app, systolic: int, diastolic: int, results: int) -> None:
                await tap(find(app.root, action="start"), app)
                await monitor.wait_until(lambda: monitor.is_connected, timeout=20)
                await monitor.measure(systolic, diastolic, pulse_rate=84, timestamp=False)
                await wait_for(lambda: app.measure_model.state == "result" and len(app.measure_model.results) >= results, timeout=20)
                await settle(app)

            async def work(app):
                app.session.read_aloud = True
                await settle(app)
                # Today by the plan: a blood pressure task's button (missed, due or later: by the hour)
                button = next(w for w in app.root.walk(restrict=True) if str(getattr(w, "action", "")).startswith("task-blodtrykk-") and w.opacity > 0)
                await tap(button, app)
                assert app.root.current == "measure" and app.measure_model.family == "blood-pressure"
                await measure(app, 186, 98, 1)
                shown = texts(app.root)
                assert "Mål en gang til, så vi er sikre." in shown
                assert "Hvil i 5 minutter før du måler igjen." in shown and "5 minutter igjen." in shown
                assert "Sitt med ryggen mot stolen" in shown  # the guide's step: how to rest
                assert shown.index("Mål en gang til") < shown.index("Rød sone") < shown.index(ADVICE)
                assert find(app.root, action="measure-again").role == "primary"
                first = speaker.said[-1][1]
                assert first.index("Mål en gang til") < first.index("Hvil i 5 minutter") < first.index(ADVICE)

                await tap(find(app.root, action="measure-again"), app)  # "Mål på nytt": the guide again
                await wait_for(lambda: not app.measure_model.measuring and not monitor.is_connected, timeout=20)
                await monitor.detach()  # switched off and on again: advertising for the next session
                await radio.add(monitor)
                await measure(app, 184, 97, 1)
                shown = texts(app.root)
                assert "Rød sone" in shown and ADVICE in shown
                assert "Mål en gang til" not in shown and "Hvil i" not in shown  # confirmed: no second wait
                assert "184/97" in shown.replace("\u00a0", " ")
                said = speaker.said[-1][1]
                assert "Rød sone." in said and ADVICE in said  # read aloud as it came

            await drive(HeimaApp(hub.api, speaker=speaker, sounds_dir=tmp_path), work)
            panels = await hub.api.recent(kind=MeasurementKind.BLOOD_PRESSURE)
            await hub.deliver_now()
            await hub.deliver_now()  # once more: nothing is sent twice
        finally:
            await hub.stop()
    assert sorted((v.evaluation.zone, v.evaluation.remeasure, v.evaluation.alert) for v in panels) == [("red", False, True), ("red", True, False)]
    sent = [o for o in fhir_server.observations() if BP_PANEL in codes(o["code"], LOINC)]
    assert sorted(o["identifier"][0]["value"] for o in sent) == sorted(f"urn:uuid:{v.id}" for v in panels)
    for o in sent:
        assert any(codes(i, ZONES) == {"red"} for i in o["interpretation"])
        [systolic] = [c for c in o["component"] if SYSTOLIC in codes(c["code"], LOINC)]
        assert systolic["referenceRange"]  # the plan's limits travel with the value
    [issue] = fhir_server.resources("DetectedIssue")
    assert sorted(i["identifier"]["value"] for i in issue["implicated"]) == sorted(f"urn:uuid:{v.id}" for v in panels)
