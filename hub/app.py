"""The composition root: the only module that knows drivers/ and sync/ exist.

`start_hub` builds a running hub from a `HubConfig`: the store, the measurement service, one
delivery worker per destination, and (when given) a Bluetooth link. `run_demo` adds an emulated
pulse oximeter on a virtual radio and walks one reading from the device to its destinations,
telling each step as it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from hub.api import HubApi
from hub.config import AuthConfig, ConfigError, DestinationConfig, HubConfig, OrganisationConfig
from hub.domain.readings import MeasurementKind, Reading
from hub.services.events import EventBus
from hub.platform.clock import SystemClock
from hub.services.consent import ConsentService
from hub.services.measurements import MeasurementService
from hub.store import Store
from sync.delivery import Destination
from sync.auth import KeyFileError, PrivateKeyJwtAuth, SigningKey, tls_context
from sync.destinations import DirectoryDestination, FhirServerDestination, NhnPmdDestination
from sync.destinations.nhn_pmd import AckLedger
from sync.fhir.context import FhirContext, HubIdentity, OrganisationRef, PatientRef
from sync.outbox import DrainReport, OutboxWorker

log = logging.getLogger(__name__)

Transcript = Callable[[str], None]


class Link(Protocol):
    async def read_once(self, sink: Callable[[Reading], Any], *, timeout: float) -> Any: ...

    async def run(self, sink: Callable[[Reading], Any]) -> None: ...


def _organisation_ref(org: OrganisationConfig | None) -> OrganisationRef | None:
    if org is None:
        return None
    return OrganisationRef(identifier=org.identifier, identifier_system=org.system, display=org.display)


def fhir_context(config: HubConfig) -> FhirContext:
    return FhirContext(
        patient=PatientRef(
            identifier=config.patient.identifier,
            identifier_system=config.patient.identifier_system,
            display=config.patient.display,
        ),
        hub=HubIdentity(serial=config.serial, name=config.name, manufacturer="Heima", model="Heima hub"),
        organisation=_organisation_ref(config.organisation),
    )


def build_auth(auth: AuthConfig) -> httpx.Auth | None:
    """The destination's credentials as an httpx Auth (keys read now; never logged)."""
    if auth.kind == "none":
        return None
    assert auth.token_url and auth.client_id and auth.key_file
    return PrivateKeyJwtAuth(
        token_url=auth.token_url,
        client_id=auth.client_id,
        client_key=SigningKey.from_file(auth.key_file, kid=auth.key_id, role="auth.key_file"),
        audience=auth.audience,
        scope=auth.scope,
        dpop=auth.dpop,
        dpop_key=SigningKey.from_file(auth.dpop_key_file, role="auth.dpop_key_file") if auth.dpop_key_file else None,
        verify=tls_context(ca_file=auth.ca_file),
    )


def build_destination(
    dest: DestinationConfig,
    ctx: FhirContext,
    http: httpx.AsyncClient | None = None,
    *,
    ledger: AckLedger | None = None,
) -> Destination:
    """One destination from its configuration. Each HTTP destination gets its own connection pool
    and TLS settings (a slow server cannot hold connections another one needs), unless a shared
    `http` client is given and the destination has no TLS settings of its own. Raises ConfigError
    when a key or certificate file cannot be used."""
    if dest.organisation is not None:
        ctx = replace(ctx, organisation=_organisation_ref(dest.organisation))
    if dest.kind in ("fhir", "nhn-pmd"):
        assert dest.url is not None
        try:
            auth = build_auth(dest.auth)
            own_tls = dest.tls.ca_file or dest.tls.client_cert
            verify = (
                tls_context(ca_file=dest.tls.ca_file, client_cert=dest.tls.client_cert, client_key=dest.tls.client_key)
                if own_tls or http is None
                else None
            )
        except KeyFileError as exc:
            raise ConfigError(f"destination {dest.name!r}: {exc}") from None
        client = http if verify is None else None
        if dest.kind == "nhn-pmd":
            if ledger is None:
                raise ValueError("an nhn-pmd destination needs the store's ack ledger")
            assert dest.kommunenummer is not None
            return NhnPmdDestination(
                dest.name,
                dest.url,
                ctx=ctx,
                ledger=ledger,
                kommunenummer=dest.kommunenummer,
                max_entries=dest.batch_size,
                client=client,
                timeout=httpx.Timeout(dest.timeout, connect=min(10.0, dest.timeout)),
                auth=auth,
                verify=verify,
            )
        return FhirServerDestination(
            dest.name,
            dest.url,
            ctx=ctx,
            client=client,
            bundle_type=dest.bundle,  # type: ignore[arg-type]
            timeout=httpx.Timeout(dest.timeout, connect=min(10.0, dest.timeout)),
            auth=auth,
            verify=verify,
        )
    if dest.kind == "directory":
        assert dest.path is not None
        return DirectoryDestination(dest.name, dest.path, ctx=ctx)
    raise ValueError(f"unknown destination kind {dest.kind!r}")


