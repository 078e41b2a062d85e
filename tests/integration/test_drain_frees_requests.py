"""A drain to a FHIR server leaves no request behind for the cyclic collector (issue 13, part D4):
each exchange — the request, its ~0.8 MB body, the answer — is freed as soon as it is read, so
the worker runs no collection after each batch for this destination and memory stays flat."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import httpx

from hub.store import Store
from sync.destinations import FhirServerDestination
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from sync.outbox import OutboxWorker
from tests.unit.hub.factories import measurement, spo2

CTX = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-TEST-1"))


async def test_a_drain_leaves_no_request_in_a_reference_cycle(tmp_path, fhir_server):
    store = await Store.open(tmp_path / "heima.db")
    try:
        for i in range(30):
            await store.record(measurement(spo2(90.0 + i % 5)), ["centre"])
        async with httpx.AsyncClient(timeout=30) as client:
            destination = FhirServerDestination("centre", fhir_server.base_url, ctx=CTX, client=client)
            worker = OutboxWorker(store, destination, batch_size=10, clock=lambda: datetime.now(UTC) + timedelta(seconds=1))
            gc.collect()
            gc.disable()  # what is left for the collector stays to be counted
            try:
                report = await worker.drain()
                gc.set_debug(gc.DEBUG_SAVEALL)
                gc.collect()
                left = [type(o).__qualname__ for o in gc.garbage if type(o) in (httpx.Response, httpx.Request)]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
        assert report.delivered == 30 and report.batches == 3
        assert left == []  # before: a Response and its Request (with the body sent) per batch
    finally:
        await store.close()
