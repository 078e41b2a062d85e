"""Proof 4: one poisoned record — the server rejects it for ever (422 whenever a request carries
it) — never blocks the ones behind it, and is shown as "could not be sent": to the patient through
HubApi.send_state (SendState.FAILED), to the technician in `heima status`.

The real hub (hub.app.start_hub) against the reference FHIR server; `heima status` is the real CLI.
Devices of the inventory wait in the same outbox between the readings: they too get through,
once each, whatever the poisoned record does.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.api import SendState
from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig
from hub.domain.readings import MeasurementKind, Reading
from hub.services.outgoing import OutgoingService
from tests.reliability.support import (
    devices_exactly_once,
    exactly_once,
    identifiers_on_server,
    inventory_device,
    inventory_devices_on_server,
    mac_of,
)
from tests.unit.hub.factories import OXIMETER

ROOT = Path(__file__).resolve().parents[2]
DEVICES_AFTER = (5, 15, 25, 35)  # a device of the inventory queued after these readings


def reading(n: int) -> Reading:
    return Reading(
        kind=MeasurementKind.OXYGEN_SATURATION,
        value=float(90 + n % 9),
        unit="%",
        received_at=datetime.now(UTC),
        device=OXIMETER,
        record_id=f"poison-{n}",
    )


def heima_status(data_dir: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "status", "--data-dir", str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def poisoned_hub(tmp_path, fhir_server):
    """A hub with 30 readings (and 3 devices) queued, the 3rd reading poisoned; delivered, then 10
    more readings (and a device) recorded and delivered."""
    config = HubConfig(
        data_dir=tmp_path / "hub",
        serial="HUB-POISON-1",
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url, batch_size=10),),
    )
    hub = await start_hub(config, deliver=False)
    inventory = OutgoingService(hub.store, destinations_for=hub.consent.destinations_for_resource)
    hub.shared = []  # the inventory devices queued (EUI-48 values)

    async def record(numbers) -> list[str]:
        ids = []
        for n in numbers:
            ids.append(str((await hub.service.record_reading(reading(n))).measurement.id))
            if n in DEVICES_AFTER:
                device = await inventory.share_device(inventory_device("poison", n))
                hub.shared.append(mac_of(device.payload.address))
        return ids

    ids = await record(range(30))
    poisoned = ids[2]
    fhir_server.fault("status", status=422, match=poisoned, count=10**6)
    first = (await hub.deliver_now())["centre"]
    ids += await record(range(30, 40))
    second = (await hub.deliver_now())["centre"]
    return config, hub, ids, poisoned, first, second


async def test_a_poisoned_record_never_blocks_the_rest_and_is_shown_as_could_not_be_sent(tmp_path, fhir_server, record_result):
    config, hub, ids, poisoned, first, second = await poisoned_hub(tmp_path, fhir_server)
    try:
        states = {i: await hub.api.send_state(i) for i in ids}
        [delivery] = await hub.store.delivery_states(poisoned)
        destinations = await hub.api.destinations()
        rejections_after_first = fhir_server.stats()["faults"]
    finally:
        await hub.stop()
    status = heima_status(config.data_dir)

    behind = set(ids) - {poisoned}
    verdict = exactly_once({f"urn:uuid:{i}" for i in behind}, identifiers_on_server(fhir_server))
    devices = devices_exactly_once(set(hub.shared), inventory_devices_on_server(fhir_server))
    failed = [i for i, s in states.items() if s is SendState.FAILED]
    met = (
        failed == [poisoned]
        and all(states[i] is SendState.SENT for i in behind)
        and verdict["lost"] == 0
        and verdict["duplicates"] == 0
        and verdict["foreign (on server, never recorded)"] == 0
        and "could not be sent 1" in status
        and devices["devices on server"] == len(hub.shared) and devices["device duplicates"] == 0
    )
    record_result(
        "poisoned record (422 for ever)",
        target="1 dead with its reason, every other delivered once, FAILED in HubApi and heima status",
        result=f"{len(failed)} could not be sent, {len(behind) - verdict['lost']} of {len(behind)} behind it delivered once",
        met=met,
        **{
            "measurements (poisoned)": f"{len(ids)} (1)",
            "first pass: delivered / dead / batches": f"{first.delivered} / {first.dead} / {first.batches}",
            "after 10 more: delivered / dead": f"{second.delivered} / {second.dead}",
            "requests that carried the poisoned record": rejections_after_first,
            "HubApi.send_state": {s.value: sum(v is s for v in states.values()) for s in SendState},
            "HubApi.destinations": ", ".join(f"{d.name}: sent {d.delivered}, failed {d.failed}" for d in destinations),
            "stored reason (technician)": delivery.last_error,
            "heima status": " | ".join(line.strip() for line in status.splitlines()[1:]),
            **{k: v for k, v in verdict.items() if k != "measurements"},
            **devices,
        },
    )
    assert failed == [poisoned], "exactly the poisoned measurement is FAILED for the patient"
    assert all(states[i] is SendState.SENT for i in behind), "the ones behind it were held back"
    assert verdict == {
        "measurements": len(behind),
        "observations on server": len(behind),
        "duplicates": 0,
        "lost": 0,
        "foreign (on server, never recorded)": 0,
    }
    assert (first.delivered, first.dead) == (29 + 3, 1) and (second.delivered, second.dead) == (10 + 1, 0)
    assert devices == {"devices shared": 4, "devices on server": 4, "device duplicates": 0, "devices lost": 0, "devices foreign": 0}
    assert delivery.state == "dead" and "422" in (delivery.last_error or "")
    assert poisoned not in (delivery.last_error or "")  # reasons carry no identifiers
    assert rejections_after_first == 2  # its batch, then itself alone; never again once set aside
    assert [(d.name, d.delivered, d.waiting, d.failed) for d in destinations] == [("centre", 39 + 4, 0, 1)]
    assert "could not be sent 1" in status and "waiting 0" in status


async def test_heima_status_tells_the_technician_why_a_record_could_not_be_sent(tmp_path, fhir_server):
    config, hub, ids, poisoned, first, second = await poisoned_hub(tmp_path, fhir_server)
    try:
        [delivery] = await hub.store.delivery_states(poisoned)
    finally:
        await hub.stop()
    assert delivery.state == "dead" and "422" in (delivery.last_error or "")
    status = heima_status(config.data_dir)
    assert "422" in status, f"`heima status` shows no reason:\n{status}"


async def test_the_reason_kept_for_a_set_aside_record_does_not_promise_a_retry(tmp_path, fhir_server):
    config, hub, ids, poisoned, first, second = await poisoned_hub(tmp_path, fhir_server)
    try:
        [delivery] = await hub.store.delivery_states(poisoned)
    finally:
        await hub.stop()
    assert delivery.state == "dead" and "422" in (delivery.last_error or "")
    assert "one by one" not in delivery.last_error and "batch" not in delivery.last_error, delivery.last_error
