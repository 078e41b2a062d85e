"""The patient's plan from the centre: the hub pulls its active self-care plan from the reference
FHIR server (Medplum) by the patient's logical identity, applies it without a restart, applies a
new version to new values only, and keeps the last good plan when the centre's newest is bad. Never
another patient's plan; never the identity number in a log line."""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.app.careplan import FolderPlans, refresh_plans
from hub.config import DestinationConfig, HubConfig, PatientConfig
from hub.services.careplan import CarePlanService
from hub.store import Store
from hub.store.plans import PlanStore
from sync.server_text import quiet_http_logs

FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
PATIENT, OTHER = "13116900216", "15854540030"
EXAMPLES = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "careplans"


def plan_for(identifier: str, name: str = "heart-failure") -> dict:
    doc = json.loads((EXAMPLES / f"{name}.json").read_text())
    doc.pop("id", None)
    doc.pop("meta", None)
    doc["subject"] = {"identifier": {"system": FNR_SYSTEM, "value": identifier}}
    return doc


def post(fhir_server, doc: dict) -> dict:
    reply = fhir_server.http.post(fhir_server.base_url + "/CarePlan", json=doc, headers={"content-type": "application/fhir+json"})
    assert reply.status_code == 201, reply.text
    return reply.json()


def put(fhir_server, doc: dict) -> dict:
    reply = fhir_server.http.put(f"{fhir_server.base_url}/CarePlan/{doc['id']}", json=doc, headers={"content-type": "application/fhir+json"})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_the_active_plan_is_pulled_applied_replaced_and_a_bad_one_refused(tmp_path, fhir_server, caplog):
    caplog.set_level(logging.INFO)
    quiet_http_logs()
    config = HubConfig(
        data_dir=tmp_path,
        patient=PatientConfig(identifier=PATIENT),
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )
    post(fhir_server, plan_for(OTHER, "copd"))  # another patient's plan: never this hub's
    stored = post(fhir_server, plan_for(PATIENT))
    now = [datetime(2026, 3, 2, 6, 0, tzinfo=UTC)]
    store = await Store.open(tmp_path / "heima.db", clock=lambda: now[0])
    try:
        service = CarePlanService(PlanStore(store), clock=lambda: now[0])
        folder = FolderPlans(tmp_path / "careplans")  # empty: the centre is the only source

        [outcome] = await refresh_plans(config, service, folder, pull=True)
        assert outcome.state == "applied" and outcome.reference == f"CarePlan/{stored['id']}/_history/{stored['meta']['versionId']}"
        assert service.current.plan.title == "Egenbehandlingsplan hjertesvikt" and service.current.source == "centre"
        first = service.current

        # The centre changes the plan: the new version applies from now, without a restart.
        now[0] += timedelta(hours=2)
        changed = copy.deepcopy(stored)
        changed["title"] = "Egenbehandlingsplan hjertesvikt (justert)"
        v2 = put(fhir_server, changed)
        [outcome] = await refresh_plans(config, service, folder, pull=True)
        assert outcome.state == "applied" and service.current.plan.version == v2["meta"]["versionId"]
        assert service.plan_at(now[0] - timedelta(minutes=1)) is first.plan  # values before: the first version
        [outcome] = await refresh_plans(config, service, folder, pull=True)
        assert outcome.state == "unchanged"

        # A broken version at the centre: refused, the last good plan stays.
        broken = copy.deepcopy(v2)
        broken["activity"][0]["detail"]["scheduledTiming"]["repeat"]["timeOfDay"] = ["25:00:00"]
        put(fhir_server, broken)
        now[0] += timedelta(hours=1)
        [outcome] = await refresh_plans(config, service, folder, pull=True)
        assert outcome.state == "refused" and service.current.plan.version == v2["meta"]["versionId"]
        assert len(await PlanStore(store).plans()) == 2  # the broken one was never stored
    finally:
        await store.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused" in text and PATIENT not in text and OTHER not in text


async def test_a_missed_task_reaches_the_centre_once_as_not_performed(tmp_path, fhir_server):
    from hub.app import start_hub

    config = HubConfig(
        data_dir=tmp_path / "hub",
        patient=PatientConfig(identifier=PATIENT),
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )
    (config.data_dir / "careplans").mkdir(parents=True)
    (config.data_dir / "careplans" / "plan.json").write_text(json.dumps(plan_for(PATIENT, "diabetes")))
    monday = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 06:00 in Oslo, before the day's first task
    now = [monday]
    hub = await start_hub(config, deliver=False, clock=lambda: now[0])
    try:
        assert hub.api.plan() is not None
        due = await hub.api.due_today()
        assert due and {t.state.value for t in due} == {"later"}
        now[0] = monday + timedelta(days=1)  # the whole day passed without a value
        missed = await hub.plan_clock.close_windows(now[0])
        assert {m.payload.activity for m in missed} == {t.activity for t in due}
        await hub.deliver_now()
        assert await hub.plan_clock.close_windows(now[0] + timedelta(minutes=1)) == []
        await hub.deliver_now()
    finally:
        await hub.stop()
    sent = [o for o in fhir_server.observations() if o.get("dataAbsentReason", {}).get("coding", [{}])[0].get("code") == "not-performed"]
    assert len(sent) == len(missed)
    for o in sent:
        assert o["interpretation"][0]["coding"][0]["code"] == "B" and o["basedOn"][0]["reference"].startswith("CarePlan/")
        assert o["effectivePeriod"]["start"] < o["effectivePeriod"]["end"]
