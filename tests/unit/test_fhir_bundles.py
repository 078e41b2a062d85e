"""Transaction and batch bundles, and the strict reading of transaction- and batch-responses."""

from __future__ import annotations

import copy
import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from hub.domain.readings import MeasurementKind, Provenance
from sync.fhir.bundles import (
    BundleResponseError,
    TransactionResponseError,
    batch_bundle,
    entry_count,
    issue_codes,
    observation_full_url,
    parse_batch_response,
    parse_response,
    parse_transaction_response,
    split_batch,
    transaction_bundle,
)
from sync.fhir.devices import device_reference, hub_reference
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


# -- batch bundles -----------------------------------------------------------------------------------------


def test_batch_bundle_shape_conditional_creates_and_logical_references():
    manual = measurement(MeasurementKind.PULSE_RATE, 70, provenance=Provenance.MANUAL)
    ms = batch(3) + [measurement(device=OTHER_OXIMETER), manual]
    bundle = batch_bundle(ms, CTX)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "batch"
    devices, observations = entries_of(bundle, "Device"), entries_of(bundle, "Observation")
    assert len(devices) == 3  # the hub once + two distinct sensors: conditionally created beside
    assert [e["resource"]["resourceType"] for e in bundle["entry"]][:3] == ["Device"] * 3
    assert devices[0]["request"]["ifNoneExist"] == "identifier=urn:heima:hub-serial|HEIMA-TEST-0001"
    assert devices[1]["request"]["ifNoneExist"] == "identifier=http://hl7.org/fhir/sid/eui-48/bluetooth|00-1C-05-FF-E8-74"
    for entry, m in zip(observations, ms, strict=True):
        assert entry["request"] == {
            "method": "POST",
            "url": "Observation",
            "ifNoneExist": f"identifier=urn:ietf:rfc:3986|urn:uuid:{m.id}",
        }
        assert entry["fullUrl"] == observation_full_url(m) != m.urn
        obs = entry["resource"]
        # entries of a batch cannot reference each other: the Devices are named by identifier
        assert obs["extension"][0]["valueReference"] == hub_reference(CTX.hub)
        if m.provenance is Provenance.DEVICE:
            assert obs["device"] == device_reference(m.reading.device)
        else:
            assert "device" not in obs
    for entry in observations:
        refs = [entry["resource"]["extension"][0]["valueReference"], entry["resource"].get("device", {})]
        assert all("reference" not in ref for ref in refs)


def test_batch_and_transaction_carry_the_same_resources_but_the_references():
    ms = batch(2)
    tx, bt = transaction_bundle(ms, CTX), batch_bundle(ms, CTX)
    assert [e["request"] for e in tx["entry"]] == [e["request"] for e in bt["entry"]]
    assert [e["fullUrl"] for e in tx["entry"]] == [e["fullUrl"] for e in bt["entry"]]
    for a, b in zip(tx["entry"], bt["entry"], strict=True):
        a, b = copy.deepcopy(a["resource"]), copy.deepcopy(b["resource"])
        for r in (a, b):
            r.pop("device", None), r.pop("extension", None)
        assert a == b


def test_batch_same_batch_same_bytes_and_refusals():
    ms = batch(4)
    assert json.dumps(batch_bundle(ms, CTX)) == json.dumps(batch_bundle(list(ms), CTX))
    with pytest.raises(ValueError):
        batch_bundle([], CTX)
    m = measurement()
    with pytest.raises(ValueError, match="twice"):
        batch_bundle([m, m], CTX)


# -- splitting for servers that limit entries per request ---------------------------------------------------


def test_split_batch_counts_device_entries():
    ms = batch(30)
    runs = split_batch(ms, 8)
    assert [len(r) for r in runs] == [6, 6, 6, 6, 6]  # the hub + the oximeter + 6 Observations
    assert [m for r in runs for m in r] == ms
    assert all(entry_count(r) <= 8 for r in runs)
    assert all(len(transaction_bundle(r, CTX)["entry"]) == entry_count(r) for r in runs)


def test_split_batch_with_several_sensors_and_manual_entries():
    manual = measurement(MeasurementKind.PULSE_RATE, 70, provenance=Provenance.MANUAL)
    ms = [measurement(), measurement(device=OTHER_OXIMETER), manual, measurement(), measurement(device=OTHER_OXIMETER)]
    runs = split_batch(ms, 5)
    assert [m for r in runs for m in r] == ms
    assert all(entry_count(r) <= 5 for r in runs)
    assert [len(r) for r in runs] == [2, 2, 1]  # hub+2 sensors+2 obs; hub+sensor+manual+obs; ...
    assert split_batch([manual] * 1, 3) == [[manual]]
    assert split_batch(ms, 3) == [[m] for m in ms]


