"""What a technician's scan heard: the supported devices nearby, strongest signal first, each
marked known (the hub is bonded to it or has it in its kit) or new; the signal in bars; and the
kit without the devices a technician unpaired (their readings stay stored).

Pure: the link hears the advertisements, the services read the bonds and the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from hub.domain.kit import KitEntry

# RSSI (dBm) at or above which a signal earns 4, 3, 2, 1 bars. A device held next to the hub
# reads about -40 to -60; across a room about -70 to -80; beyond a wall -85 and weaker, where
# pairing and a night's recording start to fail.
BAR_FLOORS = (-60, -70, -80, -90)
MAX_BARS = len(BAR_FLOORS)


@dataclass(frozen=True, slots=True)
class NearbyDevice:
    """One supported device the scan heard (no patient data: what the device advertises)."""

    address: str
    name: str | None
    driver: str  # the driver that matched it (drivers.devices), e.g. "plx-standard"
    family: str | None  # the device family its driver declares (hub.domain.devices.DeviceFamily value)
    rssi: int | None  # dBm, the latest heard; None when the stack did not say
    known: bool = False  # bonded to, or in the kit

    @property
    def bars(self) -> int:
        return signal_bars(self.rssi)


@dataclass(frozen=True, slots=True)
class ScanReport:
    """A bounded scan's outcome: the supported devices heard, strongest first, and how many
    other (unsupported) devices were heard too (so "nothing found" is told from "nothing on")."""

    devices: tuple[NearbyDevice, ...] = ()
    unsupported: int = 0


def norm_address(address: str) -> str:
    """One spelling of a Bluetooth address: upper case, colons, no Bumble type suffix ("/P")."""
    return address.split("/")[0].replace("-", ":").upper()


def signal_bars(rssi: int | None) -> int:
    """0..4 bars: 4 next to the hub, 0 when unknown or too weak to pair reliably."""
    if rssi is None:
        return 0
    return sum(1 for floor in BAR_FLOORS if rssi >= floor)


def heard(found: Mapping[str, NearbyDevice], seen: NearbyDevice) -> dict[str, NearbyDevice]:
    """The scan's list after one more advertisement: one entry per address, with the latest
    signal (the technician brings the device closer) and the latest name; a report without a
    signal or a name (a scan response, some stacks) keeps what an earlier one said."""
    key = norm_address(seen.address)
    before = found.get(key)
    merged = dict(found)
    if before is None:
        merged[key] = replace(seen, address=key)
    else:
        merged[key] = replace(
            seen,
            address=key,
            name=seen.name if seen.name is not None else before.name,
            rssi=seen.rssi if seen.rssi is not None else before.rssi,
            known=seen.known or before.known,
        )
    return merged


def strongest_first(devices: Iterable[NearbyDevice]) -> list[NearbyDevice]:
    """Strongest signal first (the device in the technician's hand is on top); unknown signals
    last; equal signals by name, then address, so the list does not jump between refreshes."""
    return sorted(devices, key=lambda d: (d.rssi is None, -(d.rssi or 0), (d.name or "").casefold(), d.address))


def is_known(address: str, bonded: Iterable[str], kit: Iterable[str]) -> bool:
    """Does the hub know this device: does it hold a bond for it, or is it in the kit list?"""
    key = norm_address(address)
    return any(norm_address(a) == key for a in (*bonded, *kit))


def mark_known(devices: Iterable[NearbyDevice], bonded: Iterable[str], kit: Iterable[str]) -> list[NearbyDevice]:
    bonded, kit = list(bonded), list(kit)
    return [replace(d, known=is_known(d.address, bonded, kit)) for d in devices]


def without_forgotten(entries: Iterable[KitEntry], forgotten: Mapping[str, datetime]) -> list[KitEntry]:
    """The kit without the devices a technician unpaired (`forgotten`: address -> when). A device
    paired again, or one that measured after it was forgotten, is in the kit again; its stored
    readings are never touched, only the list."""
    keep = []
    for entry in entries:
        when = forgotten.get(norm_address(entry.address))
        gone = when is not None and not entry.paired and (entry.last_seen is None or entry.last_seen <= when)
        if not gone:
            keep.append(entry)
    return keep


__all__ = [
    "BAR_FLOORS",
    "MAX_BARS",
    "NearbyDevice",
    "ScanReport",
    "heard",
    "is_known",
    "mark_known",
    "norm_address",
    "signal_bars",
    "strongest_first",
    "without_forgotten",
]
