"""The facade the UI and the centre's remote channel talk to: commands and observable state.

Nothing outside `hub` needs to know how measurements are stored or sent; it asks here. Views are
plain frozen dataclasses, safe to hand to Kivy properties.
"""

from __future__ import annotations

import enum
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol

from hub.domain.devices import DeviceFamily  # re-exported: the UI names families through hub.api
from hub.domain.evaluation import Evaluation
from hub.domain.measurements import Measurement
from hub.domain.readings import (
    AbsentReason,
    Component,
    DeviceIdentity,
    MeasurementKind,
    Provenance,
    QualityFlag,
    Reading,
)
from hub.services.events import Event, EventBus
from hub.services.measurements import MeasurementService

log = logging.getLogger(__name__)


class SendState(enum.StrEnum):
    """What the patient sees next to a value."""

    SENT = "sent"  # every destination has it: "sent ✓"
    WAITING = "waiting"  # at least one destination still to go: "waiting to send"
    FAILED = "failed"  # a destination refused it for good: "could not be sent — your nurse knows"
    NOT_SHARED = "not-shared"  # the patient withdrew consent for a destination: "not shared with <it>"


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
class ComponentView:
    kind: MeasurementKind
    value: float | None
    unit: str
    absent_reason: AbsentReason | None = None


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    name: str
    delivered: int
    waiting: int
    failed: int


class QueryPort(Protocol):
    async def measurements(self, *, kind: str | None = None, limit: int = 1000) -> list[Measurement]: ...

    async def delivery_states(self, measurement_id: str) -> list: ...

    async def outbox_counts(self) -> dict[str, dict[str, int]]: ...

    async def set_aside(self) -> list: ...


@dataclass(frozen=True, slots=True)
class CouldNotBeSent:
    """A measurement a destination refused for good: what the technician and the nurse see."""

    measurement_id: str
    destination: str
    kind: str
    taken_at: datetime
    reason: str  # the destination's answer (status and issue codes), never patient data


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


K = MeasurementKind
FAMILY_KINDS: dict[DeviceFamily, tuple[MeasurementKind, ...]] = {
    # a continuous recording shows as its summary (its chunks are for the nurse's systems)
    DeviceFamily.PULSE_OXIMETER: (K.OXYGEN_SATURATION, K.PULSE_RATE, K.OXIMETRY_SUMMARY),
    DeviceFamily.BLOOD_PRESSURE: (K.BLOOD_PRESSURE, K.CUFF_PULSE_RATE),
    DeviceFamily.WEIGHT: (K.BODY_WEIGHT,),
    DeviceFamily.GLUCOSE: (K.BLOOD_GLUCOSE,),
    DeviceFamily.THERMOMETER: (K.BODY_TEMPERATURE,),
}


@dataclass(frozen=True, slots=True)
class ManualField:
    """One number the patient may type in by hand, with the range a person can have."""

    kind: MeasurementKind
    unit: str  # UCUM
    low: float
    high: float
    decimals: int = 0


MANUAL_FIELDS: dict[DeviceFamily, tuple[ManualField, ...]] = {
    DeviceFamily.PULSE_OXIMETER: (ManualField(K.OXYGEN_SATURATION, "%", 50, 100), ManualField(K.PULSE_RATE, "/min", 20, 250)),
    DeviceFamily.BLOOD_PRESSURE: (
        ManualField(K.SYSTOLIC_PRESSURE, "mm[Hg]", 50, 300),
        ManualField(K.DIASTOLIC_PRESSURE, "mm[Hg]", 20, 200),
        ManualField(K.CUFF_PULSE_RATE, "/min", 20, 250),
    ),
    DeviceFamily.WEIGHT: (ManualField(K.BODY_WEIGHT, "kg", 2, 400, 1),),
    DeviceFamily.GLUCOSE: (ManualField(K.BLOOD_GLUCOSE, "mmol/L", 0.5, 40, 1),),
    DeviceFamily.THERMOMETER: (ManualField(K.BODY_TEMPERATURE, "Cel", 30, 45, 1),),
}


