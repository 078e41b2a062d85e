"""The runners: the headless demo walk, the hub without a screen, the touch app (on the machine's
Bluetooth or, for the demo, a virtual radio with emulated devices), and the gallery. Each
composes a hub with `start_hub` and runs it until done."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from hub.api import DeviceFamily, Pairing
from hub.app.careplan import install_demo_plan
from hub.app.wiring import Hub, Link, hub_registry, publish_device_events, start_hub
from hub.config import HubConfig
from hub.platform import systemd
from hub.platform.private_files import private_folder
from hub.services.events import Connected, DeviceFound, EventBus, HubEvent, PairingNeeded, device_event
from hub.domain.readings import Reading
from sync.fhir.context import SYNTHETIC_TEST_PATIENT

if TYPE_CHECKING:  # the demo's script and the gallery's values: loaded by the demo and the gallery only (part M6)
    from hub.demo import Transcript

log = logging.getLogger(__name__)


def demo_config(config: HubConfig) -> HubConfig:
    """The demo's data is about the synthetic test patient (and so HTEST), whoever is configured."""
    from hub import demo

    return demo.as_test_patient(config, SYNTHETIC_TEST_PATIENT)


async def run_demo(config: HubConfig, say: Transcript = print, *, timeout: float = 30.0) -> int:
    """Find an emulated oximeter, take a reading, store it, deliver it. Returns an exit status."""
    from hub import demo
    from hub.demo import DEMO_PASSKEY, describe

    config = demo_config(config)
    from drivers.emulator import BumbleClient, BumbleScanner, EmulatedPulseOximeter, VirtualRadio
    from drivers.link import LinkManager
    from drivers.pairing import FixedPasskeyProvider

    passkey = DEMO_PASSKEY
    private_folder(config.data_dir)  # patient data and bonds: the hub user's alone
    install_demo_plan(config)  # the synthetic test patient's self-care plan (COPD)
    say(f"Heima demo — data in {config.data_dir}")
    async with VirtualRadio(keystore_path=config.data_dir / "bonds.json", passkey_provider=FixedPasskeyProvider(passkey)) as radio:
        oximeter = EmulatedPulseOximeter(name="Heima PLX 1", serial="PLX1-DEMO-0001", requires_bonding=True, passkey=passkey)
        await oximeter.attach(radio)
        say(f"  1. Bluetooth: virtual radio on; an emulated pulse oximeter ({oximeter.name}) is advertising")

        def on_event(name: str, data: dict[str, Any]) -> None:
            event = device_event(name, data)
            if isinstance(event, DeviceFound):
                say(f"  2. Found {event.device_name or event.address} — driver: {event.driver}")
            elif isinstance(event, Connected):
                say(f"  3. Connected to {event.address}")
            elif isinstance(event, PairingNeeded):
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
                    say(f"  4. Reading: {describe(reading)} — another user's, ignored")
                    return
                what = "stored" if outcome.created else "already stored (the device sent it again)"
                say(f"  4. Reading: {describe(reading)} — {what}, measurement {outcome.measurement.id}")

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
            say(demo.forms_offered(await hub.api.forms_available(lang="nb")))
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
    freeze_startup_objects()
    log.info("hub running headless with %d destination(s)", len(hub.workers))
    service = systemd.announce_ready()  # under systemd: READY=1, then watchdog pings from this loop
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
        await service.stopping()
        if agent_bus is not None:
            agent_bus.disconnect()
        await hub.stop()


def freeze_startup_objects() -> None:
    """Move what start-up made (modules, the hub, the app's widgets) out of the cyclic garbage
    collector's sight: they live as long as the process, and every full collection walked them
    again (a 10,000-Observation drain: 50 → 40 and 61 → 46 µs of Heima's CPU per Observation in
    back-to-back runs; the touch app's frames: no change measured)."""
    import gc

    gc.collect()  # garbage of start-up freed first, not frozen for good
    gc.freeze()