def test_split_batch_without_a_limit_and_impossible_limits():
    ms = batch(500)
    assert split_batch(ms, None) == [ms]
    assert split_batch([], None) == [] and split_batch([], 8) == []
    with pytest.raises(ValueError):
        split_batch(ms, 2)


# -- parsing batch answers ------------------------------------------------------------------------------------


def batch_answer(bundle, statuses=None):
    answer = answer_for(bundle, statuses)
    answer["type"] = "batch-response"
    return answer


def test_parse_batch_response_with_mixed_statuses():
    ms = batch(4)
    bundle = batch_bundle(ms, CTX)  # hub, oximeter, 4 Observations
    answer = batch_answer(bundle, ["200 OK", "201 Created", "201 Created", "200 OK", "422 Unprocessable Entity", "503"])
    for i in (4, 5):
        answer["entry"][i]["response"].pop("location")
    answer["entry"][4]["response"]["outcome"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "Kari Nordmann 13116900216"}],
    }
    outcomes = parse_batch_response(json.dumps(answer), bundle)
    assert [o.status for o in outcomes] == [200, 201, 201, 200, 422, 503]
    assert [o.ok for o in outcomes] == [True, True, True, True, False, False]
    assert [o.measurement_id for o in outcomes[2:]] == [m.id for m in ms]
    assert outcomes[4].issues == ("error/invalid",)
    assert all(o.problem is None for o in outcomes)
    assert parse_response(answer, bundle) == outcomes


BAD_BATCH_REPLIES = {
    "html": b"<html><body>Bad gateway</body></html>",
    "truncated": b'{"resourceType":"Bundle","type":"batch-resp',
    "transaction-response": {"resourceType": "Bundle", "type": "transaction-response", "entry": []},
    "searchset": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    "outcome": {"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "code": "exception", "diagnostics": "Kari"}]},
    "no entries": {"resourceType": "Bundle", "type": "batch-response"},
    "entry not list": {"resourceType": "Bundle", "type": "batch-response", "entry": "all fine"},
}


@pytest.mark.parametrize("name", list(BAD_BATCH_REPLIES))
def test_unusable_batch_replies_raise_without_patient_data(name):
    bundle = batch_bundle(batch(2), CTX)
    with pytest.raises(BundleResponseError) as info:
        parse_batch_response(BAD_BATCH_REPLIES[name], bundle)
    message = str(info.value)
    assert PATIENT_FNR not in message and "Kari" not in message and "urn:uuid" not in message


def test_batch_reply_with_a_wrong_entry_count():
    bundle = batch_bundle(batch(2), CTX)
    fewer = batch_answer(bundle)
    fewer["entry"].pop()
    with pytest.raises(BundleResponseError, match="3 entries for 4"):
        parse_batch_response(fewer, bundle)
    more = batch_answer(bundle)
    more["entry"].append(more["entry"][-1])
    with pytest.raises(BundleResponseError, match="5 entries for 4"):
        parse_batch_response(more, bundle)


def test_a_transaction_reply_is_not_a_batch_reply_and_the_reverse():
    ms = batch(1)
    with pytest.raises(TransactionResponseError, match="not batch-response"):
        parse_batch_response(answer_for(batch_bundle(ms, CTX)), batch_bundle(ms, CTX))
    tx = transaction_bundle(ms, CTX)
    with pytest.raises(BundleResponseError, match="not transaction-response"):
        parse_transaction_response(batch_answer(tx), tx)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.pop("response"),
        lambda e: e["response"].update(status="created"),
        lambda e: e["response"].update(location="Patient/1"),
        lambda e: e["response"].update(outcome={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}),
    ],
)
def test_one_unreadable_batch_entry_is_unknown_the_others_stand(mutate):
    ms = batch(2)
    bundle = batch_bundle(ms, CTX)
    answer = batch_answer(bundle)
    mutate(answer["entry"][2])
    outcomes = parse_batch_response(answer, bundle)
    assert [o.ok for o in outcomes] == [True, True, False, True]
    bad = outcomes[2]
    assert bad.problem and "reply entry 2" in bad.problem and bad.measurement_id == ms[0].id
    assert outcomes[3].measurement_id == ms[1].id


def test_issue_codes_keep_codes_only():
    outcome = {
        "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": "13116900216"},
            {"severity": "error", "code": "Kari Nordmann 13116900216"},
            {"severity": "warning", "code": "business-rule"},
            "not an issue",
        ]
    }
    assert issue_codes(outcome) == ("error/?", "error/invalid", "warning/business-rule")
    assert issue_codes(None) == () and issue_codes({"issue": "x"}) == ()
