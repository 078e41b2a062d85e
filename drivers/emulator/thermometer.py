"""An emulated standard health thermometer: Health Thermometer Service (0x1809) + Device
Information, optionally a Current Time Service (the shared `EmulatedHealthDevice` behaviour:
stored readings indicated on subscription, a clock, bonding...).

Temperatures are in the thermometer's unit (°F when `fahrenheit=True`). Where it measures is
either in each measurement (`temperature_type=` per reading) or, for a single-site thermometer,
in the Temperature Type characteristic (`fixed_type=`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from bumble import gatt

from drivers.emulator.health_device import EmulatedHealthDevice, Properties, StoredRecord, Timestamp
from drivers.gatt.ieee11073 import Number
from drivers.gatt.thermometer import (
    HEALTH_THERMOMETER_SERVICE_UUID,
    TEMPERATURE_MEASUREMENT_UUID,
    TEMPERATURE_TYPE_UUID,
    TemperatureMeasurement,
    TemperatureType,
    encode_temperature_measurement,
    encode_temperature_type,
)


class EmulatedThermometer(EmulatedHealthDevice):
    main_service_uuid: ClassVar[str] = HEALTH_THERMOMETER_SERVICE_UUID

    def __init__(
        self,
        *,
        address: str = "F0:11:22:33:77:01",
        name: str = "Heima Thermo 1",
        model: str = "TH-1",
        serial: str = "TH1-000001",
        fahrenheit: bool = False,
        fixed_type: TemperatureType | int | None = None,
        current_time_service: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(
            address=address, name=name, model=model, serial=serial, current_time_service=current_time_service, **options
        )
        self.fahrenheit = fahrenheit
        self.fixed_type = fixed_type

    def advertised_service_uuids(self) -> Sequence[int]:
        return (0x1809,)

    @property
    def default_characteristic(self) -> str:
        return TEMPERATURE_MEASUREMENT_UUID

    def main_characteristics(self) -> list[gatt.Characteristic]:
        characteristics = [self.characteristic(TEMPERATURE_MEASUREMENT_UUID, Properties.INDICATE)]
        if self.fixed_type is not None:
            fixed = self.fixed_type
            characteristics.append(
                self.characteristic(TEMPERATURE_TYPE_UUID, Properties.READ, read=lambda: encode_temperature_type(fixed))
            )
        return characteristics

    def encode(self, record: StoredRecord, max_size: int) -> tuple[bytes, ...]:
        return (encode_temperature_measurement(record.measurement),)

    def make_temperature(
        self, value: Number, *, temperature_type: TemperatureType | int | None = None, timestamp: Timestamp = True
    ) -> TemperatureMeasurement:
        stamp, present = self.stamp(timestamp)
        return TemperatureMeasurement(
            value=value,
            fahrenheit=self.fahrenheit,
            timestamp=stamp,
            timestamp_present=present,
            temperature_type=temperature_type,
        )

    def record_temperature(self, value: Number, **fields: Any) -> TemperatureMeasurement:
        measurement = self.make_temperature(value, **fields)
        self.store(StoredRecord(TEMPERATURE_MEASUREMENT_UUID, measurement))
        return measurement

    async def take_temperature(self, value: Number, **fields: Any) -> TemperatureMeasurement:
        measurement = self.make_temperature(value, **fields)
        await self.take(StoredRecord(TEMPERATURE_MEASUREMENT_UUID, measurement))
        return measurement


__all__ = ["EmulatedThermometer"]
