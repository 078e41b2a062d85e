"""The whole walk with the touch app: an emulated oximeter over the virtual radio → tap
"Measure" → the value on screen → an Observation at the reference FHIR server → "Sendt ✓"."""

from __future__ import annotations

import asyncio

from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig
from hub.services.events import EventBus
from tests.emulated import emulated_oximeter
from ui.app import HeimaApp, drive
from ui.scenes import settle
from ui.speech import RecordingSpeaker

from .conftest import find, tap, texts, wait_for


async def test_measure_with_the_oximeter_and_see_it_sent(tmp_path, fhir_server):
    config = HubConfig(
        data_dir=tmp_path / "hub",
        serial="HUB-UI-E2E",
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )
    events = EventBus()
    async with emulated_oximeter() as rig:
        link = rig.link_manager(on_event=lambda name, data: events.publish(name, **data))
        hub = await start_hub(config, link=link, events=events)
        try:

            async def patient_measures():
                await rig.oximeter.wait_until(lambda: rig.oximeter.is_connected, timeout=20)
                await asyncio.sleep(0.2)
                await rig.oximeter.take_live_spot_check(96, 71)

            async def work(app):
                await settle(app)
                assert "Ikke gjort ennå i dag" in texts(app.root)
                await tap(find(app.root, action="measure-pulse-oximeter"), app)  # "Mål"
                assert "Sett en finger i klypen, med neglen opp." in texts(app.root)
                finger = asyncio.ensure_future(patient_measures())
                await tap(find(app.root, action="start"), app)  # "Start målingen"
                await wait_for(lambda: len(app.measure_model.results) == 2, timeout=20)
                await settle(app)
                assert "96 %" in texts(app.root) and "71 /min" in texts(app.root)
                await wait_for(lambda: app.measure_model.send_text == "Sendt ✓", timeout=20)
                await settle(app)
                assert "Sendt ✓" in texts(app.root)
                await finger

            app = HeimaApp(hub.api, speaker=RecordingSpeaker())
            await drive(app, work)
        finally:
            await hub.stop()
    observations = fhir_server.observations()
    assert sorted(o["valueQuantity"]["value"] for o in observations) == [71, 96]
