"""An enrolment profile: what a centre tells a hub about the patient it is handed out to.

The profile arrives signed (hub.services.enrolment checks the signature); this module checks what
it says, strictly: the format, that it is for *this* hub, that it is not expired or not yet
valid (the time is passed in), the patient's identifier (a real fødselsnummer or D-number),
the time zone's and language's shape, and that no key is unknown (a misspelt key is refused,
never ignored). Destinations are checked in depth by hub.config when the configuration is built.

Every refusal (ProfileRefused) names the field and what to do — never its value: the profile
carries the patient's identifier and name.

Payload (JSON object, format "heima-enrolment/1"):

    profile_id   text, the centre's id for this profile (in the audit log and the wipe record)
    hub_id       the hub this profile is for (its serial, printed on the box)
    issued_at, expires_at   ISO 8601 times with a zone
    patient      {identifier, identifier_system?: "fnr" | "dnr", display?}
    organisation {identifier, system?: "org" | "resh", display?}   (optional)
    timezone     IANA zone, e.g. "Europe/Oslo"
    language     "nb" | "nn" | "en" (the touch app's first language)
    centre       {name?, ca_pem?, mqtt?: {host, port?, client_cert_pem, client_key_pem?, topic_root?}}
                 (optional; the channel is mutual TLS with the hub's own certificate, CN = hub_id)
    destinations [ {name, kind, url | path, ...as in the hub's TOML, auth?: {..., key_pem},
                    ca?: "centre", client_cert_pem?, client_key_pem?} ]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.domain import refusals
from hub.domain.identifiers import InvalidNationalId, NationalIdKind, parse_national_id

FORMAT = "heima-enrolment/1"
LANGUAGES = ("nb", "nn", "en")
PATIENT_SYSTEMS = {
    "fnr": "urn:oid:2.16.578.1.12.4.1.4.1",
    "dnr": "urn:oid:2.16.578.1.12.4.1.4.2",
}
_TOP_KEYS = {
    "format", "profile_id", "hub_id", "issued_at", "expires_at", "patient", "organisation",
    "timezone", "language", "centre", "destinations",
}  # fmt: skip
_REQUIRED = ("format", "profile_id", "hub_id", "issued_at", "expires_at", "patient", "timezone", "language", "destinations")
_PATIENT_KEYS = {"identifier", "identifier_system", "display"}
_CENTRE_KEYS = {"name", "ca_pem", "mqtt"}
_MQTT_KEYS = {"host", "port", "client_cert_pem", "client_key_pem", "topic_root"}
_DESTINATION_KEYS = {
    "name", "kind", "url", "path", "batch_size", "bundle", "receives", "consent", "timeout",
    "kommunenummer", "organisation", "auth", "ca", "client_cert_pem", "client_key_pem",
}  # fmt: skip
_AUTH_KEYS = {"kind", "token_url", "client_id", "key_id", "audience", "scope", "dpop", "key_pem"}
# Secrets the profile carries: written to files of their own (0600), never into the TOML.
SECRET_KEYS = ("key_pem", "client_cert_pem", "client_key_pem", "ca_pem")


class ProfileRefused(ValueError):
    """The profile cannot be used. The message says why and what to do, never a value from it;
    `reason` (hub.domain.refusals) is what the touch app says, in the patient's language."""

    def __init__(self, message: str, reason: str = refusals.INCOMPLETE) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    client_cert_pem: str
    client_key_pem: str | None = None
    topic_root: str | None = None

    def __repr__(self) -> str:  # the key stays out of tracebacks
        return f"MqttEndpoint(host={self.host!r}, port={self.port})"


@dataclass(frozen=True, slots=True)
class EnrolmentProfile:
    """A checked profile. `destinations` are the profile's tables as given (secrets inside);
    hub.services.enrolment turns them into configuration and secret files."""

    profile_id: str
    hub_id: str
    issued_at: datetime
    expires_at: datetime
    patient_identifier: str
    patient_system: str
    patient_display: str | None
    organisation: dict[str, Any] | None
    timezone: str
    language: str
    centre_name: str | None
    centre_ca_pem: str | None
    mqtt: MqttEndpoint | None
    destinations: tuple[dict[str, Any], ...]

    def __repr__(self) -> str:  # a profile in a traceback or a log line shows no patient data
        return f"EnrolmentProfile(profile_id={self.profile_id!r}, hub_id={self.hub_id!r})"

    __str__ = __repr__


def _unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ProfileRefused(f"{where}: unknown key(s) {unknown}; ask the centre for a profile in format {FORMAT}")


