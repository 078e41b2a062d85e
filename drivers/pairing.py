"""How the hub asks a person for a pairing secret: the port the UI (and a BlueZ Agent1) answers.

A Bluetooth stack that needs a passkey or a yes/no on a 6-digit number calls a `PasskeyProvider`.
The emulator's radio calls it directly; on a Pi a small `org.bluez.Agent1` will call the same
interface. Nothing here logs or stores a passkey.

A scale with the User Data Service asks for a 4-digit consent code per user; a driver asks a
`ConsentCodeProvider` (a separate protocol, so existing passkey providers keep working). A
consent code is never logged either.
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


@runtime_checkable
class ConsentCodeProvider(Protocol):
    """Answers a scale's question for a user's consent code (User Data Service)."""

    async def consent_code_for(self, device: DeviceIdentity | str, user_index: int) -> int | None:
        """The 4-digit consent code (0..9999) of that user on that device, or None if cancelled."""
        ...


class ConsentRefused(Exception):
    """A device asked for a consent code and it was not given or not accepted.

    `advice` is in a technician's words; the message never carries the code.
    """

    def __init__(self, user_index: int, *, cancelled: bool) -> None:
        self.user_index = user_index
        self.cancelled = cancelled
        self.advice = (
            f"The scale asked for its 4-digit consent code for user {user_index} and it was not accepted. "
            "Find the code in the scale's settings or manual and enter it again."
        )
        super().__init__(f"consent for user {user_index} {'cancelled' if cancelled else 'refused'}")


class FixedPasskeyProvider:
    """Always answers with the same passkey (tests, the demo, devices with a printed passkey),
    and with the same consent code (`consent_code`, None: cancels) for any user."""

    def __init__(self, passkey: int | None, *, confirm: bool = True, consent_code: int | None = None) -> None:
        if passkey is not None and not 0 <= passkey <= 999_999:
            raise ValueError("a passkey has 6 digits: 0..999999")
        if consent_code is not None and not 0 <= consent_code <= 9999:
            raise ValueError("a consent code has 4 digits: 0..9999")
        self._passkey = passkey
        self._confirm = confirm
        self._consent_code = consent_code
        self.asked: list[str] = []  # which devices asked, for tests and diagnostics

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        self.asked.append(_label(device))
        return self._passkey

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        self.asked.append(_label(device))
        return self._confirm

    async def consent_code_for(self, device: DeviceIdentity | str, user_index: int) -> int | None:
        self.asked.append(_label(device))
        return self._consent_code


class RefusingPasskeyProvider:
    """Cancels every request: what a headless hub without a person does."""

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        return None

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        return False

    async def consent_code_for(self, device: DeviceIdentity | str, user_index: int) -> int | None:
        return None


__all__ = [
    "ConsentCodeProvider",
    "ConsentRefused",
    "FixedPasskeyProvider",
    "PasskeyProvider",
    "RefusingPasskeyProvider",
]
