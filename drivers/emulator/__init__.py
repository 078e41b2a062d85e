"""Bumble-based emulation: a bleak backend over a virtual radio, and emulated peripherals.

    async with VirtualRadio(keystore_path=..., passkey_provider=...) as radio:
        oximeter = await radio.add(EmulatedPulseOximeter())
        async with BleakClient(address, backend=BumbleClient) as client: ...

See `drivers.emulator.radio` for how the backend classes find their radio.
"""

from drivers.emulator.backend import AttError, BumbleClient, BumbleScanner, PairingError
from drivers.emulator.peripheral import EmulatedPeripheral
from drivers.emulator.pulse_oximeter import EmulatedPulseOximeter
from drivers.emulator.radio import VirtualRadio, current_radio

__all__ = [
    "AttError",
    "BumbleClient",
    "BumbleScanner",
    "EmulatedPeripheral",
    "EmulatedPulseOximeter",
    "PairingError",
    "VirtualRadio",
    "current_radio",
]
