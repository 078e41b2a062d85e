"""A bleak backend over a Bumble `VirtualRadio`: pass these classes as `backend=` to the real
`bleak.BleakScanner` / `bleak.BleakClient` (and to `bleak_retry_connector.establish_connection`).

Which radio: the class attribute `radio` when set (see `VirtualRadio.client_backend`), else the
current radio (`drivers.emulator.radio.current_radio()`) at the moment bleak creates the backend.

Behaviour worth knowing:
* characteristics are addressed by UUID: handles here are Bumble's value handles, not BlueZ's
  declaration handles, so handle numbers differ between backends;
* an ATT error 0x05 (insufficient authentication) or 0x0F (insufficient encryption) makes the
  client encrypt with a stored bond, or pair (passkey through the `PasskeyProvider`), then retry
  the request once: what BlueZ does for a bonded device;
* a failed or refused pairing raises `PairingError` (a `BleakError`) from the operation that
  needed it, and from every later one on the same link, at once: the person is not asked again
  and the link is not encrypted again until a new connection (Bumble keeps the failed SMP session
  until the link ends, so a second encryption or pairing on that link would never complete);
* security is bounded: the device's share of an encryption or a pairing (`SECURITY_TIMEOUT`, the
  person's time at the passkey dialog not counted; the radio bounds that, see
  `drivers.emulator.radio.PASSKEY_TIMEOUT`). A device that stays silent longer fails the
  operation with `PairingError` and the link is dropped, as the SMP timeout rule asks (Core
  Vol 3, Part H, 3.4: a new security procedure needs a new link);
* an ATT error surfaces as `AttError`, a `bleak.exc.BleakGATTProtocolError` (so a `BleakError`)
  whose message reads "ATT error 0x0A (...) on read <uuid>";
* the disconnected callback runs on every disconnect, like BlueZ's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuid_module
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar, TypeVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    PROTOCOL_ERROR_CODES,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)
from bumble import att, core, gatt, hci
from bumble.device import Advertisement, Connection, Device, Peer

from drivers.emulator.radio import VirtualRadio, current_radio
from drivers.pairing import PasskeyProvider

logger = logging.getLogger(__name__)

T = TypeVar("T")

ATT_INSUFFICIENT_AUTHENTICATION = 0x05
ATT_INSUFFICIENT_ENCRYPTION = 0x0F
_SECURITY_ERRORS = (ATT_INSUFFICIENT_AUTHENTICATION, ATT_INSUFFICIENT_ENCRYPTION)

# The device's share of securing a link: an encryption with the stored bond, or a pairing's SMP
# exchange with the person's time at the passkey dialog left out. Either takes well under a
# second, a few connection events, even at slow connection intervals and on a slow device's
# P-256; SMP's own 30 s transaction timeout (Core Vol 3, Part H, 3.4) is far too long to keep a
# patient holding a device that has stopped answering, so 10 s it is.
SECURITY_TIMEOUT = 10.0

_PROPERTY_NAMES = {
    gatt.Characteristic.Properties.BROADCAST: "broadcast",
    gatt.Characteristic.Properties.READ: "read",
    gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    gatt.Characteristic.Properties.WRITE: "write",
    gatt.Characteristic.Properties.NOTIFY: "notify",
    gatt.Characteristic.Properties.INDICATE: "indicate",
    gatt.Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES: "authenticated-signed-writes",
    gatt.Characteristic.Properties.EXTENDED_PROPERTIES: "extended-properties",
}


class AttError(BleakGATTProtocolError):
    """The peripheral answered a request with an ATT Error Response."""

    def __init__(self, error_code: int, operation: str) -> None:
        super().__init__(error_code)
        self.operation = operation

    def __str__(self) -> str:
        code = int(self.args[0])
        return f"ATT error 0x{code:02X} ({PROTOCOL_ERROR_CODES.get(code, 'Unknown code')}) on {self.operation}"


class PairingError(BleakError):
    """Pairing failed or was cancelled (wrong passkey, user said no, device refused)."""


def bumble_uuid_str(value: core.UUID) -> str:
    """A Bumble UUID as bleak spells it: lower-case 128-bit with dashes."""
    return str(uuid_module.UUID(bytes=value.to_bytes(force_128=True)[::-1]))


def _uuid_from_le(data: bytes) -> str:
    if len(data) in (2, 4):
        return f"{int.from_bytes(data, 'little'):08x}-0000-1000-8000-00805f9b34fb"
    return str(uuid_module.UUID(bytes=data[::-1]))


def _address_str(address: hci.Address) -> str:
    return address.to_string(with_type_qualifier=False)


def advertisement_data_from_bumble(advertisement: Advertisement) -> AdvertisementData:
    """Bleak's view of a Bumble advertisement report.

    Bumble's software controller echoes the advertising data as the scan response and the
    accumulator concatenates both, so every AD structure may appear twice: duplicates (same type,
    same bytes) are dropped, first occurrence wins.
    """
    seen: set[tuple[int, bytes]] = set()
    local_name: str | None = None
    short_name: str | None = None
    manufacturer_data: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    service_uuids: list[str] = []
    tx_power: int | None = None
    Type = core.AdvertisingData.Type
    for ad_type, ad_data in advertisement.data.ad_structures:
        key = (int(ad_type), bytes(ad_data))
        if key in seen:
            continue
        seen.add(key)
        ad_type = int(ad_type)
        if ad_type == Type.COMPLETE_LOCAL_NAME:
            local_name = ad_data.decode("utf-8", errors="replace")
        elif ad_type == Type.SHORTENED_LOCAL_NAME:
            short_name = ad_data.decode("utf-8", errors="replace")
        elif ad_type in (
            Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
            Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        ):
            service_uuids += [_uuid_from_le(ad_data[i : i + 2]) for i in range(0, len(ad_data) - 1, 2)]
        elif ad_type in (
            Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
            Type.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
        ):
            service_uuids += [_uuid_from_le(ad_data[i : i + 4]) for i in range(0, len(ad_data) - 3, 4)]
        elif ad_type in (
            Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        ):
            service_uuids += [_uuid_from_le(ad_data[i : i + 16]) for i in range(0, len(ad_data) - 15, 16)]
        elif ad_type == Type.SERVICE_DATA_16_BIT_UUID and len(ad_data) >= 2:
            service_data[_uuid_from_le(ad_data[:2])] = bytes(ad_data[2:])
        elif ad_type == Type.SERVICE_DATA_32_BIT_UUID and len(ad_data) >= 4:
            service_data[_uuid_from_le(ad_data[:4])] = bytes(ad_data[4:])
        elif ad_type == Type.SERVICE_DATA_128_BIT_UUID and len(ad_data) >= 16:
            service_data[_uuid_from_le(ad_data[:16])] = bytes(ad_data[16:])
        elif ad_type == Type.MANUFACTURER_SPECIFIC_DATA and len(ad_data) >= 2:
            manufacturer_data[int.from_bytes(ad_data[:2], "little")] = bytes(ad_data[2:])
        elif ad_type == Type.TX_POWER_LEVEL and len(ad_data) == 1:
            tx_power = int.from_bytes(ad_data, "little", signed=True)
    return AdvertisementData(
        local_name=local_name or short_name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=list(dict.fromkeys(service_uuids)),
        tx_power=tx_power,
        rssi=advertisement.rssi,
        platform_data=(advertisement,),
    )


def _resolve(radio: VirtualRadio | None) -> VirtualRadio:
    return radio if radio is not None else current_radio()


class BumbleScanner(BaseBleakScanner):
    """Scans the virtual radio with the hub's central. `platform_data[0]` is Bumble's report."""

    radio: ClassVar[VirtualRadio | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None = None,
        service_uuids: list[str] | None = None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._radio = _resolve(type(self).radio)
        self._scanning = False

    async def start(self) -> None:
        if self._scanning:
            return
        self.seen_devices = {}
        self._radio.central.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._scanning = True
        await self._radio.acquire_scan()

    async def stop(self) -> None:
        if not self._scanning:
            return
        self._scanning = False
        if self._radio.running:
            self._radio.central.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
            await self._radio.release_scan()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement_data_from_bumble(advertisement)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = _address_str(advertisement.address)
        name = data.local_name
        if name is None and address in self.seen_devices:
            name = self.seen_devices[address][0].name  # keep the name a previous report gave
        device = self.create_or_update_device(address, address, name, advertisement.address, data)
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """A GATT client over the virtual radio's central (see the module docstring).

    Extra keyword arguments (through `BleakClient(..., **kwargs)` or `establish_connection`):
    `passkey_provider` (overrides the radio's), `mtu` (ATT MTU to request; default the radio's),
    `auto_pair` (default True: pair/encrypt and retry on ATT 0x05/0x0F). Unknown keyword
    arguments (e.g. bleak-retry-connector's) are accepted and ignored.
    """

    radio: ClassVar[VirtualRadio | None] = None
    supports_passkey_provider: ClassVar[bool] = True
    security_timeout: ClassVar[float] = SECURITY_TIMEOUT

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        passkey_provider: PasskeyProvider | None = None,
        mtu: int | None = None,
        auto_pair: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self.address = self.address.upper()
        self._radio = _resolve(type(self).radio)
        self._device_name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._service_filter = {s.lower() for s in services} if services else None
        self.passkey_provider = passkey_provider
        self._mtu_request = mtu or self._radio.mtu
        self._auto_pair = auto_pair
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._disconnected: asyncio.Future[int] | None = None
        self._security_lock = asyncio.Lock()
        self._security_failure: str | None = None  # why securing this link failed: not tried again
        self._security_bound: asyncio.Timeout | None = None  # while encrypting or pairing
        self._person_declined: str | None = None  # what the person did instead of answering
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- properties ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._peer.gatt_client.mtu if self._peer is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    @property
    def is_encrypted(self) -> bool:
        return self._connection is not None and bool(self._connection.is_encrypted)

    # -- connecting ----------------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self.is_connected:
            return
        timeout = float(kwargs.get("timeout", self._timeout))
        radio = self._radio
        if not radio.running or radio.peripheral_at(self.address) is None:
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found.")
        address = hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        async with radio.connect_lock:
            try:
                connection = await radio.central.connect(address, timeout=timeout)
            except core.TimeoutError:
                raise asyncio.TimeoutError(f"{self.address}: no connection within {timeout:g} s") from None
            except core.BaseBumbleError as error:
                raise BleakError(f"{self.address}: connection failed: {error}") from error
            except asyncio.CancelledError:
                await self._abandon_connection_attempt(address)
                raise
        self._connection = connection
        self._security_failure = None
        self._disconnected = asyncio.get_running_loop().create_future()
        radio._clients[connection.handle] = self
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        connection.on(Connection.EVENT_SECURITY_REQUEST, self._on_security_request)
        self._peer = Peer(connection)
        try:
            if self._mtu_request > att.ATT_DEFAULT_MTU:
                await self._gatt("exchange MTU", lambda: self._peer_checked().request_mtu(self._mtu_request))
            if pair:
                await self.pair()
            self.services = await self._discover()
        except BaseException:
            if self.is_connected:
                await self.disconnect()
            raise

    async def _abandon_connection_attempt(self, address: hci.Address) -> None:
        """Our caller gave up (cancelled) while the controller was still trying to connect."""
        central = self._radio.central
        try:
            await central.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
        except Exception:  # noqa: BLE001 - nothing pending any more
            logger.debug("%s: no connection attempt to cancel", self.address, exc_info=True)
        for connection in list(central.connections.values()):
            if connection.peer_address == address:  # it completed just as we gave up
                try:
                    await connection.disconnect()
                except Exception:  # noqa: BLE001
                    logger.debug("%s: could not drop an abandoned connection", self.address, exc_info=True)

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            async with asyncio.timeout(10):
                await connection.disconnect()
        except core.BaseBumbleError:
            logger.debug("%s: disconnect failed", self.address, exc_info=True)
        except asyncio.TimeoutError:
            logger.warning("%s: disconnect did not complete", self.address)
        if self._connection is connection:  # no event came: clean up anyway
            self._on_disconnection(hci.HCI_CONNECTION_TERMINATED_BY_LOCAL_HOST_ERROR)

    def _on_disconnection(self, reason: int) -> None:
        connection = self._connection
        if connection is None:
            return
        self._radio._clients.pop(connection.handle, None)
        self._connection = None
        self._peer = None
        self.services = None
        self._subscriptions.clear()
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(reason)
        for task in list(self._background):
            task.cancel()
        logger.debug("%s: disconnected (reason 0x%02X)", self.address, reason)
        if self._disconnected_callback is not None:
            try:
                self._disconnected_callback()
            except Exception:  # noqa: BLE001 - a callback must not break the radio
                logger.exception("disconnected callback failed")

    # -- security ------------------------------------------------------------------------------

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Make the link encrypted and authenticated: with the stored bond, else by pairing."""
        await self._secure(ATT_INSUFFICIENT_AUTHENTICATION)

    async def unpair(self) -> None:
        """Forget the hub's keys for this device and disconnect (never used by the hub itself)."""
        keystore = self._radio.central.keystore
        await self.disconnect()
        if keystore is not None:
            for name, _ in await keystore.get_all():
                if name.upper().startswith(self.address):
                    await keystore.delete(name)

    def _on_security_request(self, auth_req: int) -> None:
        task = asyncio.get_running_loop().create_task(self._secure_in_background())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _secure_in_background(self) -> None:
        try:
            await self._secure(ATT_INSUFFICIENT_AUTHENTICATION)
        except BleakError as error:
            logger.warning("%s: security request not satisfied: %s", self.address, error)

    async def _secure(self, att_error: int) -> None:
        async with self._security_lock:
            connection = self._connected()
            if self._security_failure is not None:  # failed on this link already: no second try
                raise PairingError(self._security_failure)
            if connection.is_encrypted and (att_error == ATT_INSUFFICIENT_ENCRYPTION or connection.authenticated):
                return  # done meanwhile (a security request, another request's retry)
            keystore = self._radio.central.keystore
            keys = await keystore.get(str(connection.peer_address)) if keystore is not None else None
            refused: str | None = None
            if keys is not None and (keys.ltk or keys.ltk_central) and not connection.is_encrypted:
                try:
                    await self._bounded(connection.encrypt(), "encryption with the stored bond")
                    return
                except hci.HCI_Error as error:
                    self._connected()  # a key mismatch ends the link: then report that
                    refused = error.error_name
                    logger.info("%s: stored bond refused (%s): pairing again", self.address, refused)
            self._person_declined = None
            try:
                await self._bounded(connection.pair(), "pairing")
            except core.ProtocolError as error:
                declined = self._person_declined
                if refused is not None:  # what the technician must act on: the lost bond
                    detail = error.error_name + (f": {declined}" if declined else "")
                    failure = f"{self.address}: pairing failed ({detail}) after the device refused the stored bond ({refused})"
                elif declined is not None:
                    failure = f"{self.address}: pairing cancelled ({error.error_name}): {declined}"
                else:
                    failure = f"{self.address}: pairing failed ({error.error_name})"
                self._security_failure = failure
                raise PairingError(failure) from None

    async def _bounded(self, awaitable: Awaitable[None], what: str) -> None:
        """Encrypt or pair within `security_timeout` (the person's time excluded, see
        `waiting_for_person`); past it, fail with PairingError and drop the link."""
        try:
            async with asyncio.timeout(self.security_timeout) as bound:
                self._security_bound = bound
                try:
                    await self._guard(awaitable)
                finally:
                    self._security_bound = None
        except TimeoutError:
            if not bound.expired():
                raise  # a timeout of Bumble's own, already worded by `_guard`
            failure = f"{self.address}: {what} failed: the device did not answer within {self.security_timeout:g} s"
            self._security_failure = failure
            logger.warning("%s: dropping the link", failure)
            await self.disconnect()
            raise PairingError(failure) from None

    def person_declined(self, what: str) -> None:
        """The radio's pairing delegate: the passkey request was refused or nobody answered it."""
        self._person_declined = what

    @contextlib.contextmanager
    def waiting_for_person(self) -> Iterator[None]:
        """The radio's pairing delegate is asking a person: their time does not count against
        `security_timeout` (the delegate bounds it on its own)."""
        bound = self._security_bound
        if bound is None or bound.expired():
            yield
            return
        bound.reschedule(None)
        try:
            yield
        finally:
            if self._security_bound is bound and not bound.expired():
                bound.reschedule(asyncio.get_running_loop().time() + self.security_timeout)

    # -- GATT ----------------------------------------------------------------------------------

    def _connected(self) -> Connection:
        if self._connection is None:
            raise BleakError(f"{self.address}: not connected")
        return self._connection

    def _peer_checked(self) -> Peer:
        self._connected()
        assert self._peer is not None
        return self._peer

    async def _guard(self, awaitable: Awaitable[T]) -> T:
        """Await a Bumble operation; end it with BleakError if the link drops meanwhile."""
        disconnected = self._disconnected
        if self._connection is None or disconnected is None or disconnected.done():
            raise BleakError(f"{self.address}: not connected")
        operation = asyncio.ensure_future(awaitable)
        try:
            await asyncio.wait({operation, disconnected}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            operation.cancel()
            raise
        if not operation.done():
            operation.cancel()
            raise BleakError(f"{self.address}: disconnected")
        if operation.cancelled():  # Bumble cancels pending requests on disconnection
            raise BleakError(f"{self.address}: disconnected")
        try:
            return operation.result()
        except (att.ATT_Error, hci.HCI_Error, core.ProtocolError):
            raise
        except core.TimeoutError as error:
            raise asyncio.TimeoutError(f"{self.address}: GATT timeout") from error
        except core.BaseBumbleError as error:
            raise BleakError(f"{self.address}: {error}") from error

    async def _gatt(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """One ATT procedure; on 0x05/0x0F pair or encrypt, then retry once."""
        retried = False
        while True:
            try:
                return await self._guard(call())
            except att.ATT_Error as error:
                if error.error_code in _SECURITY_ERRORS and self._auto_pair and not retried:
                    retried = True
                    try:
                        await self._secure(error.error_code)
                    except PairingError as failure:
                        raise PairingError(f"{failure}; {operation} needs an encrypted link") from None
                    continue
                raise AttError(error.error_code, operation) from None

    async def _discover(self) -> BleakGATTServiceCollection:
        peer = self._peer_checked()
        await self._gatt("discover services", peer.discover_services)
        for service in peer.services:
            await self._gatt("discover characteristics", lambda s=service: peer.discover_characteristics(service=s))
            for characteristic in service.characteristics:
                await self._gatt(
                    "discover descriptors", lambda c=characteristic: peer.discover_descriptors(characteristic=c)
                )
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            service_uuid = bumble_uuid_str(service.uuid)
            if self._service_filter is not None and service_uuid not in self._service_filter:
                continue
            bleak_service = BleakGATTService(service, service.handle, service_uuid)
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                properties = [name for flag, name in _PROPERTY_NAMES.items() if characteristic.properties & flag]
                bleak_characteristic = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    bumble_uuid_str(characteristic.uuid),
                    properties,  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_characteristic)
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, bumble_uuid_str(descriptor.type), bleak_characteristic
                        )
                    )
        return collection

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._peer_checked()
        value = await self._gatt(
            f"read {characteristic.uuid}", lambda: peer.gatt_client.read_value(characteristic.obj.handle)
        )
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._peer_checked()
        value = await self._gatt(f"read descriptor {descriptor.uuid}", lambda: peer.gatt_client.read_value(descriptor.handle))
        return bytearray(value)

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool) -> None:
        peer = self._peer_checked()
        payload = bytes(data)
        await self._gatt(
            f"write {characteristic.uuid}",
            lambda: peer.gatt_client.write_value(characteristic.obj.handle, payload, with_response=response),
        )

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        peer = self._peer_checked()
        payload = bytes(data)
        await self._gatt(
            f"write descriptor {descriptor.uuid}",
            lambda: peer.gatt_client.write_value(descriptor.handle, payload, with_response=True),
        )

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any) -> None:
        peer = self._peer_checked()
        proxy = characteristic.obj
        handle = proxy.handle

        def on_value(value: bytes) -> None:
            try:
                callback(bytearray(value))
            except Exception:  # noqa: BLE001 - a callback must not break the radio
                logger.exception("%s: notification callback failed", self.address)

        self._subscriptions[handle] = on_value
        try:
            await self._gatt(
                f"subscribe {characteristic.uuid}",
                lambda: peer.gatt_client.subscribe(proxy, on_value, prefer_notify=True),
            )
        except BaseException:
            self._subscriptions.pop(handle, None)
            peer.gatt_client.notification_subscribers.pop(handle, None)
            peer.gatt_client.indication_subscribers.pop(handle, None)
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._peer_checked()
        proxy = characteristic.obj
        on_value = self._subscriptions.pop(proxy.handle, None)
        if on_value is None:
            return
        await self._gatt(f"unsubscribe {characteristic.uuid}", lambda: peer.gatt_client.unsubscribe(proxy, on_value))


__all__ = [
    "AttError",
    "BumbleClient",
    "BumbleScanner",
    "PairingError",
    "advertisement_data_from_bumble",
    "bumble_uuid_str",
]
