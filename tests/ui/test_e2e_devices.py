"""The touch app with emulated devices over the virtual radio, wired as `heima` wires them
(`hub_registry(on_event=...)`, the hub's pairing provider): what the patient sees while a glucose
meter's memory downloads, that the family chosen on the screen is the one measured, and a shared
scale's consent code typed on the screen's number pad, and a cuff switched off mid-measurement."""

from __future__ import annotations

import logging

from drivers.emulator import VirtualRadio
from drivers.emulator.glucose_meter import EmulatedGlucoseMeter
from drivers.emulator.scales import EmulatedWeightScale
from drivers.link import LinkManager
from hub.api import Pairing
from hub.app import hub_registry, publish_device_events, start_hub
from hub.config import HubConfig
from hub.services.events import EventBus
from tests.emulated import FAST_LINK, emulated_oximeter
from ui.app import HeimaApp, drive
from ui.scenes import next_frame, settle
from ui.speech import RecordingSpeaker

from .conftest import find, start_measuring, tap, texts, wait_for


def hub_link(config: HubConfig, radio: VirtualRadio, events: EventBus, pairing: Pairing) -> LinkManager:
    publish = publish_device_events(events)
    return LinkManager(
        hub_registry(config, on_event=publish),
        scanner_backend=radio.scanner_backend,
        client_backend=radio.client_backend,
        passkey_provider=pairing,
        on_event=publish,
        **FAST_LINK,
    )


async def test_the_chosen_meter_is_read_and_its_memory_download_shows_how_far_it_is(tmp_path):
    """An oximeter and a glucose meter both in range: the patient taps Blood sugar, so the meter
    is read (not the oximeter that advertises too), and the screen counts the records as they come."""
    config = HubConfig(data_dir=tmp_path / "hub", serial="HUB-UI-GLUCOSE")
    events, pairing = EventBus(), Pairing()
    meter = EmulatedGlucoseMeter(requires_bonding=False, record_interval=0.1)
    for i in range(40):
        meter.add_record(5.0 + (i % 10) / 10)
    async with emulated_oximeter(records=[(97, 61)]) as rig:
        await rig.radio.add(meter)
        hub = await start_hub(config, link=hub_link(config, rig.radio, events, pairing), pairing=pairing, events=events)
        seen: list[str] = []
        try:

            async def work(app):
                await settle(app)
                await start_measuring(app, "glucose")
                await wait_for(lambda: 0.1 <= app.measure_model.progress < 0.5, timeout=20)
                await next_frame(3)
                seen.append(texts(app.root))  # part-way: the download's progress, not a value yet
                assert 0 < app.measure_model.progress < 1
                await wait_for(lambda: app.measure_model.progress_text.endswith("40 av 40"), timeout=20)
                await wait_for(lambda: app.measure_model.state == "result" and not app.measure_model.measuring, timeout=20)
                await settle(app)
                seen.append(texts(app.root))

            app = HeimaApp(hub.api, speaker=RecordingSpeaker())
            await drive(app, work)
            stored = await hub.api.recent(limit=100)
        finally:
            await hub.stop()
    during, after = seen
    assert "Henter målinger fra apparatet: " in during and " av 40" in during and "mmol/l" not in during
    assert "Blodsukker" in after and "5,9 mmol/l" in after  # the newest record, the meter's last
    assert {v.kind.value for v in stored} == {"blood-glucose"} and len(stored) == 40
    assert not any(v.device_name == rig.oximeter.name for v in stored)  # the oximeter was left alone


