"""A failed pairing is told to the technician in words they can act on."""

import asyncio
import time

import pytest
from bleak.exc import BleakError

from drivers.link import PairingFailed, pairing_advice
from hub.domain import refusals


@pytest.mark.parametrize(
    "message",
    [
        "org.bluez.Error.AuthenticationFailed",
        "[org.bluez.Error.Failed] Operation failed with ATT error: 0x05 (Insufficient Authentication)",
        "F0:11:22:33:44:01: pairing failed (SMP_PAIRING_NOT_SUPPORTED_ERROR)",
        "HCI error: PIN or Key Missing",
    ],
)
def test_a_lost_bond_says_to_pair_again(message):
    advice = pairing_advice(BleakError(message))
    assert advice is not None and "pair it with this hub again" in advice


def test_a_refusal_says_to_use_pairing_mode():
    assert "pairing mode" in pairing_advice(BleakError("org.bluez.Error.AuthenticationRejected"))


def test_other_errors_are_not_pairing_trouble():
    assert pairing_advice(BleakError("Device with address F0:11 was not found")) is None


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("org.bluez.Error.AuthenticationRejected", refusals.PAIR_REFUSED),
        ("HCI error: PIN or Key Missing", refusals.PAIR_FORGOTTEN),
        ("org.bluez.Error.AuthenticationCanceled", refusals.PAIR_CANCELLED),
        ("Device with address F0:11 was not found", refusals.PAIR_FAILED),  # nothing more known: the general one
    ],
)
def test_a_failed_pairing_carries_a_reason_code_the_screen_words_and_the_english_advice_for_the_command_line(message, reason):
    failed = PairingFailed.from_error(BleakError(message))
    assert failed.reason == reason and failed.reason in refusals.PAIRING
    assert str(failed) == failed.advice and "pair" in failed.advice.lower()


async def test_a_device_that_forgot_the_hub_is_reported_for_the_technician(tmp_path):
    from drivers.pairing import FixedPasskeyProvider, RefusingPasskeyProvider
    from tests.emulated import CollectingSink, EventLog, emulated_oximeter

    async with emulated_oximeter(records=[(97, 60)], requires_bonding=True, keystore_path=tmp_path / "bonds.json") as rig:
        await rig.link_manager(passkey_provider=FixedPasskeyProvider(rig.oximeter.passkey)).read_once(CollectingSink(), timeout=10)
        await rig.oximeter.forget_bonds()  # battery change: the device forgot the hub
        await rig.oximeter.start_advertising()
        events = EventLog()
        sink = CollectingSink()
        started = time.monotonic()
        async with asyncio.timeout(12):
            await rig.link_manager(passkey_provider=RefusingPasskeyProvider(), on_event=events).read_once(sink, timeout=10)
        assert time.monotonic() - started < 5  # the refusal ends the session, not a timeout
    assert sink.readings == []
    [advice] = [d["advice"] for name, d in events.events if name == "pairing-failed"]
    assert "pair it with this hub again" in advice
    assert events.names()[-1] == "disconnected"


class NobodyAnswers:
    """A passkey dialog left open: the provider never answers."""

    async def passkey_for(self, device):
        await asyncio.Event().wait()

    async def confirm_numeric(self, device, number):
        await asyncio.Event().wait()


async def test_a_passkey_request_nobody_answers_is_cancelled_and_reported():
    from drivers.emulator import VirtualRadio
    from tests.emulated import CollectingSink, EventLog, emulated_oximeter

    async with VirtualRadio(passkey_timeout=0.5) as radio:
        async with emulated_oximeter(records=[(97, 60)], requires_bonding=True, radio=radio) as rig:
            events = EventLog()
            sink = CollectingSink()
            started = time.monotonic()
            async with asyncio.timeout(8):
                await rig.link_manager(passkey_provider=NobodyAnswers(), on_event=events).read_once(sink, timeout=15)
            assert time.monotonic() - started < 4
    assert sink.readings == []
    assert "pairing-needed" in events.names()
    [(advice, reason)] = [(d["advice"], d["reason"]) for name, d in events.events if name == "pairing-failed"]
    assert "cancelled" in advice and reason == refusals.PAIR_CANCELLED


async def test_a_device_silent_while_encrypting_is_dropped_within_the_security_bound(tmp_path):
    from drivers.pairing import FixedPasskeyProvider
    from tests.emulated import CollectingSink, EventLog, emulated_oximeter

    async with emulated_oximeter(records=[(97, 60)], requires_bonding=True, keystore_path=tmp_path / "bonds.json") as rig:
        await rig.link_manager(passkey_provider=FixedPasskeyProvider(rig.oximeter.passkey)).read_once(CollectingSink(), timeout=10)

        async def never_answers(*_args):
            await asyncio.Event().wait()

        rig.oximeter.device.host.long_term_key_provider = never_answers  # the LTK request goes unanswered
        await rig.oximeter.start_advertising()
        impatient = type("BumbleClient", (rig.radio.client_backend,), {"security_timeout": 0.5})
        events = EventLog()
        sink = CollectingSink()
        started = time.monotonic()
        async with asyncio.timeout(8):
            await rig.link_manager(client_backend=impatient, on_event=events).read_once(sink, timeout=15)
        assert time.monotonic() - started < 4
    assert sink.readings == []
    [advice] = [d["advice"] for name, d in events.events if name == "pairing-failed"]
    assert "pair it with this hub again" in advice


async def test_the_persons_time_at_the_passkey_dialog_is_not_the_devices():
    from drivers.pairing import FixedPasskeyProvider
    from tests.emulated import CollectingSink, emulated_oximeter

    class Slow(FixedPasskeyProvider):
        async def passkey_for(self, device):
            await asyncio.sleep(0.8)  # longer than the device's bound below
            return await super().passkey_for(device)

    async with emulated_oximeter(records=[(97, 60)], requires_bonding=True) as rig:
        patient = type("BumbleClient", (rig.radio.client_backend,), {"security_timeout": 0.5})
        sink = CollectingSink()
        await rig.link_manager(client_backend=patient, passkey_provider=Slow(rig.oximeter.passkey)).read_once(sink, timeout=15)
    assert [r.value for r in sink.readings] == [97.0, 60.0]
