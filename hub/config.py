"""The hub's configuration: a TOML file, or the embedded defaults when there is none.

Errors name the setting and what is wrong with it, never its value (a patient identifier may
sit in this file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.domain.endpoints import url_problem
from hub.domain.identifiers import InvalidNationalId, NationalIdKind, parse_national_id

if TYPE_CHECKING:  # the call machine (hub.domain.video) is imported only for a [video] table: most hubs have none
    from hub.domain.video import VideoSettings

DESTINATION_KINDS = ("fhir", "nhn-pmd", "directory")
CARE_PROVIDER_KINDS = ("fhir", "nhn-pmd")  # destinations that file the data under a patient
# Where the data lives when neither --data-dir nor [hub] data_dir says: `heima-data` in the folder
# heima is started from — the same for every command, so `make demo` then `heima status` agree.
DEFAULT_DATA_DIR = Path("heima-data")
FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.2"
ORGANISATION_NUMBER_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.101"
RESH_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.102"
ORGANISATION_SYSTEMS = {"org": ORGANISATION_NUMBER_SYSTEM, "resh": RESH_SYSTEM}

# What a destination may receive (`receives`). Only vital signs exist today; the others are
# accepted so a centre's configuration can say now what it will take later.
DATA_CATEGORIES = ("vital-signs", "questionnaire-responses", "alerts")
# NHN Pasientens måledata stores Observations only: vital signs, and a questionnaire's scores (never
# the QuestionnaireResponse itself: hub.domain.outgoing.TAKEN_BY).
PMD_CATEGORIES = ("vital-signs", "questionnaire-responses")
CONSENT_DEFAULTS = ("given", "not-given")
AUTH_KINDS = ("none", "private-key-jwt")


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and how to fix it."""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """How the hub proves who it is to a destination (see docs/security.md).

    `private-key-jwt`: OAuth2 client credentials with a signed client assertion (HelseID style),
    with DPoP-bound tokens unless `dpop` is false. Key files are read when the hub starts and
    never logged."""

    kind: str = "none"  # none | private-key-jwt
    token_url: str | None = None
    client_id: str | None = None
    key_file: Path | None = None  # PEM or JWK (JSON) private key of the client
    key_id: str | None = None  # `kid`; default: the JWK's own kid, else its RFC 7638 thumbprint
    audience: str | None = None  # default: the issuer (the token URL's scheme://host)
    scope: tuple[str, ...] = ()
    dpop: bool = True
    dpop_key_file: Path | None = None  # default: a fresh EC P-256 key each time the hub starts
    ca_file: Path | None = None  # pinned CA for the token endpoint (default: the system's CAs)


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS toward a destination: verification is always on; these only narrow or add to it."""

    ca_file: Path | None = None  # trust only this CA (pinning); default: the system's CAs
    client_cert: Path | None = None  # mutual TLS: the hub's own certificate (PEM)...
    client_key: Path | None = None  # ...and its private key (PEM); default: inside client_cert


@dataclass(frozen=True, slots=True)
class OrganisationConfig:
    """The organisation responsible for the follow-up (Observation.performer)."""

    identifier: str
    system: str = ORGANISATION_NUMBER_SYSTEM  # or RESH_SYSTEM
    display: str | None = None


@dataclass(frozen=True, slots=True)
class DestinationConfig:
    name: str
    kind: str  # fhir | nhn-pmd | directory
    url: str | None = None
    path: Path | None = None
    batch_size: int = 100
    bundle: str = "batch"  # fhir only: batch | transaction
    receives: tuple[str, ...] = DATA_CATEGORIES  # what may be queued for it (DATA_CATEGORIES)
    consent: str = "given"  # the patient's consent when the hub first sees it: given | not-given
    auth: AuthConfig = field(default_factory=AuthConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    timeout: float = 30.0  # seconds for one request
    kommunenummer: str | None = None  # nhn-pmd: the municipality (meta.tag), four digits
    organisation: OrganisationConfig | None = None  # overrides [organisation] for this destination

    def receives_category(self, category: str) -> bool:
        return category in self.receives


@dataclass(frozen=True, slots=True)
class PatientConfig:
    identifier: str | None = None
    identifier_system: str = FNR_SYSTEM
    display: str | None = None
    # On a scale or cuff shared by several people: which user number is this patient's, per
    # device (serial, else Bluetooth address). Devices not listed: user number 1.
    device_users: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class OximetryConfig:
    """Continuous oximetry ([oximetry]): whether an oximeter's stream is recorded (a night's
    SpO2 and pulse, sent in chunks with a summary), besides the spot readings it always gives."""

    record_continuous: bool = False
    chunk_minutes: float = 10.0  # one Observation per kind per chunk
    period_seconds: float = 1.0  # one sample per period (a faster stream keeps the newest per slot)


@dataclass(frozen=True, slots=True)
class CentreMqttConfig:
    """The MQTT channel to the follow-up centre ([centre.mqtt], docs/centre-protocol.md): mutual
    TLS with the hub's own certificate (its CN is `hub_id`), verification always on."""

    host: str
    hub_id: str
    client_cert: Path
    client_key: Path | None = None  # default: inside client_cert
    ca_file: Path | None = None  # the centre's CA, pinned; default: the system's CAs
    port: int = 8883
    keepalive: int = 60  # seconds; the centre sees the hub gone within ~1.5 x this
    session_expiry: int = 7 * 24 * 3600  # seconds the broker keeps commands for an absent hub
    topic_root: str = "heima"


