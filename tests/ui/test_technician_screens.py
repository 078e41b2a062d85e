"""Technician mode and first-boot enrolment on the touch app, through real Kivy, the real
enrolment, PIN, kit and return services (hub.api.TechnicianDesk) and a real store."""

from __future__ import annotations

from kivy.metrics import Metrics

from tests.ui.audit_walk import AuditWalk
from ui.scenes import LANGUAGES, TECHNICIAN_SCENES, TEXT_SIZES


async def test_the_technician_scenes_pass_the_audit_in_every_language_and_text_size(run_app):
    walk = AuditWalk()

    async def work(app):
        await walk.through(app, TECHNICIAN_SCENES, dict(app.example_ids), lambda: (app.root.current, len(app.actions)))

    await run_app(work, timeout=240)
    Metrics.fontscale = 1.0
    assert walk.walked == len(TECHNICIAN_SCENES) * len(LANGUAGES) * len(TEXT_SIZES)
    assert not walk.problems, f"{len(walk.problems)} problem(s):\n" + "\n".join(walk.problems[:60])


# --- behaviour through taps ---------------------------------------------------------------------

import asyncio  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.ui.conftest import Finger, find, tap, texts, wait_for  # noqa: E402
from tests.unit.technician.profiles import HUB_ID, NOW, centre_key, payload, signed, write_trusted  # noqa: E402
from ui.scenes import next_frame  # noqa: E402


async def type_pin(app, pin: str, ok: str) -> None:
    for digit in pin:
        await tap(find(app.root, action=f"key-{digit}"))
    await tap(find(app.root, action=ok))
    await app.technician.idle()
    await next_frame(3)


async def test_a_technician_enrols_a_new_hub_from_a_signed_profile_on_a_usb_stick_by_taps(run_app, example, tmp_path):
    from hub.app.technician_desk import desk
    from hub.config import load_config

    hub, _ids = example
    etc = tmp_path / "etc"
    etc.mkdir()
    key = centre_key()
    write_trusted(etc / "enrolment-keys.json", key)
    (etc / "hub-id").write_text(HUB_ID)
    stick = tmp_path / "media" / "tone" / "HEIMA-USB"
    stick.mkdir(parents=True)
    (stick / "kari.json").write_bytes(signed(payload(tmp_path / "inbox"), key))
    config = etc / "heima.toml"
    fresh = desk(config, tmp_path / "data", profile_folders=(tmp_path / "media",), clock=lambda: NOW)
    hub.api.technician = fresh
    enrolled = []

    async def work(app):
        app.on_enrolled = lambda: enrolled.append(True)
        await wait_for(lambda: app.root.current == "enrol")
        assert "Ikke klargjort — be teknikeren om å klargjøre boksen" in texts(app.root)
        await tap(find(app.root, action="enrol-start"))
        assert "HEIMA-USB/kari.json" in texts(app.root)
        assert "håndskanner" in texts(app.root)
        await tap(find(app.root, action="enrol-profile-0"))
        await type_pin(app, "739154", "enrol-pin-ok")
        await type_pin(app, "739154", "enrol-pin-ok")
        await wait_for(lambda: app.technician.enrol_step == "done")
        await next_frame(3)
        assert f"Boksen er klar: {HUB_ID}" in texts(app.root)
        await tap(find(app.root, action="enrol-finished"))

    await run_app(work)
    assert enrolled == [True]
    loaded = load_config(config)  # the configuration the hub starts with
    assert loaded.serial == HUB_ID and [d.name for d in loaded.destinations] == ["centre-inbox"]
    assert fresh.guard.is_set  # the PIN chosen on the pad guards technician mode now


