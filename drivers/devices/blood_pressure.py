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

The session flow and device-clock rules every standard-profile driver shares live in
`drivers.devices.health_device`.

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

import logging
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.exc import BleakError

from drivers.devices.base import Advertisement, Matcher, Session, normalize_uuid
from drivers.devices.health_device import (
    AND_CUSTOM_SERVICE_UUID,
    DATE_TIME_UUID,
    ClockPolicy,
    DeviceClock,
    StandardHealthDriver,
    device_user,
    find_characteristic,
    time_fields,
    value_or_reason,
)
from drivers.gatt import MalformedPacket
from drivers.gatt.blood_pressure import (
    BLOOD_PRESSURE_FEATURE_UUID,
    BLOOD_PRESSURE_MEASUREMENT_UUID,
    BLOOD_PRESSURE_SERVICE_UUID,
    INTERMEDIATE_CUFF_PRESSURE_UUID,
    BloodPressureFeature,
    BloodPressureMeasurement,
    PulseRateRange,
    parse_bp_feature,
    parse_bp_measurement,
    parse_intermediate_cuff_pressure,
)
from drivers.gatt.current_time import CURRENT_TIME_UUID
from drivers.gatt.ieee11073 import Number
from hub.domain.devices import DeviceFamily
from hub.domain.readings import Component, DeviceIdentity, MeasurementKind, QualityFlag, Reading

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

logger = logging.getLogger(__name__)


MMHG = "mm[Hg]"
PULSE_RATE_UNIT = "/min"
KPA_IN_MMHG = Decimal("7.50062")
CUFF_PRESSURE_EVENT = "cuff-pressure"

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
    family: ClassVar[DeviceFamily] = DeviceFamily.BLOOD_PRESSURE
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
    "CUFF_PRESSURE_EVENT",
    "KPA_IN_MMHG",
    "MMHG",
    "PULSE_RATE_UNIT",
    "AndBloodPressureDriver",
    "BloodPressureDriver",
    "OmronBloodPressureDriver",
    "bp_readings",
    "bp_status_flags",
    "cuff_pressure_from_bytes",
    "readings_from_bp_bytes",
    "to_mmhg",
]
