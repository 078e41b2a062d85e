"""The FHIR destination reads a batch's answer without an outcome object per delivered Observation
(issue 13, part D4): whatever the server says, entry by entry, the rows it reports delivered,
rejected or leaves unaccounted for are exactly those the plain reading reports — and a reply the
plain reading refuses is refused with the same words."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.store import Store
from sync.delivery import DeliveryError
from sync.destinations import FhirServerDestination
from sync.fhir.bundles import parse_response, parse_response_lean
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from tests.unit.hub.factories import T0, measurement, spo2
from tests.unit.test_fhir_fast_paths import ENTRY
from tests.unit.test_usual_delivery import MEDPLUM_CREATED

CTX = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-1"))
ROWS = 4


async def _batch():
    store = await Store.open(":memory:")
    try:
        for i in range(ROWS):
            await store.record(measurement(spo2(90.0 + i, received_at=T0 + timedelta(minutes=i))), ["centre"])
        return await store.due("centre", limit=10, now=T0 + timedelta(days=3650))
    finally:
        await store.close()


BATCH = asyncio.run(_batch())
DESTINATION = FhirServerDestination("centre", "http://127.0.0.1:1", ctx=CTX)
PREPARED = DESTINATION.prepare(BATCH)
((BUILT, _),) = PREPARED.requests
ENTRIES = len(BUILT.bundle["entry"])  # the hub's and the sensor's Device, then the usual rows

# The usual answer and its near misses: the same outcome with another severity, another status,
# another type or shape of location — each after, or before, one the reading has already seen.
MEDPLUM = MEDPLUM_CREATED["response"]
NEAR = [
    MEDPLUM_CREATED,
    {"response": {**MEDPLUM, "outcome": {**MEDPLUM["outcome"], "issue": [{"severity": "error", "code": "informational"}]}}},
    {"response": {**MEDPLUM, "outcome": {**MEDPLUM["outcome"], "issue": [{"severity": "information", "code": "processing"}]}}},
    {"response": {**MEDPLUM, "status": "412 Precondition Failed"}},
    {"response": {**MEDPLUM, "status": 201}},
    {"response": {**MEDPLUM, "location": "Device/1"}},
    {"response": {**MEDPLUM, "location": "Observation/"}},
    {"response": {**MEDPLUM, "location": "Observation//x"}},
    {"response": {**MEDPLUM, "location": "https://x/fhir/Observation/9"}},
    {"response": {"status": "200 OK", "location": "Observation/1/_history/2"}},
    {"response": {"status": "201 Created"}},
]
ANSWER = st.one_of(st.sampled_from(NEAR), ENTRY)


def _read(reply: bytes, lean: bool):
    response = httpx.Response(200, content=reply, headers={"content-type": "application/fhir+json"})
    try:
        outcomes = DESTINATION._outcomes(response, BUILT.bundle, lean=lean)
        return [(r.resource_id, r.outcome, r.reason) for r in DESTINATION._results(outcomes, BUILT.owners, PREPARED.ids)]
    except DeliveryError as exc:
        return ("refused", exc.reason, exc.permanent)


@settings(max_examples=400, deadline=None)
@given(st.lists(ANSWER, min_size=ENTRIES, max_size=ENTRIES), st.sampled_from(["batch-response", "transaction-response"]))
def test_the_lean_reading_reports_what_the_plain_reading_reports(answers, kind):
    reply = json.dumps({"resourceType": "Bundle", "type": kind, "entry": answers}).encode()  # any int, as a server may
    assert _read(reply, lean=True) == _read(reply, lean=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(ANSWER, min_size=ENTRIES, max_size=ENTRIES))
def test_an_outcome_is_left_out_only_for_a_usual_observation_created(answers):
    reply = json.dumps({"resourceType": "Bundle", "type": "batch-response", "entry": answers}).encode()
    plain = parse_response(reply, BUILT.bundle, identify=False)
    lean = parse_response_lean(reply, BUILT.bundle)
    for entry, (p, q) in enumerate(zip(plain, lean, strict=True)):
        if q is None:
            assert type(BUILT.bundle["entry"][entry]) is orjson.Fragment and p.ok and p.problem is None
        else:
            assert q == p


def test_medplums_answer_to_a_batch_is_read_without_outcome_objects():
    """Not vacuous: the usual answer leaves out every usual Observation's outcome, and the rows
    are delivered, each by the id the worker holds."""
    reply = orjson.dumps({"resourceType": "Bundle", "type": "batch-response", "entry": [MEDPLUM_CREATED] * ENTRIES})
    lean = parse_response_lean(reply, BUILT.bundle)
    assert lean[-ROWS:] == [None] * ROWS and all(o is not None for o in lean[:-ROWS])
    results = DESTINATION._results(lean, BUILT.owners, PREPARED.ids)
    assert [r.resource_id for r in results] == [m.id for m in BATCH]
    assert all(r.resource_id is m.id for r, m in zip(results, BATCH))


def test_the_wrong_number_of_entries_is_refused_either_way():
    reply = orjson.dumps({"resourceType": "Bundle", "type": "batch-response", "entry": [MEDPLUM_CREATED] * (ENTRIES - 1)})
    assert _read(reply, lean=True) == _read(reply, lean=False)
    assert _read(reply, lean=True)[0] == "refused"
    with pytest.raises(ValueError):
        parse_response_lean(reply, {"type": "history", "entry": []})


# The usual answer read as text (part D4): a compact reply, as Medplum writes it, whose usual
# Observations' answers are each the usual one is checked without parsing them.
def _compact(answers, kind="batch-response") -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": kind, "entry": answers}, separators=(",", ":")).encode()


def _learnt() -> None:
    """The reading learns the usual outcome's text from a usual entry it has read in full."""
    parse_response_lean(_compact([MEDPLUM_CREATED] * ENTRIES, "batch-response"), BUILT.bundle)


