"""A destination's `timeout` bounds the whole request, not each read.

A server on loopback (tests/servers/scripted_http.py) answers a byte every second: httpx's read
limit (one read) never trips, so without a bound on the whole exchange the worker would wait as
long as the server cares to drip. With the bound it gives up within about `timeout`, the rows stay
pending, and they are delivered — once — when the server behaves (requests then pass on to the
reference FHIR server).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.store import Store
from sync.auth import PrivateKeyJwtAuth, SigningKey
from sync.destinations.fhir_server import FhirServerDestination
from sync.destinations.nhn_pmd import NhnPmdDestination
from sync.outbox import OutboxWorker
from tests.servers.samples import CTX, batch
from tests.servers.scripted_http import Reply, ScriptedServer

TIMEOUT = 2.0  # the destination's configured timeout, in seconds
# Generous: the bound is TIMEOUT, plus the loop and a loaded CI machine. Without the fix the
# exchange lasts as long as the drip (an hour).
GIVE_UP_WITHIN = 2 * TIMEOUT
GUARD = 6 * TIMEOUT  # keeps a test of the old code from hanging; never reached when it works
DRIP = Reply(200, headers=(("Content-Type", "application/fhir+json"),), body=b" " * 3600, drip_every=1.0)


class SteppedClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "heima.db")
    yield s
    await s.close()


async def _timed_drain(worker: OutboxWorker):
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        report = await asyncio.wait_for(worker.drain(), GUARD)
    except TimeoutError:
        pytest.fail(f"the worker was still waiting on the server after {GUARD:g} s (timeout={TIMEOUT:g} s)")
    return report, loop.time() - started


def _destination(kind: str, server: ScriptedServer, store: Store):
    if kind == "pmd":
        return NhnPmdDestination("centre", server.base_url, ctx=CTX, ledger=store, kommunenummer="0301", timeout=TIMEOUT)
    return FhirServerDestination("centre", server.base_url, ctx=CTX, timeout=TIMEOUT)


@pytest.mark.parametrize("kind", ["fhir", "pmd"])
async def test_a_server_that_drips_is_given_up_on_within_the_timeout_and_delivered_to_later(
    kind, server, store, fhir_server
):
    ms = batch(3)
    for m in ms:
        await store.record(m, ["centre"])
    server.answer(DRIP)
    clock = SteppedClock()
    destination = _destination(kind, server, store)
    worker = OutboxWorker(store, destination, clock=clock, rng=random.Random(3))
    try:
        report, elapsed = await _timed_drain(worker)
        assert elapsed < GIVE_UP_WITHIN
        assert (report.delivered, report.retried, report.dead) == (0, 3, 0)
        for m in ms:
            (state,) = await store.delivery_states(str(m.id))
            assert state.state == "pending"
            assert "did not finish answering within 2 s" in (state.last_error or "")

        server.forward_to(fhir_server.base_url)  # the server behaves again
        clock.now += timedelta(hours=1)  # past the backoff
        again, _ = await _timed_drain(worker)
        assert again.delivered == 3
        assert all(len(fhir_server.observations(m.urn)) == 1 for m in ms)
        assert await store.outbox_counts() == {"centre": {"delivered": 3}}
    finally:
        await destination.aclose()


async def test_a_token_endpoint_that_drips_is_inside_the_same_bound(server, store):
    ms = batch(2)
    for m in ms:
        await store.record(m, ["centre"])
    server.answer(DRIP)  # the token endpoint drips (and so would the API)
    auth = PrivateKeyJwtAuth(
        token_url=f"{server.origin}/connect/token", client_id="heima-hub-42", client_key=SigningKey.generate()
    )
    destination = FhirServerDestination("centre", server.base_url, ctx=CTX, auth=auth, timeout=TIMEOUT)
    worker = OutboxWorker(store, destination, clock=SteppedClock(), rng=random.Random(3))
    try:
        report, elapsed = await _timed_drain(worker)
    finally:
        await destination.aclose()
    assert server.seen.paths == ["/connect/token"]  # it never got as far as the API
    assert elapsed < GIVE_UP_WITHIN
    assert (report.delivered, report.retried) == (0, 2)
    assert await store.outbox_counts() == {"centre": {"pending": 2}}
