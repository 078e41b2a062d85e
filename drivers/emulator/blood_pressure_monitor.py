"""Emulated blood pressure monitors: the standard one, A&D UA-651BLE and Omron BLEsmart, on the
shared `EmulatedHealthDevice` (drivers.emulator.health_device).

The shared behaviour of every emulated standard health device is described in
`drivers.emulator.health_device`.

Blood pressure: `measure(...)` inflates (Intermediate Cuff Pressure notifications, the live
pressure) and then indicates the measurement. Pressures are in the monitor's unit (kPa when
`kpa=True`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from bumble import gatt
from bumble.device import Device

from drivers.emulator.health_device import (
    AND_CUSTOM_SERVICE_UUID,
    DATE_TIME_UUID,
    EmulatedHealthDevice,
    Properties,
    StoredRecord,
    Timestamp,
)
from drivers.gatt.blood_pressure import (
    BLOOD_PRESSURE_FEATURE_UUID,
    BLOOD_PRESSURE_MEASUREMENT_UUID,
    BLOOD_PRESSURE_SERVICE_UUID,
    INTERMEDIATE_CUFF_PRESSURE_UUID,
    BloodPressureFeature,
    BloodPressureMeasurement,
    BloodPressureMeasurementStatus,
    encode_bp_feature,
    encode_bp_measurement,
)
from drivers.gatt.ieee11073 import Number, SpecialValue

logger = logging.getLogger(__name__)


# --- blood pressure -----------------------------------------------------------------------------

Status = BloodPressureMeasurementStatus | int | None

DEFAULT_BP_FEATURE = BloodPressureFeature(
    body_movement_detection=True,
    cuff_fit_detection=True,
    irregular_pulse_detection=True,
    pulse_rate_range_detection=True,
    measurement_position_detection=True,
)


def _status(value: Status) -> BloodPressureMeasurementStatus | None:
    return BloodPressureMeasurementStatus.from_raw(value) if isinstance(value, int) else value


def _mean(systolic: Number, diastolic: Number) -> Number:
    if isinstance(systolic, SpecialValue) or isinstance(diastolic, SpecialValue):
        return SpecialValue.NAN
    return float(round(diastolic + (systolic - diastolic) / 3))


class EmulatedBloodPressureMonitor(EmulatedHealthDevice):
    """A standard monitor: Blood Pressure Service (measurement, intermediate cuff pressure,
    feature) + Device Information; a clock where configured (none by default)."""

    main_service_uuid: ClassVar[str] = BLOOD_PRESSURE_SERVICE_UUID

    def __init__(
        self,
        *,
        address: str = "F0:11:22:33:55:01",
        name: str = "Heima BP 1",
        model: str = "BP-1",
        serial: str = "BP1-000001",
        kpa: bool = False,
        features: BloodPressureFeature = DEFAULT_BP_FEATURE,
        intermediate_cuff_pressure: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(address=address, name=name, model=model, serial=serial, **options)
        self.kpa = kpa
        self.features = features
        self.intermediate_cuff_pressure = intermediate_cuff_pressure

    def advertised_service_uuids(self) -> Sequence[int]:
        return (0x1810,)

    @property
    def default_characteristic(self) -> str:
        return BLOOD_PRESSURE_MEASUREMENT_UUID

    def main_characteristics(self) -> list[gatt.Characteristic]:
        characteristics = [
            self.characteristic(BLOOD_PRESSURE_MEASUREMENT_UUID, Properties.INDICATE),
            self.characteristic(
                BLOOD_PRESSURE_FEATURE_UUID, Properties.READ, read=lambda: encode_bp_feature(self.features)
            ),
        ]
        if self.intermediate_cuff_pressure:
            characteristics.insert(1, self.characteristic(INTERMEDIATE_CUFF_PRESSURE_UUID, Properties.NOTIFY))
        return characteristics

    def encode(self, record: StoredRecord, max_size: int) -> tuple[bytes, ...]:
        return (encode_bp_measurement(record.measurement),)

    def make_measurement(
        self,
        systolic: Number,
        diastolic: Number,
        mean_arterial_pressure: Number | None = None,
        *,
        pulse_rate: Number | None = None,
        timestamp: Timestamp = True,
        user_id: int | None | bool = True,
        status: Status = None,
    ) -> BloodPressureMeasurement:
        stamp, present = self.stamp(timestamp)
        return BloodPressureMeasurement(
            systolic=systolic,
            diastolic=diastolic,
            mean_arterial_pressure=_mean(systolic, diastolic) if mean_arterial_pressure is None else mean_arterial_pressure,
            kpa=self.kpa,
            timestamp=stamp,
            timestamp_present=present,
            pulse_rate=pulse_rate,
            user_id=self.user_for(user_id),
            measurement_status=_status(status),
        )

    def record_measurement(self, systolic: Number, diastolic: Number, mean_arterial_pressure: Number | None = None, **fields: Any) -> BloodPressureMeasurement:
        """Store a measurement in the monitor's memory (sent when a central subscribes)."""
        measurement = self.make_measurement(systolic, diastolic, mean_arterial_pressure, **fields)
        self.store(StoredRecord(BLOOD_PRESSURE_MEASUREMENT_UUID, measurement))
        return measurement

    async def take_measurement(self, systolic: Number, diastolic: Number, mean_arterial_pressure: Number | None = None, **fields: Any) -> BloodPressureMeasurement:
        """The result of a measurement made now (indicated at once when a central listens)."""
        measurement = self.make_measurement(systolic, diastolic, mean_arterial_pressure, **fields)
        await self.take(StoredRecord(BLOOD_PRESSURE_MEASUREMENT_UUID, measurement))
        return measurement

    async def inflate(self, pressures: Iterable[Number], *, interval: float = 0.01) -> None:
        """Notify the live cuff pressure (Intermediate Cuff Pressure) while inflating."""
        for pressure in pressures:
            icp = BloodPressureMeasurement(
                systolic=pressure,
                diastolic=SpecialValue.NAN,
                mean_arterial_pressure=SpecialValue.NAN,
                kpa=self.kpa,
                user_id=self.user,
            )
            await self.notify(INTERMEDIATE_CUFF_PRESSURE_UUID, encode_bp_measurement(icp))
            await asyncio.sleep(interval)

    async def measure(
        self,
        systolic: Number,
        diastolic: Number,
        mean_arterial_pressure: Number | None = None,
        *,
        cuff_pressures: Iterable[Number] | None = None,
        interval: float = 0.01,
        **fields: Any,
    ) -> BloodPressureMeasurement:
        """A whole measurement: the cuff inflates (live pressure), then the result."""
        if cuff_pressures is None:
            top = 160.0 if isinstance(systolic, SpecialValue) else float(systolic) + 30
            cuff_pressures = [round(top * i / 8) for i in range(1, 9)]
        await self.inflate(cuff_pressures, interval=interval)
        return await self.take_measurement(systolic, diastolic, mean_arterial_pressure, **fields)


