"""Blood pressure monitors (Blood Pressure Service 0x1810): the standard driver, A&D UA-651BLE and
Omron BLEsmart; and the session flow every standard-profile driver shares (BP, scales, thermometers).

A Blood Pressure Measurement indication becomes ONE `Reading` of kind BLOOD_PRESSURE whose
components are systolic, diastolic and mean arterial pressure in mm[Hg] (a kPa monitor is
converted here: 1 kPa = 7.50062 mmHg, rounded to whole mm[Hg], the resolution a cuff reports), plus
a CUFF_PULSE_RATE reading when the monitor sent a pulse rate. A special value (an "Err" shown
as NaN, never 2047) leaves its component without a number, with the reason. The measurement
status bits become quality flags; the values are kept (the patient is told to measure again, the
nurse sees why). The user number (Omron's user 1/2) is `Reading.device_user`; 255 "unknown" is
None. The byte -> reading mapping is the pure function `bp_readings`.

Intermediate Cuff Pressure notifications (live cuff pressure while the cuff inflates) are never
stored: each becomes an event `("cuff-pressure", {"address", "pressure", "unit"})` for the
patient's screen, through the `on_event` callback the driver was given.

The shared session flow (`StandardHealthDriver.start`): Device Information for identity, then
the device clock (Current Time 0x2A2B, else Date Time 0x2A08 wherever the device put it) read
once, which gives every reading of the session its `device_clock_offset` (hub clock - device
clock); then, by the driver's `ClockPolicy`, the clock is set; then the measurements are
subscribed to (devices send what they stored as soon as the hub subscribes). Reading the clock
before setting it matters: stored records were stamped by the old clock.

Device time rules (`time_fields`), never guessing:
* a timestamp the device sent as "unknown" (all zero), a device clock that reads "unknown" or a
  time before 2020, or a record stamped before 2020: DEVICE_CLOCK_NOT_SET and TIME_QUESTIONABLE
  (the hub then places the reading at its reception and says the time is uncertain);
* otherwise a reading whose time, corrected by the offset, lies more than two minutes before its
  reception came out of the device's memory (FROM_STORAGE): the hub places it at its corrected
  device time. These profiles have no "from storage" bit; this is the substitute.

Vendor drivers:
* A&D UA-651BLE: Date Time 2A08 inside the BP service, written with the hub's clock at every
  connection; custom service 233BF000-...; bonding (the link pairs on the first "insufficient
  authentication"); it sends its unsent readings and then disconnects by itself.
* Omron BLEsmart_...: standard BP + Current Time Service; one bond only; some models need the
  bond before service discovery, so the driver asks the link to pair first
  (`pair_before_discovery`); the clock is written through CTS only when it is off by more than
  five minutes (or not set). Nothing here ever removes a bond.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.exc import BleakError

from drivers.devices.base import Advertisement, Driver, Matcher, Session, normalize_uuid
from drivers.devices.pulse_oximeter import read_device_identity
from drivers.gatt import MalformedPacket
from drivers.gatt.blood_pressure import (
    BLOOD_PRESSURE_FEATURE_UUID,
    BLOOD_PRESSURE_MEASUREMENT_UUID,
    BLOOD_PRESSURE_SERVICE_UUID,
    INTERMEDIATE_CUFF_PRESSURE_UUID,
    UNKNOWN_USER,
    BloodPressureFeature,
    BloodPressureMeasurement,
    PulseRateRange,
    parse_bp_feature,
    parse_bp_measurement,
    parse_intermediate_cuff_pressure,
)
from drivers.gatt.current_time import CURRENT_TIME_UUID, CurrentTime, encode_current_time, parse_current_time
from drivers.gatt.datetime import encode_date_time, parse_date_time
from drivers.gatt.ieee11073 import Number, SpecialValue
from hub.domain.readings import AbsentReason, Component, DeviceIdentity, MeasurementKind, QualityFlag, Reading

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

logger = logging.getLogger(__name__)

EventCallback = Callable[[str, dict[str, Any]], None]

MMHG = "mm[Hg]"
PULSE_RATE_UNIT = "/min"
KPA_IN_MMHG = Decimal("7.50062")
CUFF_PRESSURE_EVENT = "cuff-pressure"

DATE_TIME_UUID = "00002a08-0000-1000-8000-00805f9b34fb"
AND_CUSTOM_SERVICE_UUID = "233bf000-5a34-1b6d-975c-000d5690abe4"

CLOCK_PLAUSIBLE_FROM = datetime(2020, 1, 1)
"""A device clock (or a record's stamp) before this was never set, or was reset: not a time."""
STORED_AFTER = timedelta(minutes=2)
"""A reading placed this much before its reception came out of the device's memory."""
CLOCK_TOLERANCE = timedelta(minutes=5)
"""Drift a device clock may have before the hub sets it (when its policy is WHEN_DRIFTED)."""

ABSENT_REASONS = {
    SpecialValue.NAN: AbsentReason.NOT_A_NUMBER,
    SpecialValue.NRES: AbsentReason.NOT_AT_THIS_RESOLUTION,
    SpecialValue.POSITIVE_INFINITY: AbsentReason.POSITIVE_INFINITY,
    SpecialValue.NEGATIVE_INFINITY: AbsentReason.NEGATIVE_INFINITY,
    SpecialValue.RESERVED: AbsentReason.RESERVED,
}

_NOT_SET = frozenset({QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE})


# --- device clocks (shared with the scale and thermometer drivers) ------------------------------


def system_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def wall_clock(now: datetime, zone: tzinfo) -> datetime:
    """The hub's aware time as the naive wall-clock time a device clock shows in `zone`."""
    return now.astimezone(zone).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """A device's clock as read once in a session.

    `device_time` is the naive wall-clock time it showed (None: it said "unknown"), `read_at`
    the hub's aware time of the read, `local_zone` the zone device clocks are kept in.
    """

    device_time: datetime | None
    read_at: datetime
    local_zone: tzinfo
    characteristic: str = CURRENT_TIME_UUID

    @property
    def is_set(self) -> bool:
        return self.device_time is not None and self.device_time >= CLOCK_PLAUSIBLE_FROM

    @property
    def offset(self) -> timedelta | None:
        """hub clock - device clock in whole seconds (a device shows whole seconds, cut, so the
        fraction is the hub's), or None when the clock is not set."""
        if not self.is_set:
            return None
        assert self.device_time is not None
        exact = self.read_at - self.device_time.replace(tzinfo=self.local_zone)
        return timedelta(seconds=math.floor(exact.total_seconds()))

    def needs_setting(self, tolerance: timedelta) -> bool:
        offset = self.offset
        return offset is None or abs(offset) > tolerance


def time_fields(
    timestamp: datetime | None,
    timestamp_present: bool,
    *,
    received_at: datetime,
    clock: DeviceClock | None,
    local_zone: tzinfo,
) -> tuple[datetime | None, frozenset[QualityFlag], timedelta | None]:
    """(device_time, time flags, device_clock_offset) for a reading. Pure; see the module doc."""
    offset = clock.offset if clock is not None else None
    if timestamp is None:
        return None, (_NOT_SET if timestamp_present else frozenset()), offset
    if timestamp < CLOCK_PLAUSIBLE_FROM or (clock is not None and not clock.is_set):
        return timestamp, _NOT_SET, offset
    placed = timestamp.replace(tzinfo=local_zone) + (offset or timedelta(0))
    if placed < received_at - STORED_AFTER:
        return timestamp, frozenset({QualityFlag.FROM_STORAGE}), offset
    return timestamp, frozenset(), offset


def value_or_reason(number: Number) -> tuple[float | None, AbsentReason | None]:
    if isinstance(number, SpecialValue):
        return None, ABSENT_REASONS[number]
    return float(number), None


def device_user(user_id: int | None) -> int | None:
    """The device's user number; 255 ("unknown user") is None."""
    return None if user_id is None or user_id == UNKNOWN_USER else user_id


class ClockPolicy(enum.Enum):
    NEVER = "never"
    WHEN_DRIFTED = "when-drifted"  # not set, or off by more than the tolerance
    ALWAYS = "always"  # at every connection (A&D)


def find_characteristic(client: BleakClient, uuid: str) -> BleakGATTCharacteristic | None:
    return client.services.get_characteristic(uuid)


def _writable(characteristic: BleakGATTCharacteristic) -> bool:
    return bool({"write", "write-without-response"} & set(characteristic.properties))


class StandardHealthDriver(Driver):
    """The session flow shared by the standard-profile drivers; subclasses implement `subscribe`.

    `local_zone`: the zone device clocks are kept in (the hub's; default the system's).
    `on_event`: live events for the UI (e.g. cuff pressure), same signature as the link's.
    `clock_trusted`: whether the hub's own clock may be written into a device (a Pi before NTP
    must not spread its wrong time); default always.
    """

    clock_policy: ClassVar[ClockPolicy] = ClockPolicy.WHEN_DRIFTED
    clock_characteristics: ClassVar[tuple[str, ...]] = (CURRENT_TIME_UUID, DATE_TIME_UUID)
    pair_before_discovery: ClassVar[bool] = False

    def __init__(
        self,
        *,
        local_zone: tzinfo | None = None,
        on_event: EventCallback | None = None,
        clock_tolerance: timedelta = CLOCK_TOLERANCE,
        clock_trusted: Callable[[], bool] | None = None,
    ) -> None:
        self._local_zone = local_zone
        self.on_event = on_event
        self.clock_tolerance = clock_tolerance
        self._clock_trusted = clock_trusted
        self.clocks: dict[str, DeviceClock] = {}  # by address: the last clock read (diagnostics)

    @property
    def local_zone(self) -> tzinfo:
        return self._local_zone or system_zone()

    async def start(self, client: BleakClient, advertisement: Advertisement, session: Session) -> DeviceIdentity:
        identity = await read_device_identity(client, advertisement)
        session.identify(identity)
        await self.prepare(client, identity, session)
        clock = await self.read_clock(client, identity, session)
        if clock is not None:
            self.clocks[identity.address] = clock
            await self.set_clock_if_needed(client, identity, session, clock)
        await self.subscribe(client, identity, session, clock)
        return identity

    async def prepare(self, client: BleakClient, identity: DeviceIdentity, session: Session) -> None:
        """Read what the session needs before the clock (features, fixed settings)."""

    async def subscribe(
        self, client: BleakClient, identity: DeviceIdentity, session: Session, clock: DeviceClock | None
    ) -> None:
        raise NotImplementedError

    # -- clock ---------------------------------------------------------------------------------

    async def read_optional(self, client: BleakClient, uuid: str, identity: DeviceIdentity) -> bytes | None:
        """Read a characteristic the session can do without: None when absent or unreadable."""
        characteristic = find_characteristic(client, uuid)
        if characteristic is None or "read" not in characteristic.properties:
            return None
        try:
            return bytes(await client.read_gatt_char(uuid))
        except BleakError as error:
            if not client.is_connected:
                raise
            logger.warning("%s: %s not readable: %s", identity.address, uuid[4:8], error)
            return None

    async def read_clock(self, client: BleakClient, identity: DeviceIdentity, session: Session) -> DeviceClock | None:
        for uuid in self.clock_characteristics:
            data = await self.read_optional(client, uuid, identity)
            if data is None:
                continue
            try:
                shown = parse_current_time(data).time if uuid == CURRENT_TIME_UUID else parse_date_time(data)
            except MalformedPacket as error:
                logger.warning("%s: device clock unreadable: %s", identity.address, error)
                return None
            return DeviceClock(device_time=shown, read_at=session.now(), local_zone=self.local_zone, characteristic=uuid)
        return None

    def _should_set(self, clock: DeviceClock) -> bool:
        if self.clock_policy is ClockPolicy.NEVER:
            return False
        if self._clock_trusted is not None and not self._clock_trusted():
            return False
        return self.clock_policy is ClockPolicy.ALWAYS or clock.needs_setting(self.clock_tolerance)

    async def set_clock_if_needed(
        self, client: BleakClient, identity: DeviceIdentity, session: Session, clock: DeviceClock
    ) -> bool:
        """Write the hub's wall-clock time into the characteristic the clock was read from."""
        characteristic = find_characteristic(client, clock.characteristic)
        if characteristic is None or not _writable(characteristic) or not self._should_set(clock):
            return False
        now = wall_clock(session.now(), self.local_zone)
        if clock.characteristic == CURRENT_TIME_UUID:
            data = encode_current_time(CurrentTime.from_datetime(now, external_reference_time_update=True))
        else:
            data = encode_date_time(now)
        try:
            await client.write_gatt_char(clock.characteristic, data, response=True)
        except BleakError as error:
            if not client.is_connected:
                raise
            logger.warning("%s: device clock not set: %s", identity.address, error)
            return False
        logger.info("%s: device clock set (it was off by %s)", identity.address, clock.offset)
        return True

    def emit(self, name: str, details: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(name, details)
        except Exception:  # noqa: BLE001 - the UI must not break a session
            logger.exception("event callback failed for %s", name)


# --- blood pressure: bytes -> readings (pure) ---------------------------------------------------


def to_mmhg(value: float, kpa: bool) -> float:
    """A pressure in mm[Hg]; kPa converted and rounded to whole mm[Hg]."""
    if not kpa:
        return value
    return float((Decimal(repr(value)) * KPA_IN_MMHG).quantize(Decimal(1), ROUND_HALF_UP))


_STATUS_FLAGS = (
    ("body_movement", QualityFlag.BODY_MOVEMENT),
    ("cuff_too_loose", QualityFlag.CUFF_LOOSE),
    ("irregular_pulse", QualityFlag.IRREGULAR_PULSE),
    ("improper_measurement_position", QualityFlag.IMPROPER_POSITION),
)


def bp_status_flags(measurement: BloodPressureMeasurement) -> frozenset[QualityFlag]:
    status = measurement.measurement_status
    if status is None:
        return frozenset()
    flags = {flag for name, flag in _STATUS_FLAGS if getattr(status, name)}
    if status.pulse_rate_range is not PulseRateRange.WITHIN_RANGE:
        flags.add(QualityFlag.PULSE_RATE_OUT_OF_RANGE)
    return frozenset(flags)


def _pressure(kind: MeasurementKind, number: Number, kpa: bool) -> Component:
    value, absent = value_or_reason(number)
    return Component(kind=kind, value=None if value is None else to_mmhg(value, kpa), unit=MMHG, absent_reason=absent)


def bp_readings(
    measurement: BloodPressureMeasurement,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    clock: DeviceClock | None = None,
    local_zone: tzinfo,
) -> list[Reading]:
    """The blood pressure panel and, when sent, the cuff pulse rate of one measurement. Pure."""
    device_time, time_flags, offset = time_fields(
        measurement.timestamp,
        measurement.timestamp_present,
        received_at=received_at,
        clock=clock,
        local_zone=local_zone,
    )
    flags = bp_status_flags(measurement) | time_flags
    common: dict[str, Any] = {
        "received_at": received_at,
        "device": device,
        "device_time": device_time,
        "flags": flags,
        "device_user": device_user(measurement.user_id),
        "device_clock_offset": offset,
    }
    readings = [
        Reading(
            kind=MeasurementKind.BLOOD_PRESSURE,
            value=None,
            unit=MMHG,
            components=(
                _pressure(MeasurementKind.SYSTOLIC_PRESSURE, measurement.systolic, measurement.kpa),
                _pressure(MeasurementKind.DIASTOLIC_PRESSURE, measurement.diastolic, measurement.kpa),
                _pressure(MeasurementKind.MEAN_ARTERIAL_PRESSURE, measurement.mean_arterial_pressure, measurement.kpa),
            ),
            **common,
        )
    ]
    if measurement.pulse_rate is not None:
        value, absent = value_or_reason(measurement.pulse_rate)
        readings.append(
            Reading(kind=MeasurementKind.CUFF_PULSE_RATE, value=value, unit=PULSE_RATE_UNIT, absent_reason=absent, **common)
        )
    return readings


def readings_from_bp_bytes(
    data: bytes,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    clock: DeviceClock | None = None,
    local_zone: tzinfo,
) -> list[Reading]:
    """Bytes of one Blood Pressure Measurement indication -> readings. `MalformedPacket` if malformed."""
    return bp_readings(
        parse_bp_measurement(data), device=device, received_at=received_at, clock=clock, local_zone=local_zone
    )


def cuff_pressure_from_bytes(data: bytes) -> float | None:
    """The live cuff pressure (mm[Hg]) of an Intermediate Cuff Pressure notification; None for a
    special value. `MalformedPacket` if malformed."""
    measurement = parse_intermediate_cuff_pressure(data)
    value, _ = value_or_reason(measurement.cuff_pressure)
    return None if value is None else to_mmhg(value, measurement.kpa)


# --- blood pressure drivers ---------------------------------------------------------------------


class BloodPressureDriver(StandardHealthDriver):
    """Any monitor with the standard Blood Pressure Service."""

    name: ClassVar[str] = "bp-standard"
    family: ClassVar[str] = "blood-pressure"  # the device family the patient measures with (hub.api.DeviceFamily)
    matcher: ClassVar[Matcher] = Matcher(service_uuids=frozenset({BLOOD_PRESSURE_SERVICE_UUID}))

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.features: dict[str, BloodPressureFeature] = {}  # by address, last read

    async def prepare(self, client: BleakClient, identity: DeviceIdentity, session: Session) -> None:
        data = await self.read_optional(client, BLOOD_PRESSURE_FEATURE_UUID, identity)
        if data is None:
            return
        try:
            self.features[identity.address] = parse_bp_feature(data)
        except MalformedPacket as error:
            logger.warning("%s: %s", identity.address, error)

    async def subscribe(
        self, client: BleakClient, identity: DeviceIdentity, session: Session, clock: DeviceClock | None
    ) -> None:
        zone = self.local_zone

        def on_cuff_pressure(_: BleakGATTCharacteristic, data: bytearray) -> None:
            session.touch()  # inflating: the session is alive
            try:
                pressure = cuff_pressure_from_bytes(bytes(data))
            except MalformedPacket as error:
                logger.warning("%s: cuff pressure skipped: %s", identity.address, error)
                return
            if pressure is not None:
                self.emit(CUFF_PRESSURE_EVENT, {"address": identity.address, "pressure": pressure, "unit": MMHG})

        def on_measurement(_: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                readings = readings_from_bp_bytes(
                    bytes(data), device=identity, received_at=session.now(), clock=clock, local_zone=zone
                )
            except MalformedPacket as error:  # names the defect, never the values
                logger.warning("%s: blood pressure skipped: %s", identity.address, error)
                session.skip()
                return
            for reading in readings:
                session.deliver(reading)

        if find_characteristic(client, INTERMEDIATE_CUFF_PRESSURE_UUID) is not None:
            try:
                await client.start_notify(INTERMEDIATE_CUFF_PRESSURE_UUID, on_cuff_pressure)
            except BleakError as error:  # live feedback only: the measurement still comes
                if not client.is_connected:
                    raise
                logger.warning("%s: no live cuff pressure: %s", identity.address, error)
        await client.start_notify(BLOOD_PRESSURE_MEASUREMENT_UUID, on_measurement)


def _advertises(advertisement: Advertisement, uuid: str) -> bool:
    return normalize_uuid(uuid) in advertisement.service_uuids


class AndBloodPressureDriver(BloodPressureDriver):
    """A&D UA-651BLE: its clock (Date Time 2A08 in the BP service) is set at every connection."""

    name: ClassVar[str] = "and-ua-651ble"
    matcher: ClassVar[Matcher] = Matcher(local_name=r"A&D_UA-651.*", example_name="A&D_UA-651_5B0A12")
    clock_policy: ClassVar[ClockPolicy] = ClockPolicy.ALWAYS
    clock_characteristics: ClassVar[tuple[str, ...]] = (DATE_TIME_UUID, CURRENT_TIME_UUID)

    def matches(self, advertisement: Advertisement) -> bool:
        # By its name, or by the A&D service beside the BP service (whatever it is called).
        if self.matcher.matches(advertisement):
            return True
        return (
            advertisement.connectable is not False
            and _advertises(advertisement, AND_CUSTOM_SERVICE_UUID)
            and _advertises(advertisement, BLOOD_PRESSURE_SERVICE_UUID)
        )


class OmronBloodPressureDriver(BloodPressureDriver):
    """Omron BLEsmart_...: pairs before discovery, sets its CTS clock only when it drifted."""

    name: ClassVar[str] = "omron-blesmart"
    matcher: ClassVar[Matcher] = Matcher(local_name=r"BLEsmart_.+", example_name="BLEsmart_00000116D4A1B2C3D4E5")
    clock_policy: ClassVar[ClockPolicy] = ClockPolicy.WHEN_DRIFTED
    clock_characteristics: ClassVar[tuple[str, ...]] = (CURRENT_TIME_UUID,)
    pair_before_discovery: ClassVar[bool] = True


__all__ = [
    "AND_CUSTOM_SERVICE_UUID",
    "CLOCK_PLAUSIBLE_FROM",
    "CLOCK_TOLERANCE",
    "CUFF_PRESSURE_EVENT",
    "DATE_TIME_UUID",
    "KPA_IN_MMHG",
    "MMHG",
    "PULSE_RATE_UNIT",
    "STORED_AFTER",
    "AndBloodPressureDriver",
    "BloodPressureDriver",
    "ClockPolicy",
    "DeviceClock",
    "OmronBloodPressureDriver",
    "StandardHealthDriver",
    "bp_readings",
    "bp_status_flags",
    "cuff_pressure_from_bytes",
    "device_user",
    "find_characteristic",
    "readings_from_bp_bytes",
    "time_fields",
    "to_mmhg",
    "value_or_reason",
    "wall_clock",
]
