"""An enrolled hub with a patient's data on it, for the return tests: enrolled from a signed
profile (the real enrolment), measurements recorded through the real composition root, Bluetooth
bonds, a half-answered form and the touch app's settings in the data folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.config import load_config, parse_config
from hub.domain.readings import DeviceIdentity, MeasurementKind, Reading
from hub.services.enrolment import enrol, load_trusted_keys

from .profiles import HUB_ID, NOW, PIN, centre_key, free_port, payload, signed, write_trusted

OXIMETER = DeviceIdentity(address="F0:11:22:33:44:01", name="Heima PLX 1", model="PLX-1", serial="PLX1-0001")


@dataclass
class EnrolledHub:
    root: Path
    config: Path
    data: Path
    inbox: Path  # the centre's folder destination (off the hub)
    key: Any
    ids: list[str]  # the measurements recorded

    def cli(self, *args: str) -> list[str]:
        return ["--config", str(self.config), "--data-dir", str(self.data), *args]


def make_hub(root: Path, *, unreachable: bool = False, measurements: int = 6) -> EnrolledHub:
    """Enrolled, with `measurements` recorded for every destination. `unreachable`: a second
    destination, a FHIR server on a closed port, that nothing can be delivered to."""
    etc = root / "etc"
    etc.mkdir(parents=True)
    key = centre_key()
    write_trusted(etc / "enrolment-keys.json", key)
    (etc / "hub-id").write_text(HUB_ID)
    inbox = root / "centre-inbox"
    data = payload(inbox)
    if unreachable:
        data["destinations"].append({"name": "hospital", "kind": "fhir", "url": f"http://127.0.0.1:{free_port()}/fhir", "timeout": 2})
    config = etc / "heima.toml"
    enrol(
        signed(data, key),
        config_path=config,
        data_dir=root / "data",
        hub_id=HUB_ID,
        trusted=load_trusted_keys(etc / "enrolment-keys.json"),
        pin=PIN,
        who="tone",
        clock=lambda: NOW,
        check_config=lambda c, base: parse_config(c, base_dir=base),
    )
    hub = EnrolledHub(root, config, root / "data", inbox, key, [])
    import asyncio

    hub.ids = asyncio.run(_record(hub, measurements))
    (hub.data / "bonds.json").write_text(json.dumps({"00:00:00:00:00:AA/P": {f"{OXIMETER.address}/P": {"ltk": {"value": "11" * 16}}}}))
    (hub.data / "forms").mkdir(mode=0o700)
    (hub.data / "forms" / "kols-checkin.json").write_text(json.dumps({"resourceType": "QuestionnaireResponse", "status": "in-progress"}))
    return hub


async def _record(hub: EnrolledHub, n: int) -> list[str]:
    from hub.app import start_hub

    config = load_config(hub.config)
    running = await start_hub(config, deliver=False)
    ids = []
    try:
        # Readings from a few hours before the test runs: the hub's own clock places them.
        at = datetime.now(UTC) - timedelta(hours=3)
        for i in range(n):
            outcome = await running.service.record_reading(
                Reading(MeasurementKind.OXYGEN_SATURATION, 94 + i % 4, "%", at + timedelta(minutes=i), device=OXIMETER)
            )
            assert outcome.measurement is not None
            ids.append(str(outcome.measurement.id))
    finally:
        await running.stop()
    return ids


def observation_ids(folder: Path) -> set[str]:
    """The measurement ids of every Observation in the FHIR bundle files under `folder`."""
    found: set[str] = set()
    for path in folder.rglob("*.json") if folder.exists() else []:
        bundle = json.loads(path.read_text())
        for entry in bundle.get("entry", []):
            resource = entry.get("resource", {})
            if resource.get("resourceType") != "Observation":
                continue
            for ident in resource.get("identifier", []):
                if str(ident.get("value", "")).startswith("urn:uuid:"):
                    found.add(ident["value"].removeprefix("urn:uuid:"))
    return found


PATIENT_FILES = ("heima.db", "heima.db-wal", "heima.db-shm", "bonds.json", "forms", "secrets", "ui-settings.json", "enrolment.json")


def leftovers(hub: EnrolledHub) -> list[str]:
    left = [n for n in PATIENT_FILES if (hub.data / n).exists()]
    return left + (["config"] if hub.config.exists() else [])


__all__ = ["PIN", "EnrolledHub", "leftovers", "make_hub", "observation_ids"]