@dataclass(frozen=True, slots=True)
class HubConfig:
    data_dir: Path = DEFAULT_DATA_DIR
    timezone: str = "Europe/Oslo"
    serial: str = "HEIMA-DEV-0001"
    name: str = "Heima hub"
    clock: str = "system"  # system: trust the clock | wait-for-ntp: hold readings until NTP sync (Pi)
    patient: PatientConfig = field(default_factory=PatientConfig)
    organisation: OrganisationConfig | None = None  # responsible for the follow-up (performer)
    destinations: tuple[DestinationConfig, ...] = ()
    oximetry: OximetryConfig = field(default_factory=OximetryConfig)
    centre_mqtt: CentreMqttConfig | None = None  # the centre's command channel ([centre.mqtt])
    video: VideoSettings | None = None  # nurses' video check-ins ([video]; needs [centre.mqtt])

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

    def check_patient_for_care_providers(self, where: str) -> None:
        """ConfigError when a care provider's server would get Observations with no subject (a
        file is checked when it is read; this is for a destination added on the command line)."""
        if self.patient.identifier is None and any(d.kind in CARE_PROVIDER_KINDS for d in self.destinations):
            raise ConfigError(f"{where}: {NO_PATIENT} (in the --config file)")


def _check_url(url: Any, where: str) -> str:
    """A server's base URL the hub may send to, without its trailing slash."""
    return _outgoing_url(url, where).rstrip("/")


def _outgoing_url(url: Any, where: str) -> str:
    """A URL the hub may send to (see hub.domain.endpoints); the error never echoes it."""
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{where}: needs the https:// URL of the server")
    problem = url_problem(url)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    return url


_TYPE_NAMES = {str: "string", int: "whole number", float: "number", bool: "true or false", dict: "table", list: "list"}


def _get(table: dict, key: str, kind: type, where: str, default: Any = None) -> Any:
    value = table.get(key, default)
    # bool is an int to Python, but `batch_size = true` is a mistake, not 1.
    wrong_bool = isinstance(value, bool) and kind is not bool
    if value is not None and (wrong_bool or not isinstance(value, kind)):
        raise ConfigError(f"{where}.{key}: must be a {_TYPE_NAMES.get(kind, kind.__name__)}")
    return value


