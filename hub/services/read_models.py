"""What the screens and the centre read: views of stored measurements and where sending stands,
built from a query port (hub.store implements it) with a fixed number of queries per question.

Views are plain frozen dataclasses, safe to hand to Kivy properties and to serialise.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Protocol

from hub.domain.evaluation import Evaluation
from hub.domain.devices import FAMILY_KINDS, DeviceFamily, family_of
from hub.domain.evaluation import Evaluation
from hub.domain.measurements import Measurement
from hub.domain.readings import AbsentReason, MeasurementKind, Provenance, QualityFlag

K = MeasurementKind


class SendState(enum.StrEnum):
    """What the patient sees next to a value."""

    SENT = "sent"  # every destination has it: "sent ✓"
    WAITING = "waiting"  # at least one destination still to go: "waiting to send"
    FAILED = "failed"  # a destination refused it for good: "could not be sent — your nurse knows"
    NOT_SHARED = "not-shared"  # the patient withdrew consent for a destination: "not shared with <it>"


class Connection(enum.StrEnum):
    """Whether the hub reaches the places it sends to, as the patient sees it."""

    OK = "ok"  # nothing is waiting on a failed attempt
    TRYING = "trying"  # a destination could not be reached; the hub keeps trying


@dataclass(frozen=True, slots=True)
class ComponentView:
    kind: MeasurementKind
    value: float | None
    unit: str
    absent_reason: AbsentReason | None = None


@dataclass(frozen=True, slots=True)
class MeasurementView:
    id: str
    kind: MeasurementKind
    value: float | None
    unit: str
    absent_reason: AbsentReason | None
    flags: frozenset[QualityFlag]
    provenance: Provenance
    taken_at: datetime
    device_name: str | None
    components: tuple[ComponentView, ...] = ()  # a panel's values (blood pressure)
    evaluation: Evaluation | None = None  # the plan's zone and advice, decided when it was recorded

    def component(self, kind: MeasurementKind) -> ComponentView | None:
        return next((c for c in self.components if c.kind == kind), None)


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    name: str
    delivered: int
    waiting: int
    failed: int


@dataclass(frozen=True, slots=True)
class CouldNotBeSent:
    """A measurement a destination refused for good: what the technician and the nurse see."""

    measurement_id: str
    destination: str
    kind: str
    taken_at: datetime
    reason: str  # the destination's answer (status and issue codes), never patient data


@dataclass(frozen=True, slots=True)
class TodayItem:
    family: DeviceFamily
    done: bool
    latest: tuple[MeasurementView, ...]  # today's newest value of each kind of the family
    send_state: SendState | None  # of those values; None when nothing was measured today
    not_shared: tuple[str, ...] = ()  # destinations that will not get them: consent withdrawn


@dataclass(frozen=True, slots=True)
class TodayView:
    day: date
    items: tuple[TodayItem, ...]
    send_state: SendState | None  # of everything the hub holds; None when it holds nothing
    waiting: int
    failed: int
    connection: Connection
    battery_low: tuple[str, ...]  # device names whose battery the device says is low
    battery_low_families: tuple[DeviceFamily | None, ...] = ()  # each one's family (same order): what the patient calls it


class DeliveryRow(Protocol):
    @property
    def destination(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...


class SetAsideRow(Protocol):
    @property
    def measurement_id(self) -> str: ...
    @property
    def destination(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def taken_at(self) -> datetime: ...
    @property
    def reason(self) -> str: ...


class QueryPort(Protocol):
    """The reads the views are built from (hub.store.Store implements them)."""

    async def measurements(self, *, kind: str | None = None, limit: int = 1000) -> list[Measurement]: ...

    async def measurements_by_id(self, ids: Sequence[str]) -> list[Measurement]: ...

    async def delivery_states_of(self, resource_ids: Sequence[str]) -> dict[str, list[DeliveryRow]]: ...

    async def outbox_counts(self) -> dict[str, dict[str, int]]: ...

    async def set_aside(self) -> Sequence[SetAsideRow]: ...


def view_of(m: Measurement) -> MeasurementView:
    r = m.reading
    return MeasurementView(
        id=str(m.id),
        kind=r.kind,
        value=r.value,
        unit=r.unit,
        absent_reason=r.absent_reason,
        flags=r.flags,
        provenance=m.provenance,
        taken_at=m.effective_time,
        device_name=r.device.name if r.device else None,
        components=tuple(ComponentView(c.kind, c.value, c.unit, c.absent_reason) for c in r.components),
        evaluation=m.evaluation,
    )


def send_state_of(states: Sequence[str]) -> SendState:
    """One state for a value's outbox rows: failed beats waiting beats not shared beats sent.

    `withdrawn` (consent withdrawn before it was sent: kept, never sent) is NOT_SHARED, never
    SENT: the patient must not be told a value went somewhere it did not."""
    if any(s == "dead" for s in states):
        return SendState.FAILED
    if any(s == "pending" for s in states):
        return SendState.WAITING
    if any(s == "withdrawn" for s in states):
        return SendState.NOT_SHARED
    return SendState.SENT


def _withdrawn_from(rows: Iterable[DeliveryRow]) -> list[str]:
    names: list[str] = []
    for s in rows:
        if s.state == "withdrawn" and s.destination not in names:
            names.append(s.destination)
    return names


class ReadModels:
    """The queries behind hub.api: each answers with a fixed number of reads, whatever the
    number of values shown."""

    def __init__(
        self,
        queries: QueryPort,
        *,
        families: Sequence[DeviceFamily],
        local_zone: tzinfo,
        clock: Callable[[], datetime],
    ) -> None:
        self._queries = queries
        self._families = tuple(families)
        self._zone = local_zone
        self._clock = clock

    async def recent(self, *, kind: MeasurementKind | None = None, limit: int = 50) -> list[MeasurementView]:
        return [view_of(m) for m in await self._queries.measurements(kind=kind.value if kind else None, limit=limit)]

    async def measurement(self, measurement_id: str) -> MeasurementView | None:
        """One measurement by id, however old (a meter's back-filled record too)."""
        found = await self._queries.measurements_by_id([measurement_id])
        return view_of(found[0]) if found else None

    async def history(self, kind: MeasurementKind, *, days: int, limit: int = 2000) -> list[MeasurementView]:
        since = self._clock() - timedelta(days=days)
        views = [view_of(m) for m in await self._queries.measurements(kind=kind.value, limit=limit)]
        return sorted((v for v in views if v.taken_at >= since), key=lambda v: v.taken_at)

    async def _rows(self, ids: Iterable[str]) -> list[DeliveryRow]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        by_id = await self._queries.delivery_states_of(wanted)
        return [row for mid in wanted for row in by_id.get(mid, [])]

    async def send_state(self, measurement_id: str) -> SendState:
        return send_state_of([s.state for s in await self._rows([measurement_id])])

    async def send_states(self, measurement_ids: Iterable[str]) -> SendState | None:
        ids = list(measurement_ids)
        return send_state_of([s.state for s in await self._rows(ids)]) if ids else None

    async def not_shared_with(self, measurement_ids: Iterable[str]) -> list[str]:
        return _withdrawn_from(await self._rows(measurement_ids))

    async def destinations(self) -> list[DestinationStatus]:
        counts = await self._queries.outbox_counts()
        return [
            DestinationStatus(name, c.get("delivered", 0), c.get("pending", 0), c.get("dead", 0))
            for name, c in sorted(counts.items())
        ]

    async def could_not_be_sent(self) -> list[CouldNotBeSent]:
        return [
            CouldNotBeSent(a.measurement_id, a.destination, a.kind, a.taken_at, a.reason)
            for a in await self._queries.set_aside()
        ]

    async def today(self) -> TodayView:
        """Three reads: the recent values, the outbox rows of today's newest ones, the counts."""
        now = self._clock().astimezone(self._zone)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        recent = [view_of(m) for m in await self._queries.measurements(limit=300)]  # newest first
        todays = [v for v in recent if v.taken_at.astimezone(self._zone) >= start]
        latest_of: dict[DeviceFamily, list[MeasurementView]] = {}
        for family in self._families:
            latest_of[family] = []
            for kind in FAMILY_KINDS[family]:
                if kind is K.OXIMETRY_SUMMARY:  # a night's recording is read in History, not a task done today
                    continue
                newest = next((v for v in todays if v.kind == kind), None)
                if newest is not None:
                    latest_of[family].append(newest)
        ids = [v.id for latest in latest_of.values() for v in latest]
        rows_of = await self._queries.delivery_states_of(ids) if ids else {}
        items: list[TodayItem] = []
        trying = False
        for family, latest in latest_of.items():
            rows = [s for v in latest for s in rows_of.get(v.id, [])]
            trying |= any(s.state == "pending" and s.attempts > 0 and s.last_error is not None for s in rows)
            state = send_state_of([s.state for s in rows]) if latest else None
            items.append(TodayItem(family, bool(latest), tuple(latest), state, tuple(_withdrawn_from(rows))))
        dests = await self.destinations()
        waiting = sum(d.waiting for d in dests)
        failed = sum(d.failed for d in dests)
        overall = None if not dests else send_state_of(["dead"] * failed + ["pending"] * waiting)
        low = _battery_low(recent, now)
        return TodayView(
            day=now.date(),
            items=tuple(items),
            send_state=overall,
            waiting=waiting,
            failed=failed,
            connection=Connection.TRYING if trying else Connection.OK,
            battery_low=tuple(name for name, _ in low),
            battery_low_families=tuple(family for _, family in low),
        )


def _battery_low(recent: Sequence[MeasurementView], now: datetime) -> list[tuple[str, DeviceFamily | None]]:
    """Devices whose newest session (within three days) says the battery is low, with the family
    of what they measured."""
    battery: list[tuple[str, DeviceFamily | None]] = []
    newest: dict[str, datetime] = {}
    for v in recent:  # newest first: a device's newest session says whether its battery is low now
        if v.device_name is None or v.taken_at < now - timedelta(days=3):
            continue
        session = newest.setdefault(v.device_name, v.taken_at)
        if v.taken_at == session and QualityFlag.BATTERY_LOW in v.flags and v.device_name not in (n for n, _ in battery):
            battery.append((v.device_name, family_of(v.kind)))
    return battery
