"""Shared by the reliability tests: scale and seed, the stepped clock, reading the server back."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.servers.fhir_server import HARNESS, ReferenceFhirServer

RESULTS: list[dict[str, Any]] = []
URI = "urn:ietf:rfc:3986"


def scale() -> float:
    return float(os.environ.get("HEIMA_RELIABILITY_SCALE", "1"))


def seed() -> int:
    return int(os.environ.get("HEIMA_RELIABILITY_SEED", "4"))


def scaled(n: int, minimum: int = 1) -> int:
    """The issue's count `n` at the chosen scale."""
    return max(minimum, round(n * scale()))


class SteppedClock:
    """Time that moves only when the test says so: backoff and Retry-After never sleep."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, when: datetime) -> None:
        self.now = max(self.now, when)

    def keep_up_with_real_time(self) -> None:
        """Rows queued now get next_attempt_at = real now: the stepped clock must not lag behind."""
        self.advance_to(datetime.now(UTC) + timedelta(seconds=1))


def all_observations(server: ReferenceFhirServer, page: int = 1000) -> list[dict[str, Any]]:
    """Every Observation on the server, page by page (the harness's reads bypass faults and stats)."""
    found: list[dict[str, Any]] = []
    while True:
        response = server.http.get(
            f"{server.base_url}/Observation",
            params={"_count": str(page), "_offset": str(len(found))},
            headers=HARNESS,
            timeout=60,
        )
        response.raise_for_status()
        entries = response.json().get("entry") or []
        found.extend(e["resource"] for e in entries)
        if len(entries) < page:
            return found


def identifiers_on_server(server: ReferenceFhirServer) -> Counter[str]:
    """How many Observations the server holds per measurement identifier (urn:uuid:...)."""
    counts: Counter[str] = Counter()
    for observation in all_observations(server):
        values = [i.get("value") for i in observation.get("identifier") or [] if i.get("system") == URI]
        counts[values[0] if len(values) == 1 else f"<{len(values)} identifiers>"] += 1
    return counts


def exactly_once(recorded: set[str], on_server: Counter[str]) -> dict[str, int]:
    """duplicates / lost / foreign for a set of urn:uuid identifiers against the server's counts."""
    return {
        "measurements": len(recorded),
        "observations on server": sum(on_server.values()),
        "duplicates": sum(n - 1 for n in on_server.values() if n > 1),
        "lost": len(recorded - set(on_server)),
        "foreign (on server, never recorded)": len(set(on_server) - recorded),
    }


# -- the second kind every proof runs with: Devices of the inventory, beside the measurements -----------------

INVENTORY_PREFIX = "D0"  # the first octet of every inventory device's address in these proofs
BLUETOOTH_SYSTEM = "http://hl7.org/fhir/sid/eui-48/bluetooth"


def inventory_device(tag: str, n: int):
    """A device of the inventory with an address of its own (one Device on the server per address)."""
    import hashlib

    from hub.domain.readings import DeviceIdentity

    octets = hashlib.sha256(f"{tag}-{n}".encode()).digest()[:5]
    address = ":".join([INVENTORY_PREFIX, *(f"{b:02X}" for b in octets)])
    return DeviceIdentity(address=address, name=f"Heima inventory {n}", manufacturer="Heima Emulated", model="INV-1", serial=f"INV-{tag}-{n}")


def mac_of(address: str) -> str:
    return address.replace(":", "-").upper()


def inventory_devices_on_server(server: ReferenceFhirServer) -> Counter[str]:
    """How many Devices the server holds per inventory address (EUI-48 identifier, D0-...)."""
    counts: Counter[str] = Counter()
    for device in server.resources("Device"):
        for identifier in device.get("identifier") or []:
            value = str(identifier.get("value", ""))
            if identifier.get("system") == BLUETOOTH_SYSTEM and value.startswith(INVENTORY_PREFIX + "-"):
                counts[value] += 1
    return counts


def devices_exactly_once(shared: set[str], on_server: Counter[str]) -> dict[str, int]:
    """duplicates / lost / foreign for inventory devices (by EUI-48 value) against the server's counts."""
    return {
        "devices shared": len(shared),
        "devices on server": sum(on_server.values()),
        "device duplicates": sum(n - 1 for n in on_server.values() if n > 1),
        "devices lost": len(shared - set(on_server)),
        "devices foreign": len(set(on_server) - shared),
    }
