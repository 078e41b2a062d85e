"""The session flow every standard-profile driver shares (blood pressure, scales, thermometers,
glucose meters) and the device-clock rules they all follow.

The shared session flow (`StandardHealthDriver.start`): Device Information for identity, then
the device clock (Current Time 0x2A2B, else Date Time 0x2A08 wherever the device put it) read
once, which gives every reading of the session its `device_clock_offset` (hub clock - device
clock); then, by the driver's `ClockPolicy`, the clock is set; then the measurements are
subscribed to (devices send what they stored as soon as the hub subscribes). Reading the clock
before setting it matters: stored records were stamped by the old clock.

Device time rules (`time_fields`), never guessing:
* a timestamp the device sent as "unknown" (all zero), a device clock that reads "unknown" or a
  time before 2020, or a record stamped before 2020: DEVICE_CLOCK_NOT_SET and TIME_QUESTIONABLE
  (the hub then places the reading at its reception and says the time is uncertain);
* a reading whose time, corrected by the offset, lies after its reception by more than
  hub.domain.plausibility.DEVICE_TIME_AHEAD_LIMIT: TIME_QUESTIONABLE (placed at its reception);
* otherwise a reading whose time, corrected by the offset, lies more than two minutes before its
  reception came out of the device's memory (FROM_STORAGE): the hub places it at its corrected
  device time. These profiles have no "from storage" bit; this is the substitute.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.exc import BleakError

from drivers.devices.base import Advertisement, Driver, Session
from drivers.devices.pulse_oximeter import read_device_identity
from drivers.gatt import MalformedPacket
from drivers.gatt.blood_pressure import UNKNOWN_USER
from drivers.gatt.current_time import CURRENT_TIME_UUID, CurrentTime, encode_current_time, parse_current_time
from drivers.gatt.datetime import encode_date_time, parse_date_time
from drivers.protocol.device_values import ABSENT_REASONS, CLOCK_PLAUSIBLE_FROM, clock_is_set, clock_offset, value_or_reason
from hub.domain.plausibility import DEVICE_TIME_AHEAD_LIMIT
from hub.domain.readings import DeviceIdentity, QualityFlag

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

logger = logging.getLogger(__name__)

EventCallback = Callable[[str, dict[str, Any]], None]

DATE_TIME_UUID = "00002a08-0000-1000-8000-00805f9b34fb"
AND_CUSTOM_SERVICE_UUID = "233bf000-5a34-1b6d-975c-000d5690abe4"

STORED_AFTER = timedelta(minutes=2)
"""A reading placed this much before its reception came out of the device's memory."""
CLOCK_TOLERANCE = timedelta(minutes=5)
"""Drift a device clock may have before the hub sets it (when its policy is WHEN_DRIFTED)."""

_NOT_SET = frozenset({QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE})


# --- device clocks (shared with the scale and thermometer drivers) ------------------------------


def system_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def wall_clock(now: datetime, zone: tzinfo) -> datetime:
    """The hub's aware time as the naive wall-clock time a device clock shows in `zone`."""
    return now.astimezone(zone).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """A device's clock as read once in a session.

    `device_time` is the naive wall-clock time it showed (None: it said "unknown"), `read_at`
    the hub's aware time of the read, `local_zone` the zone device clocks are kept in.
    """

    device_time: datetime | None
    read_at: datetime
    local_zone: tzinfo
    characteristic: str = CURRENT_TIME_UUID

    @property
    def is_set(self) -> bool:
        return clock_is_set(self.device_time)

    @property
    def offset(self) -> timedelta | None:
        """hub clock - device clock in whole seconds (a device shows whole seconds, cut, so the
        fraction is the hub's), or None when the clock is not set."""
        return clock_offset(self.read_at, self.device_time, self.local_zone)

    def needs_setting(self, tolerance: timedelta) -> bool:
        offset = self.offset
        return offset is None or abs(offset) > tolerance


def time_fields(
    timestamp: datetime | None,
    timestamp_present: bool,
    *,
    received_at: datetime,
    clock: DeviceClock | None,
    local_zone: tzinfo,
) -> tuple[datetime | None, frozenset[QualityFlag], timedelta | None]:
    """(device_time, time flags, device_clock_offset) for a reading. Pure; see the module doc."""
    offset = clock.offset if clock is not None else None
    if timestamp is None:
        return None, (_NOT_SET if timestamp_present else frozenset()), offset
    if timestamp < CLOCK_PLAUSIBLE_FROM or (clock is not None and not clock.is_set):
        return timestamp, _NOT_SET, offset
    placed = timestamp.replace(tzinfo=local_zone) + (offset or timedelta(0))
    if placed > received_at + DEVICE_TIME_AHEAD_LIMIT:
        # Stamped after it reached the hub: the stamp is wrong, so the reading is placed at its
        # reception, as a live one, and its time said to be uncertain.
        return timestamp, frozenset({QualityFlag.TIME_QUESTIONABLE}), offset
    if placed < received_at - STORED_AFTER:
        return timestamp, frozenset({QualityFlag.FROM_STORAGE}), offset
    return timestamp, frozenset(), offset


def device_user(user_id: int | None) -> int | None:
    """The device's user number; 255 ("unknown user") is None."""
    return None if user_id is None or user_id == UNKNOWN_USER else user_id


class ClockPolicy(enum.Enum):
    NEVER = "never"
    WHEN_DRIFTED = "when-drifted"  # not set, or off by more than the tolerance
    ALWAYS = "always"  # at every connection (A&D)


