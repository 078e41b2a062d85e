"""The behaviour every emulated standard health device shares: `EmulatedHealthDevice`, the base of
the emulated blood pressure monitors, scales and thermometers.

Shared behaviour (after the standard profiles: stored data is sent when the collector enables
indications, and forgotten once confirmed):
* records are kept in memory (`record_*` methods of the subclasses) and indicated, oldest first,
  as soon as a central enables indications on their characteristic; a confirmed record is moved
  to `sent` (`forget_after_send=False`: kept and sent again on the next connection);
* `take_*` methods make a measurement now: indicated at once to a subscribed central, else
  stored (and the device starts advertising: it has something to tell);
* a device clock: Current Time Service (`current_time_service=True`) and/or Date Time 0x2A08
  inside the main service (`date_time_in_service=True`, A&D); writable unless
  `clock_writable=False`; `clock_error` is how far it is off, `clock_set=False` a clock never
  set (it runs from 2000-01-01). Every write is kept in `clock_writes`;
* `user`: the user number put in new records (the person who pressed user button 1 or 2;
  None: no user field); each `record_*` / `take_*` also takes `user_id=`;
* security: `requires_bonding=True` puts every measurement, clock and vendor characteristic
  (and their CCCDs) behind an encrypted, authenticated link (passkey pairing);
  `single_bond=True` refuses pairing from any central but the one it is bonded to (Omron), unless
  `pairing_mode` is on (the user holds the button: the old bond is replaced);
  `bond_before_discovery=True` drops a central that discovers services on an unencrypted link;
* `hang_up_when_done=True`: the device disconnects by itself once it has sent what it had;
* faults: `record_raw(bytes)` sends bytes as they are; `fail_with_att_error(uuid, code)`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from bumble import att, gatt
from bumble.core import UUID
from bumble.device import Connection, Device
from bumble.pairing import PairingConfig

from drivers.emulator.peripheral import SECURE_READ, SECURE_WRITE, EmulatedPeripheral, _PeripheralDelegate
from drivers.gatt import MalformedPacket
from drivers.gatt.current_time import (
    CURRENT_TIME_SERVICE_UUID,
    CURRENT_TIME_UUID,
    CurrentTime,
    encode_current_time,
    parse_current_time,
)
from drivers.gatt.datetime import encode_date_time, parse_date_time
from drivers.gatt.device_information import (
    FIRMWARE_REVISION_UUID,
    MANUFACTURER_NAME_UUID,
    MODEL_NUMBER_UUID,
    SERIAL_NUMBER_UUID,
    SYSTEM_ID_UUID,
    encode_system_id,
)

logger = logging.getLogger(__name__)

DATE_TIME_UUID = "00002a08-0000-1000-8000-00805f9b34fb"
DEVICE_INFORMATION_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
AND_CUSTOM_SERVICE_UUID = "233bf000-5a34-1b6d-975c-000d5690abe4"
AND_CUSTOM_CHARACTERISTIC_UUID = "233bf001-5a34-1b6d-975c-000d5690abe4"  # a guess: what it does is A&D's
UNSET_CLOCK_EPOCH = datetime(2000, 1, 1)
OUT_OF_RANGE = 0xFF  # ATT common profile error "Out of Range"

Timestamp = datetime | bool | None
"""True: the device clock now; False: no time field; None: the field says "unknown"; or a datetime."""

Properties = gatt.Characteristic.Properties


@dataclass
class StoredRecord:
    """One record in a device's memory: a codec value (or raw bytes) for one characteristic."""

    characteristic: str
    measurement: Any = None
    raw: bytes | None = None


@dataclass
class _Subscription:
    connection: Connection
    uuids: set[str] = field(default_factory=set)
    sending: int = 0  # stored-record transfers running on this connection


