"""What the hub remembers about a device between sessions, as the drivers ask for it.

A port (implemented by hub.store, handed to drivers by the composition root): drivers import
hub.domain only, so the question is asked here in the domain's words.
"""

from __future__ import annotations

from typing import Protocol

from hub.domain.readings import DeviceIdentity, MeasurementKind


class DeviceHistory(Protocol):
    async def last_sequence(self, device: DeviceIdentity, kind: MeasurementKind) -> int | None:
        """The sequence number of the record most recently received from this device for this
        kind, or None when nothing with a sequence number is stored. A meter is asked only for
        records after it; a meter whose last record is lower has had its memory cleared."""
        ...
