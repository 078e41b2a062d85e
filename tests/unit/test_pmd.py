"""NHN Pasientens måledata: the bundle (VKP rules, stable Bundle.identifier), the strict reading of
its batch-response, and the destination's ledger logic (with a scripted server)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle

from sync.delivery import DeliveryError, Outcome
from sync.destinations.nhn_pmd import NhnPmdDestination
from sync.fhir.bundles import BundleResponseError
from sync.fhir.codes import DNR, FNR, RESH_ID
from sync.fhir.context import OrganisationRef, PatientRef
from sync.fhir.pmd import (
    BUNDLE_IDENTIFIER_SYSTEM,
    KOMMUNENUMMER_SYSTEM,
    PmdMappingError,
    ZoneAssessment,
    bundle_identifier,
    parse_pmd_response,
    pmd_bundle,
)
from tests.servers.samples import CTX, batch, measurement


def test_a_pmd_bundle_is_an_observation_only_batch_with_identifier_and_kommunenummer():
    ms = batch(3)
    bundle = pmd_bundle(ms, CTX, kommunenummer="0301")
    Bundle.model_validate(bundle)  # well-formed FHIR (R4B models read R4 Observations)
    assert bundle["type"] == "batch"
    assert bundle["identifier"] == {"system": BUNDLE_IDENTIFIER_SYSTEM, "value": bundle_identifier(ms)}
    assert bundle["meta"]["tag"] == [{"system": KOMMUNENUMMER_SYSTEM, "code": "0301"}]
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Observation"] * 3
    for entry, m in zip(bundle["entry"], ms, strict=True):
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert entry["request"] == {"method": "POST", "url": "Observation"}  # no conditional create
        obs = entry["resource"]
        assert obs["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": m.urn}]
        assert obs["subject"]["identifier"] == {"system": FNR, "value": "13116900216"}  # logical subject
        assert "reference" not in obs["subject"]
        assert obs["performer"] == [CTX.organisation.to_reference()]
        assert obs["device"]["identifier"]["system"] == "http://hl7.org/fhir/sid/eui-48/bluetooth"
    assert len({e["fullUrl"] for e in bundle["entry"]}) == 3


def test_the_bundle_identifier_is_stable_per_batch_and_differs_between_batches():
    ms = batch(4)
    assert bundle_identifier(ms) == bundle_identifier(list(reversed(ms)))
    assert bundle_identifier(ms) != bundle_identifier(ms[:3])
    assert str(uuid.UUID(bundle_identifier(ms))) == bundle_identifier(ms)
    assert pmd_bundle(ms, CTX, kommunenummer="0301") == pmd_bundle(ms, CTX, kommunenummer="0301")  # byte for byte


def test_d_number_and_resh_are_accepted_other_subjects_are_not():
    ctx = replace(CTX, patient=PatientRef(identifier="53116900216", identifier_system=DNR), organisation=OrganisationRef("4001031", RESH_ID))
    obs = pmd_bundle(batch(1), ctx, kommunenummer="4601")["entry"][0]["resource"]
    assert obs["subject"]["identifier"]["system"] == DNR and obs["performer"][0]["identifier"]["system"] == RESH_ID
    for bad in (replace(CTX, patient=PatientRef()), replace(CTX, patient=PatientRef(identifier="x", identifier_system="urn:other")), replace(CTX, organisation=None)):
        with pytest.raises(PmdMappingError) as info:
            pmd_bundle(batch(1), bad, kommunenummer="0301")
        assert "13116900216" not in str(info.value)
    with pytest.raises(PmdMappingError):
        pmd_bundle(batch(1), CTX, kommunenummer="301")


def test_zones_give_interpretation_and_one_reference_range_per_zone():
    zones = ZoneAssessment.legacy("L", "Low", (("N", 94, None, "grønn"), ("L", 90, 93.9, "gul"), ("LL", None, 89.9, "rød")))
    m = replace(measurement(value=92), evaluation=zones)  # the evaluation stored when it was recorded
    obs = pmd_bundle([m], CTX, kommunenummer="0301")["entry"][0]["resource"]
    Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "urn:uuid:" + str(uuid.uuid4()), "resource": obs}]})
    assert obs["interpretation"][0]["coding"][0]["code"] == "L"
    assert [r["type"]["coding"][0]["code"] for r in obs["referenceRange"]] == ["N", "L", "LL"]
    assert obs["referenceRange"][1]["low"] == {"value": 90, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
    assert "high" not in obs["referenceRange"][0] and obs["referenceRange"][2]["text"] == "rød"
    plain = pmd_bundle([replace(m, evaluation=None)], CTX, kommunenummer="0301")["entry"][0]["resource"]
    assert "referenceRange" not in plain  # no zones for it (yet): nothing invented


def _reply(bundle: dict, statuses: list[str]) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [
            {"response": {"status": s, **({"location": f"Observation/{i}/_history/1"} if s.startswith("2") else {})}}
            for i, s in enumerate(statuses)
        ],
    }


def test_the_batch_response_is_read_per_entry_and_strictly():
    bundle = pmd_bundle(batch(3), CTX, kommunenummer="0301")
    outcomes = parse_pmd_response(_reply(bundle, ["201 Created", "422 Unprocessable", "500"]), bundle)
    assert [(o.status, o.ok) for o in outcomes] == [(201, True), (422, False), (500, False)]
    with pytest.raises(BundleResponseError, match="2 entries for 3"):
        parse_pmd_response(_reply(bundle, ["201", "201"]), bundle)
    with pytest.raises(BundleResponseError, match="OperationOutcome"):
        parse_pmd_response({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}, bundle)
    with pytest.raises(BundleResponseError, match="not JSON"):
        parse_pmd_response(b"<html>Bad gateway</html>", bundle)
    inside = _reply(bundle, ["201", "201", "201"])
    inside["entry"][1]["response"]["outcome"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]}
    assert [o.ok for o in parse_pmd_response(inside, bundle)] == [True, False, True]


# -- the destination's ledger logic, with a scripted server --------------------------------------------


@dataclass
class MemoryLedger:
    acks: dict[str, str] = field(default_factory=dict)  # measurement id -> bundle identifier
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def acknowledged(self, destination, ids):
        return {i for i in ids if i in self.acks}

    async def open_batches(self, destination):
        @dataclass
        class Open:
            bundle_identifier: str
            resource_ids: tuple

        return [Open(k, tuple(v["ids"])) for k, v in self.batches.items() if v["state"] == "open"]

    async def batch_sending(self, destination, identifier, ids):
        b = self.batches.setdefault(identifier, {"ids": list(ids), "state": "open", "sends": 0})
        b["sends"] += 1
        b["state"] = "open" if b["state"] == "superseded" else b["state"]

    async def batch_answered(self, destination, identifier, acks):
        for mid, _status, _loc in acks:
            self.acks.setdefault(mid, identifier)
        self.batches[identifier]["state"] = "answered"

    async def batch_superseded(self, destination, identifier):
        self.batches[identifier]["state"] = "superseded"


class ScriptedPmd:
    """Answers each POST with the next scripted behaviour; remembers what was sent."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.sent: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        bundle = json.loads(request.content)
        self.sent.append(bundle)
        what = self.script.pop(0) if self.script else "ok"
        n = len(bundle["entry"])
        if what == "lost":
            raise httpx.ReadTimeout("no answer", request=request)
        if what == "html":
            return httpx.Response(200, text="<html>maintenance</html>", headers={"content-type": "text/html"})
        if what == "short":
            return httpx.Response(200, json=_reply(bundle, ["201"] * (n - 1)))
        if what == "oo":
            return httpx.Response(200, json={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]})
        if what == "first-503":
            return httpx.Response(200, json=_reply(bundle, ["503"] + ["201"] * (n - 1)))
        if what == "first-422":
            return httpx.Response(200, json=_reply(bundle, ["422"] + ["201"] * (n - 1)))
        return httpx.Response(200, json=_reply(bundle, ["201"] * n))


