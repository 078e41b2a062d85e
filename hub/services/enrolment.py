"""Enrolment: a signed profile from the centre becomes this hub's configuration and secrets.

The signed envelope (JSON):

    {"format": "heima-enrolment-signed/1", "key_id": "<the centre's key>",
     "payload": "<base64url of the profile's UTF-8 JSON>", "signature": "<base64url Ed25519>"}

The signature covers the payload's exact bytes (no canonical JSON to get wrong). The centre's
public keys are pinned on the hub (`enrolment-keys.json` beside the configuration file, shipped
with the package): {"keys": {"<key_id>": "<PEM, or base64 of the raw 32-byte key>"}}. A profile
signed by any other key is refused.

Where the profile comes from: a file; a folder (a USB stick: `heima-enrolment.json` in it, or
the only `*.heima-enrolment.json`); or a QR code's text, `HEIMA1:` + base64url(zlib(envelope)).
The touch app reads the code with the hub's camera (hub/services/qr_scan.py) and hands
its text here like a hand scanner's.

What is written (in this order, so a hub killed halfway is simply not enrolled yet):
`<data>/secrets/` — the destinations' keys and certificates, the centre's CA, the technician's
PIN hash (0600 in a 0700 folder; never in the database, never in the TOML); `<data>/enrolment.json`
(no patient data: the hub and profile ids, language, validity);
`<data>/ui-settings.json` (the language); and last the TOML configuration, which hub.config loads
(strictly) and whose presence means "enrolled".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import tomllib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.domain import refusals
from hub.domain.enrolment import SECRET_KEYS, EnrolmentProfile, ProfileRefused, check_profile
from hub.services.technician import PinGuard, TechnicianFiles, private_dir, wall_clock, write_private

SIGNED_FORMAT = "heima-enrolment-signed/1"
QR_PREFIX = "HEIMA1:"
PROFILE_FILE = "heima-enrolment.json"
MAX_PROFILE_BYTES = 256 * 1024
_ENVELOPE_KEYS = {"format", "key_id", "payload", "signature"}


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ProfileRefused(f"the signed profile's {what} is missing or not text", refusals.DAMAGED)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ProfileRefused(f"the signed profile's {what} is not base64url", refusals.DAMAGED) from None


def read_source(source: Path) -> bytes:
    """The signed profile's bytes from a file, or from a folder (a USB stick)."""
    if source.is_dir():
        named = source / PROFILE_FILE
        found = [named] if named.is_file() else sorted(source.glob("*.heima-enrolment.json"))
        if len(found) != 1:
            what = "none" if not found else f"{len(found)}"
            raise ProfileRefused(f"{source}: expected one {PROFILE_FILE} (or one *.heima-enrolment.json), found {what}", refusals.UNREADABLE)
        source = found[0]
    try:
        with open(source, "rb") as f:
            data = f.read(MAX_PROFILE_BYTES + 1)
    except FileNotFoundError:
        raise ProfileRefused(f"no profile at {source}; is the USB stick mounted?", refusals.UNREADABLE) from None
    except OSError as exc:
        raise ProfileRefused(f"{source} cannot be read ({exc.strerror or type(exc).__name__})", refusals.UNREADABLE) from None
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileRefused(f"{source} is larger than a profile can be ({MAX_PROFILE_BYTES // 1024} KiB)", refusals.UNREADABLE)
    return data


def decode_qr(text: str) -> bytes:
    """The signed profile's bytes from a QR code's text (`HEIMA1:` + base64url(zlib(JSON)))."""
    text = text.strip()
    if not text.startswith(QR_PREFIX):
        raise ProfileRefused(f"this QR code is not a Heima enrolment profile (it should start with {QR_PREFIX})", refusals.NOT_A_PROFILE)
    packed = _b64(text[len(QR_PREFIX) :], "QR text")
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, MAX_PROFILE_BYTES + 1)
    except zlib.error:
        raise ProfileRefused("the QR code's data is damaged; scan it again", refusals.DAMAGED) from None
    if len(data) > MAX_PROFILE_BYTES or inflater.unconsumed_tail:
        raise ProfileRefused("the QR code holds more than a profile can be", refusals.UNREADABLE)
    if not inflater.eof:  # zlib gives what it has of a cut-off stream without complaint
        raise ProfileRefused("the QR code's data is cut short; scan it again", refusals.DAMAGED)
    return data


