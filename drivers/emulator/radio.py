"""One virtual Bluetooth LE radio: a Bumble `LocalLink`, the hub's central and emulated peripherals.

Everything speaks real HCI/LL/L2CAP/ATT/GATT/SMP through Bumble's software controllers; only the
air is missing (no timing, no packet loss: faults are injected explicitly by the peripherals).

How the bleak backend finds its radio
-------------------------------------
bleak instantiates the backend class itself (`BleakClient(..., backend=BumbleClient)`), so the
class cannot be handed a radio. Two ways, pick one:

* the module-level *current radio*: `async with VirtualRadio() as radio:` makes `radio` current
  until the block ends (a stack: an inner radio shadows an outer one); `BumbleScanner` and
  `BumbleClient` use `current_radio()` when they are created;
* explicit binding: `radio.scanner_backend` / `radio.client_backend` are subclasses bound to this
  radio (still named `BumbleScanner` / `BumbleClient`), for code that runs two radios at once.

The radio must be created inside the running event loop it will be used from (Bumble's
controllers capture the loop), and bleak, Bumble and the peripherals share that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bleak.exc import BleakError
from bumble import hci
from bumble.controller import Controller
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.host import Host
from bumble.keys import KeyStore, MemoryKeyStore
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from drivers.emulator.keystore import PrivateJsonKeyStore
from drivers.pairing import PasskeyProvider
from hub.domain.readings import DeviceIdentity

if TYPE_CHECKING:
    from drivers.emulator.backend import BumbleClient, BumbleScanner
    from drivers.emulator.peripheral import EmulatedPeripheral

logger = logging.getLogger(__name__)

HUB_ADDRESS = "C0:FF:EE:00:00:01"  # random static: stable, so a keystore file finds its bonds
DEFAULT_MTU = 247

# How long a person has to answer the passkey dialog (enter the number, or say whether two match)
# before the hub cancels the pairing. The device stops waiting for us after SMP's 30 s
# transaction timeout (Core Vol 3, Part H, 3.4), so a later answer could never succeed; cutting
# a slow typist off earlier would. The backend's `SECURITY_TIMEOUT` bounds the device's share.
PASSKEY_TIMEOUT = 30.0

T = TypeVar("T")

_radios: list[VirtualRadio] = []


def current_radio() -> VirtualRadio:
    """The innermost running `VirtualRadio`; BleakError when none is running."""
    if not _radios:
        raise BleakError("no VirtualRadio is running: use `async with VirtualRadio() as radio:`")
    return _radios[-1]


class _Controller(Controller):
    """Bumble's software controller, with LE Create Connection Cancel doing what the spec says.

    Bumble's controller acknowledges the cancel but keeps the pending connection and never
    reports its end, so a connection attempt to a silent device could never time out. Here the
    pending attempt is dropped and, after the Command Complete, an LE Connection Complete with
    status Unknown Connection Identifier ends it (Core Vol 4, Part E, 7.8.13).
    """

    # The signal strength an advertiser is heard with (dBm), by address: Bumble's controller says
    # -50 for every device; the radio reports each peripheral's own `rssi` instead when it has one,
    # so a technician's scan can be tried with a device near and one far (VirtualRadio.start).
    signal_of: Callable[[str], int | None] | None = None

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        kinds = (hci.HCI_LE_Advertising_Report_Event, hci.HCI_LE_Extended_Advertising_Report_Event)
        if self.signal_of is not None and isinstance(packet, kinds):
            reports = []
            for report in packet.reports:
                rssi = self.signal_of(report.address.to_string(False))
                reports.append(report if rssi is None else dataclasses.replace(report, rssi=rssi))
            packet = type(packet)(reports)
        super().send_hci_packet(packet)

    def on_hci_le_create_connection_cancel_command(self, command: hci.HCI_LE_Create_Connection_Cancel_Command) -> Any:
        pending = self.pending_le_connection
        self.pending_le_connection = None
        if pending is not None:
            event = hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=pending.peer_address_type,
                peer_address=pending.peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
            asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return super().on_hci_le_create_connection_cancel_command(command)


def new_device(
    link: LocalLink,
    *,
    name: str,
    address: str,
    io_capability: int = PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT,
) -> tuple[Device, Controller]:
    """A Bumble host + software controller attached to `link` (not powered on yet)."""
    controller = _Controller(name, link=link)
    config = DeviceConfiguration()
    config.load_from_dict({"name": name, "address": address, "io_capability": int(io_capability)})
    return Device(config=config, host=Host(controller, AsyncPipeSink(controller))), controller


class _CentralDelegate(PairingDelegate):
    """Bumble's questions during pairing, answered by the hub's `PasskeyProvider`."""

    def __init__(self, radio: VirtualRadio, connection: Connection) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_KEYBOARD_INPUT)
        self._radio = radio
        self._connection = connection

    async def _ask(self, question: Awaitable[T], refusal: T, *, cancelled_if_refused: bool) -> T:
        """The person's answer within `PASSKEY_TIMEOUT`, else `refusal` (Bumble then fails the
        pairing at once); the client's bound on the device's share is paused meanwhile."""
        client = self._radio._clients.get(self._connection.handle)
        paused = client.waiting_for_person() if client is not None else contextlib.nullcontext()
        timeout = self._radio.passkey_timeout
        with paused:
            try:
                async with asyncio.timeout(timeout):
                    answer = await question
            except TimeoutError:
                logger.warning("pairing with %s: no answer within %g s: cancelled", self._who().address, timeout)
                if client is not None:
                    client.person_declined(f"nobody answered the passkey request within {timeout:g} s")
                return refusal
        if answer == refusal and cancelled_if_refused and client is not None:
            client.person_declined("the passkey request was refused")
        return answer

    def _provider(self) -> PasskeyProvider | None:
        client = self._radio._clients.get(self._connection.handle)
        provider = getattr(client, "passkey_provider", None) if client is not None else None
        return provider or self._radio.passkey_provider

    def _who(self) -> DeviceIdentity:
        client = self._radio._clients.get(self._connection.handle)
        if client is None:
            return DeviceIdentity(address=self._connection.peer_address.to_string(False))
        return DeviceIdentity(address=client.address, name=client._device_name)

    async def get_number(self) -> int | None:
        provider = self._provider()
        if provider is None:
            logger.warning("pairing with %s needs a passkey but no passkey provider is set", self._who())
            return None
        return await self._ask(provider.passkey_for(self._who()), None, cancelled_if_refused=True)

    async def compare_numbers(self, number: int, digits: int) -> bool:
        provider = self._provider()
        if provider is None:
            return False
        return await self._ask(provider.confirm_numeric(self._who(), number), False, cancelled_if_refused=False)

    async def confirm(self, auto: bool = False) -> bool:
        return True


class VirtualRadio:
    """A Bumble virtual link with the hub's central on it; peripherals attach to it.

    `keystore_path`: a Bumble JSON keystore holding the hub's bonds (namespace = the hub's
    address); bonds survive a new `VirtualRadio` (or process) on the same file. Without it the
    bonds live in memory for the life of this radio. `passkey_timeout`: how long a person has to
    answer a pairing question (see `PASSKEY_TIMEOUT`).
    """

    def __init__(
        self,
        *,
        keystore_path: str | os.PathLike[str] | None = None,
        passkey_provider: PasskeyProvider | None = None,
        mtu: int = DEFAULT_MTU,
        hub_address: str = HUB_ADDRESS,
        hub_name: str = "Heima hub",
        passkey_timeout: float = PASSKEY_TIMEOUT,
    ) -> None:
        if not 23 <= mtu <= 517:
            raise ValueError("ATT MTU must be within 23..517")
        self.passkey_timeout = passkey_timeout
        self.keystore_path = Path(keystore_path) if keystore_path is not None else None
        self.passkey_provider = passkey_provider
        self.mtu = mtu
        self.hub_address = hub_address.upper()
        self.hub_name = hub_name
        self.link: LocalLink | None = None
        self._central: Device | None = None
        self._controller: Controller | None = None
        self._peripherals: list[EmulatedPeripheral] = []
        self._clients: dict[int, BumbleClient] = {}  # connection handle -> client
        self._scanners = 0
        self._scan_lock = asyncio.Lock()
        self.connect_lock = asyncio.Lock()  # Bumble's central allows one pending LE connection
        self._scanner_backend: type[BumbleScanner] | None = None
        self._client_backend: type[BumbleClient] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> VirtualRadio:
        if self.link is not None:
            return self
        self.link = LocalLink()
        central, self._controller = new_device(self.link, name=self.hub_name, address=self.hub_address)
        self._controller.signal_of = self._signal_of  # type: ignore[attr-defined]  # a _Controller
        central.keystore = self._make_keystore()
        central.pairing_config_factory = lambda connection: PairingConfig(
            sc=True, mitm=True, bonding=True, delegate=_CentralDelegate(self, connection)
        )
        await central.power_on()
        self._central = central
        _radios.append(self)
        return self

    async def stop(self) -> None:
        if self.link is None:
            return
        for peripheral in list(self._peripherals):
            await peripheral.detach()
        central = self._central
        if central is not None:
            for connection in list(central.connections.values()):
                try:
                    await connection.disconnect()
                except Exception:  # noqa: BLE001 - tearing down: the link goes away anyway
                    logger.debug("disconnect during radio stop failed", exc_info=True)
            if central.is_scanning:
                await central.stop_scanning()
            await central.power_off()
        if self.link is not None and self._controller is not None:
            self.link.remove_controller(self._controller)
        if self in _radios:
            _radios.remove(self)
        self._central = None
        self.link = None

    async def __aenter__(self) -> VirtualRadio:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _make_keystore(self) -> KeyStore:
        if self.keystore_path is None:
            return MemoryKeyStore()
        self.keystore_path.parent.mkdir(parents=True, exist_ok=True)
        if self.keystore_path.exists():
            self.keystore_path.chmod(0o600)  # a bonds file from before may be readable by others
        return PrivateJsonKeyStore(namespace=self.hub_address, filename=str(self.keystore_path))

    # -- what the backend and the peripherals use ----------------------------------------------

    @property
    def central(self) -> Device:
        if self._central is None:
            raise BleakError("the VirtualRadio is not running")
        return self._central

    @property
    def running(self) -> bool:
        return self._central is not None

    @property
    def peripherals(self) -> tuple[EmulatedPeripheral, ...]:
        return tuple(self._peripherals)

    async def add(self, peripheral: EmulatedPeripheral) -> EmulatedPeripheral:
        """Attach a peripheral to this radio (power it on; it starts advertising if configured)."""
        await peripheral.attach(self)
        return peripheral

    def _register(self, peripheral: EmulatedPeripheral) -> None:
        self._peripherals.append(peripheral)

    def _unregister(self, peripheral: EmulatedPeripheral) -> None:
        if peripheral in self._peripherals:
            self._peripherals.remove(peripheral)

    def peripheral_at(self, address: str) -> EmulatedPeripheral | None:
        wanted = address.upper()
        for peripheral in self._peripherals:
            if peripheral.address == wanted:
                return peripheral
        return None

    def _signal_of(self, address: str) -> int | None:
        peripheral = self.peripheral_at(address)
        return None if peripheral is None else peripheral.rssi

    async def bonded_addresses(self) -> list[str]:
        """Addresses the hub holds keys for (identity addresses, as Bumble stores them)."""
        keystore = self.central.keystore
        return [name for name, _ in await keystore.get_all()] if keystore else []

    async def acquire_scan(self) -> None:
        async with self._scan_lock:
            self._scanners += 1
            if self._scanners == 1 and not self.central.is_scanning:
                await self.central.start_scanning(active=True, filter_duplicates=False)

    async def release_scan(self) -> None:
        async with self._scan_lock:
            self._scanners = max(0, self._scanners - 1)
            if self._scanners == 0 and self._central is not None and self._central.is_scanning:
                await self._central.stop_scanning()

    # -- backends bound to this radio ----------------------------------------------------------

    @property
    def scanner_backend(self) -> type[BumbleScanner]:
        if self._scanner_backend is None:
            from drivers.emulator.backend import BumbleScanner

            self._scanner_backend = type("BumbleScanner", (BumbleScanner,), {"radio": self})
        return self._scanner_backend

    @property
    def client_backend(self) -> type[BumbleClient]:
        if self._client_backend is None:
            from drivers.emulator.backend import BumbleClient

            self._client_backend = type("BumbleClient", (BumbleClient,), {"radio": self})
        return self._client_backend

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<VirtualRadio {state}, hub {self.hub_address}, {len(self._peripherals)} peripheral(s)>"
