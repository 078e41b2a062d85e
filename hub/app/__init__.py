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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from hub.api import DeviceFamily, HubApi, Pairing
from hub.config import AuthConfig, ConfigError, DestinationConfig, HubConfig, OrganisationConfig
from hub.domain.oximetry import OximetryPoint, StreamEnded
from hub.domain.readings import MeasurementKind, Reading
from hub.services.events import EventBus
from hub.platform.clock import SystemClock
from hub.platform.private_files import private_folder
from hub.services.consent import ConsentService
from hub.services.measurements import MeasurementService
from hub.services.oximetry import ContinuousOximetryService
from hub.store import Store
from sync.delivery import Destination
from sync.destinations.directory import DirectoryDestination
from sync.fhir.context import SYNTHETIC_TEST_PATIENT, FhirContext, HubIdentity, OrganisationRef, PatientRef
from sync.outbox import DrainReport, OutboxWorker

if TYPE_CHECKING:  # HTTP destinations (httpx, TLS, keys) are loaded when one is configured
    import httpx

    from sync.destinations.nhn_pmd import AckLedger

log = logging.getLogger(__name__)

Transcript = Callable[[str], None]


class Link(Protocol):
    async def read_once(self, sink: Callable[[Reading], Any], *, timeout: float) -> Any: ...

    async def run(self, sink: Callable[[Reading], Any]) -> None: ...


def _organisation_ref(org: OrganisationConfig | None) -> OrganisationRef | None:
    if org is None:
        return None
    return OrganisationRef(identifier=org.identifier, identifier_system=org.system, display=org.display)


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


def fhir_context(config: HubConfig) -> FhirContext:
    # No patient configured: only a folder can be the destination (config refuses a care
    # provider's server without one), and its bundles say "no-patient" — real readings are never
    # put on the synthetic test person. The demo sets that person itself (demo_config).
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
    from sync.auth import PrivateKeyJwtAuth, SigningKey, tls_context

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
        import httpx

        from sync.auth import KeyFileError, tls_context
        from sync.destinations import FhirServerDestination, NhnPmdDestination

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
    oximetry: ContinuousOximetryService | None = None  # continuous recordings ([oximetry])
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def record(self, reading: Reading | OximetryPoint | StreamEnded) -> None:
        """The link's sink: returns once the reading is committed. A recording's points go to
        the continuous oximetry service (committed chunk by chunk)."""
        if isinstance(reading, Reading):
            await self.service.record_reading(reading)
        elif self.oximetry is not None:  # start_hub always sets it, from [oximetry]
            await self.oximetry.add(reading)

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
        if self.oximetry is not None:  # a recording still open: its last chunk and summary
            await self.oximetry.end()
        for dest in self.destinations:
            await dest.aclose()
        if self.http is not None:
            await self.http.aclose()
        await self.store.close()


def driver_family(driver: Any) -> DeviceFamily | None:
    """The device family one driver declares (`Driver.family`), or None when it declares none.
    Never guessed from the driver's name: a new driver says what it reads."""
    family = getattr(driver, "family", None)
    return family if isinstance(family, DeviceFamily) else None


def device_families(link: Link | None) -> list[DeviceFamily]:
    """The device families the link's driver registry can read, in catalogue order."""
    registry = getattr(link, "registry", None)
    found: list[DeviceFamily] = []
    for driver in list(registry) if registry is not None else []:
        family = driver_family(driver)
        if family is not None and family not in found:
            found.append(family)
    return found


def measure_command(link: Link, sink: Callable[[Reading], Any]) -> Callable[..., Any]:
    """hub.api's measure command on this link: one session; with a family, that family's devices
    are looked for first (when the link can prefer drivers)."""
    import inspect

    try:
        can_prefer = "prefer" in inspect.signature(link.read_once).parameters
    except (TypeError, ValueError):
        can_prefer = False

    async def measure(timeout: float, *, family: DeviceFamily | None = None) -> Any:
        if family is None or not can_prefer:
            return await link.read_once(sink, timeout=timeout)
        return await link.read_once(sink, timeout=timeout, prefer=lambda driver: driver_family(driver) is family)  # type: ignore[call-arg]

    return measure


