"""The technician's pairing screen on the touch app, through real Kivy widgets offscreen: the
accessibility audit in every language and text size, and a technician's walk by taps with
emulated devices on the virtual radio (bleak over Bumble) and the hub's real store and bonds."""

from __future__ import annotations

from kivy.metrics import Metrics

from tests.ui.audit_walk import AuditWalk
from tests.ui.conftest import find, tap, texts, wait_for
from ui.scenes import LANGUAGES, PAIRING_SCENES, TEXT_SIZES, next_frame


async def test_the_pairing_scenes_pass_the_audit_in_every_language_and_text_size(run_app):
    walk = AuditWalk()

    async def work(app):
        await walk.through(app, PAIRING_SCENES, dict(app.example_ids), lambda: (app.root.current, len(app.actions)))

    await run_app(work, timeout=240)
    Metrics.fontscale = 1.0
    assert walk.walked == len(PAIRING_SCENES) * len(LANGUAGES) * len(TEXT_SIZES)
    assert not walk.problems, f"{len(walk.problems)} problem(s):\n" + "\n".join(walk.problems[:60])


async def test_the_gallery_lists_the_example_devices_strongest_first_with_the_signal_in_words(run_app):
    async def work(app):
        await PAIRING_SCENES[1].enter(app, {})
        await next_frame(3)
        return texts(app.root)

    shown = await run_app(work)
    # -48, -67, -83 dBm: 4 bars, 3 bars, 1 bar; the strongest on top
    assert shown.index("Heima PLX 1") < shown.index("A&D_UA-651_5B0A12") < shown.index("Heima Scale")
    assert "■■■■  Svært godt signal" in shown and "■■■□  Godt signal" in shown
    assert "■□□□  Svakt signal: hold det nærmere" in shown
    assert "Kjent for denne boksen" in shown and "Nytt" in shown  # the example hub is bonded to two of them


async def test_a_technician_pairs_and_unpairs_an_emulated_oximeter_by_taps(tmp_path):
    """Scan: the oximeter (wants a passkey) and a thermometer are listed, new; tap Pair, type the
    passkey in the pairing dialog: the oximeter is paired, known, and the test measurement is
    offered; tap Unpair: the bond is gone and it is new again."""
    from drivers.emulator import EmulatedPulseOximeter, VirtualRadio
    from drivers.emulator.thermometer import EmulatedThermometer
    from hub.api import Pairing
    from hub.app import start_hub
    from hub.app.technician_desk import attach
    from hub.config import HubConfig
    from hub.services.events import EventBus
    from tests.ui.test_e2e_devices import hub_link
    from ui.app import HeimaApp, drive
    from ui.speech import RecordingSpeaker

    config = HubConfig(data_dir=tmp_path / "hub", serial="HUB-UI-PAIR")
    config.data_dir.mkdir(parents=True)
    oximeter = EmulatedPulseOximeter(requires_bonding=True, passkey=604182, readvertise_after_disconnect=True)
    thermometer = EmulatedThermometer()
    oximeter.rssi, thermometer.rssi = -52, -86  # the oximeter in the hand, the thermometer on a shelf
    events, pairing = EventBus(), Pairing()
    async with VirtualRadio(keystore_path=config.data_dir / "bonds.json") as radio:
        for device in (oximeter, thermometer):
            await radio.add(device)
        hub = await start_hub(config, link=hub_link(config, radio, events, pairing), pairing=pairing, events=events, deliver=False)
        made = attach(hub, tmp_path / "etc" / "heima.toml")
        made.guard.set_pin("604913", who="test")
        seen: dict[str, str] = {}

        async def work(app):
            app.open_technician()
            await app.technician.idle()
            await next_frame(2)
            await tap(find(app.root, action="technician-pairing"))
            assert app.root.current == "technician-pairing"
            await wait_for(lambda: app.technician_pairing.step == "list", timeout=30)
            await next_frame(3)
            seen["list"] = texts(app.root)
            row = next(r for r in app.technician_pairing.rows if r["address"] == oximeter.address)
            await tap(find(app.root, action=f"pair-{row['index']}"))
            await wait_for(lambda: app.passkey.waiting, timeout=20)
            await next_frame(2)
            for key in f"{oximeter.passkey:06d}":
                await tap(find(app.passkey, action=f"key-{key}"))
            await tap(find(app.passkey, action="pairing-ok"))
            await wait_for(lambda: app.technician_pairing.step == "paired", timeout=30)
            await next_frame(3)
            seen["paired"] = texts(app.root)
            seen["bonded"] = str(await radio.bonded_addresses())
            find(app.root, action="pairing-test")  # the test measurement is offered
            row = next(r for r in app.technician_pairing.rows if r["address"] == oximeter.address)
            await tap(find(app.root, action=f"unpair-{row['index']}"))
            await app.technician_pairing.idle()
            await next_frame(3)
            seen["unpaired"] = texts(app.root)
            seen["bonded after"] = str(await radio.bonded_addresses())

        try:
            await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
        finally:
            await hub.stop()
    assert "Heima PLX 1" in seen["list"] and "Heima Thermo 1" in seen["list"]
    assert "2 apparater funnet. Sterkeste signal først." in seen["list"]
    assert seen["list"].index("Heima PLX 1") < seen["list"].index("Heima Thermo 1")  # strongest first
    assert "■■■■  Svært godt signal | Nytt · Pulsoksymeter" in seen["list"]
    assert "■□□□  Svakt signal: hold det nærmere | Nytt · Termometer" in seen["list"]
    assert "Fingerklypa er paret. Ta en testmåling for å sjekke det." in seen["paired"]  # by its kind
    assert "Kjent for denne boksen · Pulsoksymeter" in seen["paired"]
    assert oximeter.address in seen["bonded"]
    assert "Fingerklypa er ikke lenger paret" in seen["unpaired"] and "Nytt · Pulsoksymeter" in seen["unpaired"]
    assert oximeter.address not in seen["bonded after"]


