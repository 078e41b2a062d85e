"""The common part of every emulated peripheral: a Bumble device on a `VirtualRadio`.

A peripheral object outlives the radio it is attached to: its memory (stored records, bonds)
stays in the object, so a test can attach the same "physical" device to a new radio, as if the
hub process restarted while the device kept its state.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bumble import att, gatt, hci
from bumble.core import AdvertisingData
from bumble.controller import Controller
from bumble.device import AdvertisingType, Connection, Device
from bumble.keys import JsonKeyStore, KeyStore, MemoryKeyStore
from bumble.pairing import PairingConfig, PairingDelegate

from drivers.emulator.radio import new_device

if TYPE_CHECKING:
    from drivers.emulator.radio import VirtualRadio

logger = logging.getLogger(__name__)

CCCD_UUID = gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
SECURE_READ = (
    att.Attribute.Permissions.READABLE
    | att.Attribute.Permissions.READ_REQUIRES_ENCRYPTION
    | att.Attribute.Permissions.READ_REQUIRES_AUTHENTICATION
)
SECURE_WRITE = (
    att.Attribute.Permissions.WRITEABLE
    | att.Attribute.Permissions.WRITE_REQUIRES_ENCRYPTION
    | att.Attribute.Permissions.WRITE_REQUIRES_AUTHENTICATION
)


class _PeripheralDelegate(PairingDelegate):
    """The device's side of pairing: it shows its passkey (or says yes to numeric comparison)."""

    def __init__(self, peripheral: EmulatedPeripheral) -> None:
        super().__init__(io_capability=peripheral.io_capability)
        self._peripheral = peripheral

    async def generate_passkey(self) -> int:
        if self._peripheral.passkey is not None:
            return self._peripheral.passkey
        return await super().generate_passkey()

    async def display_number(self, number: int, digits: int) -> None:
        self._peripheral.displayed_passkey = number

    async def compare_numbers(self, number: int, digits: int) -> bool:
        self._peripheral.displayed_passkey = number
        return True


