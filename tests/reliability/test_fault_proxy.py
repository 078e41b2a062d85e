"""Proof 1: the real OutboxWorker + FhirServerDestination through a proxy that breaks the network
on purpose, against the reference FHIR server. However many deliveries meet a fault, the server
ends with exactly one Observation per measurement and one Device per device of the inventory: the
outbox carries both kinds, mixed in the same batches.
"""

from __future__ import annotations

import random
import time
from contextlib import closing
from datetime import UTC, datetime

import httpx

from hub.domain.outgoing import of_device
from hub.store import Store
from hub.store.schema import open_connection
from sync.destinations import FhirServerDestination
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from sync.outbox import DrainReport, OutboxWorker, RetryPolicy
from tests.reliability.fault_proxy import FaultPlan, FaultProxy
from tests.reliability.support import (
    SteppedClock,
    devices_exactly_once,
    exactly_once,
    identifiers_on_server,
    inventory_device,
    inventory_devices_on_server,
    mac_of,
    scaled,
    seed,
)
from tests.unit.hub.factories import measurement, spo2

CTX = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-RELIABILITY-1"))
BATCH = 2  # small batches: many deliveries, each meeting its own fault
CHUNK = 20  # readings recorded at a time while faults are still wanted
DEVICE_EVERY = 7  # one device of the inventory queued after every 7th reading


def latest_retry(db_path) -> datetime:
    """When the last failure's backoff ends (the worker holds the whole destination until then)."""
    with closing(open_connection(db_path)) as conn:
        row = conn.execute("SELECT max(next_attempt_at) FROM outbox WHERE state = 'pending'").fetchone()
    return datetime.fromisoformat(row[0]) if row[0] else datetime.now(UTC)


async def test_a_thousand_faulted_deliveries_leave_exactly_one_observation_per_measurement(
    tmp_path, fhir_server, record_result
):
    wanted_faults = scaled(1000)
    db_path = tmp_path / "heima.db"
    store = await Store.open(db_path)
    clock = SteppedClock()
    recorded: set[str] = set()
    shared: set[str] = set()  # inventory devices queued (EUI-48 values)
    total = DrainReport()
    started = time.monotonic()

    async def record(n: int) -> None:
        clock.keep_up_with_real_time()
        for i in range(n):
            m = measurement(spo2(85.0 + (len(recorded) + i) % 15))
            await store.record(m, ["centre"])
            recorded.add(m.urn)
            if len(recorded) % DEVICE_EVERY == 0:
                device = inventory_device("fault", len(shared))
                await store.enqueue(of_device(device), ["centre"])
                shared.add(mac_of(device.address))

    try:
        async with FaultProxy(fhir_server.port, FaultPlan(seed())) as proxy, httpx.AsyncClient(timeout=10.0) as http:
            destination = FhirServerDestination("centre", proxy.url("/fhir/R4"), ctx=CTX, client=http)
            worker = OutboxWorker(
                store,
                destination,
                batch_size=BATCH,
                policy=RetryPolicy(base=1.0, factor=2.0, cap=60.0),
                clock=clock,
                rng=random.Random(seed()),
            )
            for _ in range(100_000):  # a bound, never reached: each pass either delivers or fails a batch
                pending = (await store.outbox_counts()).get("centre", {}).get("pending", 0)
                if proxy.faults < wanted_faults and pending < CHUNK:
                    await record(CHUNK)
                elif pending == 0:
                    break
                report = await worker.drain()
                for name in ("delivered", "dead", "retried", "batches"):
                    setattr(total, name, getattr(total, name) + getattr(report, name))
                if report.batches == 0 or report.errors:
                    clock.advance_to(latest_retry(db_path))  # the backoff or Retry-After passes at once
            stats = dict(proxy.stats)
            faults = proxy.faults
            retry_after = sorted(proxy.retry_after_given)
    finally:
        await store.close()

    on_server = identifiers_on_server(fhir_server)
    verdict = exactly_once(recorded, on_server)
    devices = devices_exactly_once(shared, inventory_devices_on_server(fhir_server))
    server_stats = fhir_server.stats()
    kinds = {k.removeprefix("fault:"): v for k, v in sorted(stats.items()) if k.startswith("fault:")}
    met = (
        faults >= wanted_faults
        and verdict["duplicates"] == 0
        and verdict["lost"] == 0
        and verdict["foreign (on server, never recorded)"] == 0
        and total.delivered == len(recorded) + len(shared)
        and total.dead == 0
        and devices["device duplicates"] == devices["devices lost"] == devices["devices foreign"] == 0
    )
    record_result(
        "fault-injecting proxy",
        target=f">= {wanted_faults} faulted deliveries, 0 duplicates, 0 lost",
        result=(
            f"{faults} faulted of {stats.get('requests', 0)} deliveries, {len(recorded)} measurements + "
            f"{len(shared)} devices: {verdict['duplicates'] + devices['device duplicates']} duplicates, "
            f"{verdict['lost'] + devices['devices lost']} lost"
        ),
        met=met,
        **verdict,
        **devices,
        **{
            "delivery attempts (requests)": stats.get("requests", 0),
            "faulted deliveries": faults,
            "faults by kind": kinds,
            "passed clean": stats.get("pass", 0),
            "forwarded to server / server saw": f"{stats.get('forwarded', 0)} / {server_stats['requests']}",
            "worker: delivered / dead / batches": f"{total.delivered} / {total.dead} / {total.batches}",
            "Retry-After given (s), min-max": f"{retry_after[0]}-{retry_after[-1]}" if retry_after else "-",
            "wall time (s)": round(time.monotonic() - started, 1),
        },
    )
    assert faults >= wanted_faults
    assert verdict["duplicates"] == 0, f"{verdict['duplicates']} measurements are on the server more than once"
    assert verdict["lost"] == 0, f"{verdict['lost']} recorded measurements never reached the server"
    assert verdict["foreign (on server, never recorded)"] == 0
    assert verdict["observations on server"] == len(recorded)
    assert total.dead == 0 and total.delivered == len(recorded) + len(shared)
    assert len(shared) > 10 and devices == {
        "devices shared": len(shared),
        "devices on server": len(shared),
        "device duplicates": 0,
        "devices lost": 0,
        "devices foreign": 0,
    }
    assert server_stats["requests"] == stats.get("forwarded", 0)
