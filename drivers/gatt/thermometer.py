"""Health Thermometer Service (0x1809): body temperature readings and where they were taken.

Pure codecs in the style of `drivers.gatt.plx` (see there for the rules). The temperature is
an IEEE 11073 32-bit FLOAT (not an SFLOAT), in °C or °F as the thermometer chose; a
`SpecialValue` (e.g. NaN for "Lo"/"Hi"/"Err") is never a temperature. Intermediate
Temperature (0x2A1E, notified while a reading settles) has the same layout.

The measurement site is either in each measurement (flag bit 2) or, for a thermometer that
only measures one way, in the separate Temperature Type characteristic (0x2A1D); the spec says
a device uses one or the other, never both. Reserved site codes stay plain ints.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from drivers.gatt import MalformedPacket
from drivers.gatt.datetime import DATE_TIME_SIZE, encode_date_time
from drivers.gatt.ieee11073 import Number, SpecialValue, decode_float, encode_float
from drivers.gatt.reader import check_uint, open_frame, optional_size

HEALTH_THERMOMETER_SERVICE_UUID = "00001809-0000-1000-8000-00805f9b34fb"
TEMPERATURE_MEASUREMENT_UUID = "00002a1c-0000-1000-8000-00805f9b34fb"
TEMPERATURE_TYPE_UUID = "00002a1d-0000-1000-8000-00805f9b34fb"
INTERMEDIATE_TEMPERATURE_UUID = "00002a1e-0000-1000-8000-00805f9b34fb"

_MEASUREMENT = "Temperature Measurement"
_INTERMEDIATE = "Intermediate Temperature"
_TYPE = "Temperature Type"

_FLAGS = 1
_FLOAT = 4
_TYPE_SIZE = 1

_FAHRENHEIT = 1 << 0
_TIMESTAMP = 1 << 1
_TYPE_PRESENT = 1 << 2


class TemperatureType(enum.IntEnum):
    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTROINTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


def _known_type(value: int | None) -> TemperatureType | int | None:
    if value is None or isinstance(value, TemperatureType):
        return value
    try:
        return TemperatureType(value)
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """One Temperature Measurement (0x2A1C) or Intermediate Temperature (0x2A1E).

    `value` is in °C, or °F when `fahrenheit`; `celsius` converts. `timestamp` is None both
    when absent and when the device sent the all-zero "unknown" time; `timestamp_present`
    tells them apart.
    """

    value: Number
    fahrenheit: bool = False
    timestamp: datetime | None = None
    timestamp_present: bool = False
    temperature_type: TemperatureType | int | None = None

    def __post_init__(self) -> None:
        if self.timestamp is not None and not self.timestamp_present:
            object.__setattr__(self, "timestamp_present", True)
        object.__setattr__(self, "temperature_type", _known_type(self.temperature_type))

    @property
    def celsius(self) -> Number:
        """The value in °C (a special value stays what it is)."""
        if not self.fahrenheit or isinstance(self.value, SpecialValue):
            return self.value
        return float((Decimal(repr(self.value)) - 32) * 5 / 9)


# --- reading ------------------------------------------------------------------------------------


def _parse(data: bytes, characteristic: str) -> TemperatureMeasurement:
    reader, flags = open_frame(data, characteristic, _FLAGS)
    reader.expect_length(
        _FLAGS + _FLOAT + optional_size(flags, _TIMESTAMP, DATE_TIME_SIZE) + optional_size(flags, _TYPE_PRESENT, _TYPE_SIZE)
    )
    value = decode_float(reader.uint(_FLOAT))
    timestamp = reader.date_time() if flags & _TIMESTAMP else None
    temperature_type = reader.uint(_TYPE_SIZE) if flags & _TYPE_PRESENT else None
    return TemperatureMeasurement(
        value=value,
        fahrenheit=bool(flags & _FAHRENHEIT),
        timestamp=timestamp,
        timestamp_present=bool(flags & _TIMESTAMP),
        temperature_type=temperature_type,
    )


def parse_temperature_measurement(data: bytes) -> TemperatureMeasurement:
    """Decode a Temperature Measurement indication."""
    return _parse(data, _MEASUREMENT)


def parse_intermediate_temperature(data: bytes) -> TemperatureMeasurement:
    """Decode an Intermediate Temperature notification (same layout)."""
    return _parse(data, _INTERMEDIATE)


def parse_temperature_type(data: bytes) -> TemperatureType | int:
    """Decode the Temperature Type characteristic (one octet)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{_TYPE}: expected bytes")
    if len(data) != _TYPE_SIZE:
        raise MalformedPacket(_TYPE, f"needs {_TYPE_SIZE} byte, got {len(data)}")
    return _known_type(data[0])  # type: ignore[return-value]


# --- writing (emulator and tests) ---------------------------------------------------------------


def encode_temperature_measurement(measurement: TemperatureMeasurement) -> bytes:
    """The bytes a standard thermometer would send for this reading (either characteristic)."""
    flags = _FAHRENHEIT if measurement.fahrenheit else 0
    body = encode_float(measurement.value).to_bytes(_FLOAT, "little")
    if measurement.timestamp_present:
        flags |= _TIMESTAMP
        body += encode_date_time(measurement.timestamp)
    if measurement.temperature_type is not None:
        check_uint(measurement.temperature_type, 8, "Temperature Measurement temperature_type")
        flags |= _TYPE_PRESENT
        body += bytes([measurement.temperature_type])
    return bytes([flags]) + body


def encode_temperature_type(temperature_type: TemperatureType | int) -> bytes:
    check_uint(temperature_type, 8, "Temperature Type")
    return bytes([temperature_type])


__all__ = [
    "HEALTH_THERMOMETER_SERVICE_UUID",
    "INTERMEDIATE_TEMPERATURE_UUID",
    "TEMPERATURE_MEASUREMENT_UUID",
    "TEMPERATURE_TYPE_UUID",
    "TemperatureMeasurement",
    "TemperatureType",
    "encode_temperature_measurement",
    "encode_temperature_type",
    "parse_intermediate_temperature",
    "parse_temperature_measurement",
    "parse_temperature_type",
]