def encode_qr(signed: bytes) -> str:
    """The text a QR code carries for a signed profile (what a centre's tool prints)."""
    return QR_PREFIX + base64.urlsafe_b64encode(zlib.compress(signed, 9)).decode().rstrip("=")


def load_trusted_keys(path: Path) -> dict[str, Any]:
    """The pinned public keys {key_id: Ed25519PublicKey}."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileRefused(f"no pinned centre keys at {path}: the package installs them there", refusals.NO_KEYS) from None
    except (OSError, ValueError):
        raise ProfileRefused(f"{path} is not a readable JSON file of centre keys", refusals.NO_KEYS) from None
    keys = raw.get("keys") if isinstance(raw, dict) else None
    if not isinstance(keys, dict) or not keys:
        raise ProfileRefused(f"{path}: expected {{\"keys\": {{\"<key id>\": \"<public key>\"}}}}", refusals.NO_KEYS)
    trusted: dict[str, Any] = {}
    for key_id, text in keys.items():
        try:
            if isinstance(text, str) and "BEGIN PUBLIC KEY" in text:
                key = load_pem_public_key(text.encode())
            else:
                key = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(text)))
        except (ValueError, binascii.Error):
            raise ProfileRefused(f"{path}: the key {key_id!r} is not an Ed25519 public key", refusals.NO_KEYS) from None
        if not isinstance(key, Ed25519PublicKey):
            raise ProfileRefused(f"{path}: the key {key_id!r} is not an Ed25519 public key", refusals.NO_KEYS)
        trusted[key_id] = key
    return trusted


def verify_envelope(signed: bytes, trusted: dict[str, Any]) -> Any:
    """The profile's payload (parsed JSON) when the signature is good; ProfileRefused otherwise."""
    from cryptography.exceptions import InvalidSignature

    try:
        envelope = json.loads(signed)
    except (ValueError, UnicodeDecodeError):
        raise ProfileRefused("the profile is not JSON; is this the file the centre sent?", refusals.NOT_A_PROFILE) from None
    if not isinstance(envelope, dict) or envelope.get("format") != SIGNED_FORMAT:
        raise ProfileRefused(f"the profile is not signed in format {SIGNED_FORMAT}; ask the centre for a signed profile", refusals.NOT_A_PROFILE)
    unknown = sorted(set(envelope) - _ENVELOPE_KEYS)
    if unknown:
        raise ProfileRefused(f"the signed profile has unknown key(s) {unknown}")
    key_id = envelope.get("key_id")
    key = trusted.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        raise ProfileRefused("the profile is signed with a key this hub does not trust; it is not from your centre", refusals.UNTRUSTED)
    payload = _b64(envelope.get("payload"), "payload")
    signature = _b64(envelope.get("signature"), "signature")
    try:
        key.verify(signature, payload)
    except InvalidSignature:
        raise ProfileRefused("the profile's signature is not valid: it was changed or damaged after the centre signed it", refusals.DAMAGED) from None
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise ProfileRefused("the signed payload is not JSON; ask the centre for a new profile", refusals.DAMAGED) from None


def sign_profile(payload: dict[str, Any], private_key: Any, key_id: str) -> bytes:
    """A signed envelope for `payload` (the centre's side; used by tests and the docs' example)."""
    data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    envelope = {
        "format": SIGNED_FORMAT,
        "key_id": key_id,
        "payload": base64.urlsafe_b64encode(data).decode().rstrip("="),
        "signature": base64.urlsafe_b64encode(private_key.sign(data)).decode().rstrip("="),
    }
    return json.dumps(envelope).encode()


# --- the hub's state: may it be enrolled? ---------------------------------------------------------


PATIENT_FILES = ("heima.db", "heima.db-wal", "heima.db-shm", "bonds.json")


