"""The hub's wiring: `start_hub` builds a running hub from a `HubConfig` — the store, the consent
routing, the measurement and oximetry services, one delivery worker per destination, the facade —
each part made once, whole, and handed what it needs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from hub.api import DeviceFamily, HubApi, Measure, Pairing
from hub.app.destinations import build_destination, fhir_context
from hub.app.forms import announce_sent, build_questionnaires, keep_forms_fresh, refresh_forms
from hub.app.centre_settings import apply_centre_settings
from hub.config import HubConfig
from hub.domain.devices import DeviceHistory
from hub.domain.oximetry import OximetryPoint, StreamEnded
from hub.domain.readings import Reading
from hub.platform.clock import SystemClock
from hub.platform.private_files import private_folder
from hub.services.careplan import CarePlanClock, CarePlanService
from hub.services.consent import ConsentService
from hub.services.events import DeliveryChanged, EventBus, device_event
from hub.services.measurements import MeasurementService
from hub.services.outgoing import OutgoingService
from hub.services.oximetry import ContinuousOximetryService
from hub.services.questionnaires import QuestionnaireService
from hub.store import Store
from hub.store.plans import PlanStore
from sync.delivery import Destination
from sync.outbox import DrainReport, OutboxWorker

log = logging.getLogger(__name__)

Sink = Callable[[Reading], Any]


class Link(Protocol):
    """The Bluetooth link the hub reads devices through (drivers.link.LinkManager)."""

    @property
    def registry(self) -> Iterable[Any]: ...  # the drivers, each declaring its `family`

    def use_history(self, history: DeviceHistory) -> None: ...

    async def read_once(self, sink: Sink, *, timeout: float, prefer: Callable[[Any], bool] | None = None) -> Any: ...

    async def run(self, sink: Sink) -> None: ...


def hub_registry(config: HubConfig, *, on_event: Callable[[str, dict[str, Any]], None] | None = None) -> Any:
    """Every driver, told the zone device clocks are kept in and whether the hub's own clock may
    be written into a device (not before NTP on a Pi). `on_event` gets live values for the screen
    (cuff pressure, a meter's download progress, a streaming oximeter's live values)."""
    from drivers.devices import default_registry

    trust = SystemClock(wait_for_ntp=config.clock == "wait-for-ntp")
    return default_registry(
        local_zone=config.zone,
        clock_trusted=trust.is_trusted,
        on_event=on_event,
        record_continuous_oximetry=config.oximetry.record_continuous,
    )


def publish_device_events(events: EventBus) -> Callable[[str, dict[str, Any]], None]:
    """The link's and the drivers' `on_event(name, details)` as typed events on the hub's feed
    (link events carry no values: drivers.link's rule)."""

    def on_event(name: str, details: dict[str, Any]) -> None:
        event = device_event(name, details)
        if event is not None:
            events.publish(event)

    return on_event


def driver_family(driver: Any) -> DeviceFamily | None:
    """The device family one driver declares (`Driver.family`), or None when it declares none.
    Never guessed from the driver's name: a new driver says what it reads."""
    family = getattr(driver, "family", None)
    return family if isinstance(family, DeviceFamily) else None


def device_families(link: Link | None) -> list[DeviceFamily]:
    """The device families the link's driver registry can read, in catalogue order."""
    found: list[DeviceFamily] = []
    for driver in link.registry if link is not None else ():
        family = driver_family(driver)
        if family is not None and family not in found:
            found.append(family)
    return found


def measure_command(link: Link, sink: Sink) -> Measure:
    """hub.api's measure command on this link: one session; with a family, that family's devices
    are looked for first."""

    async def measure(timeout: float, *, family: DeviceFamily | None = None) -> Any:
        prefer = None if family is None else (lambda driver: driver_family(driver) is family)
        return await link.read_once(sink, timeout=timeout, prefer=prefer)

    return measure


def wall_clock() -> datetime:
    return datetime.now(UTC)


async def record_on(service: MeasurementService, oximetry: ContinuousOximetryService, reading: Reading | OximetryPoint | StreamEnded) -> None:
    """Where the link's readings go: a reading is recorded (returns once committed); a continuous
    recording's points go to the oximetry service (committed chunk by chunk)."""
    if isinstance(reading, Reading):
        await service.record_reading(reading)
    else:
        await oximetry.add(reading)


@dataclass
class Hub:
    config: HubConfig
    store: Store
    events: EventBus
    service: MeasurementService
    oximetry: ContinuousOximetryService  # continuous recordings ([oximetry])
    consent: ConsentService  # where the data goes, and the patient's consent per destination
    api: HubApi
    workers: list[OutboxWorker]
    destinations: list[Destination]
    hub_clock: SystemClock
    link: Link | None = None
    careplans: CarePlanService | None = None  # the self-care plan in force, what is due
    plan_clock: CarePlanClock | None = None  # missed tasks and reminders as time passes
    questionnaires: QuestionnaireService | None = None  # the forms the patient answers
    calls: Any = None  # hub.services.video.CallService: nurses' video check-ins ([video] + [centre.mqtt])
    signalling: Any = None  # its signalling over the centre's channel (sync.remote.signalling)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _checks: set[asyncio.Task[Any]] = field(default_factory=set)  # reads the events started (announce_sent)

    async def record(self, reading: Reading | OximetryPoint | StreamEnded) -> None:
        """The link's sink: returns once the reading is committed. A recording's points go to
        the continuous oximetry service (committed chunk by chunk)."""
        await record_on(self.service, self.oximetry, reading)

    async def place_held_readings_when_clock_is_trusted(self, poll: float = 5.0) -> None:
        """Readings taken before the hub's clock was trusted wait; once it is, place and send them."""
        while not self.hub_clock.is_trusted():
            await asyncio.sleep(poll)
        placed = await self.store.place_held_times(now=self.hub_clock.now(), now_anchor=self.hub_clock.anchor())
        if placed:
            log.info("hub clock trusted: %d held reading(s) placed on the timeline and released", placed)
            for worker in self.workers:
                worker.wake()

    def start_delivery(self) -> None:
        for worker in self.workers:
            self._tasks.append(asyncio.create_task(worker.run(), name=f"outbox-{worker.name}"))
        self._tasks.append(asyncio.create_task(self.place_held_readings_when_clock_is_trusted(), name="clock-trust"))
        if self.questionnaires is not None:  # the centres' forms now and every hour (offline: those kept)
            self._tasks.append(asyncio.create_task(keep_forms_fresh(self.questionnaires, self.config), name="forms"))
        if self.careplans is not None and self.plan_clock is not None:
            from hub.app.careplan import careplan_loop

            loop = careplan_loop(self.config, self.careplans, self.plan_clock, now=self.api.clock)
            self._tasks.append(asyncio.create_task(loop, name="care-plan"))

    async def deliver_now(self) -> dict[str, DrainReport]:
        """Send everything that is due now, once per destination (for the demo and `heima sync`)."""
        return {w.name: await w.drain() for w in self.workers}

    async def stop(self) -> None:
        if self.calls is not None:
            await self.calls.close()  # a call on ends (the nurse is told) while the channel is up
        for task in [*self._tasks, *self._checks]:  # nothing may read the store once it is closed
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await asyncio.gather(*self._checks, return_exceptions=True)  # a failed check was its own to log
        await self.oximetry.end()  # a recording still open: its last chunk and summary
        for dest in self.destinations:
            await dest.aclose()
        await self.store.close()


async def _open_destinations(config: HubConfig, store: Store) -> list[Destination]:
    ctx = fhir_context(config)
    built: list[Destination] = []
    try:
        for d in config.effective_destinations():
            built.append(build_destination(d, ctx, ledger=store))
    except BaseException:
        for dest in built:
            await dest.aclose()
        raise
    return built


async def start_hub(
    config: HubConfig,
    *,
    link: Link | None = None,
    deliver: bool = True,
    pairing: Pairing | None = None,
    families: list[DeviceFamily] | None = None,
    events: EventBus | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Hub:
    """Open the store and build the hub; with `deliver`, the delivery workers start at once.

    `pairing`: the passkey provider the link was given (the touch app attaches its dialog to it);
    `families`: what the patient measures (default: what the link's drivers can read);
    `clock`: the hub's time for recording and the screens (default: the system clock).
    """
    private_folder(config.data_dir)  # patient data and bonds: the hub user's alone
    config = apply_centre_settings(config)  # what the centre changed over its channel (allow-listed)
    store = await Store.open(config.database_path, owner=True)  # one process owns the data folder
    try:
        destinations = await _open_destinations(config, store)
    except BaseException:
        await store.close()
        raise
    events = events or EventBus()
    dest_configs = config.effective_destinations()
    workers = [
        OutboxWorker(store, dest, batch_size=cfg.batch_size, on_change=lambda: events.publish(DeliveryChanged()))
        for dest, cfg in zip(destinations, dest_configs, strict=True)
    ]
    hub_clock = SystemClock(wait_for_ntp=config.clock == "wait-for-ntp")
    now = clock or wall_clock
    # Routing: a measurement is queued for the destinations that receive its category and have
    # the patient's consent (checked again inside the recording transaction).
    consent = ConsentService(store, dest_configs, events=events)
    await consent.load()

    def wake_workers() -> None:
        for worker in workers:
            worker.wake()

    service = MeasurementService(
        store,
        destinations_for=consent.destinations_for,
        local_zone=config.zone,
        events=events,
        on_recorded=wake_workers,
        device_users=dict(config.patient.device_users),
        hub_clock=hub_clock,
        clock=now,
        resource_destinations=consent.destinations_for_resource,  # a zone alert raised by a value
    )
    # The self-care plan: stored versions loaded, the recording use case judging with them.
    plans = PlanStore(store)
    careplans = CarePlanService(plans, events=events, clock=now, local_zone=config.zone, on_change=lambda e: setattr(service, "evaluator", e))
    await careplans.load()
    from hub.app.careplan import FolderPlans, plan_folder, refresh_plans

    await refresh_plans(config, careplans, FolderPlans(plan_folder(config)), pull=False)  # a folder's plan at once
    outgoing = OutgoingService(store, destinations_for=consent.destinations_for_resource, on_queued=wake_workers)
    plan_clock = CarePlanClock(careplans, plans, share=outgoing.share, events=events)
    oximetry = ContinuousOximetryService(service, period=config.oximetry.period_seconds, chunk=config.oximetry.chunk_minutes * 60)

    async def record(reading: Reading | OximetryPoint | StreamEnded) -> None:
        await record_on(service, oximetry, reading)

    questionnaires = build_questionnaires(config, store, consent, events, clock=now, on_queued=wake_workers)
    if not deliver:  # no background pull: without a centre, the folder's forms (no network)
        await refresh_forms(questionnaires, config, pull=False)
    checks: set[asyncio.Task[Any]] = set()
    events.subscribe(announce_sent(questionnaires, checks))
    readable = device_families(link)
    if link is not None:
        link.use_history(store)  # a meter is asked only for records the hub does not have
    api = HubApi(
        measurements=service,
        queries=store,
        events=events,
        measure=measure_command(link, record) if link is not None else None,
        families=families if families is not None else (readable or None),
        device_families=readable,
        local_zone=config.zone,
        pairing=pairing,
        questionnaires=questionnaires,
        clock=now,
        careplan=careplans,
    )
    hub = Hub(config, store, events, service, oximetry, consent, api, workers, destinations, hub_clock, link, careplans, plan_clock)
    hub._checks = checks
    hub.questionnaires = questionnaires
    if deliver:
        hub.start_delivery()
        if config.centre_mqtt is not None:  # the centre's command channel beside delivery
            if config.video is not None:  # and the nurse's calls over it
                from hub.app.video import start_calls

                hub.signalling, hub.calls = start_calls(hub)
            from hub.app.remote import run_remote  # the channel's modules only with a centre (part M6)

            hub._tasks.append(asyncio.create_task(run_remote(hub), name="centre-channel"))
    return hub


async def sync_once(config: HubConfig) -> dict[str, DrainReport]:
    hub = await start_hub(config, deliver=False)
    try:
        return await hub.deliver_now()
    finally:
        await hub.stop()
