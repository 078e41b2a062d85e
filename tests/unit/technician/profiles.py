"""Signed enrolment profiles for the technician tests: a centre's Ed25519 key, a synthetic
patient (a Tenor test number, month + 80: never a real person), a hub, and a profile signed the
way a centre's tool signs it (hub.services.enrolment.sign_profile)."""

from __future__ import annotations

import base64
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.domain.identifiers import check_digits
from hub.services.enrolment import sign_profile

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HUB_ID = "HEIMA-0042"
KEY_ID = "oslo-centre-2026"
PIN = "482915"


def synthetic_fnr(individual: int = 123) -> str:
    """A valid synthetic fødselsnummer (Tenor: month + 80)."""
    while True:
        nine = f"0181{90:02d}{individual:03d}"
        digits = check_digits(nine)
        if digits:
            return nine + digits
        individual += 1


PATIENT = synthetic_fnr(123)
OTHER_PATIENT = synthetic_fnr(200)


def centre_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def write_trusted(path: Path, key: Ed25519PrivateKey, key_id: str = KEY_ID) -> Path:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    path.write_text(json.dumps({"keys": {key_id: base64.b64encode(raw).decode()}}))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def payload(centre_folder: Path, *, patient: str = PATIENT, hub_id: str = HUB_ID, now: datetime = NOW, **changes: Any) -> dict[str, Any]:
    """A profile delivering to a folder (the centre's inbox in these tests)."""
    data: dict[str, Any] = {
        "format": "heima-enrolment/1",
        "profile_id": "profile-7f3a",
        "hub_id": hub_id,
        "issued_at": (now - timedelta(days=1)).isoformat(),
        "expires_at": (now + timedelta(days=13)).isoformat(),
        "patient": {"identifier": patient, "display": "Kari Testperson"},
        "timezone": "Europe/Oslo",
        "language": "nn",
        "centre": {"name": "Oslo oppfølgingssenter"},
        "destinations": [{"name": "centre-inbox", "kind": "directory", "path": str(centre_folder)}],
    }
    data.update(changes)
    return data


def signed(data: dict[str, Any], key: Ed25519PrivateKey, key_id: str = KEY_ID) -> bytes:
    return sign_profile(data, key, key_id)