def _dest(server: ScriptedPmd, ledger: MemoryLedger, **kw) -> NhnPmdDestination:
    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return NhnPmdDestination("pmd", "https://pmd.example/fhir", ctx=CTX, ledger=ledger, kommunenummer="0301", client=client, **kw)


async def test_a_lost_answer_is_repeated_with_the_same_identifier_and_an_acknowledged_entry_never_again():
    server, ledger = ScriptedPmd("lost"), MemoryLedger()
    dest = _dest(server, ledger)
    ms = batch(4)
    with pytest.raises(DeliveryError) as info:
        await dest.send(ms)
    assert not info.value.permanent
    results = await dest.send(list(reversed(ms)))  # handed over in another order: still the same batch
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert [b["identifier"]["value"] for b in server.sent] == [bundle_identifier(ms)] * 2
    assert [e["fullUrl"] for e in server.sent[0]["entry"]] == [e["fullUrl"] for e in server.sent[1]["entry"]]
    again = await dest.send(ms)  # a crash after the ledger, before the outbox: nothing is sent
    assert {r.outcome for r in again} == {Outcome.DELIVERED} and len(server.sent) == 2


@pytest.mark.parametrize("bad", ["html", "short", "oo"])
async def test_unusable_answers_are_transient_and_the_batch_is_repeated_as_it_was(bad):
    server, ledger = ScriptedPmd(bad), MemoryLedger()
    dest = _dest(server, ledger)
    ms = batch(3)
    with pytest.raises(DeliveryError) as info:
        await dest.send(ms)
    assert not info.value.permanent and "13116900216" not in info.value.reason
    assert "same Bundle.identifier" in info.value.reason or "HTML" in info.value.reason
    await dest.send(ms)
    assert server.sent[0]["identifier"] == server.sent[1]["identifier"]
    assert ledger.acks.keys() == {str(m.id) for m in ms}