async def start_hub(
    config: HubConfig,
    *,
    link: Link | None = None,
    deliver: bool = True,
    pairing: Pairing | None = None,
    families: list[DeviceFamily] | None = None,
    events: EventBus | None = None,
) -> Hub:
    """Open the store and build the hub; with `deliver`, the delivery workers start at once.

    `pairing`: the passkey provider the link was given (the touch app attaches its dialog to it);
    `families`: what the patient measures (default: what the link's drivers can read).
    """
    private_folder(config.data_dir)  # patient data and bonds: the hub user's alone
    store = await Store.open(config.database_path, owner=True)  # one process owns the data folder
    events = events or EventBus()
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
    readable = device_families(link)
    api_options: dict[str, Any] = {
        "families": families if families is not None else (readable or None),
        "device_families": readable,
        "local_zone": config.zone,
        "pairing": pairing,
    }
    hub = Hub(
        config,
        store,
        events,
        service,
        HubApi(measurements=service, queries=store, events=events, **api_options),
        workers,
        destinations,
        link,
    )
    if link is not None:
        if hasattr(link, "use_history"):
            link.use_history(store)  # a meter is asked only for records the hub does not have
        hub.api = HubApi(
            measurements=service,
            queries=store,
            events=events,
            measure=measure_command(link, hub.record),
            **api_options,
        )
    hub.hub_clock = hub_clock
    hub.consent = consent
    hub.oximetry = ContinuousOximetryService(
        service, period=config.oximetry.period_seconds, chunk=config.oximetry.chunk_minutes * 60
    )
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


def demo_config(config: HubConfig) -> HubConfig:
    """The demo's data is about the synthetic test patient (and so HTEST), whoever is configured."""
    test = SYNTHETIC_TEST_PATIENT
    patient = replace(config.patient, identifier=test.identifier, identifier_system=test.identifier_system, display=test.display)
    return replace(config, patient=patient)


async def run_demo(config: HubConfig, say: Transcript = print, *, timeout: float = 30.0) -> int:
    """Find an emulated oximeter, take a reading, store it, deliver it. Returns an exit status."""
    config = demo_config(config)
    from drivers.emulator import BumbleClient, BumbleScanner, EmulatedPulseOximeter, VirtualRadio
    from drivers.link import LinkManager
    from drivers.pairing import FixedPasskeyProvider

    private_folder(config.data_dir)  # patient data and bonds: the hub user's alone
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
            hub_registry(config),
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
            await link.read_once(sink, timeout=timeout)
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
    agent_bus = None
    if link is None:
        from drivers.bluez_agent import PairingWindow, start_agent
        from drivers.link import LinkManager
        from drivers.pairing import RefusingPasskeyProvider

        window = PairingWindow()
        link = LinkManager(hub_registry(config), on_event=window.follow)
        try:
            # Without a screen nobody can type a passkey: Just Works devices pair, passkey
            # devices are refused until paired from the touch app.
            agent_bus, _ = await start_agent(RefusingPasskeyProvider(), window)
        except Exception as exc:  # no system bus / BlueZ here: the link reports it below
            log.warning("no BlueZ pairing agent (%s)", type(exc).__name__)
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
        if agent_bus is not None:
            agent_bus.disconnect()
        await hub.stop()


async def sync_once(config: HubConfig) -> dict[str, DrainReport]:
    hub = await start_hub(config, deliver=False)
    try:
        return await hub.deliver_now()
    finally:
        await hub.stop()



# --- the touch app -----------------------------------------------------------------------------

DEMO_PASSKEY = 246810


def _kivy_environment() -> None:
    """Kivy reads these at its first import: no argv parsing, no log files in $HOME."""
    import os

    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    # Kivy's own mode lowers the root logger to NOTSET, which let every library's DEBUG lines
    # (thousands a minute from Bumble's radio) flood the terminal. In Python mode the level
    # `heima` chose stands: quiet by default, `-v` for more.
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    if not logging.getLogger().isEnabledFor(logging.INFO):
        os.environ.setdefault("KCFG_KIVY_LOG_LEVEL", "warning")  # Kivy's start-up banner too


def passkey_banner(passkey: int) -> str:
    """The line the README tells a new user to read, framed so it stands out in the terminal."""
    text = f"Pairing: the pulse oximeter asks once; type the passkey {passkey:06d} on the screen"
    rule = "=" * (len(text) + 4)
    return f"\n  {rule}\n  | {text} |\n  {rule}\n"


