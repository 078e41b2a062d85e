"""The store's answers for the operator: what waits and why, and handing a removed destination's
waiting rows to a configured one — once, in one transaction, nothing lost."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.domain.readings import MeasurementKind
from hub.store import Store

from .factories import T0, measurement, spo2

ALL_KINDS = [k.value for k in MeasurementKind]


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "heima.db", clock=lambda: T0)
    yield s
    await s.close()


async def test_waiting_says_how_many_why_and_when_per_destination(store):
    ms = [measurement(minutes=i) for i in range(3)]
    for m in ms:
        await store.record(m, ["centre", "usb"])
    await store.mark_delivered("usb", [str(m.id) for m in ms])
    later = T0 + timedelta(seconds=40)
    await store.schedule_retry("centre", [str(ms[0].id)], not_before=T0 + timedelta(seconds=4), reason="first")
    await store.schedule_retry("centre", [str(ms[1].id)], not_before=later, reason="FHIR server unreachable")

    [centre] = await store.waiting()
    assert (centre.destination, centre.count, centre.held) == ("centre", 3, 0)
    assert centre.next_attempt_at == T0  # the row never tried is due at once
    assert centre.last_error == "FHIR server unreachable"  # the newest reason, not the first


async def test_requeue_moves_waiting_rows_once_and_keeps_what_the_target_already_has(store):
    waiting, sent_to_new, old_sent = (measurement(minutes=i) for i in range(3))
    for m in (waiting, sent_to_new, old_sent):
        await store.record(m, ["centre"])
    await store.record(measurement(minutes=9), ["kommune"])
    await store.mark_delivered("centre", [str(old_sent.id)])
    # sent_to_new reached the new destination already (e.g. by an earlier move)
    store.db.execute("INSERT INTO outbox (resource_id, destination, next_attempt_at, state) VALUES (?, 'kommune', ?, 'delivered')", [str(sent_to_new.id), T0.isoformat()])
    store.db.conn.commit()

    result = await store.requeue("centre", "kommune", kinds=ALL_KINDS)

    assert (result.queued, result.already, result.left) == (1, 1, 0)
    assert [(s.destination, s.state) for s in await store.delivery_states(str(waiting.id))] == [("kommune", "pending")]
    assert [(s.destination, s.state) for s in await store.delivery_states(str(sent_to_new.id))] == [("kommune", "delivered")]
    # what the old destination did take stays on record as sent there
    assert [(s.destination, s.state) for s in await store.delivery_states(str(old_sent.id))] == [("centre", "delivered")]
    again = await store.requeue("centre", "kommune", kinds=ALL_KINDS)
    assert (again.queued, again.already, again.left) == (0, 0, 0)
    assert (await store.outbox_counts())["kommune"] == {"pending": 2, "delivered": 1}


async def test_requeue_leaves_kinds_the_target_does_not_take_and_respects_withdrawn_consent(store):
    oxygen = measurement(spo2(95))
    await store.record(oxygen, ["centre"])
    result = await store.requeue("centre", "pmd", kinds=[MeasurementKind.BODY_WEIGHT.value])
    assert (result.queued, result.left) == (0, 1)
    await store.set_consent("kommune", "withdrawn", at=T0)
    result = await store.requeue("centre", "kommune", kinds=ALL_KINDS)
    assert (result.queued, result.already, result.left) == (0, 0, 1)
    assert [(s.destination, s.state) for s in await store.delivery_states(str(oxygen.id))] == [("centre", "pending")]


async def test_measurement_times_for_a_destination_are_those_it_has_not_taken(store):
    waiting, refused, sent = (measurement(minutes=i) for i in range(3))
    for m in (waiting, refused, sent):
        await store.record(m, ["centre"])
    await store.dead_letter("centre", str(refused.id), reason="refused")
    await store.mark_delivered("centre", [str(sent.id)])
    every = await store.measurement_times()
    assert {mid for mid, _, _ in every} == {str(m.id) for m in (waiting, refused, sent)}
    theirs = await store.measurement_times(destination="centre")
    assert {mid for mid, _, _ in theirs} == {str(waiting.id), str(refused.id)}
    [back] = await store.measurements_by_id([str(refused.id)])
    assert back == refused
