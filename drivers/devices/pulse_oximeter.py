"""The standard Pulse Oximeter Service (0x1822) driver: spot-check measurements become readings.

Each PLX Spot-check indication becomes two `Reading`s, oxygen saturation (%) and pulse rate
(/min), sharing the device time, the identity and the quality flags. The mapping from bytes to
readings is the pure function `spot_check_readings` (tested without any radio).

Continuous notifications (~1 Hz) are, by default, a live view only: each becomes `live-reading`
events for the screen (throttled, never stored), and they do not keep the session open — it ends
as usual once the spot-checks are in. With `record_continuous` (the hub's [oximetry] setting) the
stream is the measurement: each notification becomes an `OximetryPoint` through
`session.deliver_point` (a value the device marked invalid or sent as a special value is no
value), which keeps the session open for as long as the device streams; the hub records it as
10-minute SampledData chunks and a summary (hub.domain.oximetry).

Stored spot-checks (features: "spot-check storage", with a RACP): the driver enables
spot-check and RACP indications first (a device answers a RACP write before them with ATT
0x81), then asks for "all stored records" and waits for the response code; the records arrive
as spot-check indications with "from storage" set. PLX records carry no sequence number and many
oximeters support only the "all records" operator, so every session fetches the whole memory and
the hub's natural key (device serial + device time + value) keeps each record once. That dedupe
needs the records' timestamps: an oximeter that stores spot-checks without timestamps is not
asked (its memory would become new duplicates every session). The driver never deletes records
from a device: the hub commits readings after they leave the session.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.exc import BleakError

from drivers.devices.base import Advertisement, Driver, Matcher, Session
from drivers.gatt import MalformedPacket
from drivers.gatt.device_information import (
    FIRMWARE_REVISION_UUID,
    MANUFACTURER_NAME_UUID,
    MODEL_NUMBER_UUID,
    SERIAL_NUMBER_UUID,
    SYSTEM_ID_UUID,
    parse_system_id,
    parse_utf8_string,
)
from drivers.gatt.ieee11073 import Number, SpecialValue
from drivers.protocol.device_values import value_or_reason
from drivers.gatt.plx import (
    PLX_CONTINUOUS_UUID,
    PLX_FEATURES_UUID,
    RACP_UUID,
    PLX_SERVICE_UUID,
    PLX_SPOT_CHECK_UUID,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    parse_continuous,
    parse_features,
    parse_spot_check,
)
from drivers.gatt.racp import RacpGeneralResponse, RacpResponse, RacpResponseCode, abort, parse_response, report_all_records
from hub.domain.devices import DeviceFamily
from hub.domain.oximetry import OximetryPoint
from hub.domain.plausibility import possible
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, QualityFlag, Reading

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

logger = logging.getLogger(__name__)

SPO2_UNIT = "%"
PULSE_RATE_UNIT = "/min"

_STATUS_FLAGS = (
    ("measurement_ongoing", QualityFlag.MEASUREMENT_ONGOING),
    ("early_estimate", QualityFlag.EARLY_ESTIMATE),
    ("validated", QualityFlag.VALIDATED),
    ("fully_qualified", QualityFlag.FULLY_QUALIFIED),
    ("from_storage", QualityFlag.FROM_STORAGE),
    ("demo_data", QualityFlag.DEMO_DATA),
    ("testing_data", QualityFlag.TESTING_DATA),
    ("calibration_ongoing", QualityFlag.CALIBRATION_ONGOING),
    ("unavailable", QualityFlag.UNAVAILABLE),
    ("questionable", QualityFlag.QUESTIONABLE),
    ("invalid", QualityFlag.INVALID),
)


def quality_flags(measurement: PlxSpotCheck) -> frozenset[QualityFlag]:
    """The quality flags a spot-check carries (measurement status, clock, sensor faults)."""
    flags: set[QualityFlag] = set()
    status = measurement.measurement_status
    if status is not None:
        flags.update(flag for name, flag in _STATUS_FLAGS if getattr(status, name))
    if measurement.device_clock_not_set:
        flags.add(QualityFlag.DEVICE_CLOCK_NOT_SET)
    if measurement.device_status is not None and measurement.device_status.any_fault:
        flags.add(QualityFlag.SENSOR_PROBLEM)
    return frozenset(flags)


def _value(number: Number, invalid: bool) -> tuple[float | None, AbsentReason | None]:
    """A number, or no number with the reason: special values first, then "invalid" status."""
    if invalid and not isinstance(number, SpecialValue):
        return None, AbsentReason.ERROR
    return value_or_reason(number)


def spot_check_readings(
    measurement: PlxSpotCheck, *, device: DeviceIdentity | None, received_at: datetime
) -> tuple[Reading, Reading]:
    """The two readings (SpO2, pulse rate) of one decoded spot-check. Pure."""
    flags = quality_flags(measurement)
    invalid = measurement.measurement_status is not None and measurement.measurement_status.invalid
    readings = []
    for kind, number, unit in (
        (MeasurementKind.OXYGEN_SATURATION, measurement.spo2, SPO2_UNIT),
        (MeasurementKind.PULSE_RATE, measurement.pulse_rate, PULSE_RATE_UNIT),
    ):
        value, absent = _value(number, invalid)
        readings.append(
            Reading(
                kind=kind,
                value=value,
                unit=unit,
                received_at=received_at,
                absent_reason=absent,
                device=device,
                device_time=measurement.timestamp,
                flags=flags,
                record_id=None,
            )
        )
    return readings[0], readings[1]


def readings_from_spot_check_bytes(
    data: bytes, *, device: DeviceIdentity | None, received_at: datetime
) -> tuple[Reading, Reading]:
    """Bytes of one PLX Spot-check indication -> two readings. `MalformedPacket` if malformed."""
    return spot_check_readings(parse_spot_check(data), device=device, received_at=received_at)


def continuous_values(measurement: PlxContinuous) -> tuple[float | None, float | None]:
    """SpO2 and pulse rate of one continuous measurement, None where there is no value (a special
    value, or the whole measurement marked invalid or unavailable, or a sensor fault). Pure."""
    status = measurement.measurement_status
    if status is not None and (status.invalid or status.unavailable):
        return None, None
    if measurement.device_status is not None and measurement.device_status.any_fault:
        return None, None
    values = []
    for number in (measurement.spo2, measurement.pulse_rate):
        values.append(None if isinstance(number, SpecialValue) else float(number))
    return values[0], values[1]


async def read_device_identity(client: BleakClient, advertisement: Advertisement) -> DeviceIdentity:
    """Device Information (whatever of it the device has) + the address and advertised name."""
    found = {c.uuid for service in client.services for c in service.characteristics}

    async def text(uuid: str, label: str) -> str | None:
        if uuid not in found:
            return None
        try:
            return parse_utf8_string(bytes(await client.read_gatt_char(uuid)), label)
        except MalformedPacket as error:
            logger.warning("%s: %s", advertisement.address, error)
            return None

    system_id: str | None = None
    if SYSTEM_ID_UUID in found:
        try:
            system_id = parse_system_id(bytes(await client.read_gatt_char(SYSTEM_ID_UUID)))
        except MalformedPacket as error:
            logger.warning("%s: %s", advertisement.address, error)
    return DeviceIdentity(
        address=client.address.upper(),
        name=advertisement.name,
        manufacturer=await text(MANUFACTURER_NAME_UUID, "Manufacturer Name String"),
        model=await text(MODEL_NUMBER_UUID, "Model Number String"),
        serial=await text(SERIAL_NUMBER_UUID, "Serial Number String"),
        firmware=await text(FIRMWARE_REVISION_UUID, "Firmware Revision String"),
        system_id=system_id,
    )


class PulseOximeterDriver(Driver):
    """Any oximeter that exposes the standard PLX service with spot-check indications."""

    name: ClassVar[str] = "plx-standard"
    family: ClassVar[DeviceFamily] = DeviceFamily.PULSE_OXIMETER
    matcher: ClassVar[Matcher] = Matcher(service_uuids=frozenset({PLX_SERVICE_UUID}))

    def __init__(
        self,
        *,
        record_timeout: float = 10.0,
        record_continuous: bool = False,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        live_interval: float = 0.25,
    ) -> None:
        """record_timeout: a RACP report during which the device says nothing for this long is
        aborted. record_continuous: record the continuous stream (see the module docstring).
        on_event: live values for the screen (`live-reading`), at most every `live_interval` s."""
        self.features: dict[str, PlxFeatures] = {}  # by address, last read
        self.record_timeout = record_timeout
        self.record_continuous = record_continuous
        self.on_event = on_event
        self.live_interval = live_interval

    async def start(self, client: BleakClient, advertisement: Advertisement, session: Session) -> DeviceIdentity:
        identity = await read_device_identity(client, advertisement)
        session.identify(identity)
        await self._read_features(client, advertisement.address)

        def on_spot_check(_: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                readings = readings_from_spot_check_bytes(bytes(data), device=identity, received_at=session.now())
            except MalformedPacket as error:  # the message names the defect, never the values
                logger.warning("%s: spot-check skipped: %s", identity.address, error)
                session.skip()
                return
            for reading in readings:
                session.deliver(reading)

        await client.start_notify(PLX_SPOT_CHECK_UUID, on_spot_check)
        await self._follow_continuous(client, session, identity)
        await self._read_stored(client, session, identity.address)
        return identity

    async def _follow_continuous(self, client: BleakClient, session: Session, identity: DeviceIdentity) -> None:
        """Subscribe to the continuous stream when it is recorded or shown live."""
        if not (self.record_continuous or self.on_event) or client.services.get_characteristic(PLX_CONTINUOUS_UUID) is None:
            return
        last_live = [-math.inf]
        malformed = [0]

        def on_continuous(_: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                spo2, pulse = continuous_values(parse_continuous(bytes(data)))
            except MalformedPacket as error:
                malformed[0] += 1  # logged once per session: a bad stream must not flood the log
                (logger.warning if malformed[0] == 1 else logger.debug)("%s: continuous measurement skipped: %s", identity.address, error)
                return
            if self.record_continuous:
                session.deliver_point(OximetryPoint(session.now(), spo2, pulse, identity))
            now = time.monotonic()
            if self.on_event is not None and now - last_live[0] >= self.live_interval:
                last_live[0] = now
                for kind, value, unit in ((MeasurementKind.OXYGEN_SATURATION, spo2, SPO2_UNIT), (MeasurementKind.PULSE_RATE, pulse, PULSE_RATE_UNIT)):
                    if possible(kind, value) is not None:  # a number no body can have is not shown
                        self._emit("live-reading", {"address": identity.address, "kind": kind.value, "value": value, "unit": unit})

        try:
            await client.start_notify(PLX_CONTINUOUS_UUID, on_continuous)
        except BleakError as error:  # the live view is a nicety; a recording needs it
            if self.record_continuous or not client.is_connected:
                raise
            logger.info("%s: continuous measurements not available: %s", identity.address, error)

    def _emit(self, name: str, details: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(name, details)
        except Exception:  # noqa: BLE001 - the screen must not break the link
            logger.exception("live event callback failed")

    async def _read_stored(self, client: BleakClient, session: Session, address: str) -> None:
        """With spot-check storage and a RACP: ask for every stored record and wait until the
        device says it has sent them (see the module docstring)."""
        features = self.features.get(address)
        if features is None or not features.spot_check_storage:
            return
        if client.services.get_characteristic(RACP_UUID) is None:
            logger.warning("%s: spot-check storage without a RACP: records come only as the device sends them", address)
            return
        if not features.spot_check_timestamp:
            logger.warning("%s: stored spot-checks without timestamps cannot be deduplicated: not requested", address)
            return
        answered: asyncio.Future[RacpResponse] = asyncio.get_running_loop().create_future()

        def on_racp(_: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                response = parse_response(bytes(data))
            except MalformedPacket as error:
                logger.warning("%s: RACP indication skipped: %s", address, error)
                return
            if not answered.done():
                answered.set_result(response)

        await client.start_notify(RACP_UUID, on_racp)
        await client.write_gatt_char(RACP_UUID, report_all_records(), response=True)
        started = time.monotonic()
        while True:
            await asyncio.wait({answered}, timeout=0.05)
            if not answered.done():
                if not client.is_connected:
                    raise BleakError(f"{address}: disconnected during a RACP report") from None
                if time.monotonic() - max(started, session.last_activity) > self.record_timeout:
                    logger.warning("%s: the oximeter went silent during a RACP report: aborting", address)
                    try:
                        await client.write_gatt_char(RACP_UUID, abort(), response=True)
                    except BleakError as error:
                        logger.info("%s: abort not accepted: %s", address, error)
                    return
                continue
            response = answered.result()
            session.touch()
            if isinstance(response, RacpGeneralResponse) and response.response_code not in (
                RacpResponseCode.SUCCESS,
                RacpResponseCode.NO_RECORDS_FOUND,
            ):
                logger.warning("%s: RACP answered %s", address, response.response_code.name)
            return

    async def _read_features(self, client: BleakClient, address: str) -> None:
        if client.services.get_characteristic(PLX_FEATURES_UUID) is None:
            return
        try:
            self.features[address] = parse_features(bytes(await client.read_gatt_char(PLX_FEATURES_UUID)))
        except MalformedPacket as error:
            logger.warning("%s: %s", address, error)
        except BleakError as error:  # features are informative only: go on without them
            if not client.is_connected:
                raise
            logger.warning("%s: PLX features not readable: %s", address, error)


__all__ = [
    "PULSE_RATE_UNIT",
    "SPO2_UNIT",
    "PulseOximeterDriver",
    "continuous_values",
    "quality_flags",
    "read_device_identity",
    "readings_from_spot_check_bytes",
    "spot_check_readings",
]
