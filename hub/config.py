"""The hub's configuration: a TOML file, or the embedded defaults when there is none.

Errors name the setting and what is wrong with it, never its value (a patient identifier may
sit in this file).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DESTINATION_KINDS = ("fhir", "directory")
DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "heima"
FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and how to fix it."""


@dataclass(frozen=True, slots=True)
class DestinationConfig:
    name: str
    kind: str  # fhir | directory
    url: str | None = None
    path: Path | None = None
    batch_size: int = 100
    bundle: str = "batch"  # fhir only: batch | transaction


@dataclass(frozen=True, slots=True)
class PatientConfig:
    identifier: str | None = None
    identifier_system: str = FNR_SYSTEM
    display: str | None = None
    # On a scale or cuff shared by several people: which user number is this patient's, per
    # device (serial, else Bluetooth address). Devices not listed: user number 1.
    device_users: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class HubConfig:
    data_dir: Path = DEFAULT_DATA_DIR
    timezone: str = "Europe/Oslo"
    serial: str = "HEIMA-DEV-0001"
    name: str = "Heima hub"
    clock: str = "system"  # system: trust the clock | wait-for-ntp: hold readings until NTP sync (Pi)
    patient: PatientConfig = field(default_factory=PatientConfig)
    destinations: tuple[DestinationConfig, ...] = ()

    @property
    def database_path(self) -> Path:
        return self.data_dir / "heima.db"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def effective_destinations(self) -> tuple[DestinationConfig, ...]:
        """The configured destinations, or the embedded default: a folder of FHIR bundles."""
        if self.destinations:
            return self.destinations
        return (DestinationConfig(name="local-folder", kind="directory", path=self.data_dir / "bundles"),)

    def with_centre(self, url: str) -> HubConfig:
        """This configuration with a FHIR centre added in front (the `--centre URL` option)."""
        centre = DestinationConfig(name="centre", kind="fhir", url=_check_url(url, "--centre"))
        kept = tuple(d for d in self.destinations if d.name != "centre")
        return replace(self, destinations=(centre, *kept))


def _check_url(url: Any, where: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: needs an http:// or https:// URL of the centre's FHIR base")
    return url.rstrip("/")


def _get(table: dict, key: str, kind: type, where: str, default: Any = None) -> Any:
    value = table.get(key, default)
    if value is not None and not isinstance(value, kind):
        raise ConfigError(f"{where}.{key}: must be a {kind.__name__}")
    return value


def _device_users(table: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    users = []
    for device, number in table.items():
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 254:
            raise ConfigError("patient.device_users: each device needs a user number 0..254")
        users.append((device, number))
    return tuple(users)


def parse_config(data: dict[str, Any], *, base_dir: Path | None = None) -> HubConfig:
    """A HubConfig from parsed TOML; relative paths are taken from `base_dir`."""
    base_dir = base_dir or Path.cwd()
    unknown = set(data) - {"hub", "patient", "destinations"}
    if unknown:
        raise ConfigError(f"unknown section(s) {sorted(unknown)}; expected [hub], [patient], [[destinations]]")
    hub = _get(data, "hub", dict, "config", {})
    data_dir = Path(_get(hub, "data_dir", str, "hub", str(DEFAULT_DATA_DIR))).expanduser()
    if not data_dir.is_absolute():
        data_dir = base_dir / data_dir
    timezone = _get(hub, "timezone", str, "hub", "Europe/Oslo")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("hub.timezone: not a known IANA time zone (e.g. Europe/Oslo)") from None
    clock = _get(hub, "clock", str, "hub", "system")
    if clock not in ("system", "wait-for-ntp"):
        raise ConfigError("hub.clock: must be system or wait-for-ntp")
    patient_t = _get(data, "patient", dict, "config", {})
    patient = PatientConfig(
        identifier=_get(patient_t, "identifier", str, "patient"),
        identifier_system=_get(patient_t, "identifier_system", str, "patient", FNR_SYSTEM),
        display=_get(patient_t, "display", str, "patient"),
        device_users=_device_users(_get(patient_t, "device_users", dict, "patient", {})),
    )
    destinations: list[DestinationConfig] = []
    for i, d in enumerate(_get(data, "destinations", list, "config", [])):
        where = f"destinations[{i}]"
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: must be a table ([[destinations]])")
        name = _get(d, "name", str, where)
        kind = _get(d, "kind", str, where)
        if not name:
            raise ConfigError(f"{where}.name: every destination needs a name")
        if kind not in DESTINATION_KINDS:
            raise ConfigError(f"{where}.kind: must be one of {', '.join(DESTINATION_KINDS)}")
        if any(existing.name == name for existing in destinations):
            raise ConfigError(f"{where}.name: two destinations share the name {name!r}")
        batch_size = _get(d, "batch_size", int, where, 100)
        if not 1 <= batch_size <= 1000:
            raise ConfigError(f"{where}.batch_size: must be between 1 and 1000")
        url = path = None
        bundle = _get(d, "bundle", str, where, "batch")
        if bundle not in ("batch", "transaction"):
            raise ConfigError(f"{where}.bundle: must be batch or transaction")
        if kind == "fhir":
            url = _check_url(d.get("url"), f"{where}.url")
        else:
            raw = _get(d, "path", str, where)
            if not raw:
                raise ConfigError(f"{where}.path: a directory destination needs a folder path")
            path = Path(raw).expanduser()
            path = path if path.is_absolute() else base_dir / path
        destinations.append(
            DestinationConfig(name=name, kind=kind, url=url, path=path, batch_size=batch_size, bundle=bundle)
        )
    return HubConfig(
        data_dir=data_dir,
        timezone=timezone,
        serial=_get(hub, "serial", str, "hub", "HEIMA-DEV-0001"),
        name=_get(hub, "name", str, "hub", "Heima hub"),
        clock=clock,
        patient=patient,
        destinations=tuple(destinations),
    )


def load_config(path: Path | None) -> HubConfig:
    """Read a TOML file; with no path, the embedded defaults."""
    if path is None:
        return HubConfig()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no configuration file at {path}; copy packaging/heima.example.toml there") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc.args[0].split('(')[0].strip()})") from None
    return parse_config(data, base_dir=path.parent)