def family_of(kind: MeasurementKind) -> DeviceFamily | None:
    for family, kinds in FAMILY_KINDS.items():
        if kind in kinds:
            return family
    if kind in (K.SYSTOLIC_PRESSURE, K.DIASTOLIC_PRESSURE, K.MEAN_ARTERIAL_PRESSURE):
        return DeviceFamily.BLOOD_PRESSURE
    return None


class ManualValueError(ValueError):
    """A typed value a person cannot have; `field` says which one."""

    def __init__(self, field: ManualField) -> None:
        super().__init__(f"{field.kind.value} must be between {field.low:g} and {field.high:g}")
        self.field = field


@dataclass(frozen=True, slots=True)
class FamilyView:
    family: DeviceFamily
    kinds: tuple[MeasurementKind, ...]
    by_device: bool  # this hub has a driver for the family and a Bluetooth link
    manual: tuple[ManualField, ...]


class Connection(enum.StrEnum):
    """Whether the hub reaches the places it sends to, as the patient sees it."""

    OK = "ok"  # nothing is waiting on a failed attempt
    TRYING = "trying"  # a destination could not be reached; the hub keeps trying


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


class PasskeyPrompt(Protocol):
    """What the touch app's pairing dialog implements (same shape as drivers' PasskeyProvider)."""

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None: ...

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool: ...

    async def consent_code_for(self, device: DeviceIdentity | str, user_index: int) -> int | None: ...


def device_label(device: DeviceIdentity | str) -> str:
    if isinstance(device, DeviceIdentity):
        return device.name or device.model or device.address
    return device


class Pairing:
    """The hub's passkey and consent-code provider: asks whichever prompt is attached (the touch
    app's dialog); with none attached (a headless hub) it cancels, as a person who is not there
    would."""

    def __init__(self) -> None:
        self._prompt: PasskeyPrompt | None = None

    def attach(self, prompt: PasskeyPrompt) -> Callable[[], None]:
        self._prompt = prompt

        def detach() -> None:
            if self._prompt is prompt:
                self._prompt = None

        return detach

    @property
    def attached(self) -> bool:
        return self._prompt is not None

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        return None if self._prompt is None else await self._prompt.passkey_for(device)

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        return False if self._prompt is None else await self._prompt.confirm_numeric(device, number)

    async def consent_code_for(self, device: DeviceIdentity | str, user_index: int) -> int | None:
        """A shared scale's 4-digit consent code for the patient's user on it (User Data
        Service), asked of the patient; None (cancel) with no prompt attached."""
        ask = getattr(self._prompt, "consent_code_for", None)
        return None if ask is None else await ask(device, user_index)


