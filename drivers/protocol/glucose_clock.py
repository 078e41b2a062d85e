"""A glucose meter's clock: where each model keeps it, and the offset that places its records on
the hub's timeline. Pure: the caller reads the hub's clock and the meter's bytes.

`device_clock_offset = hub now − device now`, in whole seconds (the meter shows whole seconds,
cut, so the fraction is the hub's). A meter clock before 2020 was never set, or was reset: not a
time, so no offset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from drivers.gatt.current_time import CURRENT_TIME_UUID, CurrentTime, encode_current_time, parse_current_time
from drivers.gatt.datetime import encode_date_time, parse_date_time

CLOCK_PLAUSIBLE_FROM = datetime(2020, 1, 1)
"""A meter clock (or a record's stamp) before this was never set, or was reset: not a time
(the same rule as the blood pressure, scale and thermometer drivers)."""
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
        return self.device_time is not None and self.device_time >= CLOCK_PLAUSIBLE_FROM


def clock_offset(hub_now: datetime, device_time: datetime | None, local_zone: tzinfo | None = None) -> timedelta | None:
    """hub clock − the device's clock, a naive wall-clock time in `local_zone` (default the
    system's), in whole seconds: the device shows whole seconds, cut, so the fraction is the
    hub's. None when the device clock is unknown or implausible (never set, or reset)."""
    if device_time is None or device_time < CLOCK_PLAUSIBLE_FROM:
        return None
    shown = device_time.replace(tzinfo=local_zone or hub_now.astimezone().tzinfo)
    return timedelta(seconds=math.floor((hub_now - shown).total_seconds()))


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