def holds_patient_data(data_dir: Path) -> list[str]:
    """What in the data folder belongs to an earlier enrolment (names only)."""
    found = [name for name in PATIENT_FILES if (data_dir / name).exists()]
    for folder in ("secrets", "forms", "bundles"):
        path = data_dir / folder
        if path.is_dir() and any(path.iterdir()):
            found.append(f"{folder}/")
    return found


def configured_patient(config_path: Path) -> tuple[str, str] | None:
    """The (identifier, system) the existing configuration names, if any (never printed)."""
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    patient = data.get("patient") if isinstance(data, dict) else None
    if not isinstance(patient, dict) or not isinstance(patient.get("identifier"), str):
        return None
    return patient["identifier"].strip(), str(patient.get("identifier_system", "urn:oid:2.16.578.1.12.4.1.4.1"))


def refuse_other_patient(profile: EnrolmentProfile, config_path: Path, data_dir: Path) -> None:
    """Re-enrolling for the same patient (a renewed profile) keeps the data; for anyone else the
    hub must be returned (delivered and wiped) first."""
    if (data_dir / "return-journal.json").exists():
        raise ProfileRefused("a return of this hub was started and not finished: run `heima return` again to finish it", refusals.RETURN_UNFINISHED)
    earlier = configured_patient(config_path) if config_path.exists() else None
    if earlier == (profile.patient_identifier, profile.patient_system):
        return
    held = holds_patient_data(data_dir)
    if earlier is not None or held:
        what = ", ".join(held) if held else f"the configuration {config_path}"
        raise ProfileRefused(
            f"this hub still holds another patient's data ({what}); return it first (`heima return`), then enrol",
            refusals.OTHER_PATIENT,
        )


# --- writing the configuration --------------------------------------------------------------------


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "destination"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ProfileRefused(f"a setting of type {type(value).__name__} cannot be written to the configuration")


def _toml_table(header: str, table: dict[str, Any]) -> list[str]:
    lines = [header]
    nested = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in nested:
        inner = header.strip("[]")
        lines += _toml_table(f"[{inner}.{key}]", value)
    return lines


def to_toml(config: dict[str, Any]) -> str:
    """The configuration dict as TOML (the shapes hub.config reads: tables, arrays of tables)."""
    lines = ["# Written by `heima enrol` from a signed profile; secrets are in the data folder's secrets/."]
    for section in ("hub", "patient", "organisation", "centre"):
        if section in config:
            lines += ["", *_toml_table(f"[{section}]", config[section])]
    for dest in config.get("destinations", []):
        table = _toml_table("[[destinations]]", {k: v for k, v in dest.items() if not isinstance(v, dict)})
        for key, value in dest.items():
            if isinstance(value, dict):
                table += _toml_table(f"[destinations.{key}]", value)
        lines += ["", *table]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Written:
    config_path: Path
    secrets: tuple[Path, ...]
    destinations: tuple[str, ...]


