"""Health thermometers (Health Thermometer Service 0x1809).

A Temperature Measurement indication becomes one BODY_TEMPERATURE reading in Cel (a thermometer
set to °F is converted, to a hundredth of a degree). A special value (the "Lo", "Hi" or "Err" a
thermometer shows) is a reading without a number, with the reason. Where it was taken
(`body_site`) comes from the measurement's type field, or else from the Temperature Type
characteristic a single-site thermometer has; a reserved code gives no site. Intermediate
Temperature (the value while it settles) is not subscribed to: it is not a measurement.

The device clock (Current Time, else Date Time) and the time rules are those of every standard
health driver (`drivers.devices.blood_pressure.StandardHealthDriver`).
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from drivers.devices.base import Matcher, Session
from drivers.devices.health_device import DeviceClock, StandardHealthDriver, time_fields, value_or_reason
from drivers.gatt import MalformedPacket
from drivers.gatt.thermometer import (
    HEALTH_THERMOMETER_SERVICE_UUID,
    TEMPERATURE_MEASUREMENT_UUID,
    TEMPERATURE_TYPE_UUID,
    TemperatureMeasurement,
    TemperatureType,
    parse_temperature_measurement,
    parse_temperature_type,
)
from hub.domain.devices import DeviceFamily
from hub.domain.readings import DeviceIdentity, MeasurementKind, Reading

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

logger = logging.getLogger(__name__)

CELSIUS = "Cel"
_HUNDREDTH = Decimal("0.01")

BODY_SITES = {
    TemperatureType.ARMPIT: "armpit",
    TemperatureType.BODY: "body",
    TemperatureType.EAR: "ear",
    TemperatureType.FINGER: "finger",
    TemperatureType.GASTROINTESTINAL_TRACT: "gastro-intestinal",
    TemperatureType.MOUTH: "mouth",
    TemperatureType.RECTUM: "rectum",
    TemperatureType.TOE: "toe",
    TemperatureType.TYMPANUM: "tympanum",
}


def _to_hundredths(value: float) -> float:
    try:
        return float(Decimal(repr(value)).quantize(_HUNDREDTH, ROUND_HALF_UP))
    except InvalidOperation:  # too many digits to round (no body temperature): kept as it is
        return value


def body_site(temperature_type: TemperatureType | int | None) -> str | None:
    """The site's name, or None when not given or a reserved code."""
    if temperature_type is None or isinstance(temperature_type, bool):
        return None
    try:
        return BODY_SITES[TemperatureType(temperature_type)]
    except ValueError:
        return None


def temperature_reading(
    measurement: TemperatureMeasurement,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    clock: DeviceClock | None = None,
    local_zone: tzinfo,
    fixed_type: TemperatureType | int | None = None,
) -> Reading:
    """The body temperature of one measurement. Pure. `fixed_type`: the Temperature Type
    characteristic's value, used when the measurement carries no type of its own."""
    device_time, flags, offset = time_fields(
        measurement.timestamp,
        measurement.timestamp_present,
        received_at=received_at,
        clock=clock,
        local_zone=local_zone,
    )
    value, absent = value_or_reason(measurement.celsius)
    if value is not None and measurement.fahrenheit:
        value = _to_hundredths(value)
    site_type = measurement.temperature_type if measurement.temperature_type is not None else fixed_type
    return Reading(
        kind=MeasurementKind.BODY_TEMPERATURE,
        value=value,
        unit=CELSIUS,
        absent_reason=absent,
        received_at=received_at,
        device=device,
        device_time=device_time,
        flags=flags,
        body_site=body_site(site_type),
        device_clock_offset=offset,
    )


def readings_from_temperature_bytes(
    data: bytes,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    clock: DeviceClock | None = None,
    local_zone: tzinfo,
    fixed_type: TemperatureType | int | None = None,
) -> list[Reading]:
    """Bytes of one Temperature Measurement indication -> [reading]. `MalformedPacket` if malformed."""
    return [
        temperature_reading(
            parse_temperature_measurement(data),
            device=device,
            received_at=received_at,
            clock=clock,
            local_zone=local_zone,
            fixed_type=fixed_type,
        )
    ]


class ThermometerDriver(StandardHealthDriver):
    """Any thermometer with the standard Health Thermometer Service."""

    name: ClassVar[str] = "thermometer-standard"
    family: ClassVar[DeviceFamily] = DeviceFamily.THERMOMETER
    matcher: ClassVar[Matcher] = Matcher(service_uuids=frozenset({HEALTH_THERMOMETER_SERVICE_UUID}))

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._fixed_types: dict[str, TemperatureType | int] = {}  # by address, this session's

    async def prepare(self, client: BleakClient, identity: DeviceIdentity, session: Session) -> None:
        self._fixed_types.pop(identity.address, None)
        data = await self.read_optional(client, TEMPERATURE_TYPE_UUID, identity)
        if data is None:
            return
        try:
            self._fixed_types[identity.address] = parse_temperature_type(data)
        except MalformedPacket as error:
            logger.warning("%s: %s", identity.address, error)

    async def subscribe(
        self, client: BleakClient, identity: DeviceIdentity, session: Session, clock: DeviceClock | None
    ) -> None:
        zone = self.local_zone
        fixed_type = self._fixed_types.get(identity.address)

        def on_measurement(_: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                readings = readings_from_temperature_bytes(
                    bytes(data),
                    device=identity,
                    received_at=session.now(),
                    clock=clock,
                    local_zone=zone,
                    fixed_type=fixed_type,
                )
            except MalformedPacket as error:
                logger.warning("%s: temperature skipped: %s", identity.address, error)
                session.skip()
                return
            for reading in readings:
                session.deliver(reading)

        await client.start_notify(TEMPERATURE_MEASUREMENT_UUID, on_measurement)


__all__ = [
    "BODY_SITES",
    "CELSIUS",
    "ThermometerDriver",
    "body_site",
    "readings_from_temperature_bytes",
    "temperature_reading",
]