# The emulated devices `heima demo` puts on the virtual radio, one per family that has an
# emulator: (family, module, class, options). A family whose emulator is missing or does not
# start is left out; the touch app then offers typing its values in by hand.
DEMO_DEVICES: tuple[tuple[DeviceFamily, str, str, dict[str, Any]], ...] = (
    (DeviceFamily.PULSE_OXIMETER, "drivers.emulator", "EmulatedPulseOximeter",
     {"name": "Heima PLX 1", "serial": "PLX1-DEMO-0001", "requires_bonding": True, "passkey": DEMO_PASSKEY}),
    (DeviceFamily.BLOOD_PRESSURE, "drivers.emulator.blood_pressure_monitor", "EmulatedBloodPressureMonitor",
     {"name": "Heima BP 1", "address": "F0:11:22:33:44:02"}),
    (DeviceFamily.WEIGHT, "drivers.emulator.scales", "EmulatedWeightScale", {"name": "Heima Scale 1", "address": "F0:11:22:33:44:03"}),
    (DeviceFamily.THERMOMETER, "drivers.emulator.thermometer", "EmulatedThermometer",
     {"name": "Heima Thermo 1", "address": "F0:11:22:33:44:05"}),
)


async def _demo_take(family: DeviceFamily, device: Any, rng: Any) -> None:
    """What the patient's device measures once the hub is connected."""
    if family is DeviceFamily.PULSE_OXIMETER:
        await device.take_live_spot_check(rng.randint(93, 99), rng.randint(58, 82))
    elif family is DeviceFamily.BLOOD_PRESSURE:
        systolic = rng.randint(118, 152)
        await device.inflate([round(systolic * 1.2 * i / 10) for i in range(1, 11)], interval=0.25)
        await device.take_measurement(systolic, rng.randint(72, 94))
    elif family is DeviceFamily.WEIGHT:
        await device.take_weighing(round(rng.uniform(70.0, 90.0), 1))
    elif family is DeviceFamily.THERMOMETER:
        await device.take_temperature(round(rng.uniform(36.4, 37.6), 1))


async def _demo_patient(family: DeviceFamily, device: Any, say: Transcript) -> None:
    """An emulated device's patient: whenever the hub connects, the device measures; after it
    hangs up it waits, switched off, until the touch app asks for its family again."""
    import random

    rng = random.Random()
    while True:
        await device.wait_until(lambda: device.is_connected, timeout=10**9)
        await asyncio.sleep(1.0)  # the finger goes in, the cuff goes on: the device measures
        if device.is_connected:
            try:
                await _demo_take(family, device, rng)
            except Exception as exc:  # an emulator that changed under us: say it, keep the demo
                say(f"  The emulated {family.value} could not measure ({type(exc).__name__}).")
        await device.wait_until(lambda: not device.is_connected, timeout=10**9)


async def _attach_demo_devices(radio: Any, events: EventBus, say: Transcript) -> tuple[list[Any], list[asyncio.Task[None]]]:
    import importlib

    devices: dict[DeviceFamily, Any] = {}
    for family, module, cls, options in DEMO_DEVICES:
        try:
            device = getattr(importlib.import_module(module), cls)(**options)
            await device.attach(radio)
            if family is not DeviceFamily.PULSE_OXIMETER:
                await device.stop_advertising()  # switched on when the patient measures with it
        except Exception:  # not there (yet), or not startable: that family is typed in by hand
            continue
        devices[family] = device
        say(f"  An emulated {family.value} device is ready ({options['name']}).")

    def switch_on(event: Any) -> None:
        # The patient starts measuring with a family: that device is switched on, the others off,
        # so the hub finds the one the screen shows.
        if event.name != "measuring-started" or "family" not in event.data:
            return
        for family, device in devices.items():
            wanted = family.value == event.data["family"]
            if wanted and not device.is_advertising and not device.is_connected:
                asyncio.ensure_future(device.start_advertising())
            elif not wanted and device.is_advertising:
                asyncio.ensure_future(device.stop_advertising())

    events.subscribe(switch_on)
    tasks = [asyncio.create_task(_demo_patient(f, d, say), name=f"demo-{f.value}") for f, d in devices.items()]
    return list(devices.values()), tasks


