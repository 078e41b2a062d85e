"""The outbox as a state machine, explored by hypothesis against the real reference server.

Whatever interleaving of new readings, server faults (lost responses, 503/429, a record the
server refuses for ever) and delivery passes hypothesis picks, at every step: nothing recorded is
lost, the server never holds a measurement twice, and what the hub calls delivered the server has.
"""

from __future__ import annotations

import asyncio
import os
import random

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hub.store import Store
from sync.destinations import FhirServerDestination
from sync.outbox import OutboxWorker, RetryPolicy
from tests.integration.test_outbox_delivery import CTX, SteppedClock
from tests.servers.fhir_server import shared_server
from tests.unit.hub.factories import measurement, spo2


class OutboxMachine(RuleBasedStateMachine):
    @initialize()
    def open(self) -> None:
        import tempfile

        self.server = shared_server()
        self.server.reset()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.TemporaryDirectory()
        # In a folder of its own: the store's key folder (data-keys) goes with self.dir.
        os.mkdir(f"{self.dir.name}/data")
        self.store = self.loop.run_until_complete(Store.open(f"{self.dir.name}/data/heima.db"))
        self.http = httpx.AsyncClient(timeout=10)
        self.clock = SteppedClock()
        self.worker = OutboxWorker(
            self.store,
            FhirServerDestination("centre", self.server.base_url, ctx=CTX, client=self.http),
            batch_size=7,
            policy=RetryPolicy(base=1.0, cap=30.0),
            clock=self.clock,
            rng=random.Random(0),
        )
        self.recorded: set[str] = set()
        self.poisoned: set[str] = set()

    def teardown(self) -> None:
        if hasattr(self, "loop"):
            self.loop.run_until_complete(self.http.aclose())
            self.loop.run_until_complete(self.store.close())
            self.loop.close()
            self.dir.cleanup()
            self.server.fault("clear")

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    @rule(n=st.integers(min_value=1, max_value=12), poison=st.booleans())
    def readings_arrive(self, n: int, poison: bool) -> None:
        ms = [measurement(spo2(80.0 + i)) for i in range(n)]
        for m in ms:
            self.run(self.store.record(m, ["centre"]))
            self.recorded.add(m.urn)
        if poison:
            self.poisoned.add(ms[0].urn)
            self.server.fault("status", status=422, match=str(ms[0].id), count=10**6)

    @rule(kind=st.sampled_from(["drop-after-commit", "truncate", "503", "429"]))
    def server_trouble_next(self, kind: str) -> None:
        if kind in ("503", "429"):
            self.server.fault("status", status=int(kind), retryAfter=5, count=1)
        else:
            self.server.fault(kind, count=1)

    @rule(seconds=st.sampled_from([0, 1, 5, 60]))
    def time_passes_and_the_worker_drains(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.run(self.worker.drain())

    @invariant()
    def nothing_is_lost_and_nothing_is_doubled(self) -> None:
        if not hasattr(self, "store"):
            return
        on_server = [o["identifier"][0]["value"] for o in self.server.observations()]
        assert len(on_server) == len(set(on_server)), "a measurement is on the server twice"
        assert set(on_server) <= self.recorded
        assert not set(on_server) & self.poisoned
        counts = self.run(self.store.outbox_counts()).get("centre", {})
        assert sum(counts.values()) == len(self.recorded)
        assert counts.get("delivered", 0) <= len(on_server)
        assert counts.get("dead", 0) <= len(self.poisoned)

    def final_drain_delivers_everything_but_the_poisoned(self) -> None:
        for _ in range(20):
            self.clock.advance(3600)
            self.run(self.worker.drain())
        on_server = {o["identifier"][0]["value"] for o in self.server.observations()}
        assert on_server == self.recorded - self.poisoned


OutboxMachine.TestCase.settings = settings(
    max_examples=12, stateful_step_count=15, deadline=None, suppress_health_check=list(HealthCheck)
)


class TestOutboxStateMachine(OutboxMachine.TestCase):
    pass


def test_after_any_history_a_long_enough_wait_delivers_everything_but_the_poisoned(fhir_server):
    machine = OutboxMachine()
    machine.open()
    try:
        machine.readings_arrive(10, poison=True)
        machine.server_trouble_next("drop-after-commit")
        machine.time_passes_and_the_worker_drains(0)
        machine.server_trouble_next("503")
        machine.readings_arrive(5, poison=False)
        machine.time_passes_and_the_worker_drains(1)
        machine.nothing_is_lost_and_nothing_is_doubled()
        machine.final_drain_delivers_everything_but_the_poisoned()
    finally:
        machine.teardown()
