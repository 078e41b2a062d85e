"""The reference FHIR server itself (Medplum's engine behind tests/servers/fhir/server.mjs): the
behaviour Heima's tests rely on, pinned so an upgrade of Medplum that changes it is noticed."""

from __future__ import annotations

import httpx
import pytest

from sync.fhir.bundles import (
    batch_bundle,
    entry_count,
    parse_batch_response,
    parse_transaction_response,
    transaction_bundle,
)
from tests.servers.fhir_server import HARNESS, fhir_server  # noqa: F401  (until tests/conftest.py imports it)
from tests.servers.samples import CTX, batch


def post(server, bundle, **kw):
    return server.http.post(server.base_url, json=bundle, headers={"content-type": "application/fhir+json"}, **kw)


def test_transaction_twice_leaves_one_observation_per_identifier(fhir_server):
    ms = batch(3)
    bundle = transaction_bundle(ms, CTX)
    first = post(fhir_server, bundle)
    assert first.status_code == 200
    assert [o.status for o in parse_transaction_response(first.json(), bundle)] == [201] * 5
    second = post(fhir_server, bundle)
    assert [o.status for o in parse_transaction_response(second.json(), bundle)] == [200] * 5
    for m in ms:
        [obs] = fhir_server.observations(m.urn)
        assert obs["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": m.urn}]
    assert len(fhir_server.observations()) == 3
    assert len(fhir_server.resources("Device")) == 2  # the hub and the oximeter, once each


def test_references_are_resolved_to_the_stored_devices(fhir_server):
    ms = batch(2)
    post(fhir_server, transaction_bundle(ms[:1], CTX)).raise_for_status()
    post(fhir_server, transaction_bundle(ms, CTX)).raise_for_status()  # devices exist by now
    devices = {f"Device/{d['id']}" for d in fhir_server.resources("Device")}
    assert len(devices) == 2
    for obs in fhir_server.observations():
        assert obs["device"]["reference"] in devices
        assert obs["extension"][0]["valueReference"]["reference"] in devices
        assert obs["subject"]["identifier"]["value"] == CTX.patient.identifier


def test_conditional_create_header(fhir_server):
    obs = transaction_bundle(batch(1), CTX)["entry"][-1]["resource"]
    obs.pop("device"), obs.pop("extension")
    query = f"identifier=urn:ietf:rfc:3986|{obs['identifier'][0]['value']}"
    url = f"{fhir_server.base_url}/Observation"
    first = fhir_server.http.post(url, json=obs, headers={"If-None-Exist": query})
    second = fhir_server.http.post(url, json=obs, headers={"If-None-Exist": query})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert first.headers["location"].startswith("/fhir/R4/Observation/")


def test_drop_after_commit_commits_and_never_answers(fhir_server):
    bundle = transaction_bundle(batch(1), CTX)
    fhir_server.fault("drop-after-commit")
    with pytest.raises(httpx.RemoteProtocolError):
        post(fhir_server, bundle)
    assert len(fhir_server.observations()) == 1  # stored although the client heard nothing
    assert fhir_server.stats()["faults"] == 1


def test_status_fault_does_not_process(fhir_server):
    fhir_server.fault("status", status=503, retryAfter=2, count=2)
    bundle = transaction_bundle(batch(1), CTX)
    for _ in range(2):
        answer = post(fhir_server, bundle)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
    assert fhir_server.observations() == []
    assert post(fhir_server, bundle).status_code == 200  # faults used up
    stats = fhir_server.stats()
    assert stats["requests"] == 3 and stats["byRoute"] == {"POST /": 3} and stats["pendingFaults"] == []


def test_truncate_fault(fhir_server):
    fhir_server.fault("truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        post(fhir_server, transaction_bundle(batch(1), CTX))
    assert len(fhir_server.observations()) == 1


def test_reset_empties_everything(fhir_server):
    post(fhir_server, transaction_bundle(batch(2), CTX)).raise_for_status()
    fhir_server.fault("delay", ms=10)
    fhir_server.reset()
    assert fhir_server.observations() == [] and fhir_server.resources("Device") == []
    assert fhir_server.stats() == {"requests": 0, "byRoute": {}, "faults": 0, "pendingFaults": []}


def test_unknown_fault_mode_is_refused(fhir_server):
    with pytest.raises(httpx.HTTPStatusError):
        fhir_server.fault("explode")


def test_server_started_quickly(fhir_server):
    assert fhir_server.startup_seconds is not None and fhir_server.startup_seconds < 15


MEDPLUM_PIPE = pytest.mark.xfail(strict=True, reason="Medplum 5.2 cannot match a token value containing '|', escaped or not")


@pytest.mark.parametrize(
    "serial", ["HEIMA 0042", "HEIMA/0042", "HEIMA,0042", "HEIMA&0042", pytest.param("HEIMA|0042", marks=MEDPLUM_PIPE)]
)
def test_conditional_create_with_escaped_identifier(fhir_server, serial):
    from dataclasses import replace

    ctx = replace(CTX, hub=replace(CTX.hub, serial=serial))
    for _ in range(2):
        post(fhir_server, transaction_bundle(batch(1), ctx)).raise_for_status()
    hubs = [d for d in fhir_server.resources("Device") if d.get("serialNumber") == serial]
    assert len(hubs) == 1


# -- limits and batches: why the fhir destination sends batches, and transactions of <= 8 entries ---------------


def test_medplum_refuses_a_conditional_transaction_of_more_than_8_entries(fhir_server):  # noqa: F811
    ms = batch(7)
    too_big = transaction_bundle(ms, CTX)
    assert len(too_big["entry"]) == entry_count(ms) == 9
    answer = post(fhir_server, too_big)
    assert answer.status_code == 400
    assert "strict isolation" in answer.text  # maxSerializableTransactionEntries = 8 in @medplum/fhir-router
    assert fhir_server.observations() == []
    eight = transaction_bundle(ms[:6], CTX)
    assert post(fhir_server, eight).status_code == 200
    assert len(fhir_server.observations()) == 6


def test_a_large_batch_of_conditional_creates_is_accepted_and_idempotent(fhir_server):  # noqa: F811
    ms = batch(200)
    bundle = batch_bundle(ms, CTX)
    first = post(fhir_server, bundle)
    assert first.status_code == 200 and first.json()["type"] == "batch-response"
    assert [o.status for o in parse_batch_response(first.content, bundle)] == [201] * 202
    second = post(fhir_server, bundle)
    assert [o.status for o in parse_batch_response(second.content, bundle)] == [200] * 202
    assert len(fhir_server.observations()) == 200 and len(fhir_server.resources("Device")) == 2


def test_a_batch_entry_matching_several_is_refused_alone_with_412(fhir_server):  # noqa: F811
    ms = batch(3)
    twin = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": ms[1].urn}]}
    for _ in range(2):
        fhir_server.http.post(f"{fhir_server.base_url}/Observation", json=twin, headers=HARNESS).raise_for_status()
    bundle = batch_bundle(ms, CTX)
    outcomes = parse_batch_response(post(fhir_server, bundle).content, bundle)
    assert [o.status for o in outcomes] == [201, 201, 201, 412, 201]
    assert outcomes[3].issues and all(code.startswith("error/") for code in outcomes[3].issues)