async def test_per_entry_answers_deliver_reject_or_leave_for_later():
    server, ledger = ScriptedPmd("first-503", "first-422"), MemoryLedger()
    dest = _dest(server, ledger)
    ms = batch(3)
    first = await dest.send(ms)
    assert [(str(r.measurement_id), r.outcome) for r in first] == [(str(ms[1].id), Outcome.DELIVERED), (str(ms[2].id), Outcome.DELIVERED)]
    # the 503 entry alone is retried, in a new batch (new identifier); the others come from the ledger
    second = await dest.send(ms)
    assert [len(b["entry"]) for b in server.sent] == [3, 1]
    assert server.sent[1]["identifier"]["value"] == bundle_identifier([ms[0]]) != bundle_identifier(ms)
    by_id = {str(r.measurement_id): r for r in second}
    assert by_id[str(ms[0].id)].outcome is Outcome.REJECTED and "422" in by_id[str(ms[0].id)].reason
    assert {by_id[str(m.id)].outcome for m in ms[1:]} == {Outcome.DELIVERED}


async def test_batches_are_cut_to_max_entries_and_an_open_batch_that_cannot_be_repeated_is_superseded():
    server, ledger = ScriptedPmd("lost"), MemoryLedger()
    dest = _dest(server, ledger, max_entries=2)
    ms = batch(5)
    with pytest.raises(DeliveryError):
        await dest.send(ms)  # the first batch [0, 1] is lost
    results = await dest.send(ms[1:])  # ms[0] is no longer due (say, set aside): [0, 1] cannot be repeated
    assert {str(r.measurement_id) for r in results} == {str(m.id) for m in ms[1:]}
    assert [len(b["entry"]) for b in server.sent] == [2, 2, 2]
    assert ledger.batches[bundle_identifier(ms[:2])]["state"] == "superseded"