# --- the touch app -----------------------------------------------------------------------------


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


async def attach_demo_devices(radio: Any, events: EventBus, say: Transcript) -> tuple[list[Any], list[asyncio.Task[None]]]:
    """The demo's emulated devices (hub.demo.DEMO_DEVICES) on the virtual radio, each with its
    patient; only the oximeter advertises until the patient starts measuring with a family."""
    from hub import demo

    import importlib

    devices: dict[DeviceFamily, Any] = {}
    for spec in demo.DEMO_DEVICES:
        try:
            device = getattr(importlib.import_module(spec.module), spec.cls)(**spec.options)
            await device.attach(radio)
            if spec.family is not DeviceFamily.PULSE_OXIMETER:
                await device.stop_advertising()  # switched on when the patient measures with it
        except Exception:  # not there (yet), or not startable: that family is typed in by hand
            continue
        devices[spec.family] = device
        say(f"  An emulated {spec.family.value} device is ready ({spec.options['name']}).")

    def switch(event: HubEvent) -> None:
        for family, device in devices.items():
            on = demo.switched_on(family, event)
            if on and not device.is_advertising and not device.is_connected:
                asyncio.ensure_future(device.start_advertising())
            elif on is False and device.is_advertising:
                asyncio.ensure_future(device.stop_advertising())

    events.subscribe(switch)
    tasks = [asyncio.create_task(demo.patient(f, d, say), name=f"demo-{f.value}") for f, d in devices.items()]
    return list(devices.values()), tasks


async def run_app(
    config: HubConfig,
    *,
    emulated: bool = False,
    link: Link | None = None,
    speaker: Any = None,
    say: Transcript = print,
    ready: Callable[[Any, Hub], Any] | None = None,
    ringer: Any = None,
    config_path: Any = None,
    desk: Any = None,
) -> int:
    """The touch app on this hub's asyncio loop. `emulated`: a virtual radio with an emulated
    device of every family the drivers can read (the demo with a screen); else the machine's
    Bluetooth (BlueZ). `ready(app, hub)` is called once the app is built (tests, benchmarks);
    `ringer`: the ring tone's player (default: the sound card's); `desk`: a technician desk made
    by the caller (first boot, hub.app.first_boot: it enrols into the real folders)."""
    _kivy_environment()
    from ui.app import HeimaApp
    from ui.models.loop import finish_spawned

    if emulated:
        config = demo_config(config)
        private_folder(config.data_dir)
        install_demo_plan(config)  # the synthetic test patient's self-care plan (COPD)

    pairing = Pairing()
    events = EventBus()
    radio_cm: Any = contextlib.nullcontext()
    devices: list[Any] = []
    demo_tasks: list[asyncio.Task[None]] = []

    window: Any = None
    agent_bus: Any = None

    publish = publish_device_events(events)

    def on_link_event(name: str, data: dict[str, Any]) -> None:
        if window is not None:
            window.follow(name, data)  # the BlueZ agent answers only for the device being paired
        publish(name, data)

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
                devices, demo_tasks = await attach_demo_devices(radio, events, say)
                from hub.demo import DEMO_PASSKEY, passkey_banner

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
        if desk is not None:
            hub.api.technician = desk
        elif config_path is not None:  # technician mode and enrolment need the configuration's file
            from hub.app.technician_door import attach_on_first_use

            attach_on_first_use(hub, config_path)  # the desk made when technician mode is first used
        settings = config.data_dir / "ui-settings.json"
        app = HeimaApp(hub.api, speaker=speaker, settings_path=settings, calls=hub.calls, ringer=ringer)  # calls: [video]
        service = systemd.announce_ready()  # Kivy's Clock runs on this loop: a frozen UI stops the pings
        try:
            from kivy.clock import Clock

            Clock.schedule_once(lambda _dt: freeze_startup_objects(), 0)  # once the app is built
            if ready is not None:
                Clock.schedule_once(lambda _dt: ready(app, hub), 0)
            await app.async_run(async_lib="asyncio")
        finally:
            await service.stopping()
            for task in demo_tasks:
                task.cancel()
            for task in demo_tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await finish_spawned()  # the screens' refreshes end before the store closes
            await hub.stop()
            for device in devices:
                with contextlib.suppress(Exception):
                    await device.detach()
            if agent_bus is not None:
                agent_bus.disconnect()
    return 0


