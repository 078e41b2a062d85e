"""Record a measurement: the one use case every reading goes through.

A reading becomes a Measurement (a UUID fixed now, provenance, a time on the hub's timeline), is
evaluated against the patient's plan (the Evaluator port; today nothing is), and is written with
its evaluation and one outbox row per destination that receives it, in one transaction. Only
after that COMMIT is the reading acknowledged to anyone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from hub.domain.careplan.codes import KINDS_BY_LOINC
from hub.domain.evaluation import ZoneAlert
from hub.domain.kit import shared_with_care_providers
from hub.domain.measurements import Measurement, MonotonicAnchor, effective_time, natural_key
from hub.domain.outgoing import Outgoing, OutgoingKind, of_zone_alert
from hub.domain.plausibility import judge
from hub.domain.readings import DeviceIdentity, MeasurementKind, Provenance, QualityFlag, Reading, belongs_to_patient
from hub.services.evaluation import Evaluator, NoEvaluation
from hub.services.events import EventBus, MeasurementRecorded, ReadingOfAnotherUser

log = logging.getLogger(__name__)


class MeasurementStore(Protocol):
    async def record(
        self, measurement: Measurement, destinations: Iterable[str], *, with_: Sequence[tuple[Outgoing, Sequence[str]]] = ()
    ) -> "RecordedLike": ...

    async def measurements(self, *, kind: str | None = None, limit: int = 1000) -> list[Measurement]: ...


class HubClock(Protocol):
    """The hub's own clock (hub.platform.clock.SystemClock)."""

    def now(self) -> datetime: ...

    def anchor(self) -> MonotonicAnchor: ...

    def is_trusted(self) -> bool: ...


class RecordedLike(Protocol):
    measurement_id: str
    created: bool


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    measurement: Measurement | None  # None: not the patient's (another user of a shared device)
    created: bool  # False: this was a record the hub already had (a device re-sending memory)


