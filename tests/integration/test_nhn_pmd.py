"""The nhn-pmd destination against the reference FHIR server (Medplum), with the hub's real store
as the ack ledger and a recording proxy in front to see every bundle sent.

Medplum accepts PMD's batch Bundles but, like any plain FHIR server, does not deduplicate by
Bundle.identifier. These tests show both halves honestly: what our ledger guarantees (an
acknowledged entry is never sent again; a batch whose answer was lost is sent again as the very
same bundle, same Bundle.identifier) and what only the server can do (recognise that repeat).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.app import start_hub
from hub.config import parse_config
from hub.store import Store
from sync.delivery import DeliveryError, Outcome
from sync.destinations.nhn_pmd import NhnPmdDestination
from sync.fhir.pmd import BUNDLE_IDENTIFIER_SYSTEM, KOMMUNENUMMER_SYSTEM, bundle_identifier
from sync.outbox import OutboxWorker
from tests.servers.samples import CTX, batch
from tests.servers.token_server import PlainProxy
from tests.unit.hub.factories import spo2


@pytest.fixture
def proxy(fhir_server) -> Iterator[PlainProxy]:
    with PlainProxy(upstream=fhir_server.base_url) as p:
        yield p


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "heima.db")
    yield s
    await s.close()


def sent(proxy: PlainProxy) -> list[dict]:
    return [json.loads(b) for b in proxy.stats.bodies]


def pmd(proxy: PlainProxy, store: Store, **kw) -> NhnPmdDestination:
    return NhnPmdDestination("pmd", proxy.fhir_base, ctx=CTX, ledger=store, kommunenummer="0301", timeout=5.0, **kw)


async def _queue(store: Store, ms) -> None:
    for m in ms:
        await store.record(m, ["pmd"])


async def test_the_hub_delivers_to_pmd_as_vkp_observations_in_batch_bundles(tmp_path, fhir_server, proxy):
    config = parse_config(
        {
            "hub": {"data_dir": str(tmp_path / "data")},
            "patient": {"identifier": "13116900216", "display": "Kari Nordmann (test)"},
            "organisation": {"identifier": "974633574", "system": "org", "display": "Oppfølgingssenteret"},
            "destinations": [{"name": "pmd", "kind": "nhn-pmd", "url": proxy.fhir_base, "kommunenummer": "0301"}],
        }
    )
    hub = await start_hub(config, deliver=False)
    try:
        ids = [(await hub.service.record_reading(spo2(95 + i, received_at=datetime(2026, 1, 1, 8, i, tzinfo=UTC)))).measurement.id for i in range(3)]
        report = (await hub.deliver_now())["pmd"]
        ledger = hub.store.db.execute("SELECT count(*), min(status) FROM ack_ledger WHERE destination = 'pmd'").fetchone()
        batches = hub.store.db.execute("SELECT state, sends FROM sent_batches").fetchall()
    finally:
        await hub.stop()
    assert report.delivered == 3 and report.batches == 1
    [bundle] = sent(proxy)
    assert bundle["type"] == "batch" and bundle["identifier"]["system"] == BUNDLE_IDENTIFIER_SYSTEM
    assert bundle["meta"]["tag"] == [{"system": KOMMUNENUMMER_SYSTEM, "code": "0301"}]
    stored = fhir_server.observations()
    assert sorted(o["identifier"][0]["value"] for o in stored) == sorted(f"urn:uuid:{i}" for i in ids)
    for obs in stored:
        assert obs["subject"]["identifier"]["value"] == "13116900216"
        assert obs["performer"][0]["identifier"] == {"system": "urn:oid:2.16.578.1.12.4.1.4.101", "value": "974633574"}
    assert fhir_server.resources("Device") == []  # Observations only
    assert ledger == (3, 201)
    assert batches == [("answered", 1)]


async def test_a_lost_answer_is_repeated_as_the_same_bundle_what_the_server_must_then_do(fhir_server, proxy, store):
    ms = batch(3)
    dest = pmd(proxy, store)
    try:
        fhir_server.fault("drop-after-commit")  # Medplum stores the batch; the answer never comes
        with pytest.raises(DeliveryError) as info:
            await dest.send(ms)
        assert not info.value.permanent
        results = await dest.send(ms)
        assert [r.outcome for r in results] == [Outcome.DELIVERED] * 3
        # A third hand-over (say, a crash before the outbox was marked): nothing goes out.
        again = await dest.send(ms)
        assert [r.outcome for r in again] == [Outcome.DELIVERED] * 3
    finally:
        await dest.aclose()
    first, second = sent(proxy)
    assert first == second  # byte-for-byte the same bundle...
    assert first["identifier"]["value"] == bundle_identifier(ms)  # ...with the same Bundle.identifier
    assert proxy.stats.forwarded == 2
    # What only the server can do: Medplum does not recognise the repeated Bundle.identifier (nor
    # does it deduplicate POSTs without ifNoneExist), so it now holds two copies. A PMD server that
    # honours Bundle.identifier keeps one; a receiver can also deduplicate on Observation.identifier.
    for m in ms:
        copies = fhir_server.observations(m.urn)
        assert len(copies) == 2
        assert {c["identifier"][0]["value"] for c in copies} == {m.urn}


@pytest.mark.parametrize(
    "fault, words",
    [
        ({"mode": "status", "status": 200, "body": "<html><body>Vedlikehold</body></html>", "contentType": "text/html"}, "HTML page"),
        ({"mode": "status", "status": 200, "body": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}}, "OperationOutcome"),
        ({"mode": "status", "status": 200, "body": {"resourceType": "Bundle", "type": "batch-response", "entry": [{"response": {"status": "201"}}]}}, "1 entries for 3"),
        ({"mode": "status", "status": 200, "body": "not json at all", "contentType": "application/fhir+json"}, "not JSON"),
        ({"mode": "status", "status": 503, "retryAfter": 7}, "wait 7 s"),
        ({"mode": "truncate"}, "without a complete answer"),
    ],
)
async def test_bad_answers_are_clear_transient_reasons_and_the_retry_is_the_same_batch(fhir_server, proxy, store, fault, words):
    ms = batch(3)
    dest = pmd(proxy, store)
    try:
        fhir_server.fault(**fault)
        with pytest.raises(DeliveryError) as info:
            await dest.send(ms)
        assert words in info.value.reason and not info.value.permanent
        assert "13116900216" not in info.value.reason
        await dest.send(ms)
    finally:
        await dest.aclose()
    bodies = sent(proxy)
    assert bodies[0]["identifier"] == bodies[1]["identifier"]
    assert store.db.execute("SELECT count(*) FROM ack_ledger").fetchone()[0] == 3


async def test_the_worker_never_resends_what_the_ledger_has_even_after_a_crash_before_marking(fhir_server, proxy, store):
    ms = batch(4)
    await _queue(store, ms)
    dest = pmd(proxy, store)
    try:
        await dest.send(ms[:2])  # acknowledged and in the ledger; the hub "crashed" before the outbox was marked
        worker = OutboxWorker(store, dest, batch_size=10)
        report = await worker.drain()
    finally:
        await dest.aclose()
    assert report.delivered == 4
    assert [len(b["entry"]) for b in sent(proxy)] == [2, 2]  # the first two never went out again
    assert len(fhir_server.observations()) == 4
    states = {s.state for m in ms for s in await store.delivery_states(str(m.id))}
    assert states == {"delivered"}


async def test_a_refused_batch_is_split_and_the_poisoned_entry_set_aside(fhir_server, proxy, store):
    ms = batch(3)
    await _queue(store, ms)
    now = [datetime.now(UTC)]
    dest = pmd(proxy, store)
    try:
        # the server refuses every request holding this one measurement (for good)
        fhir_server.fault("status", status=422, count=10, match=str(ms[1].id))
        worker = OutboxWorker(store, dest, batch_size=10, clock=lambda: now[0])
        report = await worker.drain()
        now[0] += timedelta(hours=1)
        await worker.drain()
    finally:
        await dest.aclose()
    assert report.delivered == 2 and report.dead == 1
    [poisoned] = await store.delivery_states(str(ms[1].id))
    assert poisoned.state == "dead" and "422" in poisoned.last_error
    assert len(fhir_server.observations()) == 2
