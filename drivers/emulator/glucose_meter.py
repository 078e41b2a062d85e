"""Emulated blood glucose meters: Glucose service (0x1808) with a meter memory behind a real
Record Access Control Point, Device Information, and the clock each model exposes.

`EmulatedGlucoseMeter` is a standard meter:
* Glucose Measurement (0x2A18, notify), Glucose Measurement Context (0x2A34, notify), Glucose
  Feature (0x2A51, read) and RACP (0x2A52, write + indicate);
* RACP as the Glucose Profile describes it: report stored records, delete stored records, abort,
  report number of stored records; operators all / ≤ / ≥ / within range / first / last, with
  sequence-number (0x01) and user-facing-time (0x02) filters; response codes including "no
  records found"; ATT error 0x81 (CCCD improperly configured) when RACP is written before its
  indications (or, for a report, the measurement notifications) are enabled, and 0x80
  (procedure already in progress) when a second request arrives while one runs;
* records are notified oldest first: the measurement, then its context when it has one (the
  measurement's "context follows" flag says so);
* the meter's clock: optionally the Current Time Service (0x1805), optionally a Date Time
  (0x2A08) characteristic inside the Glucose service, optionally a vendor clock; all of them
  show (and set) the same clock, `device_time()`;
* passkey bonding: with `requires_bonding` (default) every Glucose and clock characteristic and
  CCCD needs an encrypted, authenticated link; the meter shows `passkey`.

Scripting: `add_record(...)` (sequence numbers count up from `next_sequence`; give `sequence=`
to choose), `add_raw_record(bytes, sequence=...)` for a malformed packet,
`clear_memory(restart_sequence_at=1)`, `disconnect_after(n)` records (an interrupted download),
`drift` / `clock_set` for the clock. `racp_requests`, `records_sent`, `sent_sequences` and
`clock_writes` tell a test what the hub asked for and got.

Variants of real meters: `EmulatedContourNextOne` and `EmulatedAccuChekGuide` (see there for
what is known and what is guessed about each).

All bytes come from the codecs in `drivers.gatt`, never by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bumble import att, gatt
from bumble.core import UUID
from bumble.device import Connection, Device

from drivers.emulator.peripheral import SECURE_READ, SECURE_WRITE, EmulatedPeripheral
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
from drivers.gatt.glucose import (
    GLUCOSE_FEATURE_UUID,
    GLUCOSE_MEASUREMENT_CONTEXT_UUID,
    GLUCOSE_MOLAR_MASS,
    GLUCOSE_MEASUREMENT_UUID,
    GLUCOSE_SERVICE_UUID,
    GlucoseConcentrationUnit,
    GlucoseFeature,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    GlucoseSampleLocation,
    GlucoseSampleType,
    GlucoseSensorStatus,
    Meal,
    encode_glucose_context,
    encode_glucose_feature,
    encode_glucose_measurement,
)
from drivers.gatt.ieee11073 import Number, SpecialValue
from drivers.gatt.racp import (
    ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED,
    ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS,
    RACP_UUID,
    RacpFilterType,
    RacpGeneralResponse,
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
    encode_response,
    parse_request,
    parse_sequence_number_operand,
    parse_user_facing_time_operand,
)
from drivers.protocol.glucose_clock import CONTOUR_CLOCK_UUID, DATE_TIME_UUID

logger = logging.getLogger(__name__)

GLUCOSE_SERVICE_16 = 0x1808
DEVICE_INFORMATION_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"

# Contour Next One: the proprietary service is real (seen in open drivers, e.g. xDrip+); which
# characteristic inside it holds the clock, and its layout, are GUESSED here: a 7-byte Date
# Time, read and write. Only a real unit (or a Bluetooth log of the vendor's app) can confirm.
# The clock characteristic's UUID is shared with the driver (drivers.protocol.glucose_clock), so
# the guess is made in one place.
CONTOUR_SERVICE_UUID = "00000000-0002-11e2-9e96-0800200c9a66"

DEFAULT_GLUCOSE_FEATURE = GlucoseFeature(
    low_battery_detection=True,
    sensor_malfunction_detection=True,
    sample_size_detection=True,
    strip_insertion_error_detection=True,
    strip_type_error_detection=True,
    result_high_low_detection=True,
    temperature_high_low_detection=True,
    read_interrupt_detection=True,
    general_device_fault=True,
    time_fault=True,
    multiple_bonds=False,
)

ALL_OPERATORS = frozenset(
    {
        RacpOperator.ALL_RECORDS,
        RacpOperator.LESS_THAN_OR_EQUAL,
        RacpOperator.GREATER_THAN_OR_EQUAL,
        RacpOperator.WITHIN_RANGE,
        RacpOperator.FIRST_RECORD,
        RacpOperator.LAST_RECORD,
    }
)
_FILTERED = (RacpOperator.LESS_THAN_OR_EQUAL, RacpOperator.GREATER_THAN_OR_EQUAL, RacpOperator.WITHIN_RANGE)

Status = GlucoseSensorStatus | int | None
_MG_PER_DL_PER_MMOL = float(GLUCOSE_MOLAR_MASS) / 10  # 18.0156


def _uuid(full: str) -> UUID:
    return UUID(full)


@dataclass
class StoredGlucoseRecord:
    """One record in the meter's memory: the bytes it notifies, and what RACP filters on."""

    sequence: int
    time: datetime | None  # user-facing time (base time + offset), for time filters
    measurement: bytes
    context: bytes | None = None
    decoded: GlucoseMeasurement | None = None  # None for a raw (malformed) record


