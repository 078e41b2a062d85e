"""An emulated standard pulse oximeter: PLX service (0x1822) + Device Information (0x180A).

Behaviour (modelled on spot-check oximeters such as the Nonin 3230):
* it keeps spot-check records in memory (`record_spot_check`);
* on each connection, as soon as the central enables spot-check indications, it indicates
  every stored record with the "from storage" status bit set, oldest first. A second connection
  re-sends the same records (the hub must dedupe) unless `forget_after_send=True`;
* `take_live_spot_check` indicates a new measurement at once when a central is subscribed, else
  stores it and starts advertising (it has something to tell);
* `start_continuous` notifies PLX Continuous Measurements at a rate until `stop_continuous`.

All bytes come from the codecs in `drivers.gatt` (`encode_spot_check`, ...), never by hand.

Faults, all explicit: special values (`SpecialValue.NAN`, ...) in any numeric field,
`disconnect_after(n)` indications, `fail_with_att_error(uuid, code)` on a characteristic
(reads, writes and subscribing), `requires_bonding=True` (PLX characteristics and their CCCDs
need an encrypted, authenticated link: passkey pairing), `clock_set=False` (the device clock
was never set: timestamps from 2000-01-01 and the "device clock not set" flag), and
`record_raw_spot_check(bytes)` for a malformed packet.

Spot-check storage with RACP (`spot_check_storage=True`): the features say "spot-check storage",
the PLX service gets a Record Access Control Point (0x2A52, write + indicate), and stored records
are no longer sent on subscription but on request: report stored records (operators all, first,
last; ≤ / ≥ / range answer "operator not supported", as many oximeters have no record numbers
to filter on), report number of stored records, delete stored records, abort. ATT 0x81 when
RACP is written before its indications (or, for a report, the spot-check indications) are on;
0x80 while a procedure runs. `racp_requests` keeps every write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bumble import att, gatt
from bumble.core import UUID
from bumble.device import Connection, Device

from drivers.emulator.peripheral import SECURE_READ, SECURE_WRITE, EmulatedPeripheral
from drivers.gatt import MalformedPacket
from drivers.gatt.device_information import (
    FIRMWARE_REVISION_UUID,
    MANUFACTURER_NAME_UUID,
    MODEL_NUMBER_UUID,
    SERIAL_NUMBER_UUID,
    SYSTEM_ID_UUID,
    encode_system_id,
)
from drivers.gatt.ieee11073 import Number
from drivers.gatt.plx import (
    PLX_CONTINUOUS_UUID,
    PLX_FEATURES_UUID,
    PLX_SPOT_CHECK_UUID,
    PlxContinuous,
    PlxDeviceSensorStatus,
    PlxFeatures,
    PlxMeasurementStatus,
    PlxSpotCheck,
    encode_continuous,
    encode_features,
    encode_spot_check,
)
from drivers.gatt.racp import (
    ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED,
    ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS,
    RACP_UUID,
    RacpGeneralResponse,
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
    encode_response,
    parse_request,
)

logger = logging.getLogger(__name__)

PLX_SERVICE_16 = 0x1822
DEVICE_INFORMATION_16 = 0x180A
_FROM_STORAGE = 1 << 9
_UNSET_CLOCK_EPOCH = datetime(2000, 1, 1)

DEFAULT_FEATURES = PlxFeatures(
    supported_measurement_status=0xFFE0,  # every defined status bit (b5..b15)
    supported_device_status=0x00FFFF,
    spot_check_timestamp=True,
    pulse_amplitude_index=True,
)

Status = PlxMeasurementStatus | int | None
DeviceStatus = PlxDeviceSensorStatus | int | None


def _status(value: Status) -> PlxMeasurementStatus | None:
    return PlxMeasurementStatus.from_raw(value) if isinstance(value, int) else value


def _device_status(value: DeviceStatus) -> PlxDeviceSensorStatus | None:
    return PlxDeviceSensorStatus.from_raw(value) if isinstance(value, int) else value


def _uuid(full: str) -> UUID:
    return UUID(full)


@dataclass(frozen=True)
class _RawRecord:
    """A stored record that is not a valid spot-check (fault injection)."""

    data: bytes


class EmulatedPulseOximeter(EmulatedPeripheral):
    def __init__(
        self,
        *,
        address: str = "F0:11:22:33:44:01",
        name: str = "Heima PLX 1",
        manufacturer: str = "Heima Test Devices",
        model: str = "PLX-1",
        serial: str = "PLX1-000001",
        firmware: str = "1.0.0",
        system_id: str = "00A0500000000001",  # EUI-64, OUI first
        features: PlxFeatures = DEFAULT_FEATURES,
        requires_bonding: bool = False,
        passkey: int | None = 123456,
        forget_after_send: bool = False,
        clock_set: bool = True,
        clock: Callable[[], datetime] | None = None,
        spot_check_storage: bool = False,
        **peripheral_options: Any,
    ) -> None:
        super().__init__(address=address, name=name, passkey=passkey, **peripheral_options)
        self.spot_check_storage = spot_check_storage
        if spot_check_storage:
            features = replace(features, spot_check_storage=True)
        self.manufacturer = manufacturer
        self.model = model
        self.serial = serial
        self.firmware = firmware
        self.system_id = system_id
        self.features = features
        self.requires_bonding = requires_bonding
        self.forget_after_send = forget_after_send
        self.clock_set = clock_set
        self._clock = clock or (lambda: datetime.now().replace(microsecond=0))
        self._unset_clock_started = datetime.now()
        self.records: list[PlxSpotCheck | _RawRecord] = []
        self._last_stamp: datetime | None = None
        self.indications_sent = 0  # confirmed by the central, over all connections
        self._disconnect_after: int | None = None
        self._indicating: dict[int, Connection] = {}  # handle -> connection with indications on
        self._per_connection: dict[int, int] = {}  # handle -> indications confirmed
        self._send_lock = asyncio.Lock()
        self._continuous_task: asyncio.Task[None] | None = None
        self.continuous_subscribers: set[int] = set()  # connections that enabled continuous notifications
        self._racp: gatt.Characteristic | None = None
        self._racp_indicating: set[int] = set()  # connection handles with RACP indications on
        self._procedures: dict[int, asyncio.Task[None]] = {}  # connection handle -> running procedure
        self._aborting: set[int] = set()
        self.racp_requests: list[bytes] = []

    # -- scripting -----------------------------------------------------------------------------

    def device_time(self) -> datetime:
        """What the device's own clock reads now (naive, seconds)."""
        if self.clock_set:
            return self._clock()
        elapsed = datetime.now() - self._unset_clock_started
        return (_UNSET_CLOCK_EPOCH + elapsed).replace(microsecond=0)

    def _make(
        self,
        spo2: Number,
        pulse_rate: Number,
        *,
        timestamp: datetime | None | bool,
        status: Status,
        device_status: DeviceStatus,
        pulse_amplitude_index: Number | None,
    ) -> PlxSpotCheck:
        if timestamp is True:
            # Distinct device times, as for measurements really taken one after another: a
            # hub dedupes on (serial, device time), so two records in one second would merge.
            stamp: datetime | None = self.device_time()
            if self._last_stamp is not None and stamp <= self._last_stamp:
                stamp = self._last_stamp + timedelta(seconds=1)
            self._last_stamp = stamp
            present = True
        elif timestamp is False:
            stamp, present = None, False
        else:
            stamp, present = timestamp, timestamp is not None
        return PlxSpotCheck(
            spo2=spo2,
            pulse_rate=pulse_rate,
            timestamp=stamp,
            timestamp_present=present,
            measurement_status=_status(status),
            device_status=_device_status(device_status),
            pulse_amplitude_index=pulse_amplitude_index,
            device_clock_not_set=not self.clock_set,
        )

    def record_spot_check(
        self,
        spo2: Number,
        pulse_rate: Number,
        *,
        timestamp: datetime | None | bool = True,
        status: Status = None,
        device_status: DeviceStatus = None,
        pulse_amplitude_index: Number | None = None,
    ) -> PlxSpotCheck:
        """Store a measurement in the device's memory (sent on the next subscription).

        `timestamp=True` (default) stamps it with the device clock (one second after the
        previous stamp if the clock has not moved on), `False` sends no timestamp field, a
        datetime is used as given. `status` / `device_status` take the codec types or
        raw ints. The from-storage bit is added when the record is sent.
        """
        record = self._make(
            spo2,
            pulse_rate,
            timestamp=timestamp,
            status=status,
            device_status=device_status,
            pulse_amplitude_index=pulse_amplitude_index,
        )
        self.records.append(record)
        return record

    def record_raw_spot_check(self, data: bytes) -> None:
        """Store bytes that are sent as a spot-check indication as they are (malformed input)."""
        self.records.append(_RawRecord(bytes(data)))

    @property
    def spot_check_indicating(self) -> bool:
        """A central has spot-check indications on: a live spot-check now reaches it at once."""
        return bool(self._indicating)

    async def take_live_spot_check(
        self,
        spo2: Number,
        pulse_rate: Number,
        *,
        timestamp: datetime | None | bool = True,
        status: Status = None,
        device_status: DeviceStatus = None,
        pulse_amplitude_index: Number | None = None,
    ) -> PlxSpotCheck:
        """A measurement taken now: indicated at once to subscribed centrals, else stored."""
        record = self._make(
            spo2,
            pulse_rate,
            timestamp=timestamp,
            status=status,
            device_status=device_status,
            pulse_amplitude_index=pulse_amplitude_index,
        )
        targets = list(self._indicating.values())
        if not targets:
            self.records.append(record)
            if self.attached and not self.is_connected and not self.is_advertising:
                await self.start_advertising()
            return record
        for connection in targets:
            await self._send_live(connection, encode_spot_check(record))
        return record

    def disconnect_after(self, indications: int | None) -> None:
        """End each connection after this many confirmed spot-check indications (None: never)."""
        self._disconnect_after = indications

    # -- continuous ----------------------------------------------------------------------------

    async def send_continuous(self, measurement: PlxContinuous) -> None:
        """Notify one continuous measurement to every subscribed central."""
        if self.device is not None:
            await self.device.notify_subscribers(self._continuous, encode_continuous(measurement))

    def start_continuous(
        self,
        measurements: PlxContinuous | Iterable[PlxContinuous],
        *,
        rate_hz: float = 1.0,
    ) -> None:
        """Notify continuously at `rate_hz`: one measurement repeated, or a finite sequence."""
        self.stop_continuous()
        interval = 1.0 / rate_hz
        source = measurements

        async def run() -> None:
            if isinstance(source, PlxContinuous):
                while True:
                    await self.send_continuous(source)
                    await asyncio.sleep(interval)
            for measurement in source:
                await self.send_continuous(measurement)
                await asyncio.sleep(interval)

        self._continuous_task = self.spawn(run())

    def stop_continuous(self) -> None:
        if self._continuous_task is not None:
            self._continuous_task.cancel()
            self._continuous_task = None

    # -- GATT ----------------------------------------------------------------------------------

    def advertised_service_uuids(self) -> Sequence[int]:
        return (PLX_SERVICE_16,)

    def build_services(self) -> Sequence[gatt.Service]:
        Properties = gatt.Characteristic.Properties
        readable = SECURE_READ if self.requires_bonding else att.Attribute.Permissions.READABLE
        writable = SECURE_WRITE if self.requires_bonding else att.Attribute.Permissions.WRITEABLE
        self._spot_check = gatt.Characteristic(
            _uuid(PLX_SPOT_CHECK_UUID), Properties.INDICATE, readable | writable, self.faultable_value(PLX_SPOT_CHECK_UUID)
        )
        self._continuous = gatt.Characteristic(
            _uuid(PLX_CONTINUOUS_UUID), Properties.NOTIFY, readable | writable, self.faultable_value(PLX_CONTINUOUS_UUID)
        )
        features = gatt.Characteristic(
            _uuid(PLX_FEATURES_UUID),
            Properties.READ,
            readable,
            self.faultable_value(PLX_FEATURES_UUID, lambda: encode_features(self.features)),
        )
        plx_characteristics = [self._spot_check, self._continuous, features]
        if self.spot_check_storage:
            self._racp = gatt.Characteristic(
                _uuid(RACP_UUID),
                Properties.WRITE | Properties.INDICATE,
                readable | writable,
                gatt.CharacteristicValue(write=self._on_racp_write),
            )
            plx_characteristics.append(self._racp)
        plx = gatt.Service(_uuid("00001822-0000-1000-8000-00805f9b34fb"), plx_characteristics)

        def text(uuid: str, value: str) -> gatt.Characteristic:
            return gatt.Characteristic(
                _uuid(uuid),
                Properties.READ,
                att.Attribute.Permissions.READABLE,
                self.faultable_value(uuid, lambda: value.encode("utf-8")),
            )

        dis = gatt.Service(
            _uuid("0000180a-0000-1000-8000-00805f9b34fb"),
            [
                text(MANUFACTURER_NAME_UUID, self.manufacturer),
                text(MODEL_NUMBER_UUID, self.model),
                text(SERIAL_NUMBER_UUID, self.serial),
                text(FIRMWARE_REVISION_UUID, self.firmware),
                gatt.Characteristic(
                    _uuid(SYSTEM_ID_UUID),
                    Properties.READ,
                    att.Attribute.Permissions.READABLE,
                    self.faultable_value(SYSTEM_ID_UUID, lambda: encode_system_id(self.system_id)),
                ),
            ],
        )
        return [dis, plx]

    def configure_gatt(self, device: Device) -> None:
        if self._racp is not None and self.requires_bonding:
            racp_cccd = self.cccd_of(self._racp)
            assert racp_cccd is not None
            racp_cccd.permissions |= SECURE_READ | SECURE_WRITE
        for characteristic, uuid in ((self._spot_check, PLX_SPOT_CHECK_UUID), (self._continuous, PLX_CONTINUOUS_UUID)):
            cccd = self.cccd_of(characteristic)
            assert cccd is not None
            if self.requires_bonding:
                cccd.permissions |= SECURE_READ | SECURE_WRITE
            original = cccd.value
            assert isinstance(original, att.AttributeValueV2)
            cccd.value = att.AttributeValueV2(read=original.read, write=self.faultable_cccd_write(uuid, original))

    # -- connection behaviour ------------------------------------------------------------------

    def on_connected(self, connection: Connection) -> None:
        self._per_connection[connection.handle] = 0

    def on_disconnected(self, connection: Connection, reason: int) -> None:
        self._indicating.pop(connection.handle, None)
        self._per_connection.pop(connection.handle, None)
        self._racp_indicating.discard(connection.handle)
        self._aborting.discard(connection.handle)
        procedure = self._procedures.pop(connection.handle, None)
        if procedure is not None:
            procedure.cancel()

    def on_subscription(self, connection: Connection, characteristic: gatt.Characteristic, notify: bool, indicate: bool) -> None:
        if characteristic is self._racp:
            if indicate:
                self._racp_indicating.add(connection.handle)
            else:
                self._racp_indicating.discard(connection.handle)
            return
        if characteristic is self._continuous:
            (self.continuous_subscribers.add if notify else self.continuous_subscribers.discard)(connection.handle)
            return
        if characteristic is not self._spot_check:
            return
        if not indicate:
            self._indicating.pop(connection.handle, None)
            return
        first = connection.handle not in self._indicating
        self._indicating[connection.handle] = connection
        if first and not self.spot_check_storage:  # with storage, records wait for a RACP request
            self.spawn(self._send_stored(connection))

    # -- RACP (spot-check storage) -------------------------------------------------------------

    def _on_racp_write(self, connection: Connection, value: bytes) -> None:
        value = bytes(value)
        self.racp_requests.append(value)
        handle = connection.handle
        if handle not in self._racp_indicating:
            raise att.ATT_Error(ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED)
        try:
            request = parse_request(value)
        except MalformedPacket:
            response = RacpGeneralResponse(value[0] if value else 0, RacpResponseCode.INVALID_OPERATOR)
            self.spawn(self._indicate_racp(connection, response))
            return
        if request.op_code == RacpOpCode.ABORT_OPERATION:
            self.spawn(self._abort(connection))
            return
        if handle in self._procedures:
            raise att.ATT_Error(ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS)
        if request.op_code == RacpOpCode.REPORT_STORED_RECORDS and handle not in self._indicating:
            raise att.ATT_Error(ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED)
        self._aborting.discard(handle)
        self._procedures[handle] = self.spawn(self._procedure(connection, request))

    async def _abort(self, connection: Connection) -> None:
        running = self._procedures.get(connection.handle)
        if running is not None:
            self._aborting.add(connection.handle)
            try:
                await running
            except asyncio.CancelledError:
                pass
        await self._indicate_racp(connection, RacpGeneralResponse(RacpOpCode.ABORT_OPERATION, RacpResponseCode.SUCCESS))

    async def _procedure(self, connection: Connection, request: RacpRequest) -> None:
        try:
            response = await self._perform(connection, request)
            if response is not None:
                await self._indicate_racp(connection, response)
        finally:
            self._procedures.pop(connection.handle, None)

    async def _perform(self, connection: Connection, request: RacpRequest) -> RacpResponse | None:
        op_code = request.op_code
        if op_code not in (
            RacpOpCode.REPORT_STORED_RECORDS,
            RacpOpCode.DELETE_STORED_RECORDS,
            RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        ):
            return RacpGeneralResponse(op_code, RacpResponseCode.OP_CODE_NOT_SUPPORTED)
        operator = request.operator
        if not isinstance(operator, RacpOperator) or operator == RacpOperator.NULL:
            return RacpGeneralResponse(op_code, RacpResponseCode.INVALID_OPERATOR)
        if operator not in (RacpOperator.ALL_RECORDS, RacpOperator.FIRST_RECORD, RacpOperator.LAST_RECORD):
            return RacpGeneralResponse(op_code, RacpResponseCode.OPERATOR_NOT_SUPPORTED)
        if request.operand:
            return RacpGeneralResponse(op_code, RacpResponseCode.INVALID_OPERAND)
        records = list(self.records)
        selected = records if operator == RacpOperator.ALL_RECORDS else records[:1] if operator == RacpOperator.FIRST_RECORD else records[-1:]
        if op_code == RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            return RacpNumberOfRecords(len(selected))
        if not selected:
            return RacpGeneralResponse(op_code, RacpResponseCode.NO_RECORDS_FOUND)
        if op_code == RacpOpCode.DELETE_STORED_RECORDS:
            doomed = {id(r) for r in selected}
            self.records = [r for r in self.records if id(r) not in doomed]
            return RacpGeneralResponse(op_code, RacpResponseCode.SUCCESS)
        for record in selected:
            if connection.handle in self._aborting:
                return None  # the abort answers for both
            if not await self._indicate(connection, self._stored_bytes(record)):
                return None
            if await self._hang_up_if_done(connection):
                return None
        return RacpGeneralResponse(op_code, RacpResponseCode.SUCCESS)

    async def _indicate_racp(self, connection: Connection, response: RacpResponse) -> None:
        device = self.device
        if device is None or self._racp is None or connection.handle not in self._racp_indicating:
            return
        try:
            await device.indicate_subscriber(connection, self._racp, encode_response(response))
        except Exception as error:  # noqa: BLE001 - a lost link: the central never heard
            logger.info("%s: RACP response not confirmed: %r", self.name, error)

    async def _send_stored(self, connection: Connection) -> None:
        for record in list(self.records):
            if connection.handle not in self._indicating:
                return
            if not await self._indicate(connection, self._stored_bytes(record)):
                return
            if self.forget_after_send and record in self.records:
                self.records.remove(record)
            if await self._hang_up_if_done(connection):
                return

    @staticmethod
    def _stored_bytes(record: PlxSpotCheck | _RawRecord) -> bytes:
        """A stored record as indicated: with the from-storage status bit."""
        if isinstance(record, _RawRecord):
            return record.data
        raw = record.measurement_status.raw if record.measurement_status is not None else 0
        return encode_spot_check(replace(record, measurement_status=PlxMeasurementStatus.from_raw(raw | _FROM_STORAGE)))

    async def _send_live(self, connection: Connection, data: bytes) -> None:
        if await self._indicate(connection, data):
            await self._hang_up_if_done(connection)

    async def _indicate(self, connection: Connection, data: bytes) -> bool:
        """Indicate and wait for the confirmation; False when it was not confirmed."""
        device = self.device
        if device is None or connection.handle not in self._indicating:
            return False
        async with self._send_lock:
            try:
                await device.indicate_subscriber(connection, self._spot_check, data)
            except Exception as error:  # noqa: BLE001 - a lost link, a timeout: not confirmed
                logger.info("%s: indication not confirmed: %r", self.name, error)
                return False
            if connection.handle not in self._per_connection:
                return False  # disconnected while waiting
            self.indications_sent += 1
            self._per_connection[connection.handle] += 1
        return True

    async def _hang_up_if_done(self, connection: Connection) -> bool:
        """Disconnect once `disconnect_after` indications went over this connection."""
        limit = self._disconnect_after
        if limit is None or self._per_connection.get(connection.handle, 0) < limit:
            return False
        if connection.handle in self._per_connection:
            await connection.disconnect()
        return True


def status(**flags: bool) -> PlxMeasurementStatus:
    """Shorthand: `status(questionable=True)`."""
    return PlxMeasurementStatus.from_flags(**flags)


def device_status(**flags: bool) -> PlxDeviceSensorStatus:
    """Shorthand: `device_status(sensor_displaced=True)`."""
    return PlxDeviceSensorStatus.from_flags(**flags)


__all__ = ["DEFAULT_FEATURES", "EmulatedPulseOximeter", "device_status", "status"]
