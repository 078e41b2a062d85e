"""A glucose meter's clock: where each model keeps it, and the offset that places its records on
the hub's timeline. Pure: the caller reads the hub's clock and the meter's bytes.

`device_clock_offset = hub now − device now`, in whole seconds (the meter shows whole seconds,
cut, so the fraction is the hub's). A meter clock before 2020 was never set, or was reset: not a
time, so no offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.gatt.current_time import CURRENT_TIME_UUID, CurrentTime, encode_current_time, parse_current_time
from drivers.gatt.datetime import encode_date_time, parse_date_time
from drivers.protocol.device_values import CLOCK_PLAUSIBLE_FROM, clock_is_set, clock_offset  # the same rule as every driver's
DATE_TIME_UUID = "00002a08-0000-1000-8000-00805f9b34fb"
CONTOUR_CLOCK_UUID = "00001026-0002-11e2-9e96-0800200c9a66"  # GUESSED: see EmulatedContourNextOne


@dataclass(frozen=True)
class ClockCharacteristic:
    """Where a model keeps its clock, and how to read and write it."""

    uuid: str
    label: str
    parse: Callable[[bytes], datetime | None]  # None: "not set"; MalformedPacket if not this layout
    encode: Callable[[datetime], bytes]


CURRENT_TIME_CLOCK = ClockCharacteristic(
    CURRENT_TIME_UUID,
    "Current Time",
    lambda data: parse_current_time(data).time,
    lambda moment: encode_current_time(CurrentTime.from_datetime(moment, external_reference_time_update=True)),
)
DATE_TIME_CLOCK = ClockCharacteristic(
    DATE_TIME_UUID, "Date Time", lambda data: parse_date_time(data, "Date Time"), encode_date_time
)
CONTOUR_CLOCK = ClockCharacteristic(  # GUESSED layout: a 7-byte Date Time (see the emulator)
    CONTOUR_CLOCK_UUID, "Contour clock", lambda data: parse_date_time(data, "Contour clock"), encode_date_time
)


@dataclass(frozen=True, slots=True)
class ClockReading:
    clock: ClockCharacteristic
    device_time: datetime | None  # None: the meter says its clock is not set
    offset: timedelta | None  # hub clock − device clock, whole seconds; None: not set

    @property
    def is_set(self) -> bool:
        return clock_is_set(self.device_time)


__all__ = [
    "CLOCK_PLAUSIBLE_FROM",
    "CONTOUR_CLOCK",
    "CONTOUR_CLOCK_UUID",
    "CURRENT_TIME_CLOCK",
    "DATE_TIME_CLOCK",
    "DATE_TIME_UUID",
    "ClockCharacteristic",
    "ClockReading",
    "clock_offset",
]