class MeasurementService:
    def __init__(
        self,
        store: MeasurementStore,
        *,
        destinations_for: Callable[[MeasurementKind], Sequence[str]],
        local_zone: tzinfo,
        events: EventBus | None = None,
        device_users: dict[str, int] | None = None,
        hub_clock: HubClock | None = None,
        on_recorded: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        evaluator: Evaluator | None = None,
        resource_destinations: Callable[[OutgoingKind], Sequence[str]] | None = None,
    ) -> None:
        """`evaluator`: the plan's evaluation of each new value (hub.services.evaluation);
        `resource_destinations`: where a resource a value raises goes (a zone alert; routing and
        consent: ConsentService.destinations_for_resource). Without it an alert goes nowhere."""
        self.store = store
        self.evaluator: Evaluator = evaluator or NoEvaluation()
        self.destinations_for = destinations_for
        self.resource_destinations = resource_destinations
        self.local_zone = local_zone
        self.events = events or EventBus()
        self.device_users = dict(device_users or {})
        self.hub_clock = hub_clock
        self.on_recorded = on_recorded
        self.clock = clock
        self._clock_offsets: dict[str, timedelta] = {}

    def set_device_clock_offset(self, device: DeviceIdentity, offset: timedelta) -> None:
        """hub clock − device clock, as read in the current session."""
        self._clock_offsets[device.stable_id] = offset

    def to_measurement(self, reading: Reading, provenance: Provenance = Provenance.DEVICE) -> Measurement:
        """The reading made a Measurement: the one place every reading passes, so the limits of
        what a body can have (hub.domain.plausibility) are applied here and nowhere else."""
        # The natural key names the record as the device sent it, whatever the hub made of it.
        key = natural_key(reading) if provenance is Provenance.DEVICE else None
        judged = judge(reading)
        if judged is not reading:
            log.info("a %s reading is beyond what a body can have or usually has: kept as no value or questionable", reading.kind.value)
            reading = judged
        offset = reading.device_clock_offset
        if offset is None and reading.device is not None:
            offset = self._clock_offsets.get(reading.device.stable_id)
        trusted = self.hub_clock is None or self.hub_clock.is_trusted()
        when, time_flags = effective_time(reading, local_zone=self.local_zone, device_clock_offset=offset, hub_clock_trusted=trusted)
        anchor = None
        if not trusted:
            assert self.hub_clock is not None
            # Held back (not sent) until the hub's clock is trusted, then placed exactly.
            time_flags |= {QualityFlag.HUB_CLOCK_UNTRUSTED}
            anchor = self.hub_clock.anchor()
        if time_flags - reading.flags:
            reading = replace(reading, flags=reading.flags | time_flags)
        return Measurement(
            received_anchor=anchor,
            id=uuid.uuid4(),
            reading=reading,
            provenance=provenance,
            effective_time=when.astimezone(UTC),
            natural_key=key,
        )

    async def record_reading(
        self, reading: Reading, provenance: Provenance = Provenance.DEVICE, *, announce: bool = True
    ) -> RecordOutcome:
        """`announce=False`: no "measurement-recorded" event (a chunk of a continuous recording is
        not a result to show the patient)."""
        if not belongs_to_patient(reading, self.device_users):
            # Another person's weighing on a shared scale: never stored, never sent.
            log.info("a %s reading of another device user was ignored", reading.kind.value)
            self.events.publish(ReadingOfAnotherUser(reading.kind))
            return RecordOutcome(None, created=False)
        measurement = self.to_measurement(reading, provenance)
        # A control-solution result checks the meter, a technician's test checks the kit: not the
        # patient's values. Kept here, marked, never sent, never evaluated against the plan.
        control = not shared_with_care_providers(reading.flags)
        if not control:
            measurement = await self._evaluated(measurement)
        destinations = () if control else self.destinations_for(reading.kind)
        raised = self._alert_of(measurement)
        recorded = await self.store.record(measurement, destinations, with_=raised) if raised else await self.store.record(measurement, destinations)
        if not recorded.created:
            log.info("a %s record the hub already had was received again; kept the first", reading.kind.value)
            measurement = replace(measurement, id=uuid.UUID(recorded.measurement_id))
        if announce:
            self.events.publish(MeasurementRecorded(str(measurement.id), reading.kind, recorded.created))
        if recorded.created and self.on_recorded:
            self.on_recorded()
        return RecordOutcome(measurement, recorded.created)

    def _alert_of(self, measurement: Measurement) -> list[tuple[Outgoing, Sequence[str]]]:
        """The centre's alert when this value confirmed an alerting zone, queued with it."""
        e = measurement.evaluation
        if e is None or not e.alert or e.plan is None or e.activity is None or e.zone is None:
            return []
        code = next((c for c, kinds in KINDS_BY_LOINC.items() if measurement.reading.kind in kinds), None)
        alert = ZoneAlert(e.plan, e.activity, e.zone, e.rule, code, (*e.implicated, str(measurement.id)), measurement.effective_time)
        item = of_zone_alert(alert)
        targets = self.resource_destinations(item.kind) if self.resource_destinations else ()
        log.info("a %s value confirmed a %s zone: the centre is alerted", measurement.reading.kind.value, e.zone)
        return [(item, targets)]

    async def _evaluated(self, measurement: Measurement) -> Measurement:
        """The measurement with the plan's evaluation, decided now and stored with it."""
        limit = self.evaluator.history_limit
        history = await self.store.measurements(kind=measurement.reading.kind.value, limit=limit) if limit > 0 else []
        evaluation = self.evaluator.evaluate(measurement, history)
        return replace(measurement, evaluation=evaluation) if evaluation is not None else measurement

    async def record_manual(self, kind: MeasurementKind, value: float, unit: str, *, taken_at: datetime | None = None) -> RecordOutcome:
        """A value the patient typed in: marked manual, never given a device."""
        now = self.clock()
        reading = Reading(kind=kind, value=value, unit=unit, received_at=taken_at or now)
        return await self.record_reading(reading, Provenance.MANUAL)
