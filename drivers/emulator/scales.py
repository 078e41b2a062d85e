"""Emulated scales: a standard Weight Scale / Body Composition scale, the A&D UC-352BLE, and the
broadcast-only Xiaomi Mi Scale v1 and Mi Body Composition Scale 2.

The standard scale shares the behaviour of `EmulatedHealthDevice` (stored records indicated on
subscription, a clock, bonding, users...). A body composition record that does not fit in one
indication at the connection's ATT MTU is split in two, as the service specifies (run the
radio with `mtu=23` to see it).

`user_data_service=True` adds the User Data Service (0x181C) with a User Control Point (0x2A9F,
write + indicate), a User Index (0x2A9A) and a Database Change Increment (0x2A99). Until the
right "Consent" (`user_index`, `consent_code`) has been written on the current connection the
scale keeps its measurements to itself: enabling indications succeeds (the CCCD write is not
refused) but nothing is indicated, as a UDS scale holds a user's data until that user is
identified; after a successful consent the stored records follow at once. A wrong code or user
gets the response "user not authorized", a code above 9999 "invalid parameter". Consent lasts
for one connection.

The Xiaomi scales never accept a connection that matters: they put each weighing in their
advertisements' service data, which changes while the person stands on the scale.
`weigh(kg)` scripts a whole weighing: a few moving weights, the stabilised one (held for a
while, advertised again and again), then "load removed". `show(...)` sets one advertisement.
The payload layouts (`encode_mi_scale_v1`, `encode_mi_body_composition`) follow what open
projects decoded from real scales; the Bumble virtual radio marks every advertisement
connectable and echoes it as scan response, so the hub must read them from advertisements.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from bumble import gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import AdvertisingType, Connection

from drivers.emulator.health_device import (
    AND_CUSTOM_SERVICE_UUID,
    EmulatedHealthDevice,
    Properties,
    StoredRecord,
    Timestamp,
)
from drivers.emulator.peripheral import EmulatedPeripheral
from drivers.gatt.body_composition import (
    BODY_COMPOSITION_FEATURE_UUID,
    BODY_COMPOSITION_MEASUREMENT_UUID,
    BODY_COMPOSITION_SERVICE_UUID,
    BodyCompositionMeasurement,
    encode_body_composition_packets,
)
from drivers.gatt.datetime import encode_date_time
from drivers.gatt.user_data import (
    DATABASE_CHANGE_INCREMENT_UUID,
    USER_CONTROL_POINT_UUID,
    USER_DATA_SERVICE_UUID,
    UNKNOWN_USER_INDEX,
    USER_INDEX_UUID,
    UserControlOp,
    UserControlResult,
    encode_control_point_response,
)
from drivers.gatt.weight import (
    WEIGHT_MEASUREMENT_UUID,
    WEIGHT_SCALE_FEATURE_UUID,
    WEIGHT_SCALE_SERVICE_UUID,
    WeightMeasurement,
    WeightScaleFeature,
    encode_weight_measurement,
    encode_weight_scale_feature,
)

DEFAULT_WEIGHT_FEATURE = WeightScaleFeature(
    timestamp_supported=True, multiple_users_supported=True, bmi_supported=True, weight_resolution=7, height_resolution=3
)


class EmulatedWeightScale(EmulatedHealthDevice):
    """A standard scale: Weight Scale Service, and Body Composition Service when
    `body_composition=True` (only that one when `weight_service=False`)."""

    main_service_uuid: ClassVar[str] = WEIGHT_SCALE_SERVICE_UUID

    def __init__(
        self,
        *,
        address: str = "F0:11:22:33:66:01",
        name: str = "Heima Scale 1",
        model: str = "SC-1",
        serial: str = "SC1-000001",
        imperial: bool = False,
        weight_service: bool = True,
        body_composition: bool = False,
        feature: WeightScaleFeature = DEFAULT_WEIGHT_FEATURE,
        user_data_service: bool = False,
        consent_code: int = 1234,
        user_index: int = 1,
        **options: Any,
    ) -> None:
        if not (weight_service or body_composition):
            raise ValueError("a scale needs the weight or the body composition service")
        super().__init__(address=address, name=name, model=model, serial=serial, **options)
        self.user_data_service = user_data_service
        self.consent_code = consent_code
        self.user_index = user_index
        self.consents: list[bool] = []  # each consent written, accepted or not (never the code)
        self._consented: dict[int, int] = {}  # connection handle -> user index consented
        self._held: dict[int, list[tuple[gatt.Characteristic, bool, bool]]] = {}  # subscriptions waiting
        self.imperial = imperial
        self.weight_service = weight_service
        self.body_composition = body_composition
        self.feature = feature
        if not weight_service:
            self.main_service_uuid = BODY_COMPOSITION_SERVICE_UUID  # type: ignore[misc]

    def advertised_service_uuids(self) -> Sequence[int]:
        return tuple(
            uuid for uuid, on in ((0x181D, self.weight_service), (0x181B, self.body_composition)) if on
        )

    @property
    def default_characteristic(self) -> str:
        return WEIGHT_MEASUREMENT_UUID if self.weight_service else BODY_COMPOSITION_MEASUREMENT_UUID

    def main_characteristics(self) -> list[gatt.Characteristic]:
        if not self.weight_service:
            return self._body_composition_characteristics()
        return [
            self.characteristic(WEIGHT_MEASUREMENT_UUID, Properties.INDICATE),
            self.characteristic(
                WEIGHT_SCALE_FEATURE_UUID, Properties.READ, read=lambda: encode_weight_scale_feature(self.feature)
            ),
        ]

    def _body_composition_characteristics(self) -> list[gatt.Characteristic]:
        return [
            self.characteristic(BODY_COMPOSITION_MEASUREMENT_UUID, Properties.INDICATE),
            self.characteristic(BODY_COMPOSITION_FEATURE_UUID, Properties.READ, read=lambda: bytes(4)),
        ]

    def build_services(self) -> Sequence[gatt.Service]:
        services = list(super().build_services())
        if self.weight_service and self.body_composition:
            services.append(gatt.Service(UUID(BODY_COMPOSITION_SERVICE_UUID), self._body_composition_characteristics()))
        if self.user_data_service:
            services.append(gatt.Service(UUID(USER_DATA_SERVICE_UUID), self._user_data_characteristics()))
        return services

    # -- User Data Service ---------------------------------------------------------------------

    def _user_data_characteristics(self) -> list[gatt.Characteristic]:
        permissions = self._read_permissions | self._write_permissions
        control_point = gatt.Characteristic(
            UUID(USER_CONTROL_POINT_UUID),
            Properties.WRITE | Properties.INDICATE,
            permissions,
            gatt.CharacteristicValue(write=self._write_control_point),
        )
        self._characteristics[USER_CONTROL_POINT_UUID] = control_point
        user_index = gatt.Characteristic(
            UUID(USER_INDEX_UUID),
            Properties.READ,
            permissions,
            gatt.CharacteristicValue(read=lambda connection: bytes([self._consented.get(connection.handle, UNKNOWN_USER_INDEX)])),
        )
        increment = self.characteristic(DATABASE_CHANGE_INCREMENT_UUID, Properties.READ, read=lambda: bytes(4))
        return [control_point, user_index, increment]

    def consented(self, connection: Connection) -> bool:
        return connection.handle in self._consented

    def _write_control_point(self, connection: Connection, value: bytes) -> None:
        data = bytes(value)
        op = data[0] if data else 0
        if op != UserControlOp.CONSENT:
            self._respond(connection, op, UserControlResult.OP_CODE_NOT_SUPPORTED)
            return
        if len(data) != 4:
            self._respond(connection, op, UserControlResult.INVALID_PARAMETER)
            return
        index, code = data[1], int.from_bytes(data[2:4], "little")
        if code > 9999:
            self._respond(connection, op, UserControlResult.INVALID_PARAMETER)
            return
        accepted = index == self.user_index and code == self.consent_code
        self.consents.append(accepted)
        if not accepted:
            self._respond(connection, op, UserControlResult.USER_NOT_AUTHORIZED)
            return
        self._consented[connection.handle] = index
        self._respond(connection, op, UserControlResult.SUCCESS)
        for characteristic, notify, indicate in self._held.pop(connection.handle, []):
            super().on_subscription(connection, characteristic, notify, indicate)

    def _respond(self, connection: Connection, op: int, result: UserControlResult) -> None:
        characteristic = self._characteristics[USER_CONTROL_POINT_UUID]
        data = encode_control_point_response(op, result)

        async def send() -> None:
            if self.device is not None:
                await self.device.indicate_subscriber(connection, characteristic, data)

        self.spawn(send())

    def on_subscription(self, connection: Connection, characteristic: gatt.Characteristic, notify: bool, indicate: bool) -> None:
        if (
            self.user_data_service
            and characteristic is not self._characteristics.get(USER_CONTROL_POINT_UUID)
            and connection.handle not in self._consented
        ):
            held = self._held.setdefault(connection.handle, [])
            held[:] = [entry for entry in held if entry[0] is not characteristic]
            if notify or indicate:
                held.append((characteristic, notify, indicate))
            return
        super().on_subscription(connection, characteristic, notify, indicate)

    def on_disconnected(self, connection: Connection, reason: int) -> None:
        self._consented.pop(connection.handle, None)
        self._held.pop(connection.handle, None)
        super().on_disconnected(connection, reason)

    def encode(self, record: StoredRecord, max_size: int) -> tuple[bytes, ...]:
        if isinstance(record.measurement, BodyCompositionMeasurement):
            return encode_body_composition_packets(record.measurement, max_size)
        return (encode_weight_measurement(record.measurement),)

    # -- scripting -----------------------------------------------------------------------------

    def make_weighing(
        self,
        weight: float | None,
        *,
        bmi: float | None = None,
        height: float | None = None,
        timestamp: Timestamp = True,
        user_id: int | None | bool = True,
    ) -> WeightMeasurement:
        """In the scale's units (kg/m, or lb/in when `imperial`); weight None = unsuccessful."""
        stamp, present = self.stamp(timestamp)
        return WeightMeasurement(
            weight=weight,
            imperial=self.imperial,
            timestamp=stamp,
            timestamp_present=present,
            user_id=self.user_for(user_id),
            bmi=bmi,
            height=height,
        )

    def record_weighing(self, weight: float | None, **fields: Any) -> WeightMeasurement:
        measurement = self.make_weighing(weight, **fields)
        self.store(StoredRecord(WEIGHT_MEASUREMENT_UUID, measurement))
        return measurement

    async def take_weighing(self, weight: float | None, **fields: Any) -> WeightMeasurement:
        measurement = self.make_weighing(weight, **fields)
        await self.take(StoredRecord(WEIGHT_MEASUREMENT_UUID, measurement))
        return measurement

    def make_body_composition(
        self, body_fat_percentage: float | None, *, timestamp: Timestamp = True, user_id: int | None | bool = True, **figures: Any
    ) -> BodyCompositionMeasurement:
        """`figures`: weight, height, impedance, muscle_percentage, ... (codec field names)."""
        stamp, present = self.stamp(timestamp)
        return BodyCompositionMeasurement(
            body_fat_percentage=body_fat_percentage,
            imperial=self.imperial,
            timestamp=stamp,
            timestamp_present=present,
            user_id=self.user_for(user_id),
            **figures,
        )

    def record_body_composition(self, body_fat_percentage: float | None, **fields: Any) -> BodyCompositionMeasurement:
        measurement = self.make_body_composition(body_fat_percentage, **fields)
        self.store(StoredRecord(BODY_COMPOSITION_MEASUREMENT_UUID, measurement))
        return measurement

    async def take_body_composition(self, body_fat_percentage: float | None, **fields: Any) -> BodyCompositionMeasurement:
        measurement = self.make_body_composition(body_fat_percentage, **fields)
        await self.take(StoredRecord(BODY_COMPOSITION_MEASUREMENT_UUID, measurement))
        return measurement


