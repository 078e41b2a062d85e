"""Drivers, their matchers and the ordered registry that picks one for an advertisement.

A `Driver` says declaratively which advertisements it handles (`Matcher`: service UUIDs,
service-data UUIDs, manufacturer id, local-name pattern, connectable or broadcast-only) and may
override `matches()` for odd devices. The `Registry` asks drivers in order; the first match wins,
so a specific driver (a vendor's quirky oximeter) must be registered before a generic one.

A connectable driver gets a connected `bleak.BleakClient` and a `Session`: it reads what it needs,
subscribes, and from then on hands each `Reading` to `session.deliver()` (never blocks; the link
manager commits readings in order through the hub's sink). It never disconnects, pairs or unpairs
by itself: the link manager owns the connection.
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from bleak.uuids import normalize_uuid_str

from hub.domain.devices import DeviceFamily
from hub.domain.oximetry import OximetryPoint
from hub.domain.readings import DeviceIdentity, Reading

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def normalize_uuid(value: str | int) -> str:
    """'1822', 0x1822 or a full UUID -> '00001822-0000-1000-8000-00805f9b34fb'."""
    if isinstance(value, int):
        return f"{value:08x}-0000-1000-8000-00805f9b34fb"
    return normalize_uuid_str(value)


@dataclass(frozen=True, slots=True)
class Advertisement:
    """What one advertisement said, independent of the Bluetooth stack that heard it."""

    address: str
    name: str | None = None
    service_uuids: frozenset[str] = frozenset()
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    connectable: bool | None = None  # None: the stack does not say
    rssi: int | None = None

    @classmethod
    def from_bleak(cls, device: BLEDevice, data: AdvertisementData) -> Advertisement:
        connectable: bool | None = None
        if data.platform_data:
            flag = getattr(data.platform_data[0], "is_connectable", None)  # Bumble's report
            if isinstance(flag, bool):
                connectable = flag
        return cls(
            address=device.address.upper(),
            name=data.local_name or device.name,
            service_uuids=frozenset(normalize_uuid(u) for u in data.service_uuids),
            service_data={normalize_uuid(k): bytes(v) for k, v in data.service_data.items()},
            manufacturer_data={int(k): bytes(v) for k, v in data.manufacturer_data.items()},
            connectable=connectable,
            rssi=data.rssi,
        )


@dataclass(frozen=True)
class Matcher:
    """Which advertisements a driver handles. Every criterion given must hold (AND); within
    `service_uuids` / `service_data_uuids` any one UUID is enough (OR).

    `local_name` is a regular expression matched against the whole advertised name;
    `example_name` is a name it accepts (required with `local_name`: the catalogue test builds
    an advertisement from it). `connectable=True`: the driver connects, so an advertisement that
    says it is not connectable does not match. `connectable=False`: a broadcast-only driver that
    reads its values from advertisements and never connects.
    """

    service_uuids: frozenset[str] = frozenset()
    service_data_uuids: frozenset[str] = frozenset()
    manufacturer_id: int | None = None
    local_name: str | None = None
    example_name: str | None = None
    connectable: bool = True
    _name_pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "service_uuids", frozenset(normalize_uuid(u) for u in self.service_uuids))
        object.__setattr__(self, "service_data_uuids", frozenset(normalize_uuid(u) for u in self.service_data_uuids))
        if not (self.service_uuids or self.service_data_uuids or self.manufacturer_id is not None or self.local_name):
            raise ValueError("a Matcher needs at least one criterion")
        if self.local_name is not None:
            pattern = re.compile(self.local_name)
            object.__setattr__(self, "_name_pattern", pattern)
            if self.example_name is None or not pattern.fullmatch(self.example_name):
                raise ValueError("a local_name pattern needs an example_name it matches")

    def matches(self, advertisement: Advertisement) -> bool:
        if self.connectable and advertisement.connectable is False:
            return False
        if self.service_uuids and not self.service_uuids & advertisement.service_uuids:
            return False
        if self.service_data_uuids and not self.service_data_uuids & set(advertisement.service_data):
            return False
        if self.manufacturer_id is not None and self.manufacturer_id not in advertisement.manufacturer_data:
            return False
        if self._name_pattern is not None:
            if advertisement.name is None or not self._name_pattern.fullmatch(advertisement.name):
                return False
        return True

    def example(self, address: str = "F0:00:00:00:00:01") -> Advertisement:
        """The plainest advertisement this matcher accepts (one of each criterion)."""
        return Advertisement(
            address=address,
            name=self.example_name,
            service_uuids=frozenset(sorted(self.service_uuids)[:1]),
            service_data={u: b"" for u in sorted(self.service_data_uuids)[:1]},
            manufacturer_data={} if self.manufacturer_id is None else {self.manufacturer_id: b""},
            connectable=self.connectable,
        )

    @property
    def scan_uuids(self) -> frozenset[str]:
        """Service UUIDs a scanner filter may use to find this driver's devices (may be empty)."""
        return self.service_uuids