class EmulatedAndUA651(EmulatedBloodPressureMonitor):
    """A&D UA-651BLE: Date Time inside the BP service, the A&D service, bonding; sends what it has
    not sent yet, then disconnects by itself. No live cuff pressure (a guess)."""

    def __init__(self, **options: Any) -> None:
        settings: dict[str, Any] = {
            "address": "F0:A0:D0:65:10:01",
            "name": "A&D_UA-651_5B0A12",
            "manufacturer": "A&D Medical",
            "model": "UA-651BLE",
            "serial": "5140123456",
            "date_time_in_service": True,
            "vendor_service": AND_CUSTOM_SERVICE_UUID,
            "requires_bonding": True,
            "hang_up_when_done": True,
            "intermediate_cuff_pressure": False,
            "readvertise_after_disconnect": False,
        }
        settings.update(options)
        super().__init__(**settings)


class EmulatedOmronBP(EmulatedBloodPressureMonitor):
    """Omron BLEsmart: standard BP + Current Time Service, bonding, ONE bond only, user 1/2.
    `bond_before_discovery=True` for the models that drop a central discovering unbonded."""

    def __init__(self, **options: Any) -> None:
        settings: dict[str, Any] = {
            "address": "F0:0E:A0:00:11:01",
            "name": "BLEsmart_0000011F",
            "manufacturer": "OMRON HEALTHCARE",
            "model": "HEM-7600T",
            "serial": "20230100123",
            "current_time_service": True,
            "requires_bonding": True,
            "single_bond": True,
            "user": 1,
        }
        settings.update(options)
        super().__init__(**settings)


def bp_status(**flags: Any) -> BloodPressureMeasurementStatus:
    """Shorthand: `bp_status(cuff_too_loose=True)`."""
    return BloodPressureMeasurementStatus.from_flags(**flags)


__all__ = [
    "AND_CUSTOM_SERVICE_UUID",
    "DATE_TIME_UUID",
    "DEFAULT_BP_FEATURE",
    "EmulatedAndUA651",
    "EmulatedBloodPressureMonitor",
    "EmulatedOmronBP",
    "bp_status",
]
