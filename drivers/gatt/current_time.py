"""Current Time Service (0x1805): reading a device's clock and setting it.

Pure codecs in the style of `drivers.gatt.plx` (see there for the rules). Current Time (0x2A2B)
is 10 bytes: Date Time (7), day of week (0 unknown, 1 Monday … 7 Sunday), fractions of a
second in 1/256 s, and the adjust reason bits. The hub reads it to measure a device's clock
drift and writes it (where the device allows) to set the clock; `CurrentTime.from_datetime`
builds the value to write.

Local Time Information (0x2A0F) is the device's time zone (in 15-minute steps from UTC) and
its daylight saving offset.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.gatt import MalformedPacket
from drivers.gatt.datetime import DATE_TIME_SIZE, encode_date_time
from drivers.gatt.reader import Reader, check_uint

CURRENT_TIME_SERVICE_UUID = "00001805-0000-1000-8000-00805f9b34fb"
CURRENT_TIME_UUID = "00002a2b-0000-1000-8000-00805f9b34fb"
LOCAL_TIME_INFORMATION_UUID = "00002a0f-0000-1000-8000-00805f9b34fb"

_CURRENT_TIME = "Current Time"
_LOCAL_TIME = "Local Time Information"

CURRENT_TIME_SIZE = DATE_TIME_SIZE + 3
LOCAL_TIME_INFORMATION_SIZE = 2

_MANUAL = 1 << 0
_EXTERNAL_REFERENCE = 1 << 1
_TIME_ZONE_CHANGE = 1 << 2
_DST_CHANGE = 1 << 3

TIME_ZONE_UNKNOWN = -128
DST_OFFSET_UNKNOWN = 255
_TIME_ZONE_RANGE = range(-48, 57)  # -12:00 .. +14:00 in quarter hours


class DayOfWeek(enum.IntEnum):
    UNKNOWN = 0
    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7


class DstOffset(enum.IntEnum):
    """Daylight saving offset, in 15-minute units."""

    STANDARD_TIME = 0
    HALF_AN_HOUR_DAYLIGHT_TIME = 2
    DAYLIGHT_TIME = 4
    DOUBLE_DAYLIGHT_TIME = 8


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """The Current Time value (0x2A2B).

    `time` is the device's naive wall-clock time in whole seconds, or None when it sent an
    unknown date (year, month or day 0). `fractions256` adds 0..255 × 1/256 s. The four
    adjust-reason flags say why the clock last changed (when notified) or why the hub is
    setting it (when written).
    """

    time: datetime | None
    day_of_week: DayOfWeek = DayOfWeek.UNKNOWN
    fractions256: int = 0
    manual_time_update: bool = False
    external_reference_time_update: bool = False
    time_zone_change: bool = False
    dst_change: bool = False

    def __post_init__(self) -> None:
        check_uint(self.fractions256, 8, "Current Time fractions256")
        day = self.day_of_week
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 7:
            raise ValueError("Current Time day_of_week must be 0 (unknown) or 1 (Monday) .. 7 (Sunday)")
        object.__setattr__(self, "day_of_week", DayOfWeek(self.day_of_week))

    @classmethod
    def from_datetime(
        cls,
        moment: datetime,
        *,
        manual_time_update: bool = False,
        external_reference_time_update: bool = False,
        time_zone_change: bool = False,
        dst_change: bool = False,
    ) -> CurrentTime:
        """The value to write to set a device's clock to `moment` (naive local wall-clock time;
        any tzinfo is dropped, as the field has none)."""
        return cls(
            time=moment.replace(microsecond=0, tzinfo=None),
            day_of_week=DayOfWeek(moment.isoweekday()),
            fractions256=moment.microsecond * 256 // 1_000_000,
            manual_time_update=manual_time_update,
            external_reference_time_update=external_reference_time_update,
            time_zone_change=time_zone_change,
            dst_change=dst_change,
        )

    @property
    def exact_time(self) -> datetime | None:
        """`time` plus the fractions, to the microsecond (rounded down)."""
        if self.time is None:
            return None
        return self.time.replace(microsecond=self.fractions256 * 1_000_000 // 256)


@dataclass(frozen=True, slots=True)
class LocalTimeInformation:
    """Local Time Information (0x2A0F).

    `time_zone` is the standard-time offset from UTC in 15-minute steps (-48..+56), and
    `dst_offset` the daylight saving offset; each is None when the device says "unknown".
    """

    time_zone: int | None
    dst_offset: DstOffset | None

    def __post_init__(self) -> None:
        if self.time_zone is not None and (isinstance(self.time_zone, bool) or self.time_zone not in _TIME_ZONE_RANGE):
            raise ValueError("Local Time Information time_zone must be -48..56 quarter hours, or None")
        if self.dst_offset is not None:
            object.__setattr__(self, "dst_offset", DstOffset(self.dst_offset))

    @property
    def utc_offset(self) -> timedelta | None:
        """Time zone plus daylight saving offset, or None when either is unknown."""
        if self.time_zone is None or self.dst_offset is None:
            return None
        return timedelta(minutes=15 * (self.time_zone + self.dst_offset))


# --- reading ------------------------------------------------------------------------------------


def _reader(data: bytes, characteristic: str, size: int) -> Reader:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{characteristic}: expected bytes")
    if len(data) != size:
        raise MalformedPacket(characteristic, f"needs {size} bytes, got {len(data)}")
    return Reader(bytes(data), characteristic)


def parse_current_time(data: bytes) -> CurrentTime:
    """Decode a Current Time read or notification. Reserved adjust-reason bits are ignored."""
    reader = _reader(data, _CURRENT_TIME, CURRENT_TIME_SIZE)
    time = reader.date_time()
    day_of_week = reader.uint(1)
    if day_of_week > DayOfWeek.SUNDAY:
        raise MalformedPacket(_CURRENT_TIME, "day of week out of range")
    fractions256 = reader.uint(1)
    reason = reader.uint(1)
    return CurrentTime(
        time=time,
        day_of_week=DayOfWeek(day_of_week),
        fractions256=fractions256,
        manual_time_update=bool(reason & _MANUAL),
        external_reference_time_update=bool(reason & _EXTERNAL_REFERENCE),
        time_zone_change=bool(reason & _TIME_ZONE_CHANGE),
        dst_change=bool(reason & _DST_CHANGE),
    )


def parse_local_time_information(data: bytes) -> LocalTimeInformation:
    """Decode Local Time Information."""
    reader = _reader(data, _LOCAL_TIME, LOCAL_TIME_INFORMATION_SIZE)
    raw_zone = reader.uint(1)
    time_zone = raw_zone - 0x100 if raw_zone & 0x80 else raw_zone
    raw_dst = reader.uint(1)
    if time_zone != TIME_ZONE_UNKNOWN and time_zone not in _TIME_ZONE_RANGE:
        raise MalformedPacket(_LOCAL_TIME, "time zone out of range")
    if raw_dst != DST_OFFSET_UNKNOWN and raw_dst not in {offset.value for offset in DstOffset}:
        raise MalformedPacket(_LOCAL_TIME, "daylight saving offset not a defined value")
    return LocalTimeInformation(
        time_zone=None if time_zone == TIME_ZONE_UNKNOWN else time_zone,
        dst_offset=None if raw_dst == DST_OFFSET_UNKNOWN else DstOffset(raw_dst),
    )


# --- writing (hub, emulator and tests) ----------------------------------------------------------


def encode_current_time(value: CurrentTime) -> bytes:
    """The 10 bytes to write to (or notify from) Current Time."""
    reason = (
        (_MANUAL if value.manual_time_update else 0)
        | (_EXTERNAL_REFERENCE if value.external_reference_time_update else 0)
        | (_TIME_ZONE_CHANGE if value.time_zone_change else 0)
        | (_DST_CHANGE if value.dst_change else 0)
    )
    return encode_date_time(value.time) + bytes([value.day_of_week, value.fractions256, reason])


def encode_local_time_information(value: LocalTimeInformation) -> bytes:
    zone = TIME_ZONE_UNKNOWN if value.time_zone is None else value.time_zone
    dst = DST_OFFSET_UNKNOWN if value.dst_offset is None else value.dst_offset
    return bytes([zone & 0xFF, dst])


__all__ = [
    "CURRENT_TIME_SERVICE_UUID",
    "CURRENT_TIME_SIZE",
    "CURRENT_TIME_UUID",
    "DST_OFFSET_UNKNOWN",
    "LOCAL_TIME_INFORMATION_SIZE",
    "LOCAL_TIME_INFORMATION_UUID",
    "TIME_ZONE_UNKNOWN",
    "CurrentTime",
    "DayOfWeek",
    "DstOffset",
    "LocalTimeInformation",
    "encode_current_time",
    "encode_local_time_information",
    "parse_current_time",
    "parse_local_time_information",
]
