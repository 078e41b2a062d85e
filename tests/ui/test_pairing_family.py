"""The pairing dialog names the device that asks, by the family its driver declares — not the
family being measured. The patient taps Blood pressure; only a finger clip is in range and, once
no cuff was heard, it is the one read and asks for its passkey: the dialog says the finger clip."""

from __future__ import annotations

from drivers.emulator.pulse_oximeter import EmulatedPulseOximeter
from hub.api import DeviceFamily, DeviceFound, PairingNeeded, Pairing
from hub.app import start_hub
from hub.config import HubConfig
from hub.services.events import EventBus
from tests.emulated import emulated_oximeter
from ui.app import HeimaApp, drive
from ui.scenes import settle
from ui.speech import RecordingSpeaker

from .conftest import find, start_measuring, tap, texts, wait_for
from .test_e2e_devices import hub_link


async def test_the_pairing_dialog_names_the_asking_devices_family_not_the_one_measured(tmp_path):
    config = HubConfig(data_dir=tmp_path / "hub", serial="HUB-UI-PAIR-FAMILY")
    events, pairing = EventBus(), Pairing()
    heard: list[object] = []
    events.subscribe(heard.append)
    async with emulated_oximeter(records=[(97, 61)], requires_bonding=True) as rig:
        assert isinstance(rig.oximeter, EmulatedPulseOximeter)
        hub = await start_hub(config, link=hub_link(config, rig.radio, events, pairing), pairing=pairing, events=events)
        try:

            async def work(app):
                await settle(app)
                await start_measuring(app, "blood-pressure")
                await wait_for(lambda: app.passkey.waiting, timeout=30)
                await settle(app)
                shown = texts(app.passkey)
                assert "fingerklypa" in shown and "blodtrykksmåleren" not in shown
                assert rig.oximeter.name not in shown  # its family is known: no advertised name
                await tap(find(app.passkey, action="pairing-cancel"), app)

            await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
        finally:
            await hub.stop()
    found = [e for e in heard if isinstance(e, DeviceFound | PairingNeeded)]
    assert found and all(e.family is DeviceFamily.PULSE_OXIMETER for e in found)
