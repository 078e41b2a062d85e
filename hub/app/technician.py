"""The technician's commands, wired: `heima enrol`, `heima technician kit|audit|test|scan|pair|unpair`,
`heima return`.

The rules live in hub.domain (pin, enrolment, kit) and hub.services (technician, enrolment,
returning); this module gives them the store, the delivery (sync_once), the operator export and
the FHIR Device mapping, and reads PINs from the terminal. hub/cli.py only registers the commands.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.config import DEFAULT_DATA_DIR, ConfigError, HubConfig, load_config, parse_config
from hub.domain import refusals
from hub.domain.enrolment import ProfileRefused
from hub.domain.kit import KitEntry, kit_entries
from hub.services.returning import (
    JOURNAL,
    Checkpoint,
    RECORD,
    Exported,
    ReturnPlan,
    ReturnRefused,
    Unsent,
    count_files,
    read_journal,
    return_hub,
    wipe_targets,
)
from hub.services.technician import AuditLog, PinGuard, TechnicianError, TechnicianFiles
from hub.app.technician_args import COMMANDS, explain_config_error, register
from hub.store import StoreError
from hub.store.keys import key_path as store_key_path



def main(args: argparse.Namespace, *, checkpoint: Checkpoint | None = None) -> int:
    """Run an enrol, technician or return command. `checkpoint`: the return's step hook (tests)."""
    try:
        if args.command == "enrol":
            return _enrol(args)
        if args.command == "technician":
            return _technician(args)
        return _return(args, checkpoint)
    except (ProfileRefused, TechnicianError, ReturnRefused) as exc:
        print(f"heima {args.command}: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(explain_config_error(args, exc), file=sys.stderr)
        return 2
    except StoreError as exc:  # the hub is running on the folder, a damaged database: one line
        print(f"heima {args.command}: {exc}", file=sys.stderr)
        return 3


def _who(args: argparse.Namespace) -> str:
    name = getattr(args, "technician", None)
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _read_pin(prompt: str, *, twice: bool = False) -> str:
    """A PIN from the terminal (not echoed), or one line of standard input (scripts, tests)."""
    if sys.stdin.isatty():
        pin = getpass.getpass(prompt)
        if twice and getpass.getpass("The same PIN again: ") != pin:
            raise TechnicianError("the two PINs differ; nothing was changed")
        return pin
    return sys.stdin.readline().strip()


def _data_dir(args: argparse.Namespace, config: HubConfig | None) -> Path:
    given = getattr(args, "data_dir", None)
    if given is not None:
        return Path(given).absolute()
    return (config.data_dir if config is not None else DEFAULT_DATA_DIR).absolute()


def _config(args: argparse.Namespace) -> HubConfig:
    config = load_config(getattr(args, "config", None))
    return dataclasses.replace(config, data_dir=_data_dir(args, config))


# --- enrol ---------------------------------------------------------------------------------


def _enrol(args: argparse.Namespace) -> int:
    from hub.services.enrolment import decode_qr, enrol, load_trusted_keys, read_source

    config_path = getattr(args, "config", None)
    if config_path is None:
        raise ConfigError("enrol: give --config FILE, the configuration to write (on a Raspberry Pi: /etc/heima/heima.toml)")
    config_path = Path(config_path).absolute()
    data_dir = _data_dir(args, None)
    hub_id = args.hub_id or _hub_id(config_path.parent / "hub-id")
    trusted = load_trusted_keys(args.trusted_keys or config_path.parent / "enrolment-keys.json")
    signed = decode_qr(args.qr) if args.qr else read_source(args.profile)
    print(f"data in {data_dir}", flush=True)
    pin = _read_pin("New technician PIN (6-12 digits): ", twice=True)

    def check(config: dict[str, Any], base_dir: Path) -> None:
        parse_config(config, base_dir=base_dir)  # strict: the hub must be able to start with it

    profile, written = enrol(
        signed, config_path=config_path, data_dir=data_dir, hub_id=hub_id, trusted=trusted, pin=pin, who=_who(args), check_config=check
    )
    print(f"Enrolled hub {profile.hub_id} (profile {profile.profile_id}, valid until {profile.expires_at:%Y-%m-%d %H:%M %Z}).")
    print(f"  configuration: {written.config_path}")
    print(f"  destinations: {', '.join(written.destinations)}")
    print(f"  secrets: {len(written.secrets)} file(s) in {data_dir / 'secrets'} (0600)")
    if profile.mqtt is not None:
        print(f"  centre channel: {profile.mqtt.host}:{profile.mqtt.port} ([centre.mqtt], the hub's own certificate)")
    print("Next: pair the devices, take a test measurement, then hand the kit out (docs/technician.md).")
    return 0


def _hub_id(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    if not text:
        raise ProfileRefused(f"this hub has no id: give --hub-id ID (printed on the hub), or write it into {path}", refusals.NO_HUB_ID)
    return text


# --- technician mode -------------------------------------------------------------------------


def _unlock(config: HubConfig, args: argparse.Namespace, action: str) -> PinGuard:
    guard = PinGuard(TechnicianFiles(config.data_dir))
    if not guard.is_set:
        raise TechnicianError("this hub has no technician PIN: it is set when the hub is enrolled (heima enrol PROFILE)")
    guard.unlock(_read_pin("Technician PIN: "), who=_who(args), action=action)
    return guard


def _technician(args: argparse.Namespace) -> int:
    config = _config(args)
    print(f"data in {config.data_dir}", flush=True)
    action = args.technician_command
    if action is None:
        print("technician: give an action: kit, audit, test, scan, pair or unpair (heima technician --help)", file=sys.stderr)
        return 2
    guard = _unlock(config, args, action)
    if action == "audit":
        log = AuditLog(TechnicianFiles(config.data_dir).audit)
        for entry in log.entries():
            details = " ".join(f"{k}={v}" for k, v in sorted(entry.get("details", {}).items()))
            print(f"{entry['at']}  {entry['who']} ({entry['user']})  {entry['action']}: {entry['outcome']}  {details}".rstrip())
        broken = log.broken_links()
        if broken:
            print(f"WARNING: the log was changed or lines removed before line(s) {broken}")
            return 1
        return 0
    if action in PAIRING_ACTIONS:
        return asyncio.run(_pairing_on_bluez(config, args))
    if action == "test":
        taken = asyncio.run(_test_on_bluez(config, args.timeout))
        guard.audit.append(_who(args), "test-measurement", "taken" if taken else "none", readings=len(taken))
        return 0 if taken else 1
    entries = asyncio.run(kit(config))
    print_kit(entries, now=datetime.now(UTC))
    if args.fhir is not None:
        from hub.services.technician import write_private

        write_private(args.fhir.absolute(), json.dumps(kit_bundle(entries), indent=1).encode())
        print(f"{len(entries)} Device resource(s) written to {args.fhir}")
    if args.send:
        queued = asyncio.run(send_kit(config, entries))
        print(f"{queued} Device resource(s) queued for the destinations that take them (sent by the hub or `heima sync`)")
    guard.audit.append(_who(args), "kit", "listed", devices=len(entries), fhir=args.fhir is not None, sent=bool(args.send))
    return 0


def bonded_addresses(bonds: Path) -> list[str]:
    """The peers the hub holds Bluetooth bonds for (a Bumble JSON keystore: {namespace: {peer: keys}}).
    On BlueZ the bonds live in /var/lib/bluetooth (root only): `bluetoothctl devices Paired`."""
    try:
        data = json.loads(bonds.read_text())
    except (OSError, ValueError):
        return []
    peers: list[str] = []
    for namespace in data.values() if isinstance(data, dict) else []:
        if isinstance(namespace, dict):
            peers += [str(peer).split("/")[0] for peer in namespace]
    return peers


async def kit(config: HubConfig) -> list[KitEntry]:
    from hub.store import Store

    measurements = []
    if config.database_path.exists():
        store = await Store.open(config.database_path)
        try:
            measurements = await store.measurements(limit=100_000)
        finally:
            await store.close()
    from hub.domain.nearby import without_forgotten
    from hub.services.technician_pairing import ForgottenDevices

    forgotten = ForgottenDevices(TechnicianFiles(config.data_dir).folder, lambda: datetime.now(UTC)).load()
    return without_forgotten(kit_entries(bonded_addresses(config.data_dir / "bonds.json"), measurements), forgotten)


def _offset(offset: timedelta | None) -> str:
    if offset is None:
        return "-"
    seconds = offset.total_seconds()
    return f"{seconds:+.0f} s"


def print_kit(entries: list[KitEntry], *, now: datetime) -> None:
    if not entries:
        print("No devices: none is paired and none has measured. Pair the kit's devices (docs/technician.md).")
        return
    print(f"{len(entries)} device(s):")
    for e in entries:
        d = e.identity
        name = (d.name or d.model or "?") if d else "?"
        seen = f"{e.last_seen.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if e.last_seen else "never measured"
        print(
            f"  {name}  {e.address}  paired: {'yes' if e.paired else 'no'}  serial: {(d and d.serial) or '-'}  "
            f"model: {(d and d.model) or '-'}  firmware: {(d and d.firmware) or '-'}  battery: {e.battery}  "
            f"last seen: {seen}  clock offset: {_offset(e.clock_offset)}"
        )


KIT_SYSTEM = "https://heima.no/fhir/CodeSystem/kit"  # Heima's own codes for what R4 has no code for


def device_resource(entry: KitEntry) -> dict[str, Any]:
    """The sensor's Device (sync.fhir.devices.device_for), with what the kit list adds:
    battery and clock offset as properties, last seen as a note."""
    from hub.domain.readings import DeviceIdentity
    from sync.fhir.devices import device_for

    resource = device_for(entry.identity or DeviceIdentity(address=entry.address))
    properties = []
    if entry.clock_offset is not None:
        properties.append(
            {
                "type": {"coding": [{"system": KIT_SYSTEM, "code": "clock-offset"}], "text": "Hub clock minus device clock"},
                "valueQuantity": [{"value": round(entry.clock_offset.total_seconds(), 3), "unit": "s", "system": "http://unitsofmeasure.org", "code": "s"}],
            }
        )
    properties.append(
        {
            "type": {"coding": [{"system": KIT_SYSTEM, "code": "battery"}], "text": "Battery"},
            "valueCode": [{"coding": [{"system": KIT_SYSTEM, "code": "low" if entry.battery_low else "not-reported-low"}]}],
        }
    )
    resource["property"] = properties
    resource["status"] = "active" if entry.paired else "inactive"
    if entry.last_seen is not None:
        resource["note"] = [{"time": entry.last_seen.astimezone(UTC).isoformat(), "text": "Last seen by the hub"}]
    return resource


def kit_bundle(entries: list[KitEntry]) -> dict[str, Any]:
    import uuid

    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": device_resource(e)} for e in entries],
    }


async def send_kit(config: HubConfig, entries: list[KitEntry]) -> int:
    from hub.app import start_hub
    from hub.services.outgoing import OutgoingService

    hub = await start_hub(config, deliver=False)
    try:
        assert hub.consent is not None
        service = OutgoingService(hub.store, destinations_for=hub.consent.destinations_for_resource)
        for e in entries:
            if e.identity is not None:
                await service.share_device(e.identity)
        return sum(1 for e in entries if e.identity is not None)
    finally:
        await hub.stop()


# --- a test measurement ------------------------------------------------------------------------


async def take_test_measurement(config: HubConfig, link: Any, *, timeout: float, say: Any = print) -> list[Any]:
    """One session with the first kit device found: every reading recorded marked as a
    technician's test (stored, never queued, never evaluated). Returns the measurements."""
    from hub.app import start_hub
    from hub.domain.readings import Reading
    from hub.services.technician import as_test

    hub = await start_hub(config, link=link, deliver=False)
    taken: list[Any] = []
    try:

        async def sink(reading: Any) -> None:
            if not isinstance(reading, Reading):
                return  # a continuous stream's points: not needed to check a device
            outcome = await hub.service.record_reading(as_test(reading))
            if outcome.measurement is not None:
                taken.append(outcome.measurement)
                value = "no value" if reading.value is None else f"{reading.value:g} {reading.unit}"
                # The technician's own value, not the patient's: shown so the device is seen to work.
                say(f"  test: {reading.kind.value} {value} from {reading.device.name if reading.device else '?'} — stored as a test, not sent")

        try:
            device = await link.read_once(sink, timeout=timeout)
        except TimeoutError:
            say(f"No kit device was found within {timeout:g} s: switch it on (and measure) near the hub, then try again.")
            return taken
        if not taken:
            say(f"{device.name or device.address} connected but sent no reading; measure with it and try again.")
    finally:
        await hub.stop()
    return taken


class TerminalPasskeys:
    """Passkeys and consent codes typed by the technician at the terminal (BlueZ asks)."""

    async def passkey_for(self, device: Any) -> int | None:
        text = await asyncio.to_thread(_ask, f"Passkey shown on {_label(device)} (6 digits): ")
        return int(text) if text.isdigit() and len(text) <= 6 else None

    async def confirm_numeric(self, device: Any, number: int) -> bool:
        text = await asyncio.to_thread(_ask, f"Does {_label(device)} show {number:06d}? [y/N] ")
        return text.lower() in ("y", "yes", "j", "ja")

    async def consent_code_for(self, device: Any, user_index: int) -> int | None:
        text = await asyncio.to_thread(_ask, f"Consent code for user {user_index} on {_label(device)} (4 digits): ")
        return int(text) if text.isdigit() and len(text) <= 4 else None


def _ask(prompt: str) -> str:
    try:
        return input(prompt).strip()
    except EOFError:
        return ""


def _label(device: Any) -> str:
    return getattr(device, "name", None) or getattr(device, "address", None) or str(device)


@contextlib.asynccontextmanager
async def _bluez_link(config: HubConfig):  # noqa: ANN202
    """The machine's link with BlueZ's pairing agent answering at the terminal (the test
    measurement and the pairing commands); without a system bus the link says so when it scans."""
    from drivers.link import LinkManager
    from hub.app import hub_registry

    provider = TerminalPasskeys()
    bus = None
    try:
        from drivers.bluez_agent import PairingWindow, start_agent

        window = PairingWindow()
        link = LinkManager(hub_registry(config), passkey_provider=provider, on_event=window.follow)
        bus, _ = await start_agent(provider, window)
    except Exception as exc:  # no system bus / BlueZ
        print(f"(no BlueZ pairing agent: {type(exc).__name__})")
        link = LinkManager(hub_registry(config), passkey_provider=provider)
    try:
        yield link
    finally:
        if bus is not None:
            bus.disconnect()


async def _test_on_bluez(config: HubConfig, timeout: float) -> list[Any]:
    async with _bluez_link(config) as link:
        return await take_test_measurement(config, link, timeout=timeout)


# --- pairing: scan, pair, unpair ----------------------------------------------------------------

PAIRING_ACTIONS = ("scan", "pair", "unpair")


class CliPorts:
    """The desk's pairing ports for a command beside a stopped hub: the store opened for the kit,
    the bonds file, and a link of the command's own (BlueZ on a Pi; the emulator in tests)."""

    def __init__(self, config: HubConfig, link: Any) -> None:
        self.config, self.link = config, link

    async def measurements(self) -> list[Any]:
        if not self.config.database_path.exists():
            return []
        from hub.store import Store

        store = await Store.open(self.config.database_path)
        try:
            return await store.measurements(limit=100_000)
        finally:
            await store.close()

    def bonded(self) -> list[str]:
        return bonded_addresses(self.config.data_dir / "bonds.json")

    async def scan(self, seconds: float, until: Any = None) -> Any:
        from hub.app.technician_desk import link_scan

        return await link_scan(self.link, seconds, until)

    async def pair(self, address: str, timeout: float) -> None:
        from hub.app.technician_desk import link_pair

        await link_pair(self.link, address, timeout)

    async def unpair(self, address: str) -> bool:
        from hub.app.technician_desk import link_unpair

        return await link_unpair(self.link, address, self.config.data_dir / "bonds.json")


def bars(count: int) -> str:
    from hub.domain.nearby import MAX_BARS

    return "■" * count + "□" * (MAX_BARS - count)


async def pairing_command(config: HubConfig, args: argparse.Namespace, link: Any, *, say: Any = print) -> int:
    """`heima technician scan|pair|unpair` on `link`, through the technician desk (audited as
    the technician named; the PIN was asked for already)."""
    from hub.app.technician_desk import check_config
    from hub.services.technician_desk import TechnicianDesk

    config_path = Path(getattr(args, "config", None) or "/etc/heima/heima.toml").absolute()
    desk = TechnicianDesk(
        data_dir=config.data_dir, config_path=config_path, trusted_keys=config_path.parent / "enrolment-keys.json",
        check_config=check_config, ports=CliPorts(config, link), who=_who(args),
    )  # fmt: skip
    action = args.technician_command
    if action == "scan":
        report = await desk.scan(args.seconds)
        others = f" ({report.unsupported} other device(s) heard, not supported)" if report.unsupported else ""
        if not report.devices:
            say(f"No supported device heard in {args.seconds:g} s{others}. Switch it on, put it in pairing mode, hold it near the hub and scan again.")
            return 1
        say(f"{len(report.devices)} supported device(s) nearby, strongest signal first{others}:")
        for d in report.devices:
            signal = f"{d.rssi} dBm" if d.rssi is not None else "signal ?"
            say(f"  {bars(d.bars)} {signal:>9}  {'known' if d.known else 'new  '}  {d.address}  {d.name or '?'}  ({d.driver})")
        say("Pair one with `heima technician pair ADDRESS`.")
        return 0
    if action == "pair":
        say(f"Pairing with {args.address}: switch it on and put it in pairing mode; a passkey or consent code is asked here.")
        outcome = await desk.pair(args.address, args.timeout)
        if not outcome.ok:
            say(f"Not paired: {outcome.advice}")
            return 1
        say(f"Paired with {outcome.address}. Take a test measurement: `heima technician test`.")
        return 0
    outcome = await desk.unpair(args.address)
    say(f"Unpaired {outcome.address}: the bond is removed and it is no longer in the kit list; its stored values are kept.")
    return 0


async def _pairing_on_bluez(config: HubConfig, args: argparse.Namespace) -> int:
    async with _bluez_link(config) as link:
        return await pairing_command(config, args, link)


# --- return ----------------------------------------------------------------------------------


class _Ports:
    """hub.services.returning's ports on the real store, delivery and export."""

    def __init__(self, config: HubConfig, on_hub: dict[str, Path]) -> None:
        self.config = config
        self.on_hub = on_hub

    async def deliver(self) -> dict[str, int]:
        from hub.app import sync_once

        if not self.config.database_path.exists():
            return {}
        reports = await sync_once(self.config)
        return {name: report.delivered for name, report in reports.items()}

    async def stored(self) -> int:
        if not self.config.database_path.exists():
            return 0
        from hub.store import Store

        store = await Store.open(self.config.database_path)
        try:
            return await store.count_measurements()
        finally:
            await store.close()

    async def unsent(self) -> Unsent:
        waiting: dict[str, dict[str, int]] = {}
        held = 0
        forms = 0
        if self.config.database_path.exists():
            from hub.store import Store

            store = await Store.open(self.config.database_path)
            try:
                rows = store.db.execute(
                    "SELECT o.destination, g.kind, count(*), sum(coalesce(m.time_pending, 0)) FROM outbox o "
                    "JOIN outgoing g ON g.id = o.resource_id LEFT JOIN measurements m ON m.id = g.measurement_id "
                    "WHERE o.state IN ('pending', 'dead') GROUP BY o.destination, g.kind"
                ).fetchall()
                tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "form_responses" in tables:
                    forms = store.db.execute("SELECT count(*) FROM form_responses WHERE state = 'in-progress'").fetchone()[0]
            finally:
                await store.close()
            for dest, kind, count, pending in rows:
                waiting.setdefault(dest, {})[kind] = count
                held += pending or 0
        folders = {name: n for name, path in self.on_hub.items() if (n := count_files(path))}
        return Unsent(waiting, held, folders, forms)

    async def export(self, to: Path, destination: str) -> Exported:
        from hub.app.export import export

        result = await export(self.config, to, destination=destination)
        kinds = {kind.value: n for kind, n in result.by_kind().items()}
        return Exported(kinds, len(result.files), result.held, len(result.not_expressible))


def _return(args: argparse.Namespace, checkpoint: Checkpoint | None = None) -> int:
    """`heima return`. `checkpoint(name)` is called between the return's steps (None: nothing);
    the kill -9 tests pass one through their own entry point (tests/unit/technician/return_runner.py)."""
    config_path = getattr(args, "config", None)
    config: HubConfig | None
    try:
        config = _config(args)
    except ConfigError:
        if config_path is None or Path(config_path).exists():
            raise
        config = None  # the configuration is gone: only an interrupted wipe can be finished
    data_dir = _data_dir(args, config)
    print(f"data in {data_dir}", flush=True)
    journal = read_journal(data_dir)
    if config is None and journal is None:
        record = data_dir / RECORD
        if record.exists():
            print(f"This hub is returned (see {record}); it is not enrolled.")
            return 0
        raise ConfigError(f"no configuration at {config_path}")
    files = TechnicianFiles(data_dir)
    who = _who(args)
    if journal is None:
        assert config is not None
        if PinGuard(files).is_set:
            _unlock(config, args, "return")  # the PIN: a patient cannot wipe the hub by accident
        else:  # configured by hand, before technician mode: whoever has the shell is the technician
            print("This hub has no technician PIN (it was configured by hand, not enrolled); returning without one.")
    export_dir = args.export.absolute() if args.export else None
    if export_dir is not None and not export_dir.parent.is_dir():
        raise ReturnRefused(f"the folder above {export_dir} does not exist (is the USB stick mounted?)", refusals.NO_STICK)
    on_hub: dict[str, Path] = {}
    if config is not None:
        for dest in config.effective_destinations():
            if dest.kind == "directory" and dest.path is not None and dest.path.absolute().is_relative_to(data_dir):
                on_hub[dest.name] = dest.path.absolute()
    bundles = data_dir / "bundles"  # the default folder destination's, from an earlier configuration
    if bundles not in on_hub.values() and count_files(bundles):
        on_hub["local-folder"] = bundles
    enrolment = _read_json(data_dir / "enrolment.json")
    plan = ReturnPlan(
        data_dir=data_dir,
        config_path=Path(config_path).absolute() if config_path else None,
        targets=wipe_targets(data_dir, Path(config_path).absolute() if config_path else None, list(on_hub.values())),
        on_hub_folders=on_hub,
        export_dir=export_dir,
        confirmed=args.yes,
        hub_id=enrolment.get("hub_id") or (config.serial if config else None),
        profile_id=enrolment.get("profile_id"),
        store_key=store_key_path(data_dir / "heima.db"),
    )
    audit = AuditLog(files.audit)
    try:
        result = asyncio.run(
            return_hub(
                plan,
                _Ports(config, on_hub) if config is not None else _NoPorts(),
                checkpoint=checkpoint or (lambda _name: None),
                audit=lambda action, outcome, **details: audit.append(who, action, outcome, **details),
                exclusive=lambda: _folder_lock(data_dir),
            )
        )
    except ReturnRefused:
        audit.append(who, "return", "refused")
        raise
    record = result.record
    print(f"Wiped: {', '.join(record['wiped'])} (whatever of them there was)")
    print(f"Wipe record for the centre: {data_dir / RECORD}")
    print("The hub is returned: it starts as not enrolled. Enrol it for the next patient with `heima enrol PROFILE`.")
    return 0


@contextlib.contextmanager
def _folder_lock(data_dir: Path) -> Iterator[None]:
    """The data folder's owner lock while wiping: a hub started meanwhile is refused."""
    from hub.store.lock import DataFolderLock

    lock = DataFolderLock.acquire(data_dir)
    try:
        yield
    finally:
        lock.release()


class _NoPorts:
    """An interrupted wipe is finished from the journal alone: nothing to deliver any more."""

    async def deliver(self) -> dict[str, int]:  # pragma: no cover - the journal skips it
        return {}

    async def stored(self) -> int:  # pragma: no cover
        return 0

    async def unsent(self) -> Unsent:  # pragma: no cover
        return Unsent()

    async def export(self, to: Path, destination: str) -> Exported:  # pragma: no cover
        return Exported({}, 0)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["COMMANDS", "JOURNAL", "explain_config_error", "main", "register"]