class EmulatedPeripheral:
    """A connectable LE peripheral with a GATT server, advertising its name and services.

    Subclasses provide `build_services()` (called on every attach) and may override
    `on_connected` / `on_disconnected` / `on_subscription`.
    """

    rssi: int | None = None  # the signal the hub hears it with, dBm (None: Bumble's fixed -50); set it on an instance

    def __init__(
        self,
        *,
        address: str,
        name: str,
        passkey: int | None = None,
        io_capability: PairingDelegate.IoCapability = PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY,
        keystore_path: str | os.PathLike[str] | None = None,
        advertising_interval_ms: float = 20.0,
        advertise_on_attach: bool = True,
        readvertise_after_disconnect: bool = False,
        request_security_on_connect: bool = False,
    ) -> None:
        self.address = address.upper()
        self.name = name
        self.passkey = passkey
        self.io_capability = io_capability
        self.advertising_interval_ms = advertising_interval_ms
        self.advertise_on_attach = advertise_on_attach
        self.readvertise_after_disconnect = readvertise_after_disconnect
        self.request_security_on_connect = request_security_on_connect
        self.displayed_passkey: int | None = None
        self.connection_count = 0
        self.disconnection_count = 0
        self._keystore: KeyStore = (
            JsonKeyStore(namespace=self.address, filename=os.fspath(keystore_path))
            if keystore_path is not None
            else MemoryKeyStore()
        )
        self.radio: VirtualRadio | None = None
        self.device: Device | None = None
        self._controller: Controller | None = None
        self.connections: list[Connection] = []
        # Which characteristics (full 128-bit UUID strings, lower case) a central has enabled
        # notifications or indications on: a test waits for this instead of for "connected",
        # since a value sent before the central subscribes is not seen by it.
        self.subscribed: set[str] = set()
        self._state_changed: asyncio.Condition | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._att_faults: dict[str, int] = {}  # characteristic UUID -> ATT error it answers with

    # -- faults: a characteristic that answers with an ATT error -------------------------------

    def fail_with_att_error(self, characteristic_uuid: str, error_code: int) -> None:
        """Answer reads, writes and CCCD writes of this characteristic with an ATT error."""
        self._att_faults[characteristic_uuid.lower()] = error_code

    def clear_att_errors(self) -> None:
        self._att_faults.clear()

    def check_att_fault(self, uuid: str) -> None:
        code = self._att_faults.get(uuid.lower())
        if code is not None:
            raise att.ATT_Error(code)

    def faultable_value(
        self,
        uuid: str,
        read: Callable[[], bytes] | None = None,
        write: Callable[[Connection, bytes], None] | None = None,
    ) -> gatt.CharacteristicValue:
        """A characteristic's value (`read()` -> bytes, `write(connection, value)`) that answers
        with the ATT error `fail_with_att_error` set for it."""

        def on_read(_connection: Connection) -> bytes:
            self.check_att_fault(uuid)
            return read() if read is not None else b""

        def on_write(connection: Connection, value: bytes) -> None:
            self.check_att_fault(uuid)
            if write is not None:
                write(connection, bytes(value))

        return gatt.CharacteristicValue(read=on_read, write=on_write)

    def faultable_cccd_write(self, uuid: str, original: att.AttributeValueV2) -> Callable[[Any, bytes], Any]:
        """A CCCD's write that answers with the characteristic's ATT error (0x81 for a device
        that refuses a subscription in the wrong order, say)."""

        def write(bearer: Any, value: bytes) -> Any:
            self.check_att_fault(uuid)
            return original.write(bearer, value)

        return write

    # -- to override ---------------------------------------------------------------------------

    def build_services(self) -> Sequence[gatt.Service]:
        return ()

    def configure_gatt(self, device: Device) -> None:
        """After the services are in the GATT server, before power-on (e.g. tighten CCCDs)."""

    def advertised_service_uuids(self) -> Sequence[int]:
        """16-bit service UUIDs put in the advertisement."""
        return ()

    def on_connected(self, connection: Connection) -> None:
        """Called for each new connection from a central."""

    def on_disconnected(self, connection: Connection, reason: int) -> None:
        """Called when a connection ends, whoever ended it."""

    def on_subscription(self, connection: Connection, characteristic: gatt.Characteristic, notify: bool, indicate: bool) -> None:
        """Called when a central writes a CCCD."""

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self.device is not None

    @property
    def is_connected(self) -> bool:
        return bool(self.connections)

    async def attach(self, radio: VirtualRadio) -> None:
        if self.device is not None:
            raise RuntimeError(f"{self.name} is already attached to a radio")
        if radio.link is None:
            raise RuntimeError("the VirtualRadio is not running")
        self._state_changed = asyncio.Condition()
        device, self._controller = new_device(radio.link, name=self.name, address=self.address, io_capability=self.io_capability)
        device.keystore = self._keystore
        device.pairing_config_factory = lambda connection: PairingConfig(
            sc=True, mitm=True, bonding=True, delegate=_PeripheralDelegate(self)
        )
        device.add_services(list(self.build_services()))
        self.device = device
        self.configure_gatt(device)
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        device.on("characteristic_subscription", self._on_subscription)
        try:
            await device.power_on()
        except BaseException:
            radio.link.remove_controller(self._controller)
            self.device = self._controller = None
            raise
        self.radio = radio
        radio._register(self)
        if self.advertise_on_attach:
            await self.start_advertising()

    async def detach(self) -> None:
        device, radio = self.device, self.radio
        if device is None or radio is None:
            return
        for task in list(self._tasks):
            task.cancel()
        await self.stop_advertising()
        for connection in list(self.connections):
            try:
                await connection.disconnect()
            except Exception:  # noqa: BLE001 - tearing down
                logger.debug("disconnect during detach failed", exc_info=True)
        await device.power_off()
        if radio.link is not None and self._controller is not None:
            radio.link.remove_controller(self._controller)
        self._controller = None
        radio._unregister(self)
        self.device = None
        self.radio = None
        self.connections.clear()

    # -- advertising ---------------------------------------------------------------------------

    def advertising_data(self) -> bytes:
        structures: list[tuple[int, bytes]] = [
            (AdvertisingData.Type.FLAGS, bytes([0x06])),  # LE General Discoverable, no BR/EDR
        ]
        uuids = list(self.advertised_service_uuids())
        if uuids:
            structures.append(
                (
                    AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                    b"".join(u.to_bytes(2, "little") for u in uuids),
                )
            )
        structures.append((AdvertisingData.Type.COMPLETE_LOCAL_NAME, self.name.encode()))
        data = bytes(AdvertisingData(structures))
        if len(data) > 31:
            raise ValueError(f"advertising data of {self.name!r} exceeds 31 bytes")
        return data

    @property
    def is_advertising(self) -> bool:
        return self.device is not None and self.device.is_advertising

    async def start_advertising(self) -> None:
        if self.device is None:
            raise RuntimeError(f"{self.name} is not attached to a radio")
        await self.device.start_advertising(
            advertising_type=AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE,
            advertising_data=self.advertising_data(),
            scan_response_data=b"",
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )

    async def stop_advertising(self) -> None:
        if self.device is not None and self.device.is_advertising:
            await self.device.stop_advertising()

    # -- connections ---------------------------------------------------------------------------

    async def disconnect(self) -> None:
        """The device ends every connection (as a meter does when it has sent everything)."""
        for connection in list(self.connections):
            await connection.disconnect(hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR)

    async def forget_bonds(self) -> None:
        """The device loses its pairings (battery change, factory reset)."""
        await self._keystore.delete_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (with a timeout) until `predicate()` holds: re-checked on every connection or
        subscription change, and every few milliseconds for anything else."""
        condition = self._state_changed
        assert condition is not None, "attach the peripheral first"
        async with asyncio.timeout(timeout):
            while not predicate():
                async with condition:
                    try:
                        await asyncio.wait_for(condition.wait(), 0.005)
                    except TimeoutError:
                        pass

    def _notify_state(self) -> None:
        condition = self._state_changed
        if condition is None:
            return

        async def notify() -> None:
            async with condition:
                condition.notify_all()

        self.spawn(notify())

    def spawn(self, coroutine: object) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("%s: background task failed: %r", self.name, task.exception())

    def _on_connection(self, connection: Connection) -> None:
        self.connections.append(connection)
        self.connection_count += 1
        connection.on(Connection.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(connection, reason))
        self.on_connected(connection)
        if self.request_security_on_connect and self.device is not None:
            self.device.request_pairing(connection)  # SMP Security Request: "pair or encrypt, please"
        self._notify_state()

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        if connection in self.connections:
            self.connections.remove(connection)
        self.disconnection_count += 1
        self.on_disconnected(connection, reason)
        if self.readvertise_after_disconnect and self.device is not None:
            self.spawn(self.start_advertising())
        self._notify_state()

    def _on_subscription(self, bearer: object, characteristic: gatt.Characteristic, notify: bool, indicate: bool) -> None:
        connection = bearer if isinstance(bearer, Connection) else getattr(bearer, "connection", None)
        if connection is None:
            return
        uuid = _full_uuid(characteristic.uuid)
        if notify or indicate:
            self.subscribed.add(uuid)
        else:
            self.subscribed.discard(uuid)
        self.on_subscription(connection, characteristic, notify, indicate)
        self._notify_state()

    def cccd_of(self, characteristic: gatt.Characteristic) -> att.Attribute | None:
        """The CCCD the GATT server added for `characteristic` (from `configure_gatt` on)."""
        if self.device is None:
            return None
        for attribute in self.device.gatt_server.attributes:
            if (
                characteristic.handle < attribute.handle <= characteristic.end_group_handle
                and attribute.type == CCCD_UUID
            ):
                return attribute
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.address}>"


def _full_uuid(value: object) -> str:
    """A Bumble UUID (16- or 128-bit) as the 128-bit text bleak and our codecs use."""
    import uuid

    return str(uuid.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))  # type: ignore[attr-defined]