async def run_app(
    config: HubConfig,
    *,
    emulated: bool = False,
    link: Link | None = None,
    speaker: Any = None,
    say: Transcript = print,
    ready: Callable[[Any, Hub], Any] | None = None,
) -> int:
    """The touch app on this hub's asyncio loop. `emulated`: a virtual radio with an emulated
    device of every family the drivers can read (the demo with a screen); else the machine's
    Bluetooth (BlueZ). `ready(app, hub)` is called once the app is built (tests, benchmarks)."""
    _kivy_environment()
    from ui.app import HeimaApp

    if emulated:
        config = demo_config(config)

    pairing = Pairing()
    events = EventBus()
    radio_cm: Any = contextlib.nullcontext()
    devices: list[Any] = []
    demo_tasks: list[asyncio.Task[None]] = []

    window: Any = None
    agent_bus: Any = None

    def on_link_event(name: str, data: dict[str, Any]) -> None:
        if window is not None:
            window.follow(name, data)  # the BlueZ agent answers only for the device being paired
        events.publish(name, **data)  # link events carry no values (drivers.link's rule)

    if link is None:
        from drivers.link import LinkManager

        options: dict[str, Any] = {}
        if emulated:
            from drivers.emulator import VirtualRadio

            radio_cm = VirtualRadio(keystore_path=config.data_dir / "bonds.json")
            options = {"settle": 1.0, "cooldown": 5.0, "readvertise_gap": 0.5, "min_reconnect_interval": 0.0, "connect_timeout": 15.0}
    private_folder(config.data_dir)  # patient data and bonds: the hub user's alone
    async with radio_cm as radio:
        if link is None:
            if radio is not None:
                say(f"Heima demo with the touch app — data in {config.data_dir}")
                devices, demo_tasks = await _attach_demo_devices(radio, events, say)
                say(passkey_banner(DEMO_PASSKEY))
                options |= {"scanner_backend": radio.scanner_backend, "client_backend": radio.client_backend}
            else:
                # On BlueZ a D-Bus agent asks for passkeys: it asks the touch app's dialog.
                try:
                    from drivers.bluez_agent import PairingWindow, start_agent

                    window = PairingWindow()
                    agent_bus, _ = await start_agent(pairing, window)
                except Exception as exc:  # no system bus / BlueZ here: measuring will say so
                    log.warning("no BlueZ pairing agent (%s)", type(exc).__name__)
            link = LinkManager(hub_registry(config, on_event=on_link_event), passkey_provider=pairing, on_event=on_link_event, **options)
        hub = await start_hub(config, link=link, pairing=pairing, events=events)
        settings = config.data_dir / "ui-settings.json"
        app = HeimaApp(hub.api, speaker=speaker, settings_path=settings)
        try:
            if ready is not None:
                from kivy.clock import Clock

                Clock.schedule_once(lambda _dt: ready(app, hub), 0)
            await app.async_run(async_lib="asyncio")
        finally:
            for task in demo_tasks:
                task.cancel()
            for task in demo_tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await hub.stop()
            for device in devices:
                with contextlib.suppress(Exception):
                    await device.detach()
            if agent_bus is not None:
                agent_bus.disconnect()
    return 0


# --- example values for the gallery, the accessibility audit and benchmarks -------------------