@dataclass
class _ConnectionState:
    subscriptions: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # uuid -> (notify, indicate)
    procedure: asyncio.Task[None] | None = None
    aborting: bool = False
    records_sent: int = 0


class EmulatedGlucoseMeter(EmulatedPeripheral):
    """A standard Bluetooth glucose meter with a memory (see the module docstring)."""

    def __init__(
        self,
        *,
        address: str = "F0:11:22:33:55:01",
        name: str = "Heima Glucose 1",
        manufacturer: str = "Heima Test Devices",
        model: str = "GLU-1",
        serial: str = "GLU1-000001",
        firmware: str = "1.0.0",
        system_id: str = "00A0500000000101",
        feature: GlucoseFeature = DEFAULT_GLUCOSE_FEATURE,
        requires_bonding: bool = True,
        passkey: int | None = 123456,
        context_characteristic: bool = True,
        current_time_service: bool = True,
        current_time_writable: bool = False,
        date_time_characteristic: bool = False,
        supported_operators: frozenset[RacpOperator] = ALL_OPERATORS,
        supports_delete: bool = True,
        unit: GlucoseConcentrationUnit = GlucoseConcentrationUnit.MOL_PER_L,
        clock_set: bool = True,
        drift: timedelta = timedelta(0),
        clock: Callable[[], datetime] | None = None,
        record_interval: float = 0.0,
        **peripheral_options: Any,
    ) -> None:
        """`unit`: how the meter stores concentrations (mol/L: mmol/L meters; kg/L: mg/dL
        meters). `drift`: how far the meter's clock is ahead of the host's. `record_interval`:
        seconds between records in a report (a slow meter)."""
        super().__init__(address=address, name=name, passkey=passkey, **peripheral_options)
        self.manufacturer = manufacturer
        self.model = model
        self.serial = serial
        self.firmware = firmware
        self.system_id = system_id
        self.feature = feature
        self.requires_bonding = requires_bonding
        self.context_characteristic = context_characteristic
        self.current_time_service = current_time_service
        self.current_time_writable = current_time_writable
        self.date_time_characteristic = date_time_characteristic
        self.supported_operators = supported_operators
        self.supports_delete = supports_delete
        self.unit = unit
        self.clock_set = clock_set
        self.drift = drift
        self._host_clock = clock or datetime.now
        self.record_interval = record_interval
        self.records: list[StoredGlucoseRecord] = []
        self.next_sequence = 1
        self._last_time: datetime | None = None
        self._disconnect_after: int | None = None
        self._disconnect_before_context = False
        self._states: dict[int, _ConnectionState] = {}  # connection handle -> state
        self.racp_requests: list[bytes] = []  # every write to the RACP, accepted or not
        self.records_sent = 0  # measurement notifications, over all connections
        self.sent_sequences: list[int] = []  # the sequence number of each, in order
        self.clock_writes: list[tuple[str, datetime]] = []  # (characteristic uuid, time set)

    # -- the clock -----------------------------------------------------------------------------

    def device_time(self) -> datetime | None:
        """What the meter's clock reads now (naive, whole seconds); None when it was never set."""
        if not self.clock_set:
            return None
        return (self._host_clock() + self.drift).replace(microsecond=0)

    def set_device_time(self, moment: datetime) -> None:
        """The meter's clock is set to `moment` (by the user or by a central)."""
        self.drift = moment.replace(microsecond=0, tzinfo=None) - self._host_clock().replace(microsecond=0)
        self.clock_set = True

    # -- memory --------------------------------------------------------------------------------

    def _take_sequence(self, sequence: int | None) -> int:
        number = self.next_sequence if sequence is None else sequence
        if not 0 <= number <= 0xFFFF:
            raise ValueError("a glucose sequence number is a u16")
        self.next_sequence = max(self.next_sequence, number + 1)
        return number

    def _default_time(self) -> datetime | None:
        now = self.device_time()
        if now is None:
            return None
        if self._last_time is not None and now <= self._last_time:
            now = self._last_time + timedelta(minutes=1)
        self._last_time = now
        return now

    def add_record(
        self,
        concentration: Number | None = None,
        *,
        mg_per_dl: Number | None = None,
        sequence: int | None = None,
        time: datetime | None | bool = True,
        offset: int | None = None,
        sample_type: GlucoseSampleType | int = GlucoseSampleType.CAPILLARY_WHOLE_BLOOD,
        location: GlucoseSampleLocation | int = GlucoseSampleLocation.FINGER,
        status: Status = None,
        meal: Meal | int | None = None,
        context: GlucoseMeasurementContext | None = None,
    ) -> GlucoseMeasurement:
        """Store a measurement in the meter's memory.

        `concentration` in mmol/L, or `mg_per_dl=`: the meter keeps it in its own `unit` as a
        meter of that kind would (mol/L: mmol/L to one decimal; kg/L: whole mg/dL), so a value
        given in the other unit comes back rounded. A `SpecialValue` is sent as it is; neither
        sends no concentration field at all (a record of an error only).
        `time=True` stamps the record with the meter's clock (a minute after the previous
        record if the clock has not moved on; "unknown" when the clock is not set), a datetime
        is the base time as given, None is "unknown". `offset`: the time offset field
        (minutes). `meal` (or a whole `context`) adds a context notified after the measurement.
        """
        if concentration is not None and mg_per_dl is not None:
            raise ValueError("give the concentration in mmol/L or in mg/dL, not both")
        unit = self.unit
        number = self._take_sequence(sequence)
        base_time = self._default_time() if time is True else (None if time is False else time)
        given = concentration if concentration is not None else mg_per_dl
        value: Number | None
        if given is None or isinstance(given, SpecialValue):
            value = given
        else:
            mmol = float(given) if concentration is not None else float(given) / _MG_PER_DL_PER_MMOL
            if unit is GlucoseConcentrationUnit.MOL_PER_L:
                value = round(mmol, 1) / 1000.0  # mmol/L to one decimal, as mol/L
            else:
                mgdl = float(given) if mg_per_dl is not None else mmol * _MG_PER_DL_PER_MMOL
                value = round(mgdl) / 100_000.0  # whole mg/dL, as kg/L
        if context is None and meal is not None:
            context = GlucoseMeasurementContext(sequence_number=number, meal=meal)
        if context is not None and context.sequence_number != number:
            raise ValueError("a context carries the sequence number of its measurement")
        has_context = context is not None and self.context_characteristic
        measurement = GlucoseMeasurement(
            sequence_number=number,
            base_time=base_time,
            time_offset=offset,
            concentration=value,
            concentration_unit=unit,
            sample_type=None if value is None else sample_type,
            sample_location=None if value is None else location,
            sensor_status=GlucoseSensorStatus.from_raw(status) if isinstance(status, int) else status,
            context_follows=has_context,
        )
        self.records.append(
            StoredGlucoseRecord(
                sequence=number,
                time=measurement.time,
                measurement=encode_glucose_measurement(measurement),
                context=encode_glucose_context(context) if has_context and context is not None else None,
                decoded=measurement,
            )
        )
        return measurement

    def add_raw_record(self, data: bytes, *, sequence: int | None = None, context: bytes | None = None) -> None:
        """Store bytes notified as a Glucose Measurement as they are (a malformed record).
        `sequence` is what RACP filters on (the bytes need not carry it)."""
        number = self._take_sequence(sequence)
        self.records.append(StoredGlucoseRecord(number, None, bytes(data), None if context is None else bytes(context)))

    def clear_memory(self, *, restart_sequence_at: int | None = 1) -> None:
        """The memory is erased (the user did it, or a reset). Sequence numbers restart at
        `restart_sequence_at` (None: they go on counting)."""
        self.records.clear()  # the clock goes on: later records are stamped after earlier ones
        if restart_sequence_at is not None:
            self.next_sequence = restart_sequence_at

    def disconnect_after(self, records: int | None, *, before_context: bool = False) -> None:
        """End each connection after this many records went over it in a report (None: never).
        `before_context`: hang up after the last measurement, before its context."""
        self._disconnect_after = records
        self._disconnect_before_context = before_context

    # -- GATT ----------------------------------------------------------------------------------

    def advertised_service_uuids(self) -> Sequence[int]:
        return (GLUCOSE_SERVICE_16,)

    @property
    def _readable(self) -> att.Attribute.Permissions:
        return SECURE_READ if self.requires_bonding else att.Attribute.Permissions.READABLE

    @property
    def _writable(self) -> att.Attribute.Permissions:
        return SECURE_WRITE if self.requires_bonding else att.Attribute.Permissions.WRITEABLE

    def _clock_characteristic(
        self,
        uuid: str,
        properties: gatt.Characteristic.Properties,
        encode: Callable[[datetime | None], bytes],
        decode: Callable[[bytes], datetime | None],
    ) -> gatt.Characteristic:
        def write(_connection: Connection, value: bytes) -> None:
            try:
                moment = decode(bytes(value))
            except MalformedPacket:
                raise att.ATT_Error(0x80) from None  # CTS: "data field ignored"
            if moment is None:
                raise att.ATT_Error(0x80)
            self.set_device_time(moment)
            self.clock_writes.append((uuid, moment))

        permissions = self._readable
        if properties & gatt.Characteristic.Properties.WRITE:
            permissions |= self._writable
        return gatt.Characteristic(
            _uuid(uuid), properties, permissions, self.faultable_value(uuid, lambda: encode(self.device_time()), write)
        )

    def glucose_characteristics(self) -> list[gatt.Characteristic]:
        Properties = gatt.Characteristic.Properties
        readable, writable = self._readable, self._writable
        self._measurement = gatt.Characteristic(
            _uuid(GLUCOSE_MEASUREMENT_UUID), Properties.NOTIFY, readable | writable, self.faultable_value(GLUCOSE_MEASUREMENT_UUID)
        )
        characteristics = [self._measurement]
        self._context: gatt.Characteristic | None = None
        if self.context_characteristic:
            self._context = gatt.Characteristic(
                _uuid(GLUCOSE_MEASUREMENT_CONTEXT_UUID),
                Properties.NOTIFY,
                readable | writable,
                self.faultable_value(GLUCOSE_MEASUREMENT_CONTEXT_UUID),
            )
            characteristics.append(self._context)
        characteristics.append(
            gatt.Characteristic(
                _uuid(GLUCOSE_FEATURE_UUID),
                Properties.READ,
                readable,
                self.faultable_value(GLUCOSE_FEATURE_UUID, lambda: encode_glucose_feature(self.feature)),
            )
        )
        self._racp = gatt.Characteristic(
            _uuid(RACP_UUID),
            Properties.WRITE | Properties.INDICATE,
            readable | writable,
            self.faultable_value(RACP_UUID, write=self._on_racp_write),
        )
        characteristics.append(self._racp)
        if self.date_time_characteristic:
            characteristics.append(
                self._clock_characteristic(
                    DATE_TIME_UUID, Properties.READ | Properties.WRITE, encode_date_time, parse_date_time
                )
            )
        return characteristics

    def extra_services(self) -> list[gatt.Service]:
        """Vendor services (subclasses)."""
        return []

    def build_services(self) -> Sequence[gatt.Service]:
        Properties = gatt.Characteristic.Properties

        def text(uuid: str, value: str) -> gatt.Characteristic:
            return gatt.Characteristic(
                _uuid(uuid), Properties.READ, att.Attribute.Permissions.READABLE, self.faultable_value(uuid, lambda: value.encode())
            )

        services = [
            gatt.Service(
                _uuid(DEVICE_INFORMATION_SERVICE_UUID),
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
            ),
            gatt.Service(_uuid(GLUCOSE_SERVICE_UUID), self.glucose_characteristics()),
        ]
        if self.current_time_service:
            properties = Properties.READ | Properties.NOTIFY
            if self.current_time_writable:
                properties |= Properties.WRITE

            def encode(moment: datetime | None) -> bytes:
                return encode_current_time(CurrentTime.from_datetime(moment) if moment else CurrentTime(time=None))

            services.append(
                gatt.Service(
                    _uuid(CURRENT_TIME_SERVICE_UUID),
                    [
                        self._clock_characteristic(
                            CURRENT_TIME_UUID, properties, encode, lambda data: parse_current_time(data).time
                        )
                    ],
                )
            )
        return services + self.extra_services()

    def configure_gatt(self, device: Device) -> None:
        if not self.requires_bonding:
            return
        for characteristic in (self._measurement, self._context, self._racp):
            if characteristic is None:
                continue
            cccd = self.cccd_of(characteristic)
            assert cccd is not None
            cccd.permissions |= SECURE_READ | SECURE_WRITE

    # -- connections ---------------------------------------------------------------------------

    def on_connected(self, connection: Connection) -> None:
        self._states[connection.handle] = _ConnectionState()

    def on_disconnected(self, connection: Connection, reason: int) -> None:
        state = self._states.pop(connection.handle, None)
        if state is not None and state.procedure is not None:
            state.procedure.cancel()

    def on_subscription(self, connection: Connection, characteristic: gatt.Characteristic, notify: bool, indicate: bool) -> None:
        state = self._states.get(connection.handle)
        if state is not None:
            state.subscriptions[str(characteristic.uuid).lower()] = (notify, indicate)

    def _subscribed(self, state: _ConnectionState, characteristic: gatt.Characteristic, *, indicate: bool) -> bool:
        notify_on, indicate_on = state.subscriptions.get(str(characteristic.uuid).lower(), (False, False))
        return indicate_on if indicate else notify_on

    # -- RACP ----------------------------------------------------------------------------------

    def _on_racp_write(self, connection: Connection, value: bytes) -> None:
        value = bytes(value)
        self.racp_requests.append(value)
        state = self._states.get(connection.handle)
        if state is None:
            return
        if not self._subscribed(state, self._racp, indicate=True):
            raise att.ATT_Error(ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED)
        try:
            request = parse_request(value)
        except MalformedPacket:
            op_code = value[0] if value else 0
            self.spawn(self._indicate_racp(connection, RacpGeneralResponse(op_code, RacpResponseCode.INVALID_OPERATOR)))
            return
        if request.op_code == RacpOpCode.ABORT_OPERATION:
            self.spawn(self._abort(connection, state, request))
            return
        if state.procedure is not None:
            raise att.ATT_Error(ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS)
        if request.op_code == RacpOpCode.REPORT_STORED_RECORDS and not self._subscribed(
            state, self._measurement, indicate=False
        ):
            raise att.ATT_Error(ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED)
        state.aborting = False
        state.procedure = self.spawn(self._procedure(connection, state, request))

    async def _abort(self, connection: Connection, state: _ConnectionState, request: RacpRequest) -> None:
        if request.operator != RacpOperator.NULL or request.operand:
            code = RacpResponseCode.INVALID_OPERATOR if request.operator != RacpOperator.NULL else RacpResponseCode.INVALID_OPERAND
            await self._indicate_racp(connection, RacpGeneralResponse(RacpOpCode.ABORT_OPERATION, code))
            return
        running = state.procedure
        if running is not None:
            state.aborting = True
            try:
                await running
            except asyncio.CancelledError:
                pass
        await self._indicate_racp(connection, RacpGeneralResponse(RacpOpCode.ABORT_OPERATION, RacpResponseCode.SUCCESS))

    async def _procedure(self, connection: Connection, state: _ConnectionState, request: RacpRequest) -> None:
        try:
            response = await self._perform(connection, state, request)
            if response is not None:
                await self._indicate_racp(connection, response)
        finally:
            state.procedure = None

    def _select(self, request: RacpRequest) -> list[StoredGlucoseRecord] | RacpResponseCode:
        """The records a request's operator and operand pick, or the response code refusing it."""
        operator = request.operator
        if not isinstance(operator, RacpOperator) or operator == RacpOperator.NULL:
            return RacpResponseCode.INVALID_OPERATOR
        if operator not in self.supported_operators:
            return RacpResponseCode.OPERATOR_NOT_SUPPORTED
        records = sorted(self.records, key=lambda r: r.sequence)
        if operator in _FILTERED:
            if not request.operand:
                return RacpResponseCode.INVALID_OPERAND
            if request.operand[0] == RacpFilterType.SEQUENCE_NUMBER:
                try:
                    bounds = parse_sequence_number_operand(request)
                except MalformedPacket:
                    return RacpResponseCode.INVALID_OPERAND
                if operator == RacpOperator.LESS_THAN_OR_EQUAL:
                    return [r for r in records if r.sequence <= bounds[0]]
                if operator == RacpOperator.GREATER_THAN_OR_EQUAL:
                    return [r for r in records if r.sequence >= bounds[0]]
                return [r for r in records if bounds[0] <= r.sequence <= bounds[1]]
            if request.operand[0] == RacpFilterType.USER_FACING_TIME and operator != RacpOperator.WITHIN_RANGE:
                try:
                    moment = parse_user_facing_time_operand(request)
                except MalformedPacket:
                    return RacpResponseCode.INVALID_OPERAND
                if moment is None:
                    return RacpResponseCode.INVALID_OPERAND
                timed = [r for r in records if r.time is not None]
                if operator == RacpOperator.LESS_THAN_OR_EQUAL:
                    return [r for r in timed if r.time is not None and r.time <= moment]
                return [r for r in timed if r.time is not None and r.time >= moment]
            return RacpResponseCode.OPERAND_NOT_SUPPORTED
        if request.operand:
            return RacpResponseCode.INVALID_OPERAND
        if operator == RacpOperator.ALL_RECORDS:
            return records
        if operator == RacpOperator.FIRST_RECORD:
            return records[:1]
        return records[-1:]  # LAST_RECORD

    async def _perform(self, connection: Connection, state: _ConnectionState, request: RacpRequest) -> RacpResponse | None:
        op_code = request.op_code
        if op_code not in (
            RacpOpCode.REPORT_STORED_RECORDS,
            RacpOpCode.DELETE_STORED_RECORDS,
            RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        ) or (op_code == RacpOpCode.DELETE_STORED_RECORDS and not self.supports_delete):
            return RacpGeneralResponse(op_code, RacpResponseCode.OP_CODE_NOT_SUPPORTED)
        selected = self._select(request)
        if isinstance(selected, RacpResponseCode):
            return RacpGeneralResponse(op_code, selected)
        if op_code == RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            return RacpNumberOfRecords(len(selected))
        if not selected:
            return RacpGeneralResponse(op_code, RacpResponseCode.NO_RECORDS_FOUND)
        if op_code == RacpOpCode.DELETE_STORED_RECORDS:
            doomed = {id(r) for r in selected}
            self.records = [r for r in self.records if id(r) not in doomed]
            return RacpGeneralResponse(op_code, RacpResponseCode.SUCCESS)
        for record in selected:
            if state.aborting:
                return None  # the abort answers for both
            if not await self._send_record(connection, state, record):
                return None
            if self.record_interval:
                await asyncio.sleep(self.record_interval)
        return RacpGeneralResponse(op_code, RacpResponseCode.SUCCESS)

    async def _send_record(self, connection: Connection, state: _ConnectionState, record: StoredGlucoseRecord) -> bool:
        """Notify one record (measurement, then context); False when the connection ended."""
        device = self.device
        if device is None or connection.handle not in self._states:
            return False
        await device.notify_subscriber(connection, self._measurement, record.measurement)
        state.records_sent += 1
        self.records_sent += 1
        self.sent_sequences.append(record.sequence)
        limit = self._disconnect_after
        if limit is not None and state.records_sent >= limit and self._disconnect_before_context:
            await connection.disconnect()
            return False
        if record.context is not None and self._context is not None:
            await device.notify_subscriber(connection, self._context, record.context)
        if limit is not None and state.records_sent >= limit:
            await connection.disconnect()
            return False
        return True

    async def _indicate_racp(self, connection: Connection, response: RacpResponse) -> None:
        device = self.device
        if device is None or connection.handle not in self._states:
            return
        try:
            await device.indicate_subscriber(connection, self._racp, encode_response(response))
        except Exception as error:  # noqa: BLE001 - a lost link, a timeout: the central never heard
            logger.info("%s: RACP response not confirmed: %r", self.name, error)