async def test_a_bad_profile_is_refused_on_screen_and_nothing_is_written(run_app, example, tmp_path):
    from hub.app.technician_desk import desk

    hub, _ids = example
    etc = tmp_path / "etc"
    etc.mkdir()
    write_trusted(etc / "enrolment-keys.json", centre_key())  # not the key that signed the profile
    (etc / "hub-id").write_text(HUB_ID)
    stick = tmp_path / "media" / "tone" / "HEIMA-USB"
    stick.mkdir(parents=True)
    (stick / "kari.json").write_bytes(signed(payload(tmp_path / "inbox"), centre_key()))
    config = etc / "heima.toml"
    hub.api.technician = desk(config, tmp_path / "data", profile_folders=(tmp_path / "media",), clock=lambda: NOW)

    async def work(app):
        await tap(find(app.root, action="enrol-start"))
        await tap(find(app.root, action="enrol-profile-0"))
        await type_pin(app, "739154", "enrol-pin-ok")
        await type_pin(app, "739154", "enrol-pin-ok")
        await wait_for(lambda: app.technician.enrol_step == "done")
        await next_frame(3)
        shown = texts(app.root)
        assert "Profilen ble avvist" in shown and "Profilen er skadet" in shown
        assert "signature" not in shown  # the service's English message is not for the screen

    await run_app(work)
    assert not config.exists()


async def test_holding_the_settings_title_opens_the_pin_and_wrong_pins_lock_it_with_the_wait_in_words(run_app):
    async def work(app):
        app.go("settings")
        await next_frame(2)
        title = find(app.root, text=app.root.get_screen("settings").title)
        await tap(title)  # a tap (a patient's) does nothing
        assert app.root.current == "settings"
        finger = Finger(title)
        await finger.down()
        await wait_for(lambda: app.root.current == "technician-pin", timeout=8)  # held 3 s
        await finger.up()
        # The service forgives three wrong PINs (typing mistakes); the fourth locks.
        for n in range(3):
            await type_pin(app, "111111", "pin-ok")
            assert "Feil PIN-kode" in texts(app.root), n
        await type_pin(app, "111111", "pin-ok")
        shown = texts(app.root)
        assert "For mange feil PIN-koder. Prøv igjen om 30 sekunder." in shown
        with pytest.raises(LookupError):
            find(app.root, action="pin-ok")  # no pad while locked
        assert app.root.current == "technician-pin"

    await run_app(work)


async def test_return_by_taps_refuses_while_unsent_then_exports_and_wipes(tmp_path):
    from hub.app import start_hub
    from hub.app.technician_desk import attach
    from hub.config import load_config
    from tests.unit.technician.hubs import PIN, leftovers, make_hub, observation_ids
    from ui.app import HeimaApp, drive
    from ui.speech import RecordingSpeaker

    enrolled = await asyncio.to_thread(make_hub, tmp_path / "kit", unreachable=True)
    stick = tmp_path / "media" / "tone" / "HEIMA-USB"
    stick.mkdir(parents=True)
    hub = await start_hub(load_config(enrolled.config), deliver=False)
    made = attach(hub, enrolled.config, profile_folders=(tmp_path / "media",))

    async def work(app):
        app.open_technician_door()
        await next_frame(2)
        await type_pin(app, PIN, "pin-ok")
        await wait_for(lambda: app.root.current == "technician")
        await tap(find(app.root, action="technician-return"))
        await app.technician.idle()
        await next_frame(3)
        assert "hospital: 6 målinger" in texts(app.root)
        await tap(find(app.root, action="return-wipe"))
        assert "Det kan ikke angres" in texts(app.root)
        await tap(find(app.root, action="return-wipe-yes"))
        await wait_for(lambda: app.technician.return_step == "refused", timeout=30)
        await next_frame(3)
        assert "boksen ble IKKE tømt" in texts(app.root)
        assert enrolled.config.exists() and (enrolled.data / "heima.db").exists()
        await tap(find(app.root, action="return-export-0"))
        assert "HEIMA-USB/heima-export" in texts(app.root)
        await tap(find(app.root, action="return-export-yes"))
        await tap(find(app.root, action="return-wipe-yes"))  # the second confirmation
        await wait_for(lambda: app.technician.return_step == "done", timeout=60)
        await next_frame(3)
        shown = texts(app.root)
        assert "Boksen er tømt" in shown and "Lagret: 6." in shown and "Eksportert: 6." in shown

    try:
        await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
    finally:
        if not made.ports.stopped:
            await hub.stop()
    assert leftovers(enrolled) == []
    assert observation_ids(stick / "heima-export") == set(enrolled.ids)
    assert (enrolled.data / "wipe-record.json").exists()


