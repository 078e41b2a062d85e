"""Passkey pairing and bonds over the virtual radio, through the real bleak API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bleak import BleakClient
from bleak.exc import BleakError
from bumble.pairing import PairingDelegate

from drivers.emulator import BumbleClient, EmulatedPulseOximeter, PairingError, VirtualRadio
from drivers.gatt.plx import PLX_FEATURES_UUID, PLX_SPOT_CHECK_UUID, parse_features
from drivers.pairing import FixedPasskeyProvider, RefusingPasskeyProvider
from hub.domain.readings import DeviceIdentity


class NeverAsked:
    """A passkey provider that fails the test if anyone asks it."""

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        raise AssertionError(f"nobody should need a passkey for {device}")

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        raise AssertionError("no numeric comparison expected")


def bonded_oximeter() -> EmulatedPulseOximeter:
    return EmulatedPulseOximeter(requires_bonding=True, passkey=246810)


async def test_right_passkey_pairs_automatically_on_insufficient_authentication() -> None:
    provider = FixedPasskeyProvider(246810)
    async with VirtualRadio(passkey_provider=provider) as radio:
        oximeter = await radio.add(bonded_oximeter())
        async with BleakClient(oximeter.address, backend=BumbleClient) as client:
            assert not client._backend.is_encrypted
            features = parse_features(bytes(await client.read_gatt_char(PLX_FEATURES_UUID)))  # ATT 0x05 -> pair -> retry
            assert client._backend.is_encrypted
            await client.start_notify(PLX_SPOT_CHECK_UUID, lambda _c, _d: None)  # secured CCCD now writable
        assert features.spot_check_timestamp
        assert provider.asked == [oximeter.address]  # asked once; connected by address, so no name
        assert await radio.bonded_addresses() == [oximeter.address]


async def test_explicit_pair_before_reading() -> None:
    async with VirtualRadio(passkey_provider=FixedPasskeyProvider(246810)) as radio:
        oximeter = await radio.add(bonded_oximeter())
        async with BleakClient(oximeter.address, backend=BumbleClient, pair=True) as client:
            assert client._backend.is_encrypted
            await client.pair()  # already paired: nothing happens
            assert await client.read_gatt_char(PLX_FEATURES_UUID)


async def test_wrong_passkey_fails_cleanly_and_stores_no_bond() -> None:
    async with VirtualRadio(passkey_provider=FixedPasskeyProvider(111111)) as radio:
        oximeter = await radio.add(bonded_oximeter())
        async with BleakClient(oximeter.address, backend=BumbleClient) as client:
            with pytest.raises(PairingError, match="pairing failed") as failure:
                await client.read_gatt_char(PLX_FEATURES_UUID)
            assert isinstance(failure.value, BleakError)
            assert "246810" not in str(failure.value) and "111111" not in str(failure.value)
            assert client.is_connected  # the link survives; the user may try again
        assert await radio.bonded_addresses() == []


async def test_user_cancelling_the_passkey_fails_cleanly() -> None:
    async with VirtualRadio(passkey_provider=RefusingPasskeyProvider()) as radio:
        oximeter = await radio.add(bonded_oximeter())
        async with BleakClient(oximeter.address, backend=BumbleClient) as client:
            with pytest.raises(PairingError):
                await client.read_gatt_char(PLX_FEATURES_UUID)


async def test_passkey_provider_given_to_the_client_wins_over_the_radio_one() -> None:
    async with VirtualRadio(passkey_provider=FixedPasskeyProvider(111111)) as radio:
        oximeter = await radio.add(bonded_oximeter())
        mine = FixedPasskeyProvider(246810)
        async with BleakClient(oximeter.address, backend=BumbleClient, passkey_provider=mine) as client:
            assert await client.read_gatt_char(PLX_FEATURES_UUID)
        assert mine.asked == ["F0:11:22:33:44:01"]  # connected by address: no name known


async def test_bond_survives_a_new_radio_on_the_same_keystore_file(tmp_path: Path) -> None:
    keystore = tmp_path / "bonds.json"
    oximeter = bonded_oximeter()  # the physical device keeps its own bond across hub restarts
    async with VirtualRadio(keystore_path=keystore, passkey_provider=FixedPasskeyProvider(246810)) as radio:
        await radio.add(oximeter)
        async with BleakClient(oximeter.address, backend=BumbleClient) as client:
            await client.read_gatt_char(PLX_FEATURES_UUID)
    stored = json.loads(keystore.read_text())
    assert oximeter.address in stored["C0:FF:EE:00:00:01"]  # Bumble's JSON keystore, hub namespace

    async with VirtualRadio(keystore_path=keystore, passkey_provider=NeverAsked()) as radio:
        await radio.add(oximeter)
        async with BleakClient(oximeter.address, backend=BumbleClient) as client:
            assert await client.read_gatt_char(PLX_FEATURES_UUID)  # re-encrypted with the stored key
            assert client._backend.is_encrypted


async def test_device_that_lost_its_bond_is_paired_again(tmp_path: Path) -> None:
    keystore = tmp_path / "bonds.json"
    oximeter = bonded_oximeter()
    provider = FixedPasskeyProvider(246810)
    async with VirtualRadio(keystore_path=keystore, passkey_provider=provider) as radio:
        await radio.add(oximeter)
        async with BleakClient(oximeter.address, backend=BumbleClient) as client:
            await client.read_gatt_char(PLX_FEATURES_UUID)
        await oximeter.forget_bonds()  # battery change: the device forgot the hub
        await oximeter.start_advertising()
        async with BleakClient(oximeter.address, backend=BumbleClient) as client:
            assert await client.read_gatt_char(PLX_FEATURES_UUID)
        assert len(provider.asked) == 2  # the stored key was refused, so the user paired again


async def test_numeric_comparison_asks_the_provider_to_confirm() -> None:
    yes_no = EmulatedPulseOximeter(
        requires_bonding=True, io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_YES_NO_INPUT
    )
    provider = FixedPasskeyProvider(None, confirm=True)
    async with VirtualRadio(passkey_provider=provider) as radio:
        await radio.add(yes_no)
        async with BleakClient(yes_no.address, backend=BumbleClient) as client:
            assert await client.read_gatt_char(PLX_FEATURES_UUID)
        assert provider.asked == [yes_no.address] and yes_no.displayed_passkey is not None

    refusing = FixedPasskeyProvider(None, confirm=False)
    async with VirtualRadio(passkey_provider=refusing) as radio:
        await radio.add(yes_no)
        await yes_no.forget_bonds()
        async with BleakClient(yes_no.address, backend=BumbleClient) as client:
            with pytest.raises(PairingError):
                await client.read_gatt_char(PLX_FEATURES_UUID)


async def test_a_security_request_from_the_device_is_honoured() -> None:
    async with VirtualRadio(passkey_provider=FixedPasskeyProvider(246810)) as radio:
        oximeter = await radio.add(
            EmulatedPulseOximeter(requires_bonding=True, passkey=246810, request_security_on_connect=True)
        )
        async with BleakClient(oximeter.address, backend=BumbleClient) as client:
            backend = client._backend
            await oximeter.wait_until(lambda: backend.is_encrypted, timeout=2.0)  # no ATT error needed
            assert await client.read_gatt_char(PLX_FEATURES_UUID)
        assert await radio.bonded_addresses() == [oximeter.address]