def find_characteristic(client: BleakClient, uuid: str) -> BleakGATTCharacteristic | None:
    return client.services.get_characteristic(uuid)


def _writable(characteristic: BleakGATTCharacteristic) -> bool:
    return bool({"write", "write-without-response"} & set(characteristic.properties))


class StandardHealthDriver(Driver):
    """The session flow shared by the standard-profile drivers; subclasses implement `subscribe`.

    `local_zone`: the zone device clocks are kept in (the hub's; default the system's).
    `on_event`: live events for the UI (e.g. cuff pressure), same signature as the link's.
    `clock_trusted`: whether the hub's own clock may be written into a device (a Pi before NTP
    must not spread its wrong time); default always.
    """

    clock_policy: ClassVar[ClockPolicy] = ClockPolicy.WHEN_DRIFTED
    clock_characteristics: ClassVar[tuple[str, ...]] = (CURRENT_TIME_UUID, DATE_TIME_UUID)
    pair_before_discovery: ClassVar[bool] = False

    def __init__(
        self,
        *,
        local_zone: tzinfo | None = None,
        on_event: EventCallback | None = None,
        clock_tolerance: timedelta = CLOCK_TOLERANCE,
        clock_trusted: Callable[[], bool] | None = None,
    ) -> None:
        self._local_zone = local_zone
        self.on_event = on_event
        self.clock_tolerance = clock_tolerance
        self._clock_trusted = clock_trusted
        self.clocks: dict[str, DeviceClock] = {}  # by address: the last clock read (diagnostics)

    @property
    def local_zone(self) -> tzinfo:
        return self._local_zone or system_zone()

    async def start(self, client: BleakClient, advertisement: Advertisement, session: Session) -> DeviceIdentity:
        identity = await read_device_identity(client, advertisement)
        session.identify(identity)
        await self.prepare(client, identity, session)
        clock = await self.read_clock(client, identity, session)
        if clock is not None:
            self.clocks[identity.address] = clock
            await self.set_clock_if_needed(client, identity, session, clock)
        await self.subscribe(client, identity, session, clock)
        return identity

    async def prepare(self, client: BleakClient, identity: DeviceIdentity, session: Session) -> None:
        """Read what the session needs before the clock (features, fixed settings)."""

    async def subscribe(
        self, client: BleakClient, identity: DeviceIdentity, session: Session, clock: DeviceClock | None
    ) -> None:
        raise NotImplementedError

    # -- clock ---------------------------------------------------------------------------------

    async def read_optional(self, client: BleakClient, uuid: str, identity: DeviceIdentity) -> bytes | None:
        """Read a characteristic the session can do without: None when absent or unreadable."""
        characteristic = find_characteristic(client, uuid)
        if characteristic is None or "read" not in characteristic.properties:
            return None
        try:
            return bytes(await client.read_gatt_char(uuid))
        except BleakError as error:
            if not client.is_connected:
                raise
            logger.warning("%s: %s not readable: %s", identity.address, uuid[4:8], error)
            return None

    async def read_clock(self, client: BleakClient, identity: DeviceIdentity, session: Session) -> DeviceClock | None:
        for uuid in self.clock_characteristics:
            data = await self.read_optional(client, uuid, identity)
            if data is None:
                continue
            try:
                shown = parse_current_time(data).time if uuid == CURRENT_TIME_UUID else parse_date_time(data)
            except MalformedPacket as error:
                logger.warning("%s: device clock unreadable: %s", identity.address, error)
                return None
            return DeviceClock(device_time=shown, read_at=session.now(), local_zone=self.local_zone, characteristic=uuid)
        return None

    def _should_set(self, clock: DeviceClock) -> bool:
        if self.clock_policy is ClockPolicy.NEVER:
            return False
        if self._clock_trusted is not None and not self._clock_trusted():
            return False
        return self.clock_policy is ClockPolicy.ALWAYS or clock.needs_setting(self.clock_tolerance)

    async def set_clock_if_needed(
        self, client: BleakClient, identity: DeviceIdentity, session: Session, clock: DeviceClock
    ) -> bool:
        """Write the hub's wall-clock time into the characteristic the clock was read from."""
        characteristic = find_characteristic(client, clock.characteristic)
        if characteristic is None or not _writable(characteristic) or not self._should_set(clock):
            return False
        now = wall_clock(session.now(), self.local_zone)
        if clock.characteristic == CURRENT_TIME_UUID:
            data = encode_current_time(CurrentTime.from_datetime(now, external_reference_time_update=True))
        else:
            data = encode_date_time(now)
        try:
            await client.write_gatt_char(clock.characteristic, data, response=True)
        except BleakError as error:
            if not client.is_connected:
                raise
            logger.warning("%s: device clock not set: %s", identity.address, error)
            return False
        logger.info("%s: device clock set (it was off by %s)", identity.address, clock.offset)
        return True

    def emit(self, name: str, details: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(name, details)
        except Exception:  # noqa: BLE001 - the UI must not break a session
            logger.exception("event callback failed for %s", name)


__all__ = [
    "ABSENT_REASONS",
    "AND_CUSTOM_SERVICE_UUID",
    "CLOCK_PLAUSIBLE_FROM",
    "CLOCK_TOLERANCE",
    "DATE_TIME_UUID",
    "STORED_AFTER",
    "ClockPolicy",
    "DeviceClock",
    "EventCallback",
    "StandardHealthDriver",
    "device_user",
    "find_characteristic",
    "system_zone",
    "time_fields",
    "value_or_reason",
    "wall_clock",
]
