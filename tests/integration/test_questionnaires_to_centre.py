"""Questionnaires end to end against the reference FHIR server (Medplum): the forms assigned to the
patient pulled from the centre (a Task naming a Questionnaire), kept and used offline; a bad new
version refused with the reason naming the item while the old one stays; a submitted check-in
reaching the centre exactly once (a lost answer and a second tap included), and Pasientens
måledata getting the score alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.app import start_hub
from hub.app.forms import refresh_forms
from hub.config import parse_config
from hub.api import Coding, FormSent
from tests.servers.token_server import PlainProxy

EXAMPLES = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "questionnaires"
CS = "https://oppfolging.example.no/fhir/CodeSystem/heima-innsjekk"
KOLS = "https://oppfolging.example.no/fhir/Questionnaire/kols-daglig"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
PATIENT = {"identifier": "13116900216", "display": "Kari Nordmann (test)"}
ORGANISATION = {"identifier": "974633574", "system": "org", "display": "Oppfølgingssenteret"}
FHIR_JSON = {"content-type": "application/fhir+json"}
URI = "urn:ietf:rfc:3986"
DAY = [("pust", "litt-verre"), ("hoste", "litt-mer"), ("slim", "ja"), ("slim-farge", "gult-gront"),
       ("anfallsmedisin", "ja"), ("anfallsmedisin-antall", 4), ("sovn", "nei")]


def kols() -> dict[str, Any]:
    return json.loads((EXAMPLES / "kols-daglig.json").read_text(encoding="utf-8"))


def config_for(tmp_path: Path, destinations: list[dict[str, Any]]):  # noqa: ANN201
    return parse_config({"hub": {"data_dir": str(tmp_path / "data")}, "patient": PATIENT, "organisation": ORGANISATION,
                         "destinations": destinations})


def post(server, resource: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN001
    resource = {k: v for k, v in resource.items() if k != "id"}  # the server names it
    reply = server.http.post(f"{server.base_url}/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert reply.status_code == 201, reply.text
    return reply.json()


def assign(server, canonical: str) -> dict[str, Any]:  # noqa: ANN001
    """What a centre does: the patient, and a Task asking them to answer the form."""
    found = server.resources("Patient", identifier=f"{FNR}|{PATIENT['identifier']}")
    patient = found[0] if found else post(server, {"resourceType": "Patient", "identifier": [{"system": FNR, "value": PATIENT["identifier"]}]})
    return post(server, {
        "resourceType": "Task", "status": "requested", "intent": "order", "for": {"reference": f"Patient/{patient['id']}"},
        "input": [{"type": {"text": "questionnaire"}, "valueCanonical": canonical}],
    })


async def answer_the_day(api, form_id: str) -> None:  # noqa: ANN001
    for link_id, value in DAY:
        await api.answer(form_id, link_id, Coding(value, CS) if isinstance(value, str) else value)


@pytest.fixture
def pmd_proxy(fhir_server) -> Iterator[PlainProxy]:  # noqa: ANN001
    with PlainProxy(upstream=fhir_server.base_url) as p:
        yield p


async def test_assigned_forms_are_pulled_kept_and_answered_offline_and_a_bad_new_version_keeps_the_old(tmp_path, fhir_server):
    post(fhir_server, kols())
    task = assign(fhir_server, f"{KOLS}|1.0")
    online = config_for(tmp_path, [{"name": "centre", "kind": "fhir", "url": fhir_server.base_url}])
    hub = await start_hub(online, deliver=False)
    try:
        reports = await refresh_forms(hub.questionnaires, hub.config)
        assert reports["centre"].kept == [(KOLS, "1.0")]
        [form] = await hub.api.forms_available(lang="en")
        assert (form.url, form.version, form.source, form.title) == (KOLS, "1.0", "centre", "COPD: daily check-in")
        step = await hub.api.start_form(KOLS)
        await hub.api.answer(step.form_id, "pust", Coding("mye-verre", CS))
        await hub.api.next_item(step.form_id)
    finally:
        await hub.stop()

    offline = config_for(tmp_path, [{"name": "centre", "kind": "fhir", "url": "http://127.0.0.1:9/fhir/R4"}])
    hub = await start_hub(offline, deliver=False)
    try:
        reports = await refresh_forms(hub.questionnaires, hub.config)
        assert isinstance(reports["centre"], str) and "could not be reached" in reports["centre"]
        [form] = await hub.api.forms_available()
        assert (form.url, form.form_id) == (KOLS, step.form_id)
        resumed = await hub.api.start_form(KOLS)
        assert (resumed.form_id, resumed.item.link_id, resumed.number) == (step.form_id, "hoste", 2)
        await answer_the_day(hub.api, step.form_id)
        assert (await hub.api.review_form(step.form_id)).can_submit
    finally:
        await hub.stop()

    bad = kols()
    bad["version"] = "2.0"
    bad["item"][3]["enableWhen"][0]["question"] = "finnes-ikke"
    post(fhir_server, bad)
    done = {**task, "status": "completed"}  # the centre moves the patient on to version 2.0
    assert fhir_server.http.put(f"{fhir_server.base_url}/Task/{task['id']}", json=done, headers=FHIR_JSON).status_code == 200
    assign(fhir_server, f"{KOLS}|2.0")
    hub = await start_hub(online, deliver=False)
    try:
        reports = await refresh_forms(hub.questionnaires, hub.config)
        report = reports["centre"]
        assert [r.reason for r in report.refused] == ["item 'slim-farge': enableWhen points at 'finnes-ikke', which is no item of this form"]
        assert report.kept == [] and report.kept_older == [(KOLS, "1.0")]
        assert [(f.url, f.version, f.form_id) for f in await hub.api.forms_available()] == [(KOLS, "1.0", step.form_id)]
        sent = await hub.api.submit_form(step.form_id)  # nothing half-answered was lost
        assert [v for _, v in sent.scores] == [5]
    finally:
        await hub.stop()


async def test_a_submitted_check_in_reaches_the_centre_exactly_once(tmp_path, fhir_server):
    config = config_for(tmp_path, [{"name": "centre", "kind": "fhir", "url": fhir_server.base_url}])
    hub = await start_hub(config, deliver=False)
    try:
        await hub.questionnaires.import_forms("folder", [kols()])
        told = asyncio.Event()
        hub.api.subscribe(lambda e: told.set() if isinstance(e, FormSent) else None)
        step = await hub.api.start_form(KOLS)
        await answer_the_day(hub.api, step.form_id)
        sent = await hub.api.submit_form(step.form_id)
        fhir_server.fault("drop-after-commit")  # the server stores the batch; its answer is lost
        first = (await hub.deliver_now())["centre"]
        assert first.delivered == 0
        again = await hub.api.submit_form(step.form_id)  # a second tap: the same submission
        assert again.already and again.response_id == sent.response_id
        [worker] = hub.workers
        later = worker.clock() + timedelta(hours=2)
        worker.clock = lambda: later  # the retry is due
        second = (await hub.deliver_now())["centre"]
        assert second.delivered == 2
        assert (await hub.deliver_now())["centre"].delivered == 0
        await asyncio.wait_for(told.wait(), timeout=10)  # "sent ✓" for the screens
    finally:
        await hub.stop()
    responses = fhir_server.resources("QuestionnaireResponse", identifier=f"{URI}|urn:uuid:{sent.response_id}")
    assert len(responses) == 1
    qr = responses[0]
    assert qr["status"] == "completed" and qr["questionnaire"] == f"{KOLS}|1.0"
    assert qr["subject"]["identifier"]["value"] == PATIENT["identifier"] and qr["source"] == qr["subject"]
    answered = {i["linkId"]: i["answer"] for i in qr["item"]}
    assert answered["anfallsmedisin-antall"] == [{"valueInteger": 4}] and answered["sum"] == [{"valueInteger": 5}]
    scores = [o for o in fhir_server.observations() if o["category"][0]["coding"][0]["code"] == "survey"]
    assert len(scores) == 1
    assert scores[0]["valueQuantity"]["value"] == 5
    assert scores[0]["derivedFrom"][0]["identifier"] == {"system": URI, "value": f"urn:uuid:{sent.response_id}"}


async def test_pasientens_maledata_gets_the_score_alone(tmp_path, fhir_server, pmd_proxy):
    config = config_for(tmp_path, [{"name": "pmd", "kind": "nhn-pmd", "url": pmd_proxy.fhir_base, "kommunenummer": "0301"}])
    hub = await start_hub(config, deliver=False)
    try:
        await hub.questionnaires.import_forms("folder", [kols()])
        step = await hub.api.start_form(KOLS)
        await answer_the_day(hub.api, step.form_id)
        await hub.api.submit_form(step.form_id)
        assert (await hub.deliver_now())["pmd"].delivered == 1
    finally:
        await hub.stop()
    [bundle] = [json.loads(b) for b in pmd_proxy.stats.bodies]
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Observation"]
    assert bundle["entry"][0]["resource"]["code"]["coding"][0]["code"] == "74465-6"
    assert fhir_server.resources("QuestionnaireResponse") == []