def configuration_for(profile: EnrolmentProfile, data_dir: Path, secret: Callable[[str, str], Path]) -> dict[str, Any]:
    """The TOML configuration for `profile`; `secret(file name, text)` stores one secret and
    gives its path."""
    ca_path = secret("centre-ca.pem", profile.centre_ca_pem) if profile.centre_ca_pem else None
    destinations = []
    for dest in profile.destinations:
        table = {k: v for k, v in dest.items() if k not in (*SECRET_KEYS, "auth", "ca")}
        name = _safe(str(dest["name"]))
        if dest.get("ca") == "centre":
            assert ca_path is not None
            table["ca_file"] = str(ca_path)
        if "client_cert_pem" in dest:
            table["client_cert"] = str(secret(f"{name}-tls-cert.pem", dest["client_cert_pem"]))
        if "client_key_pem" in dest:
            table["client_key"] = str(secret(f"{name}-tls-key.pem", dest["client_key_pem"]))
        if "auth" in dest:
            auth = {k: v for k, v in dest["auth"].items() if k != "key_pem"}
            if "key_pem" in dest["auth"]:
                auth["key_file"] = str(secret(f"{name}-client-key.pem", dest["auth"]["key_pem"]))
            if dest.get("ca") == "centre":
                auth.setdefault("ca_file", str(ca_path))
            table["auth"] = auth
        destinations.append(table)
    config: dict[str, Any] = {
        "hub": {"data_dir": str(data_dir), "timezone": profile.timezone, "serial": profile.hub_id},
        "patient": {"identifier": profile.patient_identifier, "identifier_system": profile.patient_system},
        "destinations": destinations,
    }
    if profile.patient_display:
        config["patient"]["display"] = profile.patient_display
    if profile.organisation is not None:
        config["organisation"] = dict(profile.organisation)
    if profile.mqtt is not None:
        mqtt: dict[str, Any] = {"host": profile.mqtt.host, "port": profile.mqtt.port, "hub_id": profile.hub_id}
        mqtt["client_cert"] = str(secret("centre-mqtt-cert.pem", profile.mqtt.client_cert_pem))
        if profile.mqtt.client_key_pem:
            mqtt["client_key"] = str(secret("centre-mqtt-key.pem", profile.mqtt.client_key_pem))
        if ca_path is not None:
            mqtt["ca_file"] = str(ca_path)
        if profile.mqtt.topic_root:
            mqtt["topic_root"] = profile.mqtt.topic_root
        config["centre"] = {"mqtt": mqtt}
    return config


def enrol(
    signed: bytes,
    *,
    config_path: Path,
    data_dir: Path,
    hub_id: str,
    trusted: dict[str, Any],
    pin: str,
    who: str,
    clock: Callable[[], datetime] = wall_clock,
    check_config: Callable[[dict[str, Any], Path], None] | None = None,
) -> tuple[EnrolmentProfile, Written]:
    """Check the signed profile and write this hub's configuration, secrets and PIN.

    `check_config(config, base_dir)`: the hub's strict configuration parser (hub.config), run on
    what is about to be written; a ConfigError there refuses the profile and removes the secrets
    written for it."""
    profile = check_profile(verify_envelope(signed, trusted), hub_id=hub_id, now=clock())
    data_dir = data_dir.absolute()
    refuse_other_patient(profile, config_path, data_dir)
    files = TechnicianFiles(data_dir)
    guard = PinGuard(files, clock=clock)
    from hub.domain.pin import pin_problem

    problem = pin_problem(pin)
    if problem:
        raise ProfileRefused(f"technician PIN: {problem}", refusals.BAD_PIN)
    private_dir(data_dir)
    private_dir(files.secrets)
    written: list[Path] = []

    def secret(name: str, text: str) -> Path:
        path = files.secrets / name
        write_private(path, text.encode())
        written.append(path)
        return path

    try:
        config = configuration_for(profile, data_dir, secret)
        text = to_toml(config)
        if check_config is not None:
            try:
                check_config(tomllib.loads(text), config_path.parent)
            except ValueError as exc:  # hub.config's ConfigError names the setting, never its value
                raise ProfileRefused(f"the profile's settings cannot be used on this hub: {exc}") from None
    except Exception:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    guard.set_pin(pin, who=who)
    record = {
        "hub_id": profile.hub_id,
        "profile_id": profile.profile_id,
        "enrolled_at": clock().isoformat(timespec="seconds"),
        "expires_at": profile.expires_at.isoformat(),
        "language": profile.language,
        "timezone": profile.timezone,
        "centre": profile.centre_name,
        "mqtt": None if profile.mqtt is None else {"host": profile.mqtt.host, "port": profile.mqtt.port},
    }
    write_private(data_dir / "enrolment.json", json.dumps(record, indent=1).encode())
    write_private(data_dir / "ui-settings.json", json.dumps({"language": profile.language}).encode())
    write_private(config_path, text.encode())
    guard.audit.append(who, "enrol", "ok", hub_id=profile.hub_id, profile_id=profile.profile_id, destinations=len(config["destinations"]))
    return profile, Written(config_path, tuple(written), tuple(str(d["name"]) for d in config["destinations"]))