class Session:
    """One connection's worth of readings, as a driver reports them to the link manager."""

    def __init__(
        self,
        *,
        address: str,
        clock: Clock = utc_now,
        deliver: Callable[[Reading | OximetryPoint], None],
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.address = address
        self.identity: DeviceIdentity | None = None
        self._clock = clock
        self._deliver = deliver
        self._monotonic = monotonic or time.monotonic
        self.last_activity = self._monotonic()
        self.delivered = 0
        self.skipped = 0
        self.points = 0  # continuous-recording points delivered (hub.domain.oximetry)

    def now(self) -> datetime:
        """The hub's clock (timezone-aware): `Reading.received_at`."""
        value = self._clock()
        if value.tzinfo is None:
            raise ValueError("the hub clock must return timezone-aware datetimes")
        return value

    def identify(self, identity: DeviceIdentity) -> None:
        self.identity = identity

    def touch(self) -> None:
        """The device said something (a reading, a malformed packet, a control response)."""
        self.last_activity = self._monotonic()

    def deliver(self, reading: Reading) -> None:
        self.touch()
        self.delivered += 1
        self._deliver(reading)

    def deliver_point(self, point: OximetryPoint) -> None:
        """One point of a stream the hub records (continuous oximetry). While a session delivers
        points it is a recording: the link keeps it open as long as the device streams (no
        session time limit) and tells the hub when the stream ended."""
        self.touch()
        self.points += 1
        self._deliver(point)

    @property
    def recording(self) -> bool:
        return self.points > 0

    def skip(self) -> None:
        """A packet that could not be turned into readings (already logged without values)."""
        self.touch()
        self.skipped += 1


class Driver(abc.ABC):
    """One kind of device. Subclasses set `name`, `family` and `matcher` and implement `start`.

    `family` is what the patient measures with (its measuring screen): declared by the driver,
    so nothing guesses it from the driver's name.
    """

    name: ClassVar[str]
    family: ClassVar[DeviceFamily]
    matcher: ClassVar[Matcher]

    def matches(self, advertisement: Advertisement) -> bool:
        """The escape hatch: override for devices a declarative matcher cannot describe."""
        return self.matcher.matches(advertisement)

    @property
    def connectable(self) -> bool:
        return self.matcher.connectable

    async def start(self, client: BleakClient, advertisement: Advertisement, session: Session) -> DeviceIdentity:
        """Connected: identify the device and subscribe; readings then go to `session.deliver`."""
        raise NotImplementedError(f"{self.name} does not connect")

    def readings_from_advertisement(self, advertisement: Advertisement, received_at: datetime) -> list[Reading]:
        """Broadcast-only drivers: the readings in one advertisement (possibly none)."""
        raise NotImplementedError(f"{self.name} does not read advertisements")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Registry:
    """An ordered list of drivers; `match` returns the first whose `matches()` says yes."""

    def __init__(self, drivers: Iterable[Driver] = ()) -> None:
        self._drivers: list[Driver] = []
        for driver in drivers:
            self.register(driver)

    def register(self, driver: Driver) -> Driver:
        if any(existing.name == driver.name for existing in self._drivers):
            raise ValueError(f"a driver named {driver.name!r} is already registered")
        self._drivers.append(driver)
        return driver

    def match(self, advertisement: Advertisement) -> Driver | None:
        for driver in self._drivers:
            if driver.matches(advertisement):
                return driver
        return None

    def scan_filter(self) -> list[str] | None:
        """Service UUIDs to give the scanner, or None when some driver needs every advertisement."""
        uuids: set[str] = set()
        for driver in self._drivers:
            if not driver.matcher.scan_uuids:
                return None
            uuids |= driver.matcher.scan_uuids
        return sorted(uuids) or None

    def __iter__(self) -> Iterator[Driver]:
        return iter(self._drivers)

    def __len__(self) -> int:
        return len(self._drivers)

    def __repr__(self) -> str:
        return f"Registry({[d.name for d in self._drivers]!r})"
