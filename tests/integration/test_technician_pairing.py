"""A technician's pairing through the real stack: bleak over the Bumble virtual radio with
emulated devices, the hub's real store and bonds file, the technician desk (hub.api) with its
audit log, and `heima technician scan|pair|unpair`."""

from __future__ import annotations

import json
from pathlib import Path

from bumble import gatt

from drivers.emulator import EmulatedPulseOximeter, VirtualRadio
from drivers.emulator.peripheral import EmulatedPeripheral
from drivers.emulator.thermometer import EmulatedThermometer
from drivers.pairing import FixedPasskeyProvider
from hub.api import Pairing, refusals
from hub.app import start_hub
from hub.app.technician_desk import attach
from hub.app.wiring import hub_registry, publish_device_events
from hub.config import HubConfig
from hub.services.events import EventBus
from tests.emulated import FAST_LINK

HEART_RATE = 0x180D  # a heart-rate belt: no Heima driver reads it


class HeartRateBelt(EmulatedPeripheral):
    """An unsupported device: it advertises and is heard, but no driver matches it."""

    def build_services(self):
        measurement = gatt.Characteristic(
            gatt.GATT_HEART_RATE_MEASUREMENT_CHARACTERISTIC, gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        return [gatt.Service(gatt.GATT_HEART_RATE_SERVICE, [measurement])]

    def advertised_service_uuids(self):
        return (HEART_RATE,)


def hub_link(config: HubConfig, radio: VirtualRadio, events: EventBus, pairing: Pairing):
    from drivers.link import LinkManager

    publish = publish_device_events(events)
    return LinkManager(
        hub_registry(config, on_event=publish),
        scanner_backend=radio.scanner_backend,
        client_backend=radio.client_backend,
        passkey_provider=pairing,
        on_event=publish,
        **FAST_LINK,
    )


def all_three(report) -> bool:
    return len(report.devices) >= 2 and report.unsupported >= 1


class Kit:
    """A hub on the virtual radio with an oximeter that wants a passkey, a thermometer, and a
    heart-rate belt nobody supports; the technician desk attached with its PIN set."""

    def __init__(self, tmp_path: Path, *, typed: int | None = None, consent: int | None = None) -> None:
        self.config = HubConfig(data_dir=tmp_path / "hub", serial="HUB-PAIR")
        self.config.data_dir.mkdir(parents=True)
        self.bonds = self.config.data_dir / "bonds.json"
        self.oximeter = EmulatedPulseOximeter(requires_bonding=True, passkey=482913, readvertise_after_disconnect=True)
        self.oximeter.record_spot_check(97, 63)
        self.thermometer = EmulatedThermometer(address="F0:11:22:33:77:01")
        self.belt = HeartRateBelt(address="F0:11:22:33:99:01", name="HR Belt 9")
        self.oximeter.rssi, self.thermometer.rssi, self.belt.rssi = -78, -45, -40  # the thermometer in the hand
        # what the technician types: the passkey the device shows, a shared scale's consent code
        self.typed = FixedPasskeyProvider(self.oximeter.passkey if typed is None else typed, consent_code=consent)

    async def __aenter__(self):
        self.radio = await VirtualRadio(keystore_path=self.bonds).start()
        for device in (self.oximeter, self.thermometer, self.belt):
            await self.radio.add(device)
        events, pairing = EventBus(), Pairing()
        pairing.attach(self.typed)
        self.hub = await start_hub(self.config, link=hub_link(self.config, self.radio, events, pairing), pairing=pairing, events=events, deliver=False)
        self.desk = attach(self.hub, self.config.data_dir.parent / "etc" / "heima.toml")
        return self

    async def __aexit__(self, *exc):
        try:
            await self.hub.stop()
        finally:
            await self.radio.stop()

    def audit(self) -> list[dict]:
        return self.desk.guard.audit.entries()


async def test_a_scan_lists_the_supported_devices_with_their_signal_and_not_an_unsupported_one(tmp_path):
    async with Kit(tmp_path) as kit:
        report = await kit.desk.scan(10.0, until=all_three)
    listed = {d.address: d for d in report.devices}
    assert set(listed) == {kit.oximeter.address, kit.thermometer.address}
    assert kit.belt.address not in listed and report.unsupported == 1
    assert listed[kit.oximeter.address].driver == "plx-standard" and listed[kit.oximeter.address].name == "Heima PLX 1"
    assert listed[kit.thermometer.address].driver == "thermometer-standard"
    assert [(d.address, d.rssi, d.bars) for d in report.devices] == [  # strongest first, as the radio heard them
        (kit.thermometer.address, -45, 4),
        (kit.oximeter.address, -78, 2),
    ]
    assert not any(d.known for d in report.devices)  # a fresh hub knows none of them
    scan = [e for e in kit.audit() if e["action"] == "scan"]
    assert scan and scan[-1]["details"] == {"devices": 2, "known": 0, "unsupported": 1}


async def test_pairing_a_passkey_device_as_a_technician_bonds_it_and_the_next_scan_shows_it_known(tmp_path):
    async with Kit(tmp_path) as kit:
        outcome = await kit.desk.pair(kit.oximeter.address, timeout=20)
        assert outcome.ok, outcome.advice
        assert kit.typed.asked == ["Heima PLX 1"]  # the passkey was asked for, and answered
        assert any(p.startswith(kit.oximeter.address) for p in await kit.radio.bonded_addresses())
        report = await kit.desk.scan(10.0, until=all_three)
        kit_list = await kit.desk.kit()
        stored = kit.hub.store.db.execute("SELECT count(*) FROM measurements").fetchone()[0]
    known = {d.address: d.known for d in report.devices}
    assert known == {kit.oximeter.address: True, kit.thermometer.address: False}
    assert [(e.address, e.paired) for e in kit_list] == [(kit.oximeter.address, True)]
    assert stored == 0  # pairing reads nothing: the device's memory is the patient's, taken later
    assert any(peer.startswith(kit.oximeter.address) for peer in json.loads(kit.bonds.read_text())[kit.radio.hub_address])
    paired = [e for e in kit.audit() if e["action"] == "pair"]
    assert paired[-1]["outcome"] == "paired" and paired[-1]["details"] == {"address": kit.oximeter.address}
    assert "Heima PLX 1" not in kit.desk.guard.audit.path.read_text()  # no advertised names in the audit


async def test_a_wrong_passkey_fails_with_advice_in_words_and_nothing_is_bonded(tmp_path):
    async with Kit(tmp_path, typed=111111) as kit:  # the technician misread the device's display
        outcome = await kit.desk.pair(kit.oximeter.address, timeout=20)
        bonded = await kit.radio.bonded_addresses()
    assert not outcome.ok
    assert "pair" in outcome.advice.lower() and "0x" not in outcome.advice  # words, not codes
    # the reason as a code the touch screen words in its own language (ui/models/refusals.py)
    assert outcome.why == refusals.PAIR_WRONG_PASSKEY  # a misread number, not a lost bond
    assert not any(p.startswith(kit.oximeter.address) for p in bonded)
    assert [e["outcome"] for e in kit.audit() if e["action"] == "pair"] == ["failed"]


async def test_unpair_removes_the_bond_and_the_kit_entry_while_the_stored_readings_stay(tmp_path):
    async with Kit(tmp_path) as kit:
        assert (await kit.desk.pair(kit.oximeter.address, timeout=20)).ok
        taken = await kit.desk.test_measurement(timeout=20)  # a reading from it is stored
        assert taken >= 1
        # the ids, not a count: a reading still on its way from the test measurement may land later
        before = {row[0] for row in kit.hub.store.db.execute("SELECT id FROM measurements")}
        assert [e.address for e in await kit.desk.kit()] == [kit.oximeter.address]

        outcome = await kit.desk.unpair(kit.oximeter.address)

        assert outcome.ok
        assert not any(p.startswith(kit.oximeter.address) for p in await kit.radio.bonded_addresses())
        assert await kit.desk.kit() == []  # forgotten in the kit ...
        after = {row[0] for row in kit.hub.store.db.execute("SELECT id FROM measurements")}
        report = await kit.desk.scan(10.0, until=all_three)
    assert before and before <= after  # ... and every reading it gave is still stored
    bonds = json.loads(kit.bonds.read_text())
    assert not any(peer.startswith(kit.oximeter.address) for peers in bonds.values() for peer in peers)
    assert {d.address: d.known for d in report.devices}[kit.oximeter.address] is False  # new again
    unpaired = [e for e in kit.audit() if e["action"] == "unpair"]
    assert unpaired[-1]["details"] == {"address": kit.oximeter.address, "bond_removed": True}


async def test_pairing_again_after_unpairing_brings_the_device_back_into_the_kit(tmp_path):
    async with Kit(tmp_path) as kit:
        assert (await kit.desk.pair(kit.oximeter.address, timeout=20)).ok
        await kit.desk.unpair(kit.oximeter.address)
        assert await kit.desk.kit() == []
        assert (await kit.desk.pair(kit.oximeter.address, timeout=20)).ok
        entries = await kit.desk.kit()
    assert [(e.address, e.paired) for e in entries] == [(kit.oximeter.address, True)]


async def test_pairing_a_shared_scale_gives_the_users_consent_code_and_a_wrong_code_is_said_in_words(tmp_path):
    """A scale with the User Data Service (shared by several people): pairing writes the consent
    code of the hub's user (user number 1 here) and reads no weighing; a wrong code fails with
    the scale's advice and is not taken as paired."""
    from drivers.emulator.scales import EmulatedWeightScale

    for code, ok in ((1234, True), (4321, False)):
        scale = EmulatedWeightScale(user_data_service=True, consent_code=1234, user_index=1, user=1, passkey=482913)
        scale.record_weighing(72.35)
        async with Kit(tmp_path / str(code), consent=code) as kit:
            await kit.radio.add(scale)
            outcome = await kit.desk.pair(scale.address, timeout=20)
            stored = kit.hub.store.db.execute("SELECT count(*) FROM measurements").fetchone()[0]
            kit_list = [e.address for e in await kit.desk.kit()]
        assert outcome.ok is ok, outcome.advice
        assert scale.consents == [ok]
        assert stored == 0  # the weighing in its memory is the patient's, read later
        if ok:
            assert scale.address in kit_list
        else:
            assert "consent code" in outcome.advice and "4321" not in outcome.advice
            assert outcome.why == refusals.PAIR_CONSENT
            assert [e["outcome"] for e in kit.audit() if e["action"] == "pair"] == ["failed"]
