"""A failed pairing is told to the technician in words they can act on."""

import pytest
from bleak.exc import BleakError

from drivers.link import pairing_advice


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


@pytest.mark.xfail(strict=True, reason="a refused passkey leaves the session waiting until the caller's timeout")
async def test_a_device_that_forgot_the_hub_is_reported_for_the_technician(tmp_path):
    from drivers.pairing import FixedPasskeyProvider, RefusingPasskeyProvider
    from tests.emulated import CollectingSink, EventLog, emulated_oximeter

    async with emulated_oximeter(records=[(97, 60)], requires_bonding=True, keystore_path=tmp_path / "bonds.json") as rig:
        await rig.link_manager(passkey_provider=FixedPasskeyProvider(rig.oximeter.passkey)).read_once(CollectingSink(), timeout=10)
        await rig.oximeter.forget_bonds()  # battery change: the device forgot the hub
        await rig.oximeter.start_advertising()
        events = EventLog()
        sink = CollectingSink()
        import asyncio

        async with asyncio.timeout(12):
            await rig.link_manager(passkey_provider=RefusingPasskeyProvider(), on_event=events).read_once(sink, timeout=10)
    assert sink.readings == []
    [advice] = [d["advice"] for name, d in events.events if name == "pairing-failed"]
    assert "pair it with this hub again" in advice