async def test_a_shared_scale_gets_the_code_the_patient_types(tmp_path, caplog):
    """A scale several people share (User Data Service) asks for the patient's consent code: the
    dialog asks in large type, the patient types 1234 on the number pad, the weight is shown."""
    caplog.set_level(logging.DEBUG)
    config = HubConfig(data_dir=tmp_path / "hub", serial="HUB-UI-SCALE")
    events, pairing = EventBus(), Pairing()
    scale = EmulatedWeightScale(user_data_service=True, consent_code=1234, user_index=1, user=1)
    scale.record_weighing(72.4)
    async with VirtualRadio() as radio:
        await radio.add(scale)
        hub = await start_hub(config, link=hub_link(config, radio, events, pairing), pairing=pairing, events=events)
        try:

            async def type_code(app, code: str) -> None:
                await wait_for(lambda: app.passkey.waiting, timeout=20)
                await settle(app)
                assert "Skriv inn koden for bruker 1 på vekta (4 tall)." in texts(app.passkey)
                assert "Heima Scale" not in texts(app.passkey)  # the scale, not its advertised name
                # Under the dialog, the measuring screen says what the scale asks: not pairing.
                shown = texts(app.root.get_screen("measure"))
                assert "Vekta spør etter koden din. Skriv den inn på skjermen." in shown
                assert "kobles sammen" not in shown
                for key in code:
                    await tap(find(app.passkey, action=f"key-{key}"), app)
                await tap(find(app.passkey, action="pairing-ok"), app)

            async def work(app):
                await settle(app)
                await start_measuring(app, "weight")
                await type_code(app, "4321")  # a wrong code: the scale keeps the weight
                await wait_for(lambda: app.measure_model.state == "lost", timeout=20)
                await settle(app)
                assert "Vekta godtok ikke koden. Sjekk koden din og mål på nytt." in texts(app.root)
                await scale.wait_until(lambda: not scale.is_connected)
                if not scale.is_advertising:
                    await scale.start_advertising()
                await tap(find(app.root, action="try-again"), app)
                await type_code(app, "1234")
                await wait_for(lambda: app.measure_model.state == "result", timeout=20)
                await settle(app)
                assert "72,4 kg" in texts(app.root)

            await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
        finally:
            await hub.stop()
    assert scale.consents == [False, True]
    assert "1234" not in caplog.text and "4321" not in caplog.text


async def test_a_cuff_that_goes_away_mid_measurement_says_to_measure_again(tmp_path):
    """The cuff inflates (the patient sees its pressure rise), then the monitor is switched off
    before a result: the screen says it stopped before a value came and offers to measure again;
    nothing is stored, and the cuff pressure is never taken for a blood pressure."""
    from drivers.emulator.blood_pressure_monitor import EmulatedBloodPressureMonitor
    from drivers.gatt.blood_pressure import INTERMEDIATE_CUFF_PRESSURE_UUID

    config = HubConfig(data_dir=tmp_path / "hub", serial="HUB-UI-BP-GONE")
    events, pairing = EventBus(), Pairing()
    monitor = EmulatedBloodPressureMonitor()
    async with VirtualRadio() as radio:
        await radio.add(monitor)
        hub = await start_hub(config, link=hub_link(config, radio, events, pairing), pairing=pairing, events=events)
        try:

            async def work(app):
                await settle(app)
                await start_measuring(app, "blood-pressure")
                await monitor.wait_until(lambda: monitor.is_connected, timeout=20)
                await wait_for(lambda: app.measure_model.state == "connected", timeout=20)
                # The hub listens for cuff pressure once it has subscribed: inflating before that
                # (a loaded machine, a slow subscribe) would send pressures nobody hears.
                await monitor.wait_until(lambda: INTERMEDIATE_CUFF_PRESSURE_UUID in monitor.subscribed, timeout=20)
                await monitor.inflate([60, 90, 120], interval=0.05)
                await wait_for(lambda: app.measure_model.state == "live", timeout=10)
                await settle(app)
                assert "120 mmHg" in texts(app.root).replace("\u00a0", " ")
                await monitor.stop_advertising()  # switched off: gone from the air and the link
                await monitor.disconnect()
                await wait_for(lambda: not app.measure_model.measuring, timeout=30)
                await settle(app)
                shown = texts(app.root)
                assert app.measure_model.state == "lost"
                assert "Apparatet stoppet før en verdi kom. Mål på nytt." in shown
                assert "120 mmHg" not in shown.replace("\u00a0", " ")
                find(app.root, action="try-again")  # offered: raises when it is not on the screen

            await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
            stored = await hub.api.recent(limit=10)
        finally:
            await hub.stop()
    assert stored == []