class EmulatedContourNextOne(EmulatedGlucoseMeter):
    """Ascensia Contour Next One, as far as open sources describe it.

    Known (open drivers and user reports): standard Glucose service with RACP; passkey bonding;
    a proprietary service `00000000-0002-11E2-9E96-0800200C9A66`; answers a RACP write with
    ATT 0x81 when RACP indications were not enabled first; a meter that reports in mg/dL (kg/L).
    xDrip+ reads the Current Time characteristic on it, so it is emulated (read-only) too.

    GUESSED: the clock characteristic inside the proprietary service (`CONTOUR_CLOCK_UUID`,
    7-byte Date Time, read + write), the advertised name pattern ("Contour" + model and serial
    digits), the Device Information strings.
    """

    def __init__(
        self,
        *,
        address: str = "F0:11:22:33:55:11",
        name: str = "Contour7830H6000001",
        manufacturer: str = "Ascensia Diabetes Care",
        model: str = "Contour Next One",
        serial: str = "7830H6000001",
        passkey: int | None = 246802,
        unit: GlucoseConcentrationUnit = GlucoseConcentrationUnit.KG_PER_L,
        **options: Any,
    ) -> None:
        options.setdefault("current_time_service", True)
        options.setdefault("current_time_writable", False)
        super().__init__(
            address=address,
            name=name,
            manufacturer=manufacturer,
            model=model,
            serial=serial,
            passkey=passkey,
            unit=unit,
            **options,
        )

    def extra_services(self) -> list[gatt.Service]:
        Properties = gatt.Characteristic.Properties
        clock = self._clock_characteristic(
            CONTOUR_CLOCK_UUID, Properties.READ | Properties.WRITE, encode_date_time, parse_date_time
        )
        return [gatt.Service(_uuid(CONTOUR_SERVICE_UUID), [clock])]