class EmulatedHealthDevice(EmulatedPeripheral):
    """The common part of the emulated standard health devices (see the module docstring).

    Subclasses set `main_service_uuid` / `advertised_service_uuids`, implement
    `main_characteristics()` and `encode(record, max_size)`.
    """

    main_service_uuid: ClassVar[str]

    def __init__(
        self,
        *,
        address: str,
        name: str,
        manufacturer: str = "Heima Test Devices",
        model: str = "Model 1",
        serial: str = "000001",
        firmware: str = "1.0.0",
        system_id: str | None = None,
        requires_bonding: bool = False,
        passkey: int | None = 123456,
        clock_set: bool = True,
        clock_error: timedelta = timedelta(0),
        clock: Callable[[], datetime] | None = None,
        current_time_service: bool = False,
        date_time_in_service: bool = False,
        clock_writable: bool = True,
        forget_after_send: bool = True,
        hang_up_when_done: bool = False,
        hang_up_delay: float = 0.05,
        single_bond: bool = False,
        bond_before_discovery: bool = False,
        user: int | None = None,
        vendor_service: str | None = None,
        **peripheral_options: Any,
    ) -> None:
        super().__init__(address=address, name=name, passkey=passkey, **peripheral_options)
        self.manufacturer = manufacturer
        self.model = model
        self.serial = serial
        self.firmware = firmware
        self.system_id = system_id
        self.requires_bonding = requires_bonding
        self.clock_set = clock_set
        self.clock_error = clock_error
        self._true_clock = clock or (lambda: datetime.now().replace(microsecond=0))
        self._unset_since = time.monotonic()
        self.current_time_service = current_time_service
        self.date_time_in_service = date_time_in_service
        self.clock_writable = clock_writable
        self.forget_after_send = forget_after_send
        self.hang_up_when_done = hang_up_when_done
        self.hang_up_delay = hang_up_delay
        self.single_bond = single_bond
        self.pairing_mode = False
        self.bond_before_discovery = bond_before_discovery
        self.user = user
        self.vendor_service = vendor_service
        self.records: list[StoredRecord] = []
        self.sent: list[StoredRecord] = []  # confirmed by a central, oldest first
        self.clock_writes: list[datetime] = []
        self.indicated: list[bytes] = []  # every packet a central confirmed, in order
        self.refused_pairings = 0
        self.dropped_for_discovery = 0
        self._last_stamp: datetime | None = None
        self._subscriptions: dict[int, _Subscription] = {}  # connection handle -> what it enabled
        self._characteristics: dict[str, gatt.Characteristic] = {}  # uuid -> this attach's
        self._send_lock = asyncio.Lock()

    # -- to override ---------------------------------------------------------------------------

    def main_characteristics(self) -> list[gatt.Characteristic]:
        raise NotImplementedError

    def encode(self, record: StoredRecord, max_size: int) -> tuple[bytes, ...]:
        """The packets of one record (more than one when it does not fit: body composition)."""
        raise NotImplementedError

    # -- the clock -----------------------------------------------------------------------------

    def true_time(self) -> datetime:
        """The real local wall-clock time (what a correct clock would show)."""
        return self._true_clock()

    def device_time(self) -> datetime:
        """What the device's own clock shows now (naive, whole seconds)."""
        if self.clock_set:
            return (self.true_time() + self.clock_error).replace(microsecond=0)
        return (UNSET_CLOCK_EPOCH + timedelta(seconds=time.monotonic() - self._unset_since)).replace(microsecond=0)

    def _set_clock(self, value: datetime) -> None:
        self.clock_writes.append(value)
        self.clock_set = True
        self.clock_error = value - self.true_time()

    def stamp(self, timestamp: Timestamp) -> tuple[datetime | None, bool]:
        """(timestamp, timestamp_present) for a new record (see `Timestamp`)."""
        if timestamp is True:
            # Distinct times, as for measurements really taken one after another.
            stamp = self.device_time()
            if self._last_stamp is not None and stamp <= self._last_stamp:
                stamp = self._last_stamp + timedelta(seconds=1)
            self._last_stamp = stamp
            return stamp, True
        if timestamp is False:
            return None, False
        return timestamp, True

    def user_for(self, user_id: int | None | bool) -> int | None:
        """`user_id=True` (the default of the record methods): the current `user`."""
        return self.user if user_id is True else user_id  # type: ignore[return-value]

    # -- scripting -----------------------------------------------------------------------------

    def store(self, record: StoredRecord) -> StoredRecord:
        self.records.append(record)
        return record

    def record_raw(self, data: bytes, characteristic: str | None = None) -> StoredRecord:
        """Store bytes sent as they are on the (main) measurement characteristic."""
        return self.store(StoredRecord(characteristic or self.default_characteristic, raw=bytes(data)))

    @property
    def default_characteristic(self) -> str:
        raise NotImplementedError

    async def take(self, record: StoredRecord) -> StoredRecord:
        """A measurement made now: indicated at once to subscribed centrals, else stored."""
        targets = [s.connection for s in self._subscriptions.values() if record.characteristic in s.uuids]
        if not targets:
            self.records.append(record)
            if self.attached and not self.is_connected and not self.is_advertising:
                await self.start_advertising()
            return record
        for connection in targets:
            if await self._indicate_record(connection, record):
                self.sent.append(record)
        return record

    # -- GATT ----------------------------------------------------------------------------------

    @property
    def _read_permissions(self) -> att.Attribute.Permissions:
        return SECURE_READ if self.requires_bonding else att.Attribute.Permissions.READABLE

    @property
    def _write_permissions(self) -> att.Attribute.Permissions:
        return SECURE_WRITE if self.requires_bonding else att.Attribute.Permissions.WRITEABLE

    def characteristic(
        self,
        uuid: str,
        properties: gatt.Characteristic.Properties,
        *,
        read: Callable[[], bytes] | None = None,
        write: Callable[[bytes], None] | None = None,
        secure: bool = True,
    ) -> gatt.Characteristic:
        """A characteristic of this device (behind the bond when `secure` and bonding is required)."""
        if secure:
            permissions = self._read_permissions | self._write_permissions
        else:
            permissions = att.Attribute.Permissions.READABLE | att.Attribute.Permissions.WRITEABLE
        made = gatt.Characteristic(UUID(uuid), properties, permissions, self.faultable_value(uuid, read, (lambda _connection, value: write(value)) if write is not None else None))
        self._characteristics[uuid] = made
        return made

    def date_time_characteristic(self) -> gatt.Characteristic:
        properties = Properties.READ | (Properties.WRITE if self.clock_writable else 0)
        return self.characteristic(DATE_TIME_UUID, properties, read=self._read_date_time, write=self._write_date_time)

    def _read_date_time(self) -> bytes:
        return encode_date_time(self.device_time())

    def _write_date_time(self, value: bytes) -> None:
        try:
            written = parse_date_time(value)
        except MalformedPacket:
            written = None
        if written is None:
            raise att.ATT_Error(OUT_OF_RANGE)
        self._set_clock(written)

    def _read_current_time(self) -> bytes:
        return encode_current_time(CurrentTime.from_datetime(self.device_time()))

    def _write_current_time(self, value: bytes) -> None:
        try:
            written = parse_current_time(value).time
        except MalformedPacket:
            written = None
        if written is None:
            raise att.ATT_Error(OUT_OF_RANGE)
        self._set_clock(written)

    def build_services(self) -> Sequence[gatt.Service]:
        self._characteristics = {}

        def text(uuid: str, value: str) -> gatt.Characteristic:
            return self.characteristic(uuid, Properties.READ, read=lambda: value.encode("utf-8"), secure=False)

        dis_characteristics = [
            text(MANUFACTURER_NAME_UUID, self.manufacturer),
            text(MODEL_NUMBER_UUID, self.model),
            text(SERIAL_NUMBER_UUID, self.serial),
            text(FIRMWARE_REVISION_UUID, self.firmware),
        ]
        if self.system_id is not None:
            system_id = self.system_id
            dis_characteristics.append(
                self.characteristic(SYSTEM_ID_UUID, Properties.READ, read=lambda: encode_system_id(system_id), secure=False)
            )
        services = [gatt.Service(UUID(DEVICE_INFORMATION_SERVICE_UUID), dis_characteristics)]
        main = self.main_characteristics()
        if self.date_time_in_service:
            main.append(self.date_time_characteristic())
        services.append(gatt.Service(UUID(self.main_service_uuid), main))
        if self.current_time_service:
            properties = Properties.READ | Properties.NOTIFY | (Properties.WRITE if self.clock_writable else 0)
            current_time = self.characteristic(
                CURRENT_TIME_UUID, properties, read=self._read_current_time, write=self._write_current_time
            )
            services.append(gatt.Service(UUID(CURRENT_TIME_SERVICE_UUID), [current_time]))
        if self.vendor_service is not None:
            vendor = self.characteristic(
                AND_CUSTOM_CHARACTERISTIC_UUID, Properties.WRITE | Properties.NOTIFY
            )
            services.append(gatt.Service(UUID(self.vendor_service), [vendor]))
        return services

    def indicated_uuids(self) -> set[str]:
        return {
            uuid
            for uuid, characteristic in self._characteristics.items()
            if characteristic.properties & Properties.INDICATE
        }

    def configure_gatt(self, device: Device) -> None:
        for uuid, characteristic in self._characteristics.items():
            if not characteristic.properties & (Properties.NOTIFY | Properties.INDICATE):
                continue
            cccd = self.cccd_of(characteristic)
            assert cccd is not None
            if self.requires_bonding:
                cccd.permissions |= SECURE_READ | SECURE_WRITE
            original = cccd.value
            assert isinstance(original, att.AttributeValueV2)
            cccd.value = att.AttributeValueV2(read=original.read, write=self.faultable_cccd_write(uuid, original))
        if self.single_bond:
            device.pairing_config_factory = lambda connection: PairingConfig(
                sc=True, mitm=True, bonding=True, delegate=_SingleBondDelegate(self, connection)
            )
        if self.bond_before_discovery:
            self._guard_discovery(device)

    def _guard_discovery(self, device: Device) -> None:
        """Service discovery on an unencrypted link: the device hangs up (some Omron models)."""
        server = device.gatt_server
        original = server.on_att_read_by_group_type_request

        def guarded(bearer: Any, request: Any) -> Any:
            connection = bearer if isinstance(bearer, Connection) else getattr(bearer, "connection", None)
            if connection is not None and not connection.is_encrypted:
                self.dropped_for_discovery += 1
                self.spawn(connection.disconnect())
                return None
            return original(bearer, request)

        server.on_att_read_by_group_type_request = guarded  # type: ignore[method-assign]

    # -- connection behaviour ------------------------------------------------------------------

    def on_connected(self, connection: Connection) -> None:
        self._subscriptions[connection.handle] = _Subscription(connection)

    def on_disconnected(self, connection: Connection, reason: int) -> None:
        self._subscriptions.pop(connection.handle, None)

    def on_subscription(self, connection: Connection, characteristic: gatt.Characteristic, notify: bool, indicate: bool) -> None:
        uuid = next((u for u, c in self._characteristics.items() if c is characteristic), None)
        subscription = self._subscriptions.get(connection.handle)
        if uuid is None or subscription is None or uuid not in self.indicated_uuids():
            return
        if not indicate:
            subscription.uuids.discard(uuid)
            return
        if uuid in subscription.uuids:
            return
        subscription.uuids.add(uuid)
        subscription.sending += 1
        self.spawn(self._send_stored(subscription, uuid))

    async def _send_stored(self, subscription: _Subscription, uuid: str) -> None:
        connection = subscription.connection
        try:
            for record in [r for r in self.records if r.characteristic == uuid]:
                if not await self._indicate_record(connection, record):
                    return
                if self.forget_after_send:
                    if record in self.records:
                        self.records.remove(record)
                    self.sent.append(record)
        finally:
            subscription.sending -= 1
        if self.hang_up_when_done:
            await asyncio.sleep(self.hang_up_delay)
            if subscription.sending == 0 and connection.handle in self._subscriptions:
                await connection.disconnect()

    async def _indicate_record(self, connection: Connection, record: StoredRecord) -> bool:
        """Indicate every packet of a record, each confirmed; False when the link went."""
        device = self.device
        characteristic = self._characteristics.get(record.characteristic)
        if device is None or characteristic is None:
            return False
        packets = (record.raw,) if record.raw is not None else self.encode(record, connection.att_mtu - 3)
        async with self._send_lock:
            for packet in packets:
                subscription = self._subscriptions.get(connection.handle)
                if subscription is None or record.characteristic not in subscription.uuids:
                    return False
                try:
                    await device.indicate_subscriber(connection, characteristic, packet)
                except Exception as error:  # noqa: BLE001 - a lost link, a timeout: not confirmed
                    logger.info("%s: indication not confirmed: %r", self.name, error)
                    return False
                if connection.handle not in self._subscriptions:
                    return False
                self.indicated.append(packet)
        return True

    async def notify(self, uuid: str, data: bytes) -> None:
        """Notify a value to every central subscribed to the characteristic."""
        characteristic = self._characteristics.get(uuid)
        if self.device is not None and characteristic is not None:
            await self.device.notify_subscribers(characteristic, data)


class _SingleBondDelegate(_PeripheralDelegate):
    """Accepts pairing only from the central the device is bonded to (or in pairing mode)."""

    def __init__(self, peripheral: EmulatedHealthDevice, connection: Connection) -> None:
        super().__init__(peripheral)
        self._device = peripheral
        self._connection = connection

    async def accept(self) -> bool:
        keystore = self._device._keystore
        peer = self._connection.peer_address.to_string(False).upper()
        bonded = [name for name, _ in await keystore.get_all()]
        others = [name for name in bonded if not name.upper().startswith(peer)]
        if not others:
            return True
        if self._device.pairing_mode:
            for name in others:  # one bond only: the new central replaces the old one
                await keystore.delete(name)
            return True
        self._device.refused_pairings += 1
        return False


__all__ = [
    "AND_CUSTOM_CHARACTERISTIC_UUID",
    "AND_CUSTOM_SERVICE_UUID",
    "DATE_TIME_UUID",
    "EmulatedHealthDevice",
    "Properties",
    "StoredRecord",
    "Timestamp",
]
