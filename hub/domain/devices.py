"""Devices in the domain's words: the family a device belongs to, and what the hub remembers
about a device between sessions, as the drivers ask for it.

`DeviceHistory` is a port (implemented by hub.store, handed to drivers by the composition root):
drivers import hub.domain only, so the question is asked here in the domain's words. Each driver
declares its `DeviceFamily`, so nothing has to guess it from a driver's name.
"""

from __future__ import annotations

import enum
from typing import Protocol

from hub.domain.readings import DeviceIdentity, MeasurementKind


class DeviceFamily(enum.StrEnum):
    """A kind of device the patient measures with; each has its own measuring screen."""

    PULSE_OXIMETER = "pulse-oximeter"
    BLOOD_PRESSURE = "blood-pressure"
    WEIGHT = "weight"
    GLUCOSE = "glucose"
    THERMOMETER = "thermometer"


class DeviceHistory(Protocol):
    async def last_sequence(self, device: DeviceIdentity, kind: MeasurementKind) -> int | None:
        """The sequence number of the record most recently received from this device for this
        kind, or None when nothing with a sequence number is stored. A meter is asked only for
        records after it; a meter whose last record is lower has had its memory cleared."""
        ...