def _text(table: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProfileRefused(f"{where}.{key}: must be non-empty text")
    return value.strip()


def _time(table: dict[str, Any], key: str) -> datetime:
    raw = _text(table, key, "profile")
    assert raw is not None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ProfileRefused(f"profile.{key}: not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise ProfileRefused(f"profile.{key}: the time needs a zone (e.g. Z or +01:00)")
    return value


def _patient(table: Any) -> tuple[str, str, str | None]:
    if not isinstance(table, dict):
        raise ProfileRefused("profile.patient: must be an object with the patient's identifier")
    _unknown(table, _PATIENT_KEYS, "profile.patient")
    identifier = _text(table, "identifier", "profile.patient")
    assert identifier is not None
    system_name = table.get("identifier_system", "fnr")
    if system_name not in PATIENT_SYSTEMS:
        raise ProfileRefused("profile.patient.identifier_system: must be fnr or dnr")
    try:
        found = parse_national_id(identifier)
    except InvalidNationalId as exc:  # its message never holds the number
        raise ProfileRefused(f"profile.patient.identifier: not a valid national identity number ({exc})") from None
    expected = NationalIdKind.D_NUMBER if system_name == "dnr" else NationalIdKind.FODSELSNUMMER
    if found.kind is not expected:
        raise ProfileRefused(f"profile.patient.identifier: a {found.kind.value}, but identifier_system says {expected.value}")
    display = _text(table, "display", "profile.patient", required=False)
    return identifier, PATIENT_SYSTEMS[system_name], display


def _mqtt(table: Any) -> MqttEndpoint:
    if not isinstance(table, dict):
        raise ProfileRefused("profile.centre.mqtt: must be an object with host and port")
    _unknown(table, _MQTT_KEYS, "profile.centre.mqtt")
    host = _text(table, "host", "profile.centre.mqtt")
    port = table.get("port", 8883)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ProfileRefused("profile.centre.mqtt.port: must be a port number (1-65535)")
    cert = table.get("client_cert_pem")
    if not isinstance(cert, str) or "-----BEGIN CERTIFICATE-----" not in cert:
        raise ProfileRefused("profile.centre.mqtt.client_cert_pem: the hub's client certificate (PEM) is needed")
    key = table.get("client_key_pem")
    if key is not None and not isinstance(key, str):
        raise ProfileRefused("profile.centre.mqtt.client_key_pem: must be a PEM private key")
    assert host is not None
    return MqttEndpoint(host, port, cert, key, _text(table, "topic_root", "profile.centre.mqtt", required=False))


def _destination(table: Any, where: str, has_ca: bool) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ProfileRefused(f"{where}: must be an object")
    _unknown(table, _DESTINATION_KEYS, where)
    _text(table, "name", where)
    _text(table, "kind", where)
    if "auth" in table:
        if not isinstance(table["auth"], dict):
            raise ProfileRefused(f"{where}.auth: must be an object")
        _unknown(table["auth"], _AUTH_KEYS, f"{where}.auth")
        if "key_pem" in table["auth"]:
            _text(table["auth"], "key_pem", f"{where}.auth")
    if "ca" in table and table["ca"] != "centre":
        raise ProfileRefused(f"{where}.ca: the only value is \"centre\" (trust only the centre's CA)")
    if table.get("ca") == "centre" and not has_ca:
        raise ProfileRefused(f"{where}.ca: says \"centre\" but profile.centre.ca_pem is missing")
    for key in ("client_cert_pem", "client_key_pem"):
        if key in table:
            _text(table, key, where)
    return dict(table)


def check_profile(payload: Any, *, hub_id: str, now: datetime) -> EnrolmentProfile:
    """The profile in `payload` (the signed JSON, already verified), checked for this hub at
    `now`; ProfileRefused says why not."""
    if not isinstance(payload, dict):
        raise ProfileRefused("the profile is not a JSON object; ask the centre for a new one", refusals.NOT_A_PROFILE)
    if payload.get("format") != FORMAT:
        raise ProfileRefused(f"profile.format: this Heima reads {FORMAT} profiles; ask the centre for one", refusals.NOT_A_PROFILE)
    _unknown(payload, _TOP_KEYS, "profile")
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise ProfileRefused(f"profile: missing {missing}; ask the centre for a complete profile")
    profile_hub = _text(payload, "hub_id", "profile")
    if profile_hub != hub_id:
        # Both ids are printed on boxes and labels: naming them helps the technician find the right one.
        raise ProfileRefused(f"this profile is for hub {profile_hub}, not for this hub ({hub_id}); use the profile made for {hub_id}", refusals.OTHER_HUB)
    issued, expires = _time(payload, "issued_at"), _time(payload, "expires_at")
    if expires <= issued:
        raise ProfileRefused("profile: expires_at is not after issued_at; ask the centre for a new profile")
    if now >= expires:
        raise ProfileRefused(f"the profile expired at {expires.isoformat()}; ask the centre for a new one", refusals.EXPIRED)
    if now < issued:
        raise ProfileRefused(f"the profile is valid only from {issued.isoformat()}; check the hub's clock (date) or wait", refusals.NOT_YET_VALID)
    identifier, system, display = _patient(payload["patient"])
    organisation = payload.get("organisation")
    if organisation is not None and not isinstance(organisation, dict):
        raise ProfileRefused("profile.organisation: must be an object")
    timezone = _text(payload, "timezone", "profile")
    language = payload.get("language")
    if language not in LANGUAGES:
        raise ProfileRefused(f"profile.language: must be one of {', '.join(LANGUAGES)}")
    centre = payload.get("centre", {})
    if not isinstance(centre, dict):
        raise ProfileRefused("profile.centre: must be an object")
    _unknown(centre, _CENTRE_KEYS, "profile.centre")
    ca_pem = centre.get("ca_pem")  # kept byte for byte (a PEM ends with its newline)
    if ca_pem is not None and (not isinstance(ca_pem, str) or "-----BEGIN CERTIFICATE-----" not in ca_pem):
        raise ProfileRefused("profile.centre.ca_pem: must be a PEM certificate")
    mqtt = _mqtt(centre["mqtt"]) if "mqtt" in centre else None
    destinations = payload["destinations"]
    if not isinstance(destinations, list) or not destinations:
        raise ProfileRefused("profile.destinations: must be a list with at least one destination")
    checked = tuple(_destination(d, f"profile.destinations[{i}]", ca_pem is not None) for i, d in enumerate(destinations))
    assert timezone is not None
    return EnrolmentProfile(
        profile_id=_text(payload, "profile_id", "profile") or "",
        hub_id=hub_id,
        issued_at=issued,
        expires_at=expires,
        patient_identifier=identifier,
        patient_system=system,
        patient_display=display,
        organisation=organisation,
        timezone=timezone,
        language=language,
        centre_name=_text(centre, "name", "profile.centre", required=False),
        centre_ca_pem=ca_pem,
        mqtt=mqtt,
        destinations=checked,
    )
