"""The kit: the devices handed out with a hub, as the technician sees them, and the rule that a
technician's test measurement is never the patient's.

A kit entry is built from what the hub knows: the Bluetooth bonds (paired devices) and the newest
measurement each device gave (its Device Information: serial, model, firmware; when it was last
seen; its clock's offset to the hub's; whether its battery was low in that session). Pure: the
caller reads the bonds and the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.domain.measurements import Measurement
from hub.domain.readings import DeviceIdentity, QualityFlag

# Flags that make a value not the patient's: never queued for a care provider, never evaluated.
# A technician's test measurement (pairing a kit) and a glucose meter's control-solution check.
NEVER_SHARED = frozenset({QualityFlag.CONTROL_SOLUTION, QualityFlag.TECHNICIAN_TEST})


def shared_with_care_providers(flags: Iterable[QualityFlag]) -> bool:
    """May a value with these flags be queued for a care provider? Not a test, not a meter check."""
    return not (frozenset(flags) & NEVER_SHARED)


@dataclass(frozen=True, slots=True)
class KitEntry:
    address: str
    paired: bool  # the hub holds a Bluetooth bond for it
    identity: DeviceIdentity | None  # what Device Information said, when it ever measured
    last_seen: datetime | None
    clock_offset: timedelta | None  # hub clock − device clock, in its newest session
    battery_low: bool  # its newest session said the battery is low (most devices say only that)

    @property
    def battery(self) -> str:
        return "low" if self.battery_low else "not reported low"


def _norm(address: str) -> str:
    return address.replace("-", ":").upper()


def kit_entries(bonded: Iterable[str], measurements: Iterable[Measurement]) -> list[KitEntry]:
    """One entry per device that is paired or has measured, newest information first; paired
    devices that never measured are listed too (a technician paired them and has not tested)."""
    newest: dict[str, Measurement] = {}
    for m in measurements:
        device = m.reading.device
        if device is None:
            continue
        key = _norm(device.address)
        if key not in newest or m.reading.received_at > newest[key].reading.received_at:
            newest[key] = m
    paired = {_norm(a) for a in bonded}
    entries = []
    for key in sorted(paired | set(newest)):
        m = newest.get(key)
        entries.append(
            KitEntry(
                address=key,
                paired=key in paired,
                identity=m.reading.device if m else None,
                last_seen=m.reading.received_at if m else None,
                clock_offset=m.reading.device_clock_offset if m else None,
                battery_low=bool(m and QualityFlag.BATTERY_LOW in m.reading.flags),
            )
        )
    return entries