DEVICE_CREATED = {"response": {**MEDPLUM, "location": "Device/5abdb629"}}
# The usual answers with one of them not (or not quite) the usual one, anywhere in the run
ONE_OFF = st.tuples(st.integers(0, ROWS - 1), st.one_of(st.sampled_from(NEAR), ENTRY)).map(
    lambda at: [MEDPLUM_CREATED] * at[0] + [at[1]] + [MEDPLUM_CREATED] * (ROWS - 1 - at[0])
)
TAIL = st.one_of(
    ONE_OFF, st.lists(st.one_of(st.just(MEDPLUM_CREATED), st.sampled_from(NEAR), ENTRY), min_size=ROWS, max_size=ROWS)
)
HEAD = st.lists(st.one_of(st.just(DEVICE_CREATED), ANSWER), min_size=ENTRIES - ROWS, max_size=ENTRIES - ROWS)


@settings(max_examples=400, deadline=None)
@given(HEAD, st.one_of(TAIL, st.just([MEDPLUM_CREATED] * ROWS)))
def test_the_usual_answer_read_as_text_reports_what_the_full_reading_reports(head, tail):
    _learnt()
    reply = _compact(head + tail)
    assert _read(reply, lean=True) == _read(reply, lean=False)
    plain = parse_response(reply, BUILT.bundle, identify=False)
    for p, q in zip(plain, parse_response_lean(reply, BUILT.bundle), strict=True):
        assert q is None and p.ok and p.resource_type == "Observation" or q == p


def test_medplums_answer_takes_the_text_path_and_a_near_miss_does_not():
    """Not vacuous: the compact usual answer is read without parsing its Observations' answers;
    one answer that is not the usual one sends the whole reply to the full reading."""
    from sync.fhir.bundles import _usual_tail

    _learnt()
    usual = _compact([MEDPLUM_CREATED] * ENTRIES)
    head, count = _usual_tail(usual, BUILT.bundle["entry"])
    assert count == ROWS and len(head) == ENTRIES - ROWS
    assert parse_response_lean(usual, BUILT.bundle)[-ROWS:] == [None] * ROWS
    for near in NEAR[1:]:
        reply = _compact([MEDPLUM_CREATED] * (ENTRIES - 1) + [near])
        assert _usual_tail(reply, BUILT.bundle["entry"]) is None
        assert _read(reply, lean=True) == _read(reply, lean=False)
    # one entry short, one too many: refused, as the full reading refuses them
    for answers in ([MEDPLUM_CREATED] * (ENTRIES - 1), [MEDPLUM_CREATED] * (ENTRIES + 1)):
        assert _read(_compact(answers), lean=True) == _read(_compact(answers), lean=False)
        assert _read(_compact(answers), lean=True)[0] == "refused"
