"""The outbox worker against the real reference FHIR server: exactly once, whatever goes wrong."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hub.api import SendState, send_state_of
from hub.store import Store
from sync.destinations import FhirServerDestination
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from sync.outbox import OutboxWorker, RetryPolicy
from tests.unit.hub.factories import measurement, spo2

CTX = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-TEST-1"))


class SteppedClock:
    """Time that moves only when the test says so, so backoff is checked without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)  # rows queued just now are due

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "heima.db")
    yield s
    await s.close()


@pytest.fixture
async def destination(fhir_server):
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield FhirServerDestination("centre", fhir_server.base_url, ctx=CTX, client=client)


async def queue(store, n: int) -> list:
    ms = [measurement(spo2(90.0 + i % 10)) for i in range(n)]
    for m in ms:
        await store.record(m, ["centre"])
    return ms


def worker_for(store, destination, clock=None, **kw) -> OutboxWorker:
    kw.setdefault("batch_size", 100)
    return OutboxWorker(store, destination, clock=clock or SteppedClock(), rng=random.Random(7), **kw)


async def test_every_queued_measurement_reaches_the_server_once_in_batches(store, destination, fhir_server):
    ms = await queue(store, 250)
    report = await worker_for(store, destination).drain()
    assert (report.delivered, report.batches) == (250, 3)
    assert len(fhir_server.observations()) == 250
    for m in ms[:5]:
        assert len(fhir_server.observations(m.urn)) == 1
    assert await store.outbox_counts() == {"centre": {"delivered": 250}}


async def test_a_lost_response_after_the_server_committed_does_not_duplicate(store, destination, fhir_server):
    ms = await queue(store, 20)
    clock = SteppedClock()
    worker = worker_for(store, destination, clock)
    fhir_server.fault("drop-after-commit", count=1)
    first = await worker.drain()
    assert first.delivered == 0 and first.retried == 20  # the hub never heard: it must ask again
    assert len(fhir_server.observations()) == 20  # ...although the server has them
    clock.advance(3600)
    again = await worker.drain()
    assert again.delivered == 20
    assert all(len(fhir_server.observations(m.urn)) == 1 for m in ms)


@pytest.mark.parametrize("status", [503, 429])
async def test_the_server_asking_to_wait_is_honoured(store, destination, fhir_server, status):
    await queue(store, 3)
    clock = SteppedClock()
    worker = worker_for(store, destination, clock)
    fhir_server.fault("status", status=status, retryAfter=120, count=1)
    report = await worker.drain()
    assert report.delivered == 0
    assert await store.next_attempt_at("centre") == clock.now + timedelta(seconds=120)
    clock.advance(60)
    assert (await worker.drain()).batches == 0  # not before the server said
    clock.advance(61)
    assert (await worker.drain()).delivered == 3
    assert len(fhir_server.observations()) == 3


async def test_without_retry_after_the_backoff_grows_with_jitter(store, destination, fhir_server):
    await queue(store, 1)
    clock = SteppedClock()
    policy = RetryPolicy(base=2.0, factor=2.0, cap=600, jitter=0.25)
    worker = worker_for(store, destination, clock, policy=policy)
    waits = []
    for _ in range(4):
        fhir_server.fault("status", status=503, count=1)
        await worker.drain()
        waits.append((await store.next_attempt_at("centre") - clock.now).total_seconds())
        clock.advance(waits[-1])
    for n, wait in enumerate(waits):
        assert 2.0 * 2**n * 0.75 <= wait <= 2.0 * 2**n * 1.25
    assert (await worker.drain()).delivered == 1


async def test_a_poisoned_measurement_is_set_aside_and_never_blocks_the_rest(store, destination, fhir_server):
    ms = await queue(store, 30)
    poisoned = ms[11]
    fhir_server.fault("status", status=422, match=str(poisoned.id), count=1000)
    report = await worker_for(store, destination).drain()
    assert report.delivered == 29 and report.dead == 1
    assert len(fhir_server.observations()) == 29
    [state] = await store.delivery_states(str(poisoned.id))
    assert state.state == "dead" and "422" in state.last_error
    assert send_state_of([state.state]) is SendState.FAILED
    assert str(poisoned.id) not in state.last_error  # reasons carry no identifiers or values


async def test_delivery_resumes_after_a_restart(tmp_path, destination, fhir_server):
    store = await Store.open(tmp_path / "heima.db")
    ms = await queue(store, 40)
    worker = worker_for(store, destination, batch_size=10)
    fhir_server.fault("status", status=503, count=1, retryAfter=0)
    # First pass: one batch fails, nothing is delivered.
    await worker.drain()
    await store.close()
    store = await Store.open(tmp_path / "heima.db")
    report = await worker_for(store, destination, batch_size=10).drain()
    assert report.delivered == 40
    assert sorted(o["identifier"][0]["value"] for o in fhir_server.observations()) == sorted(m.urn for m in ms)
    await store.close()


async def test_a_measurement_fhir_cannot_express_is_set_aside_and_the_rest_delivered(store, destination, fhir_server):
    from dataclasses import replace

    ms = await queue(store, 5)
    odd = measurement(replace(spo2(91.0), unit="furlongs"))  # no unit conversion exists: never guessed
    await store.record(odd, ["centre"])
    report = await worker_for(store, destination).drain()
    assert report.delivered == 5 and report.dead == 1
    [state] = await store.delivery_states(str(odd.id))
    assert state.state == "dead" and "UnsupportedUnit" in state.last_error
    assert len(fhir_server.observations()) == len(ms)