async def test_the_kit_list_shows_an_emulated_device_paired_by_a_test_measurement_that_is_never_sent(tmp_path):
    """An emulated pulse oximeter on the virtual radio that wants a passkey: the technician taps
    Test measurement, types the passkey in the pairing dialog, and the kit list shows the device
    paired, with its serial, model and firmware; the test value is stored and never queued."""
    from hub.api import Pairing
    from hub.app import start_hub
    from hub.app.technician_desk import attach
    from hub.config import HubConfig
    from hub.services.events import EventBus
    from tests.emulated import emulated_oximeter
    from tests.ui.test_e2e_devices import hub_link
    from ui.app import HeimaApp, drive
    from ui.speech import RecordingSpeaker

    config = HubConfig(data_dir=tmp_path / "hub", serial="HUB-UI-KIT")
    config.data_dir.mkdir(parents=True)
    events, pairing = EventBus(), Pairing()
    async with emulated_oximeter(records=[(96, 64)], requires_bonding=True, keystore_path=config.data_dir / "bonds.json") as rig:
        hub = await start_hub(config, link=hub_link(config, rig.radio, events, pairing), pairing=pairing, events=events)
        made = attach(hub, tmp_path / "etc" / "heima.toml")
        made.guard.set_pin("604913", who="test")

        async def work(app):
            app.open_technician_door()
            await next_frame(2)
            await type_pin(app, "604913", "pin-ok")
            await wait_for(lambda: app.root.current == "technician")
            await app.technician.idle()
            await tap(find(app.root, action="technician-test"))
            await wait_for(lambda: app.passkey.waiting, timeout=20)
            await next_frame(2)
            for key in f"{rig.oximeter.passkey:06d}":
                await tap(find(app.passkey, action=f"key-{key}"))
            await tap(find(app.passkey, action="pairing-ok"))
            await wait_for(lambda: "aldri" in app.technician.test_message, timeout=30)
            await app.technician.idle()
            await next_frame(3)
            return texts(app.root)

        try:
            shown = await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
            queued = hub.store.db.execute("SELECT count(*) FROM outbox").fetchone()[0]
            stored = hub.store.db.execute("SELECT count(*) FROM measurements").fetchone()[0]
        finally:
            await hub.stop()
    assert "testverdi" in shown and "sendes aldri" in shown
    assert rig.oximeter.name in shown and f"Paret · {rig.oximeter.address}" in shown
    assert "Serienummer: " in shown and "Serienummer: –" not in shown
    assert stored >= 1 and queued == 0  # the technician's value is the patient's nowhere


def test_every_kind_the_return_counts_has_words_on_the_screen():
    # Was an assert at the model's import; the return's kinds are now imported when first named.
    from hub.api import KIND_WORDS
    from ui.models.technician import KIND_TEXT

    assert set(KIND_TEXT) == set(KIND_WORDS)


async def test_an_enrolled_hubs_desk_is_made_at_the_pin_door_and_unlocks_and_audits_as_before(run_app, example, tmp_path):
    # Part M7: run_app gives an enrolled hub's app a stand-in for the desk; the desk is made when
    # the technician first uses the PIN door, and technician mode works through it as before.
    import json

    from hub.app.technician_door import attach_on_first_use

    hub, _ids = example
    config = tmp_path / "etc" / "heima.toml"
    config.parent.mkdir()
    config.write_text("# enrolled\n", encoding="utf-8")
    door = attach_on_first_use(hub, config, camera=None)
    audit = hub.config.data_dir / "technician" / "audit.log"
    lines_before = len(audit.read_text(encoding="utf-8").splitlines()) if audit.exists() else 0

    async def work(app):
        await next_frame(3)
        assert app.root.current == "today" and not door.made  # enrolled: Today, and no desk yet
        app.open_technician_door()
        await next_frame(2)
        await type_pin(app, "258046", "pin-ok")  # the example hub's PIN (its data folder's guard)
        await wait_for(lambda: app.root.current == "technician")
        assert door.made and hub.api.technician.enrolled
        app.leave_technician("button")
        await next_frame(2)
        assert app.root.current == "today"

    await run_app(work)
    added = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()[lines_before:]]
    assert [(a["who"], a["action"], a["outcome"]) for a in added] == [
        ("touch screen", "technician-mode", "unlocked"), ("touch screen", "kit", "listed"), ("touch screen", "technician-mode", "left")]
