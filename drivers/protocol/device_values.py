"""What every health-device driver reads the same way, pure: a device clock's plausibility and
offset, and an IEEE 11073 number as a value or the reason there is none."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo

from drivers.gatt.ieee11073 import Number, SpecialValue
from hub.domain.readings import AbsentReason

CLOCK_PLAUSIBLE_FROM = datetime(2020, 1, 1)
"""A device clock (or a record's stamp) before this was never set, or was reset: not a time."""

ABSENT_REASONS = {
    SpecialValue.NAN: AbsentReason.NOT_A_NUMBER,
    SpecialValue.NRES: AbsentReason.NOT_AT_THIS_RESOLUTION,
    SpecialValue.POSITIVE_INFINITY: AbsentReason.POSITIVE_INFINITY,
    SpecialValue.NEGATIVE_INFINITY: AbsentReason.NEGATIVE_INFINITY,
    SpecialValue.RESERVED: AbsentReason.RESERVED,
}


def clock_is_set(device_time: datetime | None) -> bool:
    """A device clock showing `device_time` (None: "unknown") was set."""
    return device_time is not None and device_time >= CLOCK_PLAUSIBLE_FROM


def clock_offset(hub_now: datetime, device_time: datetime | None, local_zone: tzinfo | None = None) -> timedelta | None:
    """hub clock − the device's clock, a naive wall-clock time in `local_zone` (default the
    system's), in whole seconds: the device shows whole seconds, cut, so the fraction is the
    hub's. None when the device clock is unknown or implausible (never set, or reset)."""
    if not clock_is_set(device_time):
        return None
    assert device_time is not None
    shown = device_time.replace(tzinfo=local_zone or hub_now.astimezone().tzinfo)
    return timedelta(seconds=math.floor((hub_now - shown).total_seconds()))


def value_or_reason(number: Number) -> tuple[float | None, AbsentReason | None]:
    """The number, or no number with the reason its special value gives."""
    if isinstance(number, SpecialValue):
        return None, ABSENT_REASONS[number]
    return float(number), None


__all__ = ["ABSENT_REASONS", "CLOCK_PLAUSIBLE_FROM", "clock_is_set", "clock_offset", "value_or_reason"]