async def seed_examples(hub: Hub, now: datetime) -> dict[str, list[tuple[str, str]]]:
    """A month of plausible values for every family, and today's states the screens show: an
    oximeter value sent, a blood pressure waiting with a loose cuff, a glucose value refused.
    Returns {name: [(measurement id, kind)]} for the scenes."""
    import random

    from hub.domain.readings import Component, DeviceIdentity, Provenance, QualityFlag

    K = MeasurementKind
    rng = random.Random(5)
    ox = DeviceIdentity(address="F0:11:22:33:44:01", name="Heima PLX 1", serial="PLX1-EX")
    cuff = DeviceIdentity(address="F0:11:22:33:44:02", name="Heima BP 1", serial="BP1-EX")
    scale = DeviceIdentity(address="F0:11:22:33:44:03", name="Heima Scale 1", serial="SC1-EX")
    meter = DeviceIdentity(address="F0:11:22:33:44:04", name="Heima Glucose 1", serial="GL1-EX")
    ids: dict[str, list[tuple[str, str]]] = {}

    async def put(name: str | None, reading: Reading, provenance: Provenance = Provenance.DEVICE) -> str:
        outcome = await hub.service.record_reading(reading, provenance)
        assert outcome.measurement is not None
        mid = str(outcome.measurement.id)
        if name:
            ids.setdefault(name, []).append((mid, reading.kind.value))
        return mid

    def bp(at: datetime, s: float, d: float, flags: frozenset = frozenset()) -> Reading:
        return Reading(
            kind=K.BLOOD_PRESSURE, value=None, unit="mm[Hg]", received_at=at, device=cuff, flags=flags,
            components=(Component(K.SYSTOLIC_PRESSURE, s, "mm[Hg]"), Component(K.DIASTOLIC_PRESSURE, d, "mm[Hg]")),
        )

    for day in range(30, 0, -1):
        at = now - timedelta(days=day, hours=rng.uniform(-1, 1))
        await put(None, Reading(K.OXYGEN_SATURATION, rng.randint(92, 98), "%", at, device=ox))
        await put(None, Reading(K.PULSE_RATE, rng.randint(60, 84), "/min", at, device=ox))
        await put(None, bp(at, rng.randint(128, 152), rng.randint(78, 94)))
        await put(None, Reading(K.BODY_WEIGHT, round(78 + rng.uniform(-1.5, 1.5), 1), "kg", at, device=scale))
        await put(None, Reading(K.BLOOD_GLUCOSE, round(rng.uniform(5.5, 11.0), 1), "mmol/L", at, device=meter))
    from hub.domain.oximetry import OximetrySummary, summary_reading

    for night in range(7, 0, -1):  # a week of overnight oximetry (the recordings' summaries)
        start = now.replace(hour=22, minute=0, second=0, microsecond=0) - timedelta(days=night)
        summary = OximetrySummary(
            start=start,
            end=start + timedelta(hours=8),
            spo2_lowest=float(rng.randint(84, 89)),
            spo2_mean=round(rng.uniform(91.0, 94.0), 1),
            minutes_below_limit=float(rng.randint(3, 40)),
            valid_minutes=float(rng.randint(430, 475)),
            pulse_rate_mean=float(rng.randint(62, 74)),
        )
        await put("overnight" if night == 1 else None, summary_reading(summary, device=ox))
    for dest in hub.workers:
        await hub.store.mark_delivered(dest.name, [str(m.id) for m in await hub.store.measurements(limit=10**6)])
    today = now - timedelta(hours=1)
    await put("oximeter", Reading(K.OXYGEN_SATURATION, 96, "%", today, device=ox))
    await put("oximeter", Reading(K.PULSE_RATE, 68, "/min", today, device=ox))
    for dest in hub.workers:
        await hub.store.mark_delivered(dest.name, [mid for mid, _ in ids["oximeter"]])
    await put("blood-pressure-loose", bp(now - timedelta(minutes=20), 171, 99, frozenset({QualityFlag.CUFF_LOOSE, QualityFlag.BATTERY_LOW})))
    await put("blood-pressure-loose", Reading(K.CUFF_PULSE_RATE, 74, "/min", now - timedelta(minutes=20), device=cuff))
    refused = await put("glucose", Reading(K.BLOOD_GLUCOSE, 7.8, "mmol/L", now - timedelta(minutes=40), device=meter))
    for dest in hub.workers:
        await hub.store.dead_letter(dest.name, refused, reason="example: refused by the centre")
    await put("temperature", Reading(K.BODY_TEMPERATURE, 37.5, "Cel", now - timedelta(minutes=5)), Provenance.MANUAL)
    return ids


async def example_hub(data_dir: Any, now: datetime) -> tuple[Hub, dict[str, list[tuple[str, str]]]]:
    """A hub on a fresh store in `data_dir` with every family and example values, whose clock
    stands still at `now`, and a measure command that waits (nothing is in range)."""
    config = HubConfig(data_dir=data_dir, serial="HEIMA-GALLERY")
    hub = await start_hub(config, deliver=False, families=list(DeviceFamily))
    hub.service.clock = lambda: now

    async def measure(timeout: float) -> None:
        await asyncio.sleep(timeout)
        raise TimeoutError

    hub.api = HubApi(
        measurements=hub.service,
        queries=hub.store,
        events=hub.events,
        measure=measure,
        families=list(DeviceFamily),
        device_families=list(DeviceFamily),
        local_zone=config.zone,
        clock=lambda: now,
    )
    return hub, await seed_examples(hub, now)


GALLERY_NOW = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)


async def run_gallery(out: Any, *, scenes: Any = None, languages: Any = None, sizes: Any = None) -> list[Any]:
    """Render every screen × language × text size to PNGs in `out` (see ui/gallery.py)."""
    import tempfile
    from pathlib import Path

    _kivy_environment()
    from ui import gallery, scenes as all_scenes
    from ui.app import HeimaApp, drive
    from ui.speech import RecordingSpeaker

    with tempfile.TemporaryDirectory(prefix="heima-gallery-") as tmp:
        hub, ids = await example_hub(Path(tmp), GALLERY_NOW)
        try:
            app = HeimaApp(hub.api, speaker=RecordingSpeaker())
            ctx: dict[str, Any] = dict(ids)
            options = {
                "scenes": scenes or all_scenes.SCENES,
                "languages": languages or all_scenes.LANGUAGES,
                "sizes": sizes or all_scenes.TEXT_SIZES,
            }
            return await drive(app, lambda a: gallery.render(a, ctx, Path(out), **options))
        finally:
            await hub.stop()