class EmulatedAndUC352(EmulatedWeightScale):
    """A&D UC-352BLE: weight + Date Time inside the service + the A&D service; bonding; sends what
    it has not sent, then disconnects (as the UA-651BLE; a guess for the scale)."""

    def __init__(self, **options: Any) -> None:
        settings: dict[str, Any] = {
            "address": "F0:A0:D0:35:20:01",
            "name": "A&D_UC-352_5C0B34",
            "manufacturer": "A&D Medical",
            "model": "UC-352BLE",
            "serial": "5150123456",
            "date_time_in_service": True,
            "vendor_service": AND_CUSTOM_SERVICE_UUID,
            "requires_bonding": True,
            "hang_up_when_done": True,
        }
        settings.update(options)
        super().__init__(**settings)


# --- Xiaomi: broadcast only ---------------------------------------------------------------------

_V1_POUNDS = 1 << 0
_V1_CATTY = 1 << 4
_V1_STABILISED = 1 << 5
_V1_LOAD_REMOVED = 1 << 7

_BFS_POUNDS = 1 << 0
_BFS_TIMESTAMP = 1 << 1
_BFS_CATTY = 1 << 4
_BFS_IMPEDANCE = 1 << 9
_BFS_STABILISED = 1 << 13
_BFS_LOAD_REMOVED = 1 << 15