class HubApi:
    def __init__(
        self,
        *,
        measurements: MeasurementService,
        queries: QueryPort,
        events: EventBus,
        measure: Callable[..., Awaitable[object]] | None = None,  # (timeout[, family=...])
        families: Iterable[DeviceFamily] | None = None,
        device_families: Iterable[DeviceFamily] = (),
        local_zone: tzinfo = UTC,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pairing: Pairing | None = None,
    ) -> None:
        self._measurements = measurements
        self._queries = queries
        self._events = events
        self._measure = measure
        self._measure_by_family = _takes_keyword(measure, "family")
        self._device_families = tuple(device_families) if measure is not None else ()
        self._families = tuple(families) if families is not None else (self._device_families or (DeviceFamily.PULSE_OXIMETER,))
        self.local_zone = local_zone
        self.clock = clock
        self.pairing = pairing or Pairing()

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        return self._events.subscribe(listener)

    @property
    def can_measure(self) -> bool:
        return self._measure is not None

    def families(self) -> list[FamilyView]:
        """The device families the patient measures on this hub, in the order to show them."""
        return [
            FamilyView(f, FAMILY_KINDS[f], f in self._device_families, MANUAL_FIELDS[f]) for f in self._families
        ]

    async def measure_now(self, *, timeout: float = 60.0, family: DeviceFamily | None = None) -> None:
        """Look for a device, take what it sends, record it. Results arrive as events.

        `family`: what the patient is about to measure with (told in the "measuring-started"
        event). The hub looks for that family's devices first; a device of another family is
        still read when none of the chosen family answers (its values are shown as they are)."""
        if self._measure is None:
            raise RuntimeError("this hub has no Bluetooth link configured")
        self._events.publish("measuring-started", **({"family": family.value} if family else {}))
        outcome = "failed"
        try:
            if family is not None and self._measure_by_family:
                await self._measure(timeout, family=family)
            else:
                await self._measure(timeout)
            outcome = "done"
        except TimeoutError:
            outcome = "no-device"
            raise
        finally:
            self._events.publish("measuring-ended", outcome=outcome)

    async def record_manual(self, kind: MeasurementKind, value: float, unit: str) -> MeasurementView:
        outcome = await self._measurements.record_manual(kind, value, unit)
        assert outcome.measurement is not None  # a manual value is always the patient's
        return view_of(outcome.measurement)

    async def record_manual_family(self, family: DeviceFamily, values: dict[MeasurementKind, float | None]) -> list[MeasurementView]:
        """What the patient typed for one family, checked against what a person can have, each
        stored marked manual. Blood pressure becomes one panel (+ its pulse). Nothing is stored
        when any value is out of range (ManualValueError names the field)."""
        fields = MANUAL_FIELDS[family]
        given = {f.kind: (f, float(values[f.kind])) for f in fields if values.get(f.kind) is not None}
        for f, v in given.values():
            if not f.low <= v <= f.high:
                raise ManualValueError(f)
        if not given:
            raise ValueError("no value was given")
        now = self.clock()
        views: list[MeasurementView] = []
        if family is DeviceFamily.BLOOD_PRESSURE:
            sys_, dia = given.get(K.SYSTOLIC_PRESSURE), given.get(K.DIASTOLIC_PRESSURE)
            if sys_ is None or dia is None:
                raise ValueError("blood pressure needs both numbers")
            panel = Reading(
                kind=K.BLOOD_PRESSURE,
                value=None,
                unit="mm[Hg]",
                received_at=now,
                components=(Component(K.SYSTOLIC_PRESSURE, sys_[1], "mm[Hg]"), Component(K.DIASTOLIC_PRESSURE, dia[1], "mm[Hg]")),
            )
            outcome = await self._measurements.record_reading(panel, Provenance.MANUAL)
            assert outcome.measurement is not None
            views.append(view_of(outcome.measurement))
            given = {k: v for k, v in given.items() if k == K.CUFF_PULSE_RATE}
        for f, v in given.values():
            outcome = await self._measurements.record_manual(f.kind, v, f.unit, taken_at=now)
            assert outcome.measurement is not None
            views.append(view_of(outcome.measurement))
        return views

    async def recent(self, *, kind: MeasurementKind | None = None, limit: int = 50) -> list[MeasurementView]:
        return [view_of(m) for m in await self._queries.measurements(kind=kind.value if kind else None, limit=limit)]

    async def measurement(self, measurement_id: str, *, kind: MeasurementKind | None = None) -> MeasurementView | None:
        """One recent measurement by id (the UI asks for the one an event named)."""
        for m in await self._queries.measurements(kind=kind.value if kind else None, limit=200):
            if str(m.id) == measurement_id:
                return view_of(m)
        return None

    async def history(self, kind: MeasurementKind, *, days: int, limit: int = 2000) -> list[MeasurementView]:
        """The patient's values of one kind over the last `days` days, oldest first."""
        since = self.clock() - timedelta(days=days)
        views = [view_of(m) for m in await self._queries.measurements(kind=kind.value, limit=limit)]
        return sorted((v for v in views if v.taken_at >= since), key=lambda v: v.taken_at)

    async def send_state(self, measurement_id: str) -> SendState:
        states = await self._queries.delivery_states(measurement_id)
        return send_state_of([s.state for s in states])

    async def send_states(self, measurement_ids: Iterable[str]) -> SendState | None:
        """One state for several values: failed beats waiting beats not shared beats sent; None for
        no values."""
        states: list[str] = []
        ids = list(measurement_ids)
        for mid in ids:
            states += [s.state for s in await self._queries.delivery_states(mid)]
        return send_state_of(states) if ids else None

    async def not_shared_with(self, measurement_ids: Iterable[str]) -> list[str]:
        """The destinations that will not get these values because the patient withdrew consent
        for them (their outbox rows are kept as `withdrawn`, never sent), by name."""
        names: list[str] = []
        for mid in measurement_ids:
            for s in await self._queries.delivery_states(mid):
                if s.state == "withdrawn" and s.destination not in names:
                    names.append(s.destination)
        return names

    async def destinations(self) -> list[DestinationStatus]:
        counts = await self._queries.outbox_counts()
        return [
            DestinationStatus(name, c.get("delivered", 0), c.get("pending", 0), c.get("dead", 0))
            for name, c in sorted(counts.items())
        ]

    async def could_not_be_sent(self) -> list[CouldNotBeSent]:
        """Every measurement set aside at a destination, with the reason (oldest first)."""
        return [
            CouldNotBeSent(a.measurement_id, a.destination, a.kind, a.taken_at, a.reason)
            for a in await self._queries.set_aside()
        ]

    async def today(self) -> TodayView:
        """What the Today screen shows: each family, done today or not, and where sending stands."""
        now = self.clock().astimezone(self.local_zone)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        recent = [view_of(m) for m in await self._queries.measurements(limit=300)]
        todays = [v for v in recent if v.taken_at.astimezone(self.local_zone) >= start]
        items: list[TodayItem] = []
        trying = False
        for family in self._families:
            latest: list[MeasurementView] = []
            for kind in FAMILY_KINDS[family]:
                if kind is K.OXIMETRY_SUMMARY:  # a night's recording is read in History, not a task done today
                    continue
                newest = next((v for v in todays if v.kind == kind), None)  # recent is newest first
                if newest is not None:
                    latest.append(newest)
            states: list[str] = []
            withheld: list[str] = []
            for v in latest:
                for s in await self._queries.delivery_states(v.id):
                    states.append(s.state)
                    trying |= s.state == "pending" and s.attempts > 0 and s.last_error is not None
                    if s.state == "withdrawn" and s.destination not in withheld:
                        withheld.append(s.destination)
            items.append(TodayItem(family, bool(latest), tuple(latest), send_state_of(states) if latest else None, tuple(withheld)))
        dests = await self.destinations()
        waiting = sum(d.waiting for d in dests)
        failed = sum(d.failed for d in dests)
        overall = None if not dests else send_state_of(["dead"] * failed + ["pending"] * waiting)
        battery: list[str] = []
        newest: dict[str, datetime] = {}
        for v in recent:  # newest first: a device's newest session says whether its battery is low now
            if v.device_name is None or v.taken_at < now - timedelta(days=3):
                continue
            session = newest.setdefault(v.device_name, v.taken_at)
            if v.taken_at == session and QualityFlag.BATTERY_LOW in v.flags and v.device_name not in battery:
                battery.append(v.device_name)
        return TodayView(
            day=now.date(),
            items=tuple(items),
            send_state=overall,
            waiting=waiting,
            failed=failed,
            connection=Connection.TRYING if trying else Connection.OK,
            battery_low=tuple(battery),
        )


def _takes_keyword(fn: Callable[..., object] | None, name: str) -> bool:
    """Whether `fn` can be called with the keyword `name` (a measure command that knows families)."""
    if fn is None:
        return False
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


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
