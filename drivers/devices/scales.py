"""Scales: the standard Weight Scale (0x181D) and Body Composition (0x181B) services, the A&D
UC-352BLE, and Xiaomi's broadcast-only Mi Scale v1 and Mi Body Composition Scale 2.

Readings: body weight in kg (a scale set to lb is converted, to the gram), BMI (kg/m2) and
height (cm) when the scale sends them, body fat (%) from body composition. A measurement the
scale calls "unsuccessful" gives readings with no number (AbsentReason.UNSUCCESSFUL), one per
figure the packet announced, never 327.675 kg. The scale's user number is `device_user` (255,
"unknown user", is None). A body composition record split over two indications (ATT MTU 23) is
joined by `BodyCompositionAssembler`; a lone half is dropped, never guessed at. On a scale that
has both services the weight is read from the Weight Scale Service only.

The Xiaomi scales never connect: they broadcast the weighing in their advertisements (service
data 0x181D, 10 bytes, or 0x181B, 13 bytes) while the person stands on them, first moving, then
"stabilised", then "load removed". A reading is made only from a stabilised advertisement,
once per weighing (repeated advertisements of the same weighing are dropped). Only the weight
is stored: the Mi Body Composition Scale 2 also broadcasts an impedance, but its body-fat
formulas are Xiaomi's unpublished ones (open projects use reverse-engineered approximations),
so nothing is computed from it. A weight in catty (jin) is not converted (0.5 or 0.6 kg
depending on the market; nobody can tell which): no reading.

A standard scale with the User Data Service (0x181C) keeps each user's measurements behind a
4-digit consent code. The driver subscribes to the User Control Point (0x2A9F) indications,
asks the session's consent provider (`session.consent_provider`, set by the link; the UI
answers) for the code of the configured user (`user_index`, default 1), writes "Consent" and
waits for the scale's response before subscribing to measurements. A cancelled question, a
code the scale refuses ("user not authorized") or no answer raises `ConsentRefused`: the link
ends the session with no readings and tells the technician what to do. The code is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.exc import BleakError

from drivers.devices.base import Advertisement, Driver, Matcher, Session, normalize_uuid
from drivers.devices.health_device import (
    AND_CUSTOM_SERVICE_UUID,
    CLOCK_PLAUSIBLE_FROM,
    DATE_TIME_UUID,
    ClockPolicy,
    DeviceClock,
    StandardHealthDriver,
    device_user,
    find_characteristic,
    time_fields,
)
from drivers.gatt import MalformedPacket
from drivers.gatt.body_composition import (
    BODY_COMPOSITION_MEASUREMENT_UUID,
    BODY_COMPOSITION_SERVICE_UUID,
    BodyCompositionAssembler,
    BodyCompositionMeasurement,
)
from drivers.gatt.current_time import CURRENT_TIME_UUID
from drivers.gatt.datetime import parse_date_time
from drivers.gatt.user_data import (
    USER_CONTROL_POINT_UUID,
    UserControlOp,
    encode_consent,
    parse_control_point_response,
)
from drivers.gatt.weight import (
    WEIGHT_MEASUREMENT_UUID,
    WEIGHT_SCALE_FEATURE_UUID,
    WEIGHT_SCALE_SERVICE_UUID,
    WeightMeasurement,
    WeightScaleFeature,
    parse_weight_measurement,
    parse_weight_scale_feature,
)
from drivers.pairing import ConsentRefused
from hub.domain.devices import DeviceFamily
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, QualityFlag, Reading

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

logger = logging.getLogger(__name__)

KG = "kg"
CM = "cm"
BMI_UNIT = "kg/m2"
PERCENT = "%"

_GRAM = Decimal("0.001")
_MILLIMETRE = Decimal("0.1")  # in cm


def _round(value: float, step: Decimal) -> float:
    return float(Decimal(repr(value)).quantize(step, ROUND_HALF_UP))


# --- standard scales: bytes -> readings (pure) --------------------------------------------------


def _figures(
    figures: list[tuple[MeasurementKind, float | None, str]],
    *,
    unsuccessful: bool,
    common: dict[str, Any],
) -> list[Reading]:
    readings = []
    for kind, value, unit in figures:
        if unsuccessful:
            readings.append(Reading(kind=kind, value=None, unit=unit, absent_reason=AbsentReason.UNSUCCESSFUL, **common))
        elif value is not None:
            readings.append(Reading(kind=kind, value=value, unit=unit, **common))
    return readings


def _common(
    timestamp: datetime | None,
    timestamp_present: bool,
    user_id: int | None,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    clock: DeviceClock | None,
    local_zone: tzinfo,
) -> dict[str, Any]:
    device_time, flags, offset = time_fields(
        timestamp, timestamp_present, received_at=received_at, clock=clock, local_zone=local_zone
    )
    return {
        "received_at": received_at,
        "device": device,
        "device_time": device_time,
        "flags": flags,
        "device_user": device_user(user_id),
        "device_clock_offset": offset,
    }


def weight_readings(
    measurement: WeightMeasurement,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    clock: DeviceClock | None = None,
    local_zone: tzinfo,
) -> list[Reading]:
    """Weight, and BMI and height when sent, of one Weight Measurement. Pure.

    Unsuccessful: the same readings, each without a number (a BMI or height sent beside an
    unsuccessful weighing is not trusted either).
    """
    common = _common(
        measurement.timestamp,
        measurement.timestamp_present,
        measurement.user_id,
        device=device,
        received_at=received_at,
        clock=clock,
        local_zone=local_zone,
    )
    weight = measurement.weight_kg
    height = measurement.height_m
    has_bmi = measurement.bmi is not None
    figures: list[tuple[MeasurementKind, float | None, str]] = [
        (MeasurementKind.BODY_WEIGHT, None if weight is None else _round(weight, _GRAM), KG)
    ]
    if has_bmi:
        figures.append((MeasurementKind.BODY_MASS_INDEX, measurement.bmi, BMI_UNIT))
        figures.append((MeasurementKind.BODY_HEIGHT, None if height is None else _round(height * 100, _MILLIMETRE), CM))
    return _figures(figures, unsuccessful=measurement.unsuccessful, common=common)


def body_composition_readings(
    measurement: BodyCompositionMeasurement,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    clock: DeviceClock | None = None,
    local_zone: tzinfo,
    include_weight: bool = True,
) -> list[Reading]:
    """Body fat, and weight (unless `include_weight` is off) and height when sent, of one whole
    Body Composition Measurement. Pure. The other figures (muscle, water, impedance, basal
    metabolism) have no place in the hub yet and are left out."""
    common = _common(
        measurement.timestamp,
        measurement.timestamp_present,
        measurement.user_id,
        device=device,
        received_at=received_at,
        clock=clock,
        local_zone=local_zone,
    )
    figures: list[tuple[MeasurementKind, float | None, str]] = [
        (MeasurementKind.BODY_FAT, measurement.body_fat_percentage, PERCENT)
    ]
    if include_weight and measurement.weight is not None:
        weight = measurement.weight_kg
        figures.append((MeasurementKind.BODY_WEIGHT, None if weight is None else _round(weight, _GRAM), KG))
    if measurement.height is not None:
        height = measurement.height_m
        figures.append((MeasurementKind.BODY_HEIGHT, None if height is None else _round(height * 100, _MILLIMETRE), CM))
    return _figures(figures, unsuccessful=measurement.unsuccessful, common=common)


def readings_from_weight_bytes(
    data: bytes,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    clock: DeviceClock | None = None,
    local_zone: tzinfo,
) -> list[Reading]:
    """Bytes of one Weight Measurement indication -> readings. `MalformedPacket` if malformed."""
    return weight_readings(
        parse_weight_measurement(data), device=device, received_at=received_at, clock=clock, local_zone=local_zone
    )


# --- standard scale drivers ---------------------------------------------------------------------


class WeightScaleDriver(StandardHealthDriver):
    """Any scale with the standard Weight Scale and/or Body Composition service."""

    name: ClassVar[str] = "scale-standard"
    family: ClassVar[DeviceFamily] = DeviceFamily.WEIGHT
    matcher: ClassVar[Matcher] = Matcher(
        service_uuids=frozenset({WEIGHT_SCALE_SERVICE_UUID, BODY_COMPOSITION_SERVICE_UUID})
    )

    def __init__(self, *, user_index: int = 1, consent_timeout: float = 10.0, **options: Any) -> None:
        """`user_index`: the scale user (User Data Service) whose consent code is asked for."""
        super().__init__(**options)
        self.user_index = user_index
        self.consent_timeout = consent_timeout
        self.features: dict[str, WeightScaleFeature] = {}  # by address, last read

    async def give_consent(self, client: BleakClient, identity: DeviceIdentity, session: Session) -> None:
        """User Data Service: write the user's consent code; `ConsentRefused` unless the scale
        answers "success"."""
        user_index = self.user_index
        responses: asyncio.Queue[bytes] = asyncio.Queue()

        def on_response(_: BleakGATTCharacteristic, data: bytearray) -> None:
            responses.put_nowait(bytes(data))

        await client.start_notify(USER_CONTROL_POINT_UUID, on_response)
        provider = getattr(session, "consent_provider", None)
        code = None if provider is None else await provider.consent_code_for(identity, user_index)
        if code is None:
            logger.info("%s: no consent code given for user %d", identity.address, user_index)
            raise ConsentRefused(user_index, cancelled=True)
        try:
            await client.write_gatt_char(USER_CONTROL_POINT_UUID, encode_consent(user_index, code), response=True)
        except BleakError as error:
            if not client.is_connected:
                raise
            logger.warning("%s: consent not written: %s", identity.address, error)
            raise ConsentRefused(user_index, cancelled=False) from None
        try:
            async with asyncio.timeout(self.consent_timeout):
                while True:
                    try:
                        response = parse_control_point_response(await responses.get())
                    except MalformedPacket as error:
                        logger.warning("%s: %s", identity.address, error)
                        continue
                    if response.request_op == UserControlOp.CONSENT:
                        break
        except TimeoutError:
            logger.warning("%s: no answer to the consent for user %d", identity.address, user_index)
            raise ConsentRefused(user_index, cancelled=False) from None
        if not response.success:
            logger.warning("%s: consent for user %d refused: %s", identity.address, user_index, response.result.name)
            raise ConsentRefused(user_index, cancelled=False)
        session.touch()

    async def prepare(self, client: BleakClient, identity: DeviceIdentity, session: Session) -> None:
        data = await self.read_optional(client, WEIGHT_SCALE_FEATURE_UUID, identity)
        if data is None:
            return
        try:
            self.features[identity.address] = parse_weight_scale_feature(data)
        except MalformedPacket as error:
            logger.warning("%s: %s", identity.address, error)

    async def subscribe(
        self, client: BleakClient, identity: DeviceIdentity, session: Session, clock: DeviceClock | None
    ) -> None:
        zone = self.local_zone
        has_weight_service = find_characteristic(client, WEIGHT_MEASUREMENT_UUID) is not None
        assembler = BodyCompositionAssembler()  # one per connection

        def deliver(readings: list[Reading]) -> None:
            for reading in readings:
                session.deliver(reading)

        def on_weight(_: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                readings = readings_from_weight_bytes(
                    bytes(data), device=identity, received_at=session.now(), clock=clock, local_zone=zone
                )
            except MalformedPacket as error:
                logger.warning("%s: weight skipped: %s", identity.address, error)
                session.skip()
                return
            deliver(readings)

        def on_body_composition(_: BleakGATTCharacteristic, data: bytearray) -> None:
            packet = bytes(data)
            had_half = assembler.pending
            try:
                measurement = assembler.feed(packet)
            except MalformedPacket as error:
                logger.warning("%s: body composition skipped: %s", identity.address, error)
                session.skip()
                if not had_half:
                    return
                try:  # a half was dropped: the packet that followed it may start a record of its own
                    measurement = assembler.feed(packet)
                except MalformedPacket as again:
                    logger.warning("%s: body composition skipped: %s", identity.address, again)
                    session.skip()
                    return
            if measurement is None:
                session.touch()  # the first half of a split record: the second follows
                return
            deliver(
                body_composition_readings(
                    measurement,
                    device=identity,
                    received_at=session.now(),
                    clock=clock,
                    local_zone=zone,
                    include_weight=not has_weight_service,
                )
            )

        if find_characteristic(client, USER_CONTROL_POINT_UUID) is not None:
            await self.give_consent(client, identity, session)
        if has_weight_service:
            await client.start_notify(WEIGHT_MEASUREMENT_UUID, on_weight)
        if find_characteristic(client, BODY_COMPOSITION_MEASUREMENT_UUID) is not None:
            await client.start_notify(BODY_COMPOSITION_MEASUREMENT_UUID, on_body_composition)


class AndWeightScaleDriver(WeightScaleDriver):
    """A&D UC-352BLE: weight + Date Time 2A08 in the service, set at every connection; bonds."""

    name: ClassVar[str] = "and-uc-352ble"
    matcher: ClassVar[Matcher] = Matcher(local_name=r"A&D_UC-352.*", example_name="A&D_UC-352_5C0B34")
    clock_policy: ClassVar[ClockPolicy] = ClockPolicy.ALWAYS
    clock_characteristics: ClassVar[tuple[str, ...]] = (DATE_TIME_UUID, CURRENT_TIME_UUID)

    def matches(self, advertisement: Advertisement) -> bool:
        if self.matcher.matches(advertisement):
            return True
        uuids = advertisement.service_uuids
        return (
            advertisement.connectable is not False
            and normalize_uuid(AND_CUSTOM_SERVICE_UUID) in uuids
            and WEIGHT_SCALE_SERVICE_UUID in uuids
        )


# --- Xiaomi broadcast scales: advertisement -> readings (pure) -----------------------------------

MI_SCALE_V1_SIZE = 10
MI_BODY_COMPOSITION_SIZE = 13

_MI_V1 = "Mi Scale advertisement"
_MI_BFS = "Mi Body Composition Scale advertisement"
_V1_LAYOUT = struct.Struct("<BH")
_BFS_LAYOUT = struct.Struct("<H7sHH")

_V1_POUNDS = 1 << 0
_V1_CATTY = 1 << 4
_V1_STABILISED = 1 << 5
_V1_LOAD_REMOVED = 1 << 7

_BFS_POUNDS = 1 << 0
_BFS_CATTY = 1 << 4
_BFS_IMPEDANCE = 1 << 9
_BFS_STABILISED = 1 << 13
_BFS_LOAD_REMOVED = 1 << 15

_HALF_KILO_STEP = Decimal("0.005")  # raw / 200 = kg
_HUNDREDTH = Decimal("0.01")  # raw / 100 = lb or catty
_POUND = Decimal("0.45359237")


@dataclass(frozen=True, slots=True)
class MiWeighing:
    """One Xiaomi scale advertisement, decoded.

    `unit` is "kg", "lb" or "catty" as the scale shows it; `weight_kg` is None for catty (not
    converted). `timestamp` is the scale's clock (None when it says "unknown"). `impedance` is
    raw (Mi Body Composition Scale 2 only, None when not measured) and is not used.
    """

    raw_weight: int
    unit: str
    weight_kg: float | None
    stabilised: bool
    load_removed: bool
    timestamp: datetime | None
    impedance: int | None = None

    @property
    def key(self) -> tuple[int, str, datetime | None]:
        """Same key: same weighing (the scale repeats it while and after it stabilises)."""
        return self.raw_weight, self.unit, self.timestamp


def _mi_weight(raw: int, pounds: bool, catty: bool) -> tuple[str, float | None]:
    if catty:
        return "catty", None
    if pounds:
        return "lb", _round(float(Decimal(raw) * _HUNDREDTH * _POUND), _GRAM)
    return "kg", float(Decimal(raw) * _HALF_KILO_STEP)


def _mi_time(data: bytes, what: str) -> datetime | None:
    return parse_date_time(data, what)


def parse_mi_scale_v1(data: bytes) -> MiWeighing:
    """Mi Scale v1 service data (0x181D): control byte, weight u16, date time. Pure."""
    if len(data) != MI_SCALE_V1_SIZE:
        raise MalformedPacket(_MI_V1, f"needs {MI_SCALE_V1_SIZE} bytes, got {len(data)}")
    control, raw = _V1_LAYOUT.unpack_from(data)
    unit, kg = _mi_weight(raw, bool(control & _V1_POUNDS), bool(control & _V1_CATTY))
    return MiWeighing(
        raw_weight=raw,
        unit=unit,
        weight_kg=kg,
        stabilised=bool(control & _V1_STABILISED),
        load_removed=bool(control & _V1_LOAD_REMOVED),
        timestamp=_mi_time(data[3:10], _MI_V1),
    )


def parse_mi_body_composition_scale(data: bytes) -> MiWeighing:
    """Mi Body Composition Scale 2 service data (0x181B): flags u16, date time, impedance u16,
    weight u16. Pure."""
    if len(data) != MI_BODY_COMPOSITION_SIZE:
        raise MalformedPacket(_MI_BFS, f"needs {MI_BODY_COMPOSITION_SIZE} bytes, got {len(data)}")
    control, stamp, impedance, raw = _BFS_LAYOUT.unpack(data)
    unit, kg = _mi_weight(raw, bool(control & _BFS_POUNDS), bool(control & _BFS_CATTY))
    return MiWeighing(
        raw_weight=raw,
        unit=unit,
        weight_kg=kg,
        stabilised=bool(control & _BFS_STABILISED),
        load_removed=bool(control & _BFS_LOAD_REMOVED),
        timestamp=_mi_time(stamp, _MI_BFS),
        impedance=impedance if control & _BFS_IMPEDANCE else None,
    )


def mi_weighing_readings(weighing: MiWeighing, *, device: DeviceIdentity | None, received_at: datetime) -> list[Reading]:
    """The weight of a stabilised weighing; nothing for a moving one or one in catty. Pure.

    A broadcast is live: the reading is placed at its reception; the scale's own time is kept
    as device time (and marks a scale whose clock was never set).
    """
    if not weighing.stabilised or weighing.weight_kg is None:
        return []
    flags = frozenset()
    if weighing.timestamp is None or weighing.timestamp < CLOCK_PLAUSIBLE_FROM:
        flags = frozenset({QualityFlag.DEVICE_CLOCK_NOT_SET})
    return [
        Reading(
            kind=MeasurementKind.BODY_WEIGHT,
            value=weighing.weight_kg,
            unit=KG,
            received_at=received_at,
            device=device,
            device_time=weighing.timestamp,
            flags=flags,
        )
    ]


class _XiaomiBroadcastScale(Driver):
    """Reads weighings from advertisements; one reading per weighing."""

    family: ClassVar[DeviceFamily] = DeviceFamily.WEIGHT
    service_data_uuid: ClassVar[str]
    size: ClassVar[int]
    model: ClassVar[str]

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, str, datetime | None]] = {}  # address -> last weighing read

    def parse(self, data: bytes) -> MiWeighing:
        raise NotImplementedError

    def matches(self, advertisement: Advertisement) -> bool:
        if not self.matcher.matches(advertisement):
            return False
        # A standard scale that also puts service data under its service UUID is not a Mi scale.
        data = advertisement.service_data.get(self.service_data_uuid, b"")
        return not (self.service_data_uuid in advertisement.service_uuids and len(data) != self.size)

    def readings_from_advertisement(self, advertisement: Advertisement, received_at: datetime) -> list[Reading]:
        data = advertisement.service_data.get(self.service_data_uuid)
        if data is None:
            return []
        try:
            weighing = self.parse(data)
        except MalformedPacket as error:
            logger.warning("%s: advertisement skipped: %s", advertisement.address, error)
            return []
        address = advertisement.address
        if not weighing.stabilised:
            if not weighing.load_removed:
                self._last.pop(address, None)  # someone is on the scale: a new weighing begins
            return []
        if self._last.get(address) == weighing.key:
            return []  # the same weighing, advertised again
        self._last[address] = weighing.key
        if weighing.weight_kg is None:
            logger.warning("%s: weighing in %s not converted; nothing stored", address, weighing.unit)
            return []
        device = DeviceIdentity(address=address, name=advertisement.name, manufacturer="Xiaomi", model=self.model)
        return mi_weighing_readings(weighing, device=device, received_at=received_at)


class MiScaleDriver(_XiaomiBroadcastScale):
    name: ClassVar[str] = "xiaomi-mi-scale"
    matcher: ClassVar[Matcher] = Matcher(service_data_uuids=frozenset({WEIGHT_SCALE_SERVICE_UUID}), connectable=False)
    service_data_uuid: ClassVar[str] = WEIGHT_SCALE_SERVICE_UUID
    size: ClassVar[int] = MI_SCALE_V1_SIZE
    model: ClassVar[str] = "Mi Scale"

    def parse(self, data: bytes) -> MiWeighing:
        return parse_mi_scale_v1(data)


class MiBodyCompositionScaleDriver(_XiaomiBroadcastScale):
    name: ClassVar[str] = "xiaomi-mi-body-composition-scale"
    matcher: ClassVar[Matcher] = Matcher(
        service_data_uuids=frozenset({BODY_COMPOSITION_SERVICE_UUID}), connectable=False
    )
    service_data_uuid: ClassVar[str] = BODY_COMPOSITION_SERVICE_UUID
    size: ClassVar[int] = MI_BODY_COMPOSITION_SIZE
    model: ClassVar[str] = "Mi Body Composition Scale 2"

    def parse(self, data: bytes) -> MiWeighing:
        return parse_mi_body_composition_scale(data)


__all__ = [
    "BMI_UNIT",
    "CM",
    "KG",
    "MI_BODY_COMPOSITION_SIZE",
    "MI_SCALE_V1_SIZE",
    "PERCENT",
    "AndWeightScaleDriver",
    "MiBodyCompositionScaleDriver",
    "MiScaleDriver",
    "MiWeighing",
    "WeightScaleDriver",
    "body_composition_readings",
    "mi_weighing_readings",
    "parse_mi_body_composition_scale",
    "parse_mi_scale_v1",
    "readings_from_weight_bytes",
    "weight_readings",
]
