"""How the hub asks a person for a pairing secret: the port the UI (and a BlueZ Agent1) answers.

A Bluetooth stack that needs a passkey or a yes/no on a 6-digit number calls a `PasskeyProvider`.
The emulator's radio calls it directly; on a Pi a small `org.bluez.Agent1` will call the same
interface. Nothing here logs or stores a passkey.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hub.domain.readings import DeviceIdentity


def _label(device: DeviceIdentity | str) -> str:
    return device.name or device.address if isinstance(device, DeviceIdentity) else device


@runtime_checkable
class PasskeyProvider(Protocol):
    """Answers pairing questions on behalf of the person holding the device."""

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        """The 6-digit passkey the device shows (0..999999), or None if the user cancelled."""
        ...

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        """Whether the number shown by the hub is the same as on the device (numeric comparison)."""
        ...


class FixedPasskeyProvider:
    """Always answers with the same passkey (tests, the demo, devices with a printed passkey)."""

    def __init__(self, passkey: int | None, *, confirm: bool = True) -> None:
        if passkey is not None and not 0 <= passkey <= 999_999:
            raise ValueError("a passkey has 6 digits: 0..999999")
        self._passkey = passkey
        self._confirm = confirm
        self.asked: list[str] = []  # which devices asked, for tests and diagnostics

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        self.asked.append(_label(device))
        return self._passkey

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        self.asked.append(_label(device))
        return self._confirm


class RefusingPasskeyProvider:
    """Cancels every request: what a headless hub without a person does."""

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        return None

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        return False


__all__ = ["FixedPasskeyProvider", "PasskeyProvider", "RefusingPasskeyProvider"]
