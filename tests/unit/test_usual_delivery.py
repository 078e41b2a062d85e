"""The delivery path reads the usual row as it was stored (issue 13): no Measurement built for it,
and the server still gets exactly what the plain path sent — the same bundle, byte for byte —
and a row is still marked only when the answer names it."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hub.domain.outgoing import Outgoing, of_measurement
from hub.domain.usual import UsualOutgoing
from hub.store import Store
from sync.destinations import FhirServerDestination
from sync.fhir.observations import _fhir_time_text, fhir_datetime
from tests.unit.hub.factories import T0, measurement, spo2
from sync.fhir.bundles import _read_entry, _usual_entry
from tests.unit.test_fhir_fast_paths import CONTEXTS, ENTRY, TYPES, measurements

LATER = T0 + timedelta(days=3650)


def _prepared(ctx, items):
    try:
        prepared = FhirServerDestination("centre", "http://127.0.0.1:1", ctx=ctx).prepare(items)
    except Exception as exc:  # a refusal is compared as a refusal
        return type(exc)
    return [body for _, body in prepared.requests], [(r.resource_id, r.outcome, r.reason) for r in prepared.refused]


async def _stored_and_read(m):
    store = await Store.open(":memory:")
    try:
        try:
            await store.record(m, ["centre"])
        except Exception:  # a value the store refuses (NaN, ...) never reaches the delivery path
            return None
        return await store.due("centre", limit=10, now=LATER)
    finally:
        await store.close()


@settings(max_examples=150, deadline=None)
@given(measurements(), CONTEXTS)
def test_a_stored_measurement_is_sent_as_the_plain_path_sent_it(m, ctx):
    assume(m.reading.value is None or math.isfinite(m.reading.value))
    read = asyncio.run(_stored_and_read(m))
    assume(read)
    (item,) = read
    assert _prepared(ctx, [item]) == _prepared(ctx, [of_measurement(m)])
    assert item.payload == m  # what it stands for, built from the row when asked


async def test_a_backlog_of_device_values_is_read_without_building_measurements():
    """Not vacuous: the usual row comes out as a UsualOutgoing, its Measurement not built."""
    store = await Store.open(":memory:")
    try:
        ms = [measurement(spo2(90.0 + i)) for i in range(3)]
        for m in ms:
            await store.record(m, ["centre"])
        batch = await store.due("centre", limit=10, now=LATER)
        assert [type(i) for i in batch] == [UsualOutgoing] * 3
        with pytest.raises(AttributeError):  # the Measurement's slot is still empty: not built
            Outgoing.__dict__["payload"].__get__(batch[0], UsualOutgoing)
        assert [i.payload for i in batch] == ms
    finally:
        await store.close()


async def test_a_backlog_is_sent_as_json_written_once_per_template_and_read_back_by_position():
    """Not vacuous either: the usual rows' entries go out as JSON text (orjson.Fragment), the
    body is the dict bundle's byte for byte, and the answer is read from the request's positions."""
    from sync.fhir.bundles import build, parse_response
    from sync.fhir.context import FhirContext, HubIdentity, PatientRef

    ctx = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-1"))
    store = await Store.open(":memory:")
    try:
        for i in range(3):
            await store.record(measurement(spo2(90.0 + i)), ["centre"])
        batch = await store.due("centre", limit=10, now=LATER)
    finally:
        await store.close()
    (built, body), = FhirServerDestination("centre", "http://127.0.0.1:1", ctx=ctx).prepare(batch).requests
    assert [type(e).__name__ for e in built.bundle["entry"]][-3:] == ["Fragment"] * 3
    assert body == orjson.dumps(build(batch, ctx, "batch").bundle)
    reply = {"resourceType": "Bundle", "type": "batch-response", "entry": [{"response": {"status": "201 Created"}}] * 5}
    outcomes = parse_response(orjson.dumps(reply), built.bundle, identify=False)
    assert [o.resource_type for o in outcomes][-3:] == ["Observation"] * 3
    with pytest.raises(ValueError):  # which measurement an encoded entry carries is in Built.owners
        parse_response(orjson.dumps(reply), built.bundle)


async def test_a_batch_whose_rows_share_numbers_and_devices_is_sent_as_the_dict_bundle():
    """Part D3: a batch's entries share what their kind, unit, number and device decide; the
    body is still the dict bundle's, byte for byte — repeated numbers, two devices, a unit that
    converts, a time in another spelling (left to the plain code)."""
    from hub.domain.readings import DeviceIdentity, MeasurementKind, Reading
    from sync.fhir.bundles import build
    from sync.fhir.context import FhirContext, HubIdentity, PatientRef

    other = DeviceIdentity(address="AA:BB:CC:DD:EE:02", name="Termometer", serial="T-2")
    ctx = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-1"))
    ms = [measurement(spo2(90.0 + i % 3, device=other if i % 4 == 0 else spo2().device, received_at=T0 + timedelta(minutes=i))) for i in range(12)]
    ms.append(measurement(Reading(kind=MeasurementKind.BODY_WEIGHT, value=80.0, unit="kg", received_at=T0, device=other)))
    ms.append(measurement(Reading(kind=MeasurementKind.BODY_WEIGHT, value=176.0, unit="lb", received_at=T0, device=other)))
    ms.append(measurement(Reading(kind=MeasurementKind.BODY_WEIGHT, value=176.0, unit="lb", received_at=T0 + timedelta(seconds=1), device=other)))
    store = await Store.open(":memory:")
    try:
        for m in ms:
            await store.record(m, ["centre"])
        await store._run(lambda: store.db.conn.execute(  # another spelling of a time: parsed, not copied
            "UPDATE measurements SET effective_time = ? WHERE id = ?", ["2026-11-21T09:30:00.000+00:00", str(ms[5].id)]
        ))
        batch = await store.due("centre", limit=20, now=LATER)
    finally:
        await store.close()
    assert len(batch) == len(ms) and all(type(i) is UsualOutgoing for i in batch)
    (built, body), = FhirServerDestination("centre", "http://127.0.0.1:1", ctx=ctx).prepare(batch).requests
    assert sum(type(e).__name__ == "Fragment" for e in built.bundle["entry"]) == len(ms) - 1
    assert body == orjson.dumps(build(batch, ctx, "batch").bundle)


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-3, minutes=-30)), timezone(timedelta(seconds=-90))]),
)
def test_a_stored_time_is_written_as_fhir_datetime_writes_it(moment, zone):
    moment = moment.replace(tzinfo=zone)
    text = _fhir_time_text(moment.isoformat())
    assert text is None or text == fhir_datetime(moment)
    if zone is UTC:
        assert text is not None  # what the store writes is never parsed again


@pytest.mark.parametrize("text", ["2026-11-21T09:30:00", "2026-11-21 09:30:00+00:00", "2026-11-21T09:30:00-00:00", "2026-11-21T09:30:00Z"])
def test_a_time_in_another_spelling_is_left_to_the_parser(text):
    assert _fhir_time_text(text) is None


async def test_marking_goes_by_the_answer_not_by_the_row_it_was_read_from():
    """A row is found by its rowid, but marked only when its destination and resource id are the
    ones answered: a rowid that points elsewhere (rows removed and their rowids used again)
    marks nothing it should not."""
    store = await Store.open(":memory:")
    try:
        a, b, c = (measurement(spo2(91.0 + i)) for i in range(3))
        for m in (a, b, c):
            await store.record(m, ["centre"])
        await store.due("centre", limit=10, now=LATER)
        handed = store._handed_out["centre"]
        handed[str(a.id)] = handed[str(c.id)]  # a's row "found" at c's rowid
        await store.mark_delivered("centre", [str(a.id)])
        states = {str(m.id): (await store.delivery_states(str(m.id)))[0].state for m in (a, b, c)}
        assert states == {str(a.id): "delivered", str(b.id): "pending", str(c.id): "pending"}
        assert (await store.outbox_counts())["centre"] == {"delivered": 1, "pending": 2}
    finally:
        await store.close()


MEDPLUM_CREATED = {
    "response": {
        "outcome": {"resourceType": "OperationOutcome", "id": "created", "issue": [{"severity": "information", "code": "informational", "details": {"text": "Created"}}]},
        "status": "201",
        "location": "Observation/5abdb629-c2af-4321-b2a1-21f35c063a1d",
    }
}


@given(TYPES, st.one_of(ENTRY, st.just(MEDPLUM_CREATED), st.just({"response": {"status": "200 OK", "location": "Observation/1"}})))
def test_the_usual_answer_is_read_in_one_step_as_the_plain_checks_read_it(resource_type, got):
    usual = _usual_entry(resource_type, got)
    if usual is not None:
        assert usual == _read_entry(0, resource_type, got)


def test_medplums_answer_to_a_create_takes_the_short_way():
    assert _usual_entry("Observation", MEDPLUM_CREATED) == (201, MEDPLUM_CREATED["response"]["location"], ("information/informational",))
    assert _usual_entry("Device", MEDPLUM_CREATED) is None  # another type than asked: the plain checks refuse it