def _device_users(table: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    users = []
    for device, number in table.items():
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 254:
            raise ConfigError("patient.device_users: each device needs a user number 0..254")
        users.append((device, number))
    return tuple(users)


def _path(table: dict, key: str, where: str, base_dir: Path, *, must_exist: bool = True) -> Path | None:
    raw = _get(table, key, str, where)
    if raw is None:
        return None
    if not raw:
        raise ConfigError(f"{where}.{key}: must not be empty")
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if must_exist and not path.is_file():
        raise ConfigError(f"{where}.{key}: no readable file at the path given")
    return path


def _known_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {sorted(unknown)}; expected some of {sorted(allowed)}")


def _organisation(table: Any, where: str) -> OrganisationConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table with identifier and system (org or resh)")
    _known_keys(table, {"identifier", "system", "display"}, where)
    identifier = _get(table, "identifier", str, where)
    system_name = _get(table, "system", str, where, "org")
    system = ORGANISATION_SYSTEMS.get(system_name, system_name)
    if system not in ORGANISATION_SYSTEMS.values():
        raise ConfigError(f"{where}.system: must be org (organisasjonsnummer) or resh (RESH-id)")
    if not identifier or not identifier.isdigit():
        raise ConfigError(f"{where}.identifier: must be the organisation's number, digits only")
    if system == ORGANISATION_NUMBER_SYSTEM and len(identifier) != 9:
        raise ConfigError(f"{where}.identifier: an organisasjonsnummer has nine digits")
    return OrganisationConfig(identifier=identifier, system=system, display=_get(table, "display", str, where))


def _auth(table: Any, where: str, base_dir: Path) -> AuthConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table ([destinations.auth])")
    _known_keys(
        table,
        {"kind", "token_url", "client_id", "key_file", "key_id", "audience", "scope", "dpop", "dpop_key_file", "ca_file"},
        where,
    )
    kind = _get(table, "kind", str, where, "none")
    if kind not in AUTH_KINDS:
        raise ConfigError(f"{where}.kind: must be one of {', '.join(AUTH_KINDS)}")
    if kind == "none":
        if set(table) - {"kind"}:
            raise ConfigError(f"{where}: settings given but kind is none; set kind = \"private-key-jwt\"")
        return AuthConfig()
    token_url = _get(table, "token_url", str, where)
    if not token_url:
        raise ConfigError(f"{where}.token_url: needs the token endpoint's https:// URL")
    token_url = _outgoing_url(token_url, f"{where}.token_url")
    client_id = _get(table, "client_id", str, where)
    if not client_id:
        raise ConfigError(f"{where}.client_id: the client id the centre registered for this hub is needed")
    key_file = _path(table, "key_file", where, base_dir)
    if key_file is None:
        raise ConfigError(f"{where}.key_file: the client's private key file (PEM or JWK) is needed")
    scope = table.get("scope", ())
    if isinstance(scope, str):
        scope = tuple(scope.split())
    if not isinstance(scope, (list, tuple)) or not all(isinstance(x, str) for x in scope):
        raise ConfigError(f"{where}.scope: must be a string or a list of strings")
    audience = _get(table, "audience", str, where)
    if audience is not None and not audience.startswith(("https://", "http://")):
        raise ConfigError(f"{where}.audience: must be the issuer's URL")
    dpop = _get(table, "dpop", bool, where, True)
    return AuthConfig(
        kind=kind,
        token_url=token_url,
        client_id=client_id,
        key_file=key_file,
        key_id=_get(table, "key_id", str, where),
        audience=audience,
        scope=tuple(scope),
        dpop=dpop,
        dpop_key_file=_path(table, "dpop_key_file", where, base_dir),
        ca_file=_path(table, "ca_file", where, base_dir),
    )


DESTINATION_KEYS = {
    "name", "kind", "url", "path", "batch_size", "bundle", "receives", "consent", "auth", "ca_file",
    "client_cert", "client_key", "timeout", "kommunenummer", "organisation",
}  # fmt: skip


def _destination(d: Any, where: str, base_dir: Path, earlier: list[DestinationConfig]) -> DestinationConfig:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: must be a table ([[destinations]])")
    _known_keys(d, DESTINATION_KEYS, where)
    name = _get(d, "name", str, where)
    kind = _get(d, "kind", str, where)
    if not name:
        raise ConfigError(f"{where}.name: every destination needs a name")
    if kind not in DESTINATION_KINDS:
        raise ConfigError(f"{where}.kind: must be one of {', '.join(DESTINATION_KINDS)}")
    if any(existing.name == name for existing in earlier):
        raise ConfigError(f"{where}.name: two destinations share the name {name!r}")
    default_batch = 50 if kind == "nhn-pmd" else 100
    batch_size = _get(d, "batch_size", int, where, default_batch)
    most = 200 if kind == "nhn-pmd" else 1000  # PMD: keep bundles small (a 10 MB one was refused)
    if not 1 <= batch_size <= most:
        raise ConfigError(f"{where}.batch_size: must be between 1 and {most}")
    url = path = None
    bundle = _get(d, "bundle", str, where, "batch")
    if bundle not in ("batch", "transaction"):
        raise ConfigError(f"{where}.bundle: must be batch or transaction")
    if kind == "nhn-pmd" and bundle != "batch":
        raise ConfigError(f"{where}.bundle: Pasientens måledata takes batch bundles only")
    if kind in ("fhir", "nhn-pmd"):
        url = _check_url(d.get("url"), f"{where}.url")
    else:
        raw = _get(d, "path", str, where)
        if not raw:
            raise ConfigError(f"{where}.path: a directory destination needs a folder path")
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else base_dir / path

    allowed = PMD_CATEGORIES if kind == "nhn-pmd" else DATA_CATEGORIES
    receives = d.get("receives", list(allowed))
    if isinstance(receives, str):
        receives = [receives]
    if not isinstance(receives, list) or not receives or not all(isinstance(r, str) for r in receives):
        raise ConfigError(f"{where}.receives: must be a list, some of {', '.join(DATA_CATEGORIES)}")
    if not set(receives) <= set(allowed):
        raise ConfigError(f"{where}.receives: a {kind} destination can receive only {', '.join(allowed)}")
    consent = _get(d, "consent", str, where, "given")
    if consent not in CONSENT_DEFAULTS:
        raise ConfigError(f"{where}.consent: must be given or not-given (the patient can change it on the hub)")
    timeout = d.get("timeout", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 300:
        raise ConfigError(f"{where}.timeout: must be a number of seconds between 1 and 300")

    auth = _auth(d["auth"], f"{where}.auth", base_dir) if "auth" in d else AuthConfig()
    tls = TlsConfig(
        ca_file=_path(d, "ca_file", where, base_dir),
        client_cert=_path(d, "client_cert", where, base_dir),
        client_key=_path(d, "client_key", where, base_dir),
    )
    if tls.client_key is not None and tls.client_cert is None:
        raise ConfigError(f"{where}.client_key: given without client_cert")
    if kind == "directory" and (auth.kind != "none" or tls != TlsConfig()):
        raise ConfigError(f"{where}: a directory destination takes no auth, ca_file or client certificate")
    kommunenummer = _get(d, "kommunenummer", str, where)
    organisation = _organisation(d["organisation"], f"{where}.organisation") if "organisation" in d else None
    if kind == "nhn-pmd":
        if kommunenummer is None or len(kommunenummer) != 4 or not kommunenummer.isdigit():
            raise ConfigError(f"{where}.kommunenummer: Pasientens måledata needs the four-digit kommunenummer (a string, e.g. \"0301\")")
    elif kommunenummer is not None:
        raise ConfigError(f"{where}.kommunenummer: only an nhn-pmd destination uses it")
    return DestinationConfig(
        name=name,
        kind=kind,
        url=url,
        path=path,
        batch_size=batch_size,
        bundle=bundle,
        receives=tuple(receives),
        consent=consent,
        auth=auth,
        tls=tls,
        timeout=float(timeout),
        kommunenummer=kommunenummer,
        organisation=organisation,
    )


def parse_config(data: dict[str, Any], *, base_dir: Path | None = None) -> HubConfig:
    """A HubConfig from parsed TOML; relative paths are taken from `base_dir`."""
    base_dir = base_dir or Path.cwd()
    unknown = set(data) - {"hub", "patient", "organisation", "destinations", "oximetry", "centre", "video"}
    if unknown:
        raise ConfigError(
            f"unknown section(s) {sorted(unknown)}; expected [hub], [patient], [organisation], [oximetry], [centre.mqtt], [video], [[destinations]]"
        )
    hub = _get(data, "hub", dict, "config", {})
    _known_keys(hub, {"data_dir", "timezone", "serial", "name", "clock"}, "hub")
    raw_data_dir = _get(hub, "data_dir", str, "hub")
    if raw_data_dir == "":
        raise ConfigError("hub.data_dir: must not be empty (the folder for the database and bonds)")
    # Given: relative to the file, like every path in it; not given: the default every command uses.
    data_dir = Path(raw_data_dir).expanduser() if raw_data_dir is not None else DEFAULT_DATA_DIR.absolute()
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
    patient = _patient(_get(data, "patient", dict, "config", {}))
    organisation = _organisation(data["organisation"], "organisation") if "organisation" in data else None
    destinations: list[DestinationConfig] = []
    for i, d in enumerate(_get(data, "destinations", list, "config", [])):
        destinations.append(_destination(d, f"destinations[{i}]", base_dir, destinations))
    for i, dest in enumerate(destinations):
        if dest.kind == "fhir" and not patient.identifier:
            raise ConfigError(f"destinations[{i}]: {NO_PATIENT}")
        if dest.kind != "nhn-pmd":
            continue
        if not patient.identifier or patient.identifier_system not in (FNR_SYSTEM, DNR_SYSTEM):
            raise ConfigError(
                f"destinations[{i}]: Pasientens måledata needs patient.identifier as a fødselsnummer or D-number"
            )
        if dest.organisation is None and organisation is None:
            raise ConfigError(
                f"destinations[{i}].organisation: Pasientens måledata needs the responsible organisation "
                "(here or in [organisation])"
            )
    centre_mqtt = _centre_mqtt(_get(data, "centre", dict, "config", {}), base_dir)
    video = _video(data["video"]) if "video" in data else None
    if video is not None and centre_mqtt is None:
        raise ConfigError("video: the nurse's calls come over the centre's channel; configure [centre.mqtt] too")
    return HubConfig(
        data_dir=data_dir,
        timezone=timezone,
        serial=_get(hub, "serial", str, "hub", "HEIMA-DEV-0001"),
        name=_get(hub, "name", str, "hub", "Heima hub"),
        clock=clock,
        patient=patient,
        organisation=organisation,
        destinations=tuple(destinations),
        oximetry=_oximetry(_get(data, "oximetry", dict, "config", {})),
        centre_mqtt=centre_mqtt,
        video=video,
    )


NO_PATIENT = (
    "a care provider's server needs the patient: set identifier in [patient] (the fødselsnummer or "
    "D-number); without it every Observation would go out with no subject"
)
_NATIONAL_ID_SYSTEMS = {FNR_SYSTEM: NationalIdKind.FODSELSNUMMER, DNR_SYSTEM: NationalIdKind.D_NUMBER}


def _patient(table: dict[str, Any]) -> PatientConfig:
    _known_keys(table, {"identifier", "identifier_system", "display", "device_users"}, "patient")
    identifier = _get(table, "identifier", str, "patient")
    system = _get(table, "identifier_system", str, "patient", FNR_SYSTEM)
    if identifier is not None:
        identifier = identifier.strip()
        if not identifier:
            raise ConfigError("patient.identifier: must not be empty; leave it out when there is no patient yet")
        _check_national_id(identifier, system)
    return PatientConfig(
        identifier=identifier,
        identifier_system=system,
        display=_get(table, "display", str, "patient"),
        device_users=_device_users(_get(table, "device_users", dict, "patient", {})),
    )


def _check_national_id(identifier: str, system: str) -> None:
    """A fødselsnummer or D-number must be one; other identifier systems are the centre's own."""
    expected = _NATIONAL_ID_SYSTEMS.get(system)
    if expected is None:
        return
    try:
        found = parse_national_id(identifier)
    except InvalidNationalId as exc:
        raise ConfigError(f"patient.identifier: not a valid {expected.value}: {exc}") from None
    if found.kind is not expected:
        other = DNR_SYSTEM if found.kind is NationalIdKind.D_NUMBER else FNR_SYSTEM
        raise ConfigError(
            f"patient.identifier: this is a {found.kind.value}, not a {expected.value}; "
            f"set patient.identifier_system = \"{other}\""
        )


def _oximetry(table: dict[str, Any]) -> OximetryConfig:
    _known_keys(table, {"record_continuous", "chunk_minutes", "period_seconds"}, "oximetry")
    record = _get(table, "record_continuous", bool, "oximetry", False)

    def number(key: str, default: float, low: float, high: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ConfigError(f"oximetry.{key}: must be a number from {low:g} to {high:g}")
        return float(value)

    period = number("period_seconds", 1.0, 0.01, 60.0)
    chunk = number("chunk_minutes", 10.0, 1.0, 60.0)
    if chunk * 60 / period > 60_000:
        raise ConfigError("oximetry: a chunk may hold at most 60,000 samples; use a longer period or shorter chunks")
    return OximetryConfig(record_continuous=record, chunk_minutes=chunk, period_seconds=period)


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _centre_mqtt(centre: dict[str, Any], base_dir: Path) -> CentreMqttConfig | None:
    _known_keys(centre, {"mqtt"}, "centre")
    table = _get(centre, "mqtt", dict, "centre")
    if table is None:
        return None
    where = "centre.mqtt"
    _known_keys(
        table,
        {"host", "port", "hub_id", "client_cert", "client_key", "ca_file", "keepalive", "session_expiry", "topic_root"},
        where,
    )
    host = _get(table, "host", str, where)
    if not host or "/" in host or ":" in host:
        raise ConfigError(f"{where}.host: needs the broker's host name (no scheme, no port)")
    hub_id = _get(table, "hub_id", str, where)
    if not hub_id or not _HUB_ID.match(hub_id):
        raise ConfigError(f"{where}.hub_id: needs the hub's id (the CN of its certificate: letters, digits, . _ -)")
    cert = _path(table, "client_cert", where, base_dir)
    if cert is None:
        raise ConfigError(f"{where}.client_cert: the hub's client certificate (PEM) from the centre is needed")

    def whole(key: str, default: int, low: int, high: int) -> int:
        value = _get(table, key, int, where, default)
        if not low <= value <= high:
            raise ConfigError(f"{where}.{key}: must be a whole number from {low} to {high}")
        return value

    root = _get(table, "topic_root", str, where, "heima")
    if not _HUB_ID.match(root):
        raise ConfigError(f"{where}.topic_root: one topic level of letters, digits, . _ -")
    return CentreMqttConfig(
        host=host,
        hub_id=hub_id,
        client_cert=cert,
        client_key=_path(table, "client_key", where, base_dir),
        ca_file=_path(table, "ca_file", where, base_dir),
        port=whole("port", 8883, 1, 65535),
        keepalive=whole("keepalive", 60, 1, 3600),
        session_expiry=whole("session_expiry", 7 * 24 * 3600, 60, 30 * 24 * 3600),
        topic_root=root,
    )


_ICE_SERVER_KEYS = {"urls", "username", "credential"}


def _video(table: Any) -> VideoSettings:
    """[video]: the call's ICE servers (the centre's TURN), ring and connect times, the camera."""
    if not isinstance(table, dict):
        raise ConfigError("video: must be a table ([video])")
    servers = table.get("ice_servers", [])
    if not isinstance(servers, list):
        raise ConfigError('video.ice_servers: must be a list of tables, e.g. [{ urls = ["turns:turn.centre.example:5349"] }]')
    for n, entry in enumerate(servers):
        where = f"video.ice_servers[{n}]"
        if not isinstance(entry, dict):
            raise ConfigError(f'{where}: must be a table, e.g. {{ urls = ["turns:turn.centre.example:5349"] }}')
        _known_keys(entry, _ICE_SERVER_KEYS, where)
        urls = entry.get("urls")
        if not (isinstance(urls, str) or (isinstance(urls, list) and urls and all(isinstance(u, str) for u in urls))):
            raise ConfigError(f'{where}.urls: a list of stun:/turn:/turns: URLs, e.g. ["turns:turn.centre.example:5349"]')
        for key in ("username", "credential"):
            if key in entry and not isinstance(entry[key], str):
                raise ConfigError(f"{where}.{key}: must be text")
    from hub.domain.video import parse_video_settings

    try:
        return parse_video_settings(table)
    except ValueError as exc:  # its message names the key and the fix, never a value
        raise ConfigError(str(exc)) from None


def load_config(path: Path | None) -> HubConfig:
    """Read a TOML file; with no path, the embedded defaults."""
    if path is None:
        return HubConfig()
    import tomllib  # here, not at import: the embedded defaults (`make demo`) read no TOML (issue 13)

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no configuration file at {path}; copy packaging/heima.example.toml there") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder; --config needs the TOML file itself (e.g. {path}/heima.toml)") from None
    except PermissionError:
        raise ConfigError(f"{path} cannot be read by this user; check its owner and permissions") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc.args[0].split('(')[0].strip()})") from None
    return parse_config(data, base_dir=path.parent)
