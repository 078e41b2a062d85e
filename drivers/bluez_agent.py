"""A BlueZ pairing agent (`org.bluez.Agent1`) on dbus-fast, answering through a `PasskeyProvider`.

bleak 3.1 has no pairing-agent API on BlueZ: when a device asks for a passkey (a glucose meter,
a Nonin 3230), bluetoothd calls the *default agent* registered with `org.bluez.AgentManager1`.
This module is that agent for the Pi, wired to the same `PasskeyProvider` the emulator uses (the
UI's passkey dialog):

* RequestPasskey -> `provider.passkey_for(device)`; None (the user cancelled) or a number
  outside 0..999999 -> `org.bluez.Error.Rejected`;
* RequestConfirmation (numeric comparison) -> `provider.confirm_numeric(device, number)`;
  no -> Rejected;
* RequestAuthorization (Just Works) / AuthorizeService -> accepted only for a device the hub is
  pairing right now (`PairingWindow`), else Rejected;
* RequestPinCode (legacy BR/EDR PIN): Rejected, the hub's devices are LE;
* DisplayPasskey / DisplayPinCode: handed to an optional `display` callback (the UI shows the
  number; it is a pairing secret, not patient data, but it is never logged);
* Cancel: the question in flight is withdrawn (the provider call is cancelled, bluetoothd gets
  org.bluez.Error.Canceled); Release: bluetoothd dropped the agent.

Every request for a device outside the `PairingWindow` is rejected without asking anyone: a
stranger cannot make the hub's screen ask for a passkey. The window follows the link manager:
`LinkManager(..., on_event=window.follow)` opens it on "connected" and closes it on
"disconnected" (pairing happens inside a session, on the first secured ATT request).

`register_agent(bus, agent)` exports the agent and calls RegisterAgent(path, "KeyboardDisplay")
and RequestDefaultAgent on `org.bluez` / `/org/bluez`; `start_agent(provider)` connects to the
system bus and does both. The hub's user needs D-Bus permission to talk to org.bluez (group
`bluetooth` on Raspberry Pi OS).

Not run against BlueZ here: the development machines have no bluetoothd and no system bus. The
logic lives in plain async methods (`request_passkey`, ...) that the D-Bus methods only forward
to; tests call them directly, check the exported signatures, and drive the D-Bus methods over a
private dbus-daemon with a stand-in AgentManager1 when one is available.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from dbus_fast import BusType, DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusObjectPath, DBusStr, DBusUInt16, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method

from drivers.pairing import PasskeyProvider
from hub.domain.readings import DeviceIdentity

logger = logging.getLogger(__name__)

T = TypeVar("T")

BLUEZ_SERVICE = "org.bluez"
BLUEZ_ROOT = "/org/bluez"
AGENT_INTERFACE = "org.bluez.Agent1"
AGENT_MANAGER_INTERFACE = "org.bluez.AgentManager1"
AGENT_PATH = "/org/heima/agent"
CAPABILITY = "KeyboardDisplay"
REJECTED = "org.bluez.Error.Rejected"
CANCELED = "org.bluez.Error.Canceled"

_DEVICE_PATH = re.compile(r"/org/bluez/[^/]+/dev_(?P<address>[0-9A-Fa-f]{2}(?:_[0-9A-Fa-f]{2}){5})(?:/.*)?")

DisplayCallback = Callable[[DeviceIdentity, str], None]


def address_from_path(path: str) -> str | None:
    """`/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF[/...]` -> `AA:BB:CC:DD:EE:FF`; None if not a device."""
    match = _DEVICE_PATH.fullmatch(path)
    return match["address"].replace("_", ":").upper() if match else None


class AgentRegistrationError(RuntimeError):
    """bluetoothd refused to register the agent (or is not there)."""


class PairingWindow:
    """The devices the hub is pairing with right now: the only ones the agent answers for."""

    def __init__(self) -> None:
        self._open: set[str] = set()

    def open(self, address: str) -> None:
        self._open.add(address.upper())

    def close(self, address: str) -> None:
        self._open.discard(address.upper())

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and address.upper() in self._open

    @contextlib.contextmanager
    def pairing(self, address: str) -> Iterator[None]:
        self.open(address)
        try:
            yield
        finally:
            self.close(address)

    def follow(self, name: str, details: dict[str, Any]) -> None:
        """A `LinkManager` event callback: open on "connected", close on "disconnected"."""
        address = details.get("address")
        if not isinstance(address, str):
            return
        if name == "connected":
            self.open(address)
        elif name == "disconnected":
            self.close(address)


def _rejected(reason: str) -> DBusError:
    return DBusError(REJECTED, reason)


class BluezAgent(ServiceInterface):
    """`org.bluez.Agent1` behind a `PasskeyProvider` (see the module docstring)."""

    def __init__(
        self,
        provider: PasskeyProvider,
        window: PairingWindow | None = None,
        *,
        name_of: Callable[[str], str | None] | None = None,
        display: DisplayCallback | None = None,
    ) -> None:
        super().__init__(AGENT_INTERFACE)
        self.provider = provider
        self.window = window if window is not None else PairingWindow()
        self._name_of = name_of
        self._display = display
        self._pending: set[asyncio.Future[Any]] = set()
        self.released = False

    # -- the logic (plain methods: tests call these) -------------------------------------------

    def device(self, path: str) -> DeviceIdentity:
        """The device behind a BlueZ object path, if the hub is pairing with it; else Rejected."""
        address = address_from_path(path)
        if address is None:
            logger.warning("pairing agent: %s is not a device path", path)
            raise _rejected("not a Bluetooth device")
        if address not in self.window:
            logger.warning("pairing agent: %s is not being paired by the hub: rejected", address)
            raise _rejected("the hub is not pairing with this device")
        name = self._name_of(address) if self._name_of is not None else None
        return DeviceIdentity(address=address, name=name)

    async def _ask(self, question: Awaitable[T]) -> T:
        """Await the provider; `cancel()` withdraws it (-> org.bluez.Error.Canceled)."""
        future = asyncio.ensure_future(question)
        self._pending.add(future)
        try:
            return await future
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if future.cancelled() and (current is None or not current.cancelling()):
                raise DBusError(CANCELED, "the request was cancelled") from None
            raise
        finally:
            self._pending.discard(future)

    async def request_passkey(self, path: str) -> int:
        device = self.device(path)
        logger.info("pairing agent: %s asks for a passkey", device.address)
        passkey = await self._ask(self.provider.passkey_for(device))
        if passkey is None:
            raise _rejected("the user cancelled")
        if not isinstance(passkey, int) or not 0 <= passkey <= 999_999:
            raise _rejected("a passkey has 6 digits")
        return passkey

    async def request_confirmation(self, path: str, passkey: int) -> None:
        device = self.device(path)
        logger.info("pairing agent: %s asks to confirm a number", device.address)
        if not await self._ask(self.provider.confirm_numeric(device, passkey)):
            raise _rejected("the numbers differ or the user said no")

    async def request_pin_code(self, path: str) -> str:
        address = address_from_path(path) or path
        logger.warning("pairing agent: %s asks for a legacy PIN: not supported, rejected", address)
        raise _rejected("legacy PIN pairing is not supported")

    def display_passkey(self, path: str, passkey: int, entered: int) -> None:
        self._show(path, f"{passkey:06d}")

    def display_pin_code(self, path: str, pincode: str) -> None:
        self._show(path, pincode)

    def _show(self, path: str, secret: str) -> None:
        device = self.device(path)
        logger.info("pairing agent: a number to type on %s is shown", device.address)  # never the number
        if self._display is not None:
            self._display(device, secret)

    def request_authorization(self, path: str) -> None:
        device = self.device(path)
        logger.info("pairing agent: pairing with %s authorised", device.address)

    def authorize_service(self, path: str, uuid: str) -> None:
        device = self.device(path)
        logger.info("pairing agent: service %s of %s authorised", uuid, device.address)

    def cancel(self) -> None:
        if self._pending:
            logger.info("pairing agent: request cancelled by BlueZ")
        for future in list(self._pending):
            future.cancel()

    def release(self) -> None:
        logger.info("pairing agent released by BlueZ")
        self.released = True
        self.cancel()

    # -- org.bluez.Agent1 (forwarding only) ----------------------------------------------------

    @dbus_method()
    def Release(self):  # noqa: N802 - D-Bus member names
        self.release()

    @dbus_method()
    async def RequestPinCode(self, device: DBusObjectPath) -> DBusStr:  # noqa: N802
        return await self.request_pin_code(device)

    @dbus_method()
    def DisplayPinCode(self, device: DBusObjectPath, pincode: DBusStr):  # noqa: N802
        self.display_pin_code(device, pincode)

    @dbus_method()
    async def RequestPasskey(self, device: DBusObjectPath) -> DBusUInt32:  # noqa: N802
        return await self.request_passkey(device)

    @dbus_method()
    def DisplayPasskey(self, device: DBusObjectPath, passkey: DBusUInt32, entered: DBusUInt16):  # noqa: N802
        self.display_passkey(device, passkey, entered)

    @dbus_method()
    async def RequestConfirmation(self, device: DBusObjectPath, passkey: DBusUInt32):  # noqa: N802
        await self.request_confirmation(device, passkey)

    @dbus_method()
    def RequestAuthorization(self, device: DBusObjectPath):  # noqa: N802
        self.request_authorization(device)

    @dbus_method()
    def AuthorizeService(self, device: DBusObjectPath, uuid: DBusStr):  # noqa: N802
        self.authorize_service(device, uuid)

    @dbus_method()
    def Cancel(self):  # noqa: N802
        self.cancel()


async def _call_manager(bus: MessageBus, member: str, signature: str, body: list[Any]) -> None:
    reply = await bus.call(
        Message(
            destination=BLUEZ_SERVICE,
            path=BLUEZ_ROOT,
            interface=AGENT_MANAGER_INTERFACE,
            member=member,
            signature=signature,
            body=body,
        )
    )
    if reply is None or reply.message_type == MessageType.ERROR:
        name = reply.error_name if reply is not None else "no reply"
        raise AgentRegistrationError(f"{AGENT_MANAGER_INTERFACE}.{member} failed: {name}")


async def register_agent(
    bus: MessageBus,
    agent: BluezAgent,
    *,
    path: str = AGENT_PATH,
    capability: str = CAPABILITY,
    default: bool = True,
) -> None:
    """Export `agent` at `path`, register it with BlueZ and (by default) make it the default agent."""
    bus.export(path, agent)
    try:
        await _call_manager(bus, "RegisterAgent", "os", [path, capability])
        if default:
            await _call_manager(bus, "RequestDefaultAgent", "o", [path])
    except BaseException:
        bus.unexport(path, agent)
        raise
    logger.info("pairing agent registered (%s)", capability)


async def unregister_agent(bus: MessageBus, agent: BluezAgent, *, path: str = AGENT_PATH) -> None:
    """Withdraw the agent from BlueZ (best effort) and unexport it."""
    try:
        await _call_manager(bus, "UnregisterAgent", "o", [path])
    except AgentRegistrationError as error:
        logger.info("pairing agent: %s", error)
    finally:
        agent.cancel()
        bus.unexport(path, agent)


async def start_agent(
    provider: PasskeyProvider,
    window: PairingWindow | None = None,
    *,
    bus_address: str | None = None,
    **options: Any,
) -> tuple[MessageBus, BluezAgent]:
    """Connect to the system bus (or `bus_address`), register a new agent; returns both.

    `options` go to `BluezAgent` (`name_of`, `display`). Disconnect the bus to stop.
    """
    bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
    agent = BluezAgent(provider, window, **options)
    try:
        await register_agent(bus, agent)
    except BaseException:
        bus.disconnect()
        raise
    return bus, agent


__all__ = [
    "AGENT_INTERFACE",
    "AGENT_PATH",
    "CANCELED",
    "CAPABILITY",
    "REJECTED",
    "AgentRegistrationError",
    "BluezAgent",
    "PairingWindow",
    "address_from_path",
    "register_agent",
    "start_agent",
    "unregister_agent",
]
