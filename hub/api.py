"""The facade the UI and the centre's remote channel talk to: commands and observable state.

Nothing outside `hub` needs to know how measurements are stored or sent; it asks here. Views are
plain frozen dataclasses, safe to hand to Kivy properties.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hub.domain.measurements import Measurement
from hub.domain.readings import AbsentReason, MeasurementKind, Provenance, QualityFlag
from hub.services.events import Event, EventBus
from hub.services.measurements import MeasurementService


class SendState(enum.StrEnum):
    """What the patient sees next to a value."""

    SENT = "sent"  # every destination has it: "sent ✓"
    WAITING = "waiting"  # at least one destination still to go: "waiting to send"
    FAILED = "failed"  # a destination refused it for good: "could not be sent — your nurse knows"


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
    )


class HubApi:
    def __init__(
        self,
        *,
        measurements: MeasurementService,
        queries: QueryPort,
        events: EventBus,
        measure: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        self._measurements = measurements
        self._queries = queries
        self._events = events
        self._measure = measure

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        return self._events.subscribe(listener)

    async def measure_now(self, *, timeout: float = 60.0) -> None:
        """Look for a device, take what it sends, record it. Results arrive as events."""
        if self._measure is None:
            raise RuntimeError("this hub has no Bluetooth link configured")
        await self._measure(timeout)

    async def record_manual(self, kind: MeasurementKind, value: float, unit: str) -> MeasurementView:
        outcome = await self._measurements.record_manual(kind, value, unit)
        assert outcome.measurement is not None  # a manual value is always the patient's
        return view_of(outcome.measurement)

    async def recent(self, *, kind: MeasurementKind | None = None, limit: int = 50) -> list[MeasurementView]:
        return [view_of(m) for m in await self._queries.measurements(kind=kind.value if kind else None, limit=limit)]

    async def send_state(self, measurement_id: str) -> SendState:
        states = await self._queries.delivery_states(measurement_id)
        return send_state_of([s.state for s in states])

    async def destinations(self) -> list[DestinationStatus]:
        counts = await self._queries.outbox_counts()
        return [
            DestinationStatus(name, c.get("delivered", 0), c.get("pending", 0), c.get("dead", 0))
            for name, c in sorted(counts.items())
        ]


def send_state_of(states: Sequence[str]) -> SendState:
    if any(s == "dead" for s in states):
        return SendState.FAILED
    if any(s == "pending" for s in states):
        return SendState.WAITING
    return SendState.SENT
