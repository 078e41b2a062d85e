"""The 7-byte Date Time characteristic (0x2A08) and the field of the same layout inside others.

Year 0 or month 0 or day 0 mean "not known": such a time is returned as None, never guessed.
"""

from __future__ import annotations

import struct
from datetime import datetime

from drivers.gatt import MalformedPacket

DATE_TIME_SIZE = 7
_LAYOUT = struct.Struct("<HBBBBB")


def parse_date_time(data: bytes, characteristic: str = "Date Time") -> datetime | None:
    """A naive local datetime as the device sent it, or None when the device says it is unknown."""
    if len(data) != DATE_TIME_SIZE:
        raise MalformedPacket(characteristic, f"date time needs {DATE_TIME_SIZE} bytes, got {len(data)}")
    year, month, day, hour, minute, second = _LAYOUT.unpack(data)
    if year == 0 or month == 0 or day == 0:
        return None
    if not 1582 <= year <= 9999:
        raise MalformedPacket(characteristic, "year outside 1582..9999")
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise MalformedPacket(characteristic, "date time fields out of range") from None


def encode_date_time(value: datetime | None) -> bytes:
    """The 7 bytes for a naive local datetime, or all-zero bytes for "unknown".

    Microseconds and any tzinfo are dropped: the field carries wall-clock seconds only.
    """
    if value is None:
        return bytes(DATE_TIME_SIZE)
    if not 1582 <= value.year <= 9999:  # what parse_date_time accepts: never send what we'd reject
        raise ValueError("Date Time: year outside 1582..9999")
    return _LAYOUT.pack(value.year, value.month, value.day, value.hour, value.minute, value.second)


__all__ = ["DATE_TIME_SIZE", "encode_date_time", "parse_date_time"]