class EmulatedAccuChekGuide(EmulatedGlucoseMeter):
    """Roche Accu-Chek Guide, as far as open sources describe it.

    Known: standard Glucose service with RACP and context; passkey bonding (the meter shows a
    6-digit code in its pairing mode); mmol/L or mg/dL by market.

    GUESSED: the clock as a Date Time (0x2A08) characteristic, read + write, placed inside the
    Glucose service and no Current Time Service (the hub looks it up by UUID anywhere); the
    advertised name "meter+" and 8 serial digits (some users report "Accu-Chek"); the Device
    Information strings.
    """

    def __init__(
        self,
        *,
        address: str = "F0:11:22:33:55:21",
        name: str = "meter+06647395",
        manufacturer: str = "Roche",
        model: str = "Accu-Chek Guide",
        serial: str = "06647395",
        passkey: int | None = 135790,
        **options: Any,
    ) -> None:
        options.setdefault("current_time_service", False)
        options.setdefault("date_time_characteristic", True)
        super().__init__(
            address=address, name=name, manufacturer=manufacturer, model=model, serial=serial, passkey=passkey, **options
        )


__all__ = [
    "CONTOUR_CLOCK_UUID",
    "CONTOUR_SERVICE_UUID",
    "DATE_TIME_UUID",
    "DEFAULT_GLUCOSE_FEATURE",
    "EmulatedAccuChekGuide",
    "EmulatedContourNextOne",
    "EmulatedGlucoseMeter",
    "StoredGlucoseRecord",
]