# --- the gallery ------------------------------------------------------------------------------


class _NothingInRange:
    """The example hub's link: it reads every family, and no device is ever in range (measuring
    waits out its time and finds nothing)."""

    registry = tuple(SimpleNamespace(name=f"example-{f.value}", family=f) for f in DeviceFamily)

    def use_history(self, history: Any) -> None:
        pass

    async def read_once(self, sink: Any, *, timeout: float, prefer: Any = None) -> None:
        await asyncio.sleep(timeout)
        raise TimeoutError

    async def run(self, sink: Any) -> None:
        await asyncio.Event().wait()


async def example_hub(data_dir: Any, now: datetime, *, plan: bool = False) -> tuple[Hub, dict[str, list[tuple[str, str]]]]:
    """A hub on a fresh store in `data_dir` with every family and example values, whose clock
    stands still at `now`, and a measure command that waits (nothing is in range).

    `plan`: with the gallery's self-care plan in force for a month before `now` and values it
    judged instead (hub.examples.seed_plan_examples); `hub.api.clock` can then be moved on by
    setting `hub.example_now[0]`."""
    from hub.examples import gallery_plan, seed_examples, seed_plan_examples

    import json
    from pathlib import Path

    from hub.app.careplan import EXAMPLES

    config = HubConfig(data_dir=data_dir, serial="HEIMA-GALLERY")
    clock = [now - timedelta(days=31) if plan else now]
    if plan:
        (Path(data_dir) / "careplans").mkdir(parents=True, exist_ok=True)
        (Path(data_dir) / "careplans" / "plan.json").write_text(json.dumps(gallery_plan(EXAMPLES)), encoding="utf-8")
    hub = await start_hub(config, link=_NothingInRange(), deliver=False, families=list(DeviceFamily), clock=lambda: clock[0])
    hub.example_now = clock
    clock[0] = now
    from hub.app.technician_desk import attach_example

    attach_example(hub, Path(data_dir) / "example-technician")  # the technician screens' gallery
    return hub, await (seed_plan_examples(hub, now) if plan else seed_examples(hub, now))


async def run_gallery(out: Any, *, scenes: Any = None, languages: Any = None, sizes: Any = None) -> list[Any]:
    """Render every screen × language × text size to PNGs in `out` (see ui/gallery.py)."""
    from hub.examples import GALLERY_NOW

    import tempfile
    from pathlib import Path

    _kivy_environment()
    from ui import gallery, scenes as all_scenes
    from ui.app import HeimaApp, drive
    from ui.speech import RecordingSpeaker

    chosen = list(scenes or (*all_scenes.SCENES, *all_scenes.PLAN_SCENES))
    written: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="heima-gallery-") as tmp:
        # The self-care plan's scenes on a hub with the gallery's plan in force; the rest without.
        for plan in (False, True):
            group = [s for s in chosen if s.plan == plan]
            if not group:
                continue
            hub, ids = await example_hub(Path(tmp) / ("plan" if plan else "hub"), GALLERY_NOW, plan=plan)
            try:
                app = HeimaApp(hub.api, speaker=RecordingSpeaker())
                ctx: dict[str, Any] = dict(ids)
                options = {
                    "scenes": group,
                    "languages": languages or all_scenes.LANGUAGES,
                    "sizes": sizes or all_scenes.TEXT_SIZES,
                }
                written += await drive(app, lambda a: gallery.render(a, ctx, Path(out), **options))
            finally:
                await hub.stop()
    return written