_UNITS = ("kg", "lb", "catty")


def _raw_weight(weight: float, unit: str) -> int:
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {_UNITS}")
    step = Decimal("0.005") if unit == "kg" else Decimal("0.01")
    raw = int((Decimal(repr(weight)) / step).to_integral_value(ROUND_HALF_UP))
    if not 0 <= raw <= 0xFFFF:
        raise ValueError("weight outside what the scale can show")
    return raw


def encode_mi_scale_v1(
    weight: float, *, unit: str = "kg", stabilised: bool, load_removed: bool = False, timestamp: datetime | None = None
) -> bytes:
    """Mi Scale v1 service data: control byte (b0 lb, b4 catty, b5 stabilised, b7 load removed),
    weight u16 (kg × 200, lb or catty × 100), date time."""
    control = (
        (_V1_POUNDS if unit == "lb" else 0)
        | (_V1_CATTY if unit == "catty" else 0)
        | (_V1_STABILISED if stabilised else 0)
        | (_V1_LOAD_REMOVED if load_removed else 0)
    )
    return struct.pack("<BH", control, _raw_weight(weight, unit)) + encode_date_time(timestamp)


def encode_mi_body_composition(
    weight: float,
    *,
    unit: str = "kg",
    stabilised: bool,
    load_removed: bool = False,
    impedance: int | None = None,
    timestamp: datetime | None = None,
) -> bytes:
    """Mi Body Composition Scale 2 service data: flags u16 (b0 lb, b1 time, b4 catty, b9 impedance,
    b13 stabilised, b15 load removed), date time, impedance u16, weight u16."""
    flags = (
        _BFS_TIMESTAMP
        | (_BFS_POUNDS if unit == "lb" else 0)
        | (_BFS_CATTY if unit == "catty" else 0)
        | (_BFS_IMPEDANCE if impedance is not None else 0)
        | (_BFS_STABILISED if stabilised else 0)
        | (_BFS_LOAD_REMOVED if load_removed else 0)
    )
    return (
        struct.pack("<H", flags)
        + encode_date_time(timestamp)
        + struct.pack("<HH", impedance or 0, _raw_weight(weight, unit))
    )


