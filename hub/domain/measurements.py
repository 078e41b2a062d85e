"""A measurement: a reading the hub has accepted, named by a UUID for ever after.

The UUID is fixed at capture and becomes `Observation.identifier` at every destination and on
every retry. `natural_key` is what makes a device re-sending its memory harmless: the store keeps
it unique, so the same record read twice is the same measurement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from hub.domain.evaluation import Evaluation
from hub.domain.plausibility import DEVICE_TIME_AHEAD_LIMIT
from hub.domain.readings import Provenance, QualityFlag, Reading


@dataclass(frozen=True, slots=True)
class MonotonicAnchor:
    """A point in time that does not move when the wall clock is set: valid within one boot."""

    boot_id: str
    seconds: float  # since boot (CLOCK_BOOTTIME: counts suspend too)


@dataclass(frozen=True, slots=True)
class Measurement:
    id: uuid.UUID
    reading: Reading
    provenance: Provenance
    effective_time: datetime  # corrected onto the hub's timeline, timezone-aware
    natural_key: str | None
    # Set when the hub's own clock was not trusted at reception: where to place it later.
    received_anchor: MonotonicAnchor | None = None
    # The plan's evaluation, decided when it was recorded (None: no zones for it).
    evaluation: Evaluation | None = None

    @property
    def urn(self) -> str:
        return f"urn:uuid:{self.id}"


def natural_key(reading: Reading) -> str | None:
    """The device's own name for this record, or None when the device gives nothing to key on.

    Built from the device's stable identity (serial, else address), the kind, and the record
    number or else the device's own timestamp with the value. A live reading without either has no natural key:
    the device cannot send it again, so there is nothing to dedupe.
    """
    if reading.device is None:
        return None
    if reading.record_id is not None:
        marker = f"rec={reading.record_id}"
        if reading.device_time is not None:
            marker += f"@{reading.device_time.isoformat()}"
    elif reading.device_time is not None:
        # Without a record number, a timestamp with one-second resolution is not unique: two
        # spot-checks in the same second are told apart by what they measured.
        what = f"{reading.value!r}" if reading.value is not None else f"{reading.absent_reason}"
        marker = f"t={reading.device_time.isoformat()}|{what}"
    else:
        return None
    return f"{reading.device.stable_id}|{reading.kind.value}|{marker}"


def effective_time(
    reading: Reading,
    *,
    local_zone: tzinfo,
    device_clock_offset: timedelta | None = None,
    hub_clock_trusted: bool = True,
) -> tuple[datetime, frozenset[QualityFlag]]:
    """When the measurement was taken on the hub's timeline, and any flags that earns it.

    - no device time, or a live reading: the time of reception (the device clock is not the truth);
    - a stored record with a known offset (hub clock - device clock, read in the same session):
      the corrected device time;
    - a stored record from a device whose clock is "not set": it cannot be placed, so it keeps
      its device time and is flagged time-questionable rather than guessed;
    - a stored record with no offset known: the device time as it is;
    - whichever of these lies more than DEVICE_TIME_AHEAD_LIMIT after the reception was stamped
      by a clock that is ahead (nothing is measured after it reached the hub): flagged
      time-questionable, and placed at its reception — the latest it can have been taken — when
      the hub's clock is trusted; when it is not, the hub may be the one behind, so the device
      time is kept (and flagged).
    """
    if reading.device_time is None or QualityFlag.FROM_STORAGE not in reading.flags:
        return reading.received_at, frozenset()
    device_time = reading.device_time
    if device_time.tzinfo is None:
        device_time = device_time.replace(tzinfo=local_zone)
    if QualityFlag.DEVICE_CLOCK_NOT_SET in reading.flags:
        placed, flags = device_time, frozenset({QualityFlag.TIME_QUESTIONABLE})
    elif device_clock_offset is not None:
        placed, flags = device_time + device_clock_offset, frozenset()
    else:
        placed, flags = device_time, frozenset()
    if placed > reading.received_at + DEVICE_TIME_AHEAD_LIMIT:
        return (reading.received_at if hub_clock_trusted else placed), frozenset({QualityFlag.TIME_QUESTIONABLE})
    return placed, flags
