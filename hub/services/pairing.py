"""The hub's passkey and consent-code relay: the Bluetooth link asks it, it asks whichever prompt
the touch app attached (its pairing dialog), and with none attached (a headless hub) it cancels,
as a person who is not there would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from hub.domain.readings import DeviceIdentity


class PasskeyPrompt(Protocol):
    """What the touch app's pairing dialog implements (same shape as drivers' PasskeyProvider)."""

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None: ...

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool: ...

    async def consent_code_for(self, device: DeviceIdentity | str, user_index: int) -> int | None: ...


def device_label(device: DeviceIdentity | str) -> str:
    if isinstance(device, DeviceIdentity):
        return device.name or device.model or device.address
    return device


class Pairing:
    """The passkey provider the link is given; the touch app attaches its dialog to it."""

    def __init__(self) -> None:
        self._prompt: PasskeyPrompt | None = None

    def attach(self, prompt: PasskeyPrompt) -> Callable[[], None]:
        self._prompt = prompt

        def detach() -> None:
            if self._prompt is prompt:
                self._prompt = None

        return detach

    @property
    def attached(self) -> bool:
        return self._prompt is not None

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        return None if self._prompt is None else await self._prompt.passkey_for(device)

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        return False if self._prompt is None else await self._prompt.confirm_numeric(device, number)

    async def consent_code_for(self, device: DeviceIdentity | str, user_index: int) -> int | None:
        """A shared scale's 4-digit consent code for the patient's user on it (User Data
        Service), asked of the patient; None (cancel) with no prompt attached."""
        return None if self._prompt is None else await self._prompt.consent_code_for(device, user_index)