class EmulatedMiScale(EmulatedPeripheral):
    """Xiaomi Mi Scale v1: advertises service data 0x181D (10 bytes) and nothing to connect to."""

    service_data_uuid16: ClassVar[int] = 0x181D

    def __init__(
        self,
        *,
        address: str = "F0:C8:0F:00:10:01",
        name: str = "MI_SCALE",
        unit: str = "kg",
        clock: Any = None,
        **options: Any,
    ) -> None:
        options.setdefault("advertise_on_attach", False)  # a scale nobody stands on is silent
        super().__init__(address=address, name=name, **options)
        self.unit = unit
        self._clock = clock or (lambda: datetime.now().replace(microsecond=0))
        self.payload: bytes | None = None
        self.shown: list[bytes] = []  # every payload advertised, in order

    def encode(self, weight: float, *, stabilised: bool, load_removed: bool, timestamp: datetime | None) -> bytes:
        return encode_mi_scale_v1(weight, unit=self.unit, stabilised=stabilised, load_removed=load_removed, timestamp=timestamp)

    def advertising_data(self) -> bytes:
        structures: list[tuple[int, bytes]] = [(AdvertisingData.Type.FLAGS, bytes([0x06]))]
        if self.payload is not None:
            structures.append(
                (AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID, self.service_data_uuid16.to_bytes(2, "little") + self.payload)
            )
        structures.append((AdvertisingData.Type.COMPLETE_LOCAL_NAME, self.name.encode()))
        data = bytes(AdvertisingData(structures))
        if len(data) > 31:
            raise ValueError(f"advertising data of {self.name!r} exceeds 31 bytes")
        return data

    async def start_advertising(self) -> None:
        if self.device is None:
            raise RuntimeError(f"{self.name} is not attached to a radio")
        await self.device.start_advertising(
            advertising_type=AdvertisingType.UNDIRECTED_SCANNABLE,  # not connectable
            advertising_data=self.advertising_data(),
            scan_response_data=b"",
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )

    async def show_payload(self, payload: bytes) -> None:
        """Advertise this service data from now on (raw: for malformed input)."""
        self.payload = bytes(payload)
        self.shown.append(self.payload)
        await self.stop_advertising()
        await self.start_advertising()

    async def show(
        self,
        weight: float,
        *,
        stabilised: bool = False,
        load_removed: bool = False,
        timestamp: datetime | None | bool = True,
        **extra: Any,
    ) -> bytes:
        """Advertise one state of a weighing (`timestamp=True`: the scale's clock now)."""
        stamp = self._clock() if timestamp is True else (None if timestamp is False else timestamp)
        payload = self.encode(weight, stabilised=stabilised, load_removed=load_removed, timestamp=stamp, **extra)
        await self.show_payload(payload)
        return payload

    async def weigh(
        self,
        weight: float,
        *,
        moving: Sequence[float] | None = None,
        step: float = 0.15,
        hold: float = 0.6,
        timestamp: datetime | None | bool = True,
        **extra: Any,
    ) -> None:
        """A whole weighing: moving weights, the stabilised weight held for `hold` seconds, then
        the load removed (the stabilised weight still shown), then silence."""
        stamp = self._clock() if timestamp is True else (None if timestamp is False else timestamp)
        for value in moving if moving is not None else (weight * 0.4, weight * 0.8, weight * 1.02, weight * 0.99):
            await self.show(round(value, 2), timestamp=stamp, **extra)
            await asyncio.sleep(step)
        await self.show(weight, stabilised=True, timestamp=stamp, **extra)
        await asyncio.sleep(hold)
        await self.show(weight, stabilised=True, load_removed=True, timestamp=stamp, **extra)
        await asyncio.sleep(hold)
        await self.stop_advertising()


class EmulatedMiBodyCompositionScale(EmulatedMiScale):
    """Xiaomi Mi Body Composition Scale 2: service data 0x181B (13 bytes, with impedance)."""

    service_data_uuid16: ClassVar[int] = 0x181B

    def __init__(self, *, address: str = "F0:C8:0F:00:20:01", name: str = "MIBFS", **options: Any) -> None:
        super().__init__(address=address, name=name, **options)

    def encode(
        self,
        weight: float,
        *,
        stabilised: bool,
        load_removed: bool,
        timestamp: datetime | None,
        impedance: int | None = None,
    ) -> bytes:
        return encode_mi_body_composition(
            weight, unit=self.unit, stabilised=stabilised, load_removed=load_removed, impedance=impedance, timestamp=timestamp
        )


__all__ = [
    "DEFAULT_WEIGHT_FEATURE",
    "EmulatedAndUC352",
    "EmulatedMiBodyCompositionScale",
    "EmulatedMiScale",
    "EmulatedWeightScale",
    "encode_mi_body_composition",
    "encode_mi_scale_v1",
]
