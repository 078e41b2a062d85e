"""Transaction bundles and the strict reading of transaction-responses."""

from __future__ import annotations

import copy
import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from hub.domain.readings import MeasurementKind, Provenance
from sync.fhir.bundles import (
    TransactionResponseError,
    observation_full_url,
    parse_transaction_response,
    transaction_bundle,
)
from tests.servers.samples import CTX, OTHER_OXIMETER, batch, measurement

PATIENT_FNR = CTX.patient.identifier


def entries_of(bundle, resource_type):
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def test_bundle_shape_and_conditional_creates():
    ms = batch(3) + [measurement(device=OTHER_OXIMETER)]
    bundle = transaction_bundle(ms, CTX)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    devices, observations = entries_of(bundle, "Device"), entries_of(bundle, "Observation")
    assert len(devices) == 3  # the hub once + two distinct sensors
    assert len(observations) == 4
    assert [e["resource"]["resourceType"] for e in bundle["entry"]][:3] == ["Device"] * 3
    for entry, m in zip(observations, ms, strict=True):
        assert entry["request"] == {
            "method": "POST",
            "url": "Observation",
            "ifNoneExist": f"identifier=urn:ietf:rfc:3986|urn:uuid:{m.id}",
        }
        assert entry["fullUrl"].startswith("urn:uuid:")
        # never the identifier value itself: servers rewrite fullUrls wherever they appear
        assert entry["fullUrl"] != m.urn
        assert entry["fullUrl"] == observation_full_url(m)
    hub = devices[0]
    assert hub["request"]["ifNoneExist"] == "identifier=urn:heima:hub-serial|HEIMA-TEST-0001"
    assert devices[1]["request"]["ifNoneExist"] == "identifier=http://hl7.org/fhir/sid/eui-48/bluetooth|00-1C-05-FF-E8-74"
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)


def test_references_resolve_inside_the_bundle():
    ms = batch(2) + [measurement(device=OTHER_OXIMETER)]
    bundle = transaction_bundle(ms, CTX)
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    hub_url = bundle["entry"][0]["fullUrl"]
    for entry in entries_of(bundle, "Observation"):
        obs = entry["resource"]
        assert obs["extension"][0]["valueReference"] == {"reference": hub_url}
        device = by_url[obs["device"]["reference"]]
        assert device["resourceType"] == "Device"
    last = entries_of(bundle, "Observation")[-1]["resource"]
    assert by_url[last["device"]["reference"]]["identifier"][0]["value"] == "C0-FF-EE-00-00-01"


def test_manual_measurements_need_no_sensor_device():
    bundle = transaction_bundle([measurement(MeasurementKind.PULSE_RATE, 70, provenance=Provenance.MANUAL)], CTX)
    Bundle.model_validate(bundle)
    assert len(entries_of(bundle, "Device")) == 1  # the hub only
    assert "device" not in entries_of(bundle, "Observation")[0]["resource"]


def test_same_batch_same_bytes():
    ms = batch(4)
    assert json.dumps(transaction_bundle(ms, CTX)) == json.dumps(transaction_bundle(list(ms), CTX))


def test_refuses_empty_and_duplicate_batches():
    with pytest.raises(ValueError):
        transaction_bundle([], CTX)
    m = measurement()
    with pytest.raises(ValueError, match="twice"):
        transaction_bundle([m, m], CTX)


# -- parsing answers ---------------------------------------------------------------------------------------


def answer_for(bundle, statuses=None):
    entries = []
    for i, entry in enumerate(bundle["entry"]):
        status = statuses[i] if statuses else "201 Created"
        kind = entry["resource"]["resourceType"]
        entries.append({"response": {"status": status, "location": f"{kind}/{i}/_history/1"}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


def test_parse_created_and_existing():
    ms = batch(2)
    bundle = transaction_bundle(ms, CTX)
    statuses = ["200 OK", "201 Created", "201", "200"]
    outcomes = parse_transaction_response(answer_for(bundle, statuses), bundle)
    assert [o.status for o in outcomes] == [200, 201, 201, 200]
    assert all(o.ok for o in outcomes)
    assert [o.measurement_id for o in outcomes if o.resource_type == "Observation"] == [m.id for m in ms]
    assert [o.resource_type for o in outcomes] == ["Device", "Device", "Observation", "Observation"]


def test_parse_accepts_raw_bytes_and_absolute_locations():
    bundle = transaction_bundle(batch(1), CTX)
    answer = answer_for(bundle)
    for e in answer["entry"]:
        e["response"]["location"] = "https://fhir.example.no/fhir/R4/" + e["response"]["location"]
    outcomes = parse_transaction_response(json.dumps(answer).encode(), bundle)
    assert len(outcomes) == 3


BAD_REPLIES = {
    "not json": b"<html>Bad gateway</html>",
    "truncated": b'{"resourceType":"Bundle","type":"transaction-res',
    "json array": b"[]",
    "outcome": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception", "diagnostics": "Kari Nordmann"}]},
    "patient": {"resourceType": "Patient"},
    "batch-response": {"resourceType": "Bundle", "type": "batch-response", "entry": []},
    "no entries": {"resourceType": "Bundle", "type": "transaction-response"},
    "entry not list": {"resourceType": "Bundle", "type": "transaction-response", "entry": {}},
}


@pytest.mark.parametrize("name", list(BAD_REPLIES))
def test_malformed_replies_raise_without_patient_data(name):
    bundle = transaction_bundle(batch(2), CTX)
    reply = BAD_REPLIES[name]
    with pytest.raises(TransactionResponseError) as info:
        parse_transaction_response(reply, bundle)
    message = str(info.value)
    assert PATIENT_FNR not in message and "Kari" not in message and "urn:uuid" not in message


def test_wrong_entry_count():
    bundle = transaction_bundle(batch(2), CTX)
    answer = answer_for(bundle)
    answer["entry"].pop()
    with pytest.raises(TransactionResponseError, match="3 entries for 4"):
        parse_transaction_response(answer, bundle)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.pop("response"),
        lambda e: e["response"].update(status="created"),
        lambda e: e["response"].update(status=""),
        lambda e: e["response"].update(location="Patient/1"),
        lambda e: e["response"].update(location=7),
        lambda e: e["response"].update(outcome={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}),
    ],
)
def test_malformed_entries(mutate):
    bundle = transaction_bundle(batch(1), CTX)
    answer = answer_for(bundle)
    mutate(answer["entry"][2])
    with pytest.raises(TransactionResponseError):
        parse_transaction_response(answer, bundle)


def test_entry_failure_statuses_are_reported_not_raised():
    bundle = transaction_bundle(batch(2), CTX)
    answer = answer_for(bundle, ["200", "200", "422 Unprocessable Entity", "201"])
    answer["entry"][2]["response"].pop("location")
    outcomes = parse_transaction_response(copy.deepcopy(answer), bundle)
    assert [o.ok for o in outcomes] == [True, True, False, True]
    assert outcomes[2].status == 422