async def test_a_wrong_passkey_over_the_radio_is_said_in_the_screens_language_and_not_the_links_english(tmp_path):
    """The technician types a wrong passkey for the emulated oximeter: the screen says, in
    bokmål, that pairing with the finger clip did not work and what to do, never the link's
    English advice and never the device's advertised name in a sentence."""
    from drivers.emulator import EmulatedPulseOximeter, VirtualRadio
    from drivers.link import _PAIRING_TROUBLE, BROADCAST_ADVICE, GENERIC_ADVICE, NOT_FOUND_ADVICE, WRONG_PASSKEY_ADVICE
    from hub.api import Pairing
    from hub.app import start_hub
    from hub.app.technician_desk import attach
    from hub.config import HubConfig
    from hub.services.events import EventBus
    from tests.ui.test_e2e_devices import hub_link
    from ui.app import HeimaApp, drive
    from ui.speech import RecordingSpeaker

    config = HubConfig(data_dir=tmp_path / "hub", serial="HUB-UI-PAIR")
    config.data_dir.mkdir(parents=True)
    oximeter = EmulatedPulseOximeter(requires_bonding=True, passkey=604182, readvertise_after_disconnect=True)
    events, pairing = EventBus(), Pairing()
    seen: dict[str, str] = {}
    async with VirtualRadio(keystore_path=config.data_dir / "bonds.json") as radio:
        await radio.add(oximeter)
        hub = await start_hub(config, link=hub_link(config, radio, events, pairing), pairing=pairing, events=events, deliver=False)
        attach(hub, tmp_path / "etc" / "heima.toml").guard.set_pin("604913", who="test")

        async def work(app):
            app.open_technician()
            await app.technician.idle()
            await next_frame(2)
            await tap(find(app.root, action="technician-pairing"))
            await wait_for(lambda: app.technician_pairing.step == "list" and app.technician_pairing.rows, timeout=30)
            await next_frame(2)
            await tap(find(app.root, action="pair-0"))
            await wait_for(lambda: app.passkey.waiting, timeout=20)
            await next_frame(2)
            for key in "111111":  # misread from the device's display
                await tap(find(app.passkey, action=f"key-{key}"))
            await tap(find(app.passkey, action="pairing-ok"))
            await wait_for(lambda: app.technician_pairing.step == "error", timeout=30)
            await next_frame(3)
            seen["error"] = texts(app.root)
            seen["spoken"] = app.screen.spoken()

        try:
            await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
        finally:
            await hub.stop()
    english = [advice for *_words, advice in _PAIRING_TROUBLE] + [GENERIC_ADVICE, NOT_FOUND_ADVICE, BROADCAST_ADVICE, WRONG_PASSKEY_ADVICE]
    assert "Paringen med fingerklypa virket ikke." in seen["error"]
    assert "Tallet som ble skrevet inn, var ikke det apparatet viser." in seen["error"], seen["error"]
    assert not [a for a in english if a in seen["error"]], seen["error"]
    assert "Heima PLX 1" not in seen["spoken"]