@dataclass
class Hub:
    config: HubConfig
    store: Store
    events: EventBus
    service: MeasurementService
    api: HubApi
    workers: list[OutboxWorker]
    destinations: list[Destination]
    link: Link | None = None
    http: httpx.AsyncClient | None = None
    hub_clock: SystemClock | None = None
    consent: ConsentService | None = None  # where the data goes, and the patient's consent per destination
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def record(self, reading: Reading) -> None:
        """The link's sink: returns once the reading is committed."""
        await self.service.record_reading(reading)

    async def place_held_readings_when_clock_is_trusted(self, poll: float = 5.0) -> None:
        """Readings taken before the hub's clock was trusted wait; once it is, place and send them."""
        assert self.hub_clock is not None
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

    async def deliver_now(self) -> dict[str, DrainReport]:
        """Send everything that is due now, once per destination (for the demo and `heima sync`)."""
        return {w.name: await w.drain() for w in self.workers}

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for dest in self.destinations:
            await dest.aclose()
        if self.http is not None:
            await self.http.aclose()
        await self.store.close()


async def start_hub(config: HubConfig, *, link: Link | None = None, deliver: bool = True) -> Hub:
    """Open the store and build the hub; with `deliver`, the delivery workers start at once."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = await Store.open(config.database_path)
    events = EventBus()
    ctx = fhir_context(config)
    dest_configs = config.effective_destinations()
    destinations: list[Destination] = []
    try:
        for d in dest_configs:
            destinations.append(build_destination(d, ctx, ledger=store))
    except BaseException:
        for built in destinations:
            await built.aclose()
        await store.close()
        raise
    workers = [
        OutboxWorker(store, dest, batch_size=cfg.batch_size, on_change=lambda: events.publish("delivery-changed"))
        for dest, cfg in zip(destinations, dest_configs, strict=True)
    ]
    hub_clock = SystemClock(wait_for_ntp=config.clock == "wait-for-ntp")
    # Routing: a measurement is queued for the destinations that receive its category and have
    # the patient's consent (checked again inside the recording transaction).
    consent = ConsentService(store, dest_configs, events=events)
    await consent.load()
    destinations_for = consent.destinations_for

    def wake_workers() -> None:
        for worker in workers:
            worker.wake()

    service = MeasurementService(
        store,
        destinations_for=destinations_for,
        local_zone=config.zone,
        events=events,
        on_recorded=wake_workers,
        device_users=dict(config.patient.device_users),
        hub_clock=hub_clock,
    )
    hub = Hub(config, store, events, service, HubApi(measurements=service, queries=store, events=events), workers, destinations, link)
    if link is not None:
        hub.api = HubApi(
            measurements=service, queries=store, events=events, measure=lambda t: link.read_once(hub.record, timeout=t)
        )
    hub.hub_clock = hub_clock
    hub.consent = consent
    if deliver:
        hub.start_delivery()
        hub._tasks.append(asyncio.create_task(hub.place_held_readings_when_clock_is_trusted(), name="clock-trust"))
    return hub


# --- the demo: an emulated oximeter, read, stored, delivered ----------------------------------


def _describe(reading: Reading) -> str:
    label = {MeasurementKind.OXYGEN_SATURATION: "SpO2", MeasurementKind.PULSE_RATE: "pulse"}[reading.kind]
    if reading.value is None:
        return f"{label}: no value ({reading.absent_reason})"
    return f"{label} {reading.value:g} {reading.unit}"


async def run_demo(config: HubConfig, say: Transcript = print, *, timeout: float = 30.0) -> int:
    """Find an emulated oximeter, take a reading, store it, deliver it. Returns an exit status."""
    from drivers.devices import default_registry
    from drivers.emulator import BumbleClient, BumbleScanner, EmulatedPulseOximeter, VirtualRadio
    from drivers.link import LinkManager
    from drivers.pairing import FixedPasskeyProvider

    config.data_dir.mkdir(parents=True, exist_ok=True)
    passkey = 246810
    say(f"Heima demo — data in {config.data_dir}")
    async with VirtualRadio(keystore_path=config.data_dir / "bonds.json", passkey_provider=FixedPasskeyProvider(passkey)) as radio:
        oximeter = EmulatedPulseOximeter(name="Heima PLX 1", serial="PLX1-DEMO-0001", requires_bonding=True, passkey=passkey)
        await oximeter.attach(radio)
        say(f"  1. Bluetooth: virtual radio on; an emulated pulse oximeter ({oximeter.name}) is advertising")

        def on_event(name: str, data: dict[str, Any]) -> None:
            if name == "device-found":
                say(f"  2. Found {data.get('name') or data.get('address')} — driver: {data.get('driver')}")
            elif name == "connected":
                say(f"  3. Connected to {data.get('address')}")
            elif name == "pairing-needed":
                say("     The device asks for pairing; the passkey is answered by the hub's passkey provider")

        link = LinkManager(
            default_registry(),
            scanner_backend=BumbleScanner,
            client_backend=BumbleClient,
            passkey_provider=FixedPasskeyProvider(passkey),
            on_event=on_event,
        )
        hub = await start_hub(config, link=link, deliver=False)
        try:
            received: list[Reading] = []

            async def sink(reading: Reading) -> None:
                outcome = await hub.service.record_reading(reading)
                received.append(reading)
                if len(received) == 1 and reading.device is not None:
                    d = reading.device
                    say(f"     Device: {d.manufacturer or '?'} {d.model or '?'}, serial {d.serial or '?'}")
                if outcome.measurement is None:
                    say(f"  4. Reading: {_describe(reading)} — another user's, ignored")
                    return
                what = "stored" if outcome.created else "already stored (the device sent it again)"
                say(f"  4. Reading: {_describe(reading)} — {what}, measurement {outcome.measurement.id}")

            async def patient_measures() -> None:
                await oximeter.wait_until(lambda: oximeter.is_connected, timeout=timeout)
                await asyncio.sleep(0.3)  # the patient puts a finger in; the device measures
                await oximeter.take_live_spot_check(97, 64)

            measuring = asyncio.create_task(patient_measures())
            identity = await link.read_once(sink, timeout=timeout)
            measuring.cancel()
            if not received:
                say("No reading arrived from the oximeter; nothing was stored.")
                return 1
            say(f"  5. Stored in {config.database_path} (committed before it was acknowledged)")
            reports = await hub.deliver_now()
            for dest, report in zip(config.effective_destinations(), reports.values(), strict=True):
                where = dest.url or dest.path
                if report.delivered:
                    say(f"  6. Delivered {report.delivered} Observation(s) to {dest.name} ({dest.kind}): {where}")
                else:
                    reason = report.errors[-1] if report.errors else "nothing was due"
                    say(f"  6. Not delivered to {dest.name} yet ({reason}); it stays queued and is retried")
            del identity
            counts = await hub.store.outbox_counts()
            waiting = sum(c.get("pending", 0) for c in counts.values())
            say("Done: " + ("everything sent ✓" if waiting == 0 else f"{waiting} waiting to send"))
            return 0
        finally:
            await hub.stop()
            await oximeter.detach()


async def run_headless(config: HubConfig, *, link: Link | None = None) -> None:
    """The hub with no screen: read devices over the machine's Bluetooth (BlueZ) and deliver,
    until stopped. Without a working Bluetooth adapter it says so and goes on delivering."""
    if link is None:
        from drivers.devices import default_registry
        from drivers.link import LinkManager

        link = LinkManager(default_registry())
    hub = await start_hub(config, link=link)
    log.info("hub running headless with %d destination(s)", len(hub.workers))
    try:
        try:
            await link.run(hub.record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no adapter, no BlueZ, no D-Bus: keep delivering what is stored
            log.error(
                "Bluetooth is not available (%s); delivering stored measurements only. "
                "Check that bluetoothd runs and the adapter is powered (bluetoothctl show).",
                type(exc).__name__,
            )
            await asyncio.Event().wait()
    finally:
        await hub.stop()


async def sync_once(config: HubConfig) -> dict[str, DrainReport]:
    hub = await start_hub(config, deliver=False)
    try:
        return await hub.deliver_now()
    finally:
        await hub.stop()


def utcnow() -> datetime:
    return datetime.now(UTC)
