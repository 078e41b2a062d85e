"""A value's evaluation against the plan is decided when it is recorded, stored with it, shown by
hub.api, and only read when it is mapped for a destination — with the same FHIR as the send-time
zone hook produced before (tests/fixtures/evaluation/apply_zone_before.json was written by that
code, from the same inputs)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from hub.api import HubApi
from hub.domain.evaluation import Evaluation
from hub.domain.readings import MeasurementKind
from hub.services.evaluation import NoEvaluation
from hub.services.events import EventBus
from hub.services.measurements import MeasurementService
from hub.store import Store
from sync.fhir.pmd import pmd_bundle
from tests.servers.samples import CTX, measurement

from .factories import T0, spo2

BEFORE = json.loads((Path(__file__).parents[2] / "fixtures" / "evaluation" / "apply_zone_before.json").read_text())
LATER = T0 + timedelta(days=1)
RANGES = (("N", 94, None, "grønn"), ("L", 90, 93.9, "gul"), ("LL", None, 89.9, "rød"))
LOW = Evaluation.legacy("L", "Low", RANGES, advice="Mål igjen om 15 minutter")


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "heima.db", clock=lambda: T0)
    yield s
    await s.close()


class Zones:
    """A plan with zones for SpO2 (what the care-plan work will provide), counting its calls."""

    history_limit = 3

    def __init__(self) -> None:
        self.calls: list[tuple[float | None, list[float | None]]] = []

    def evaluate(self, m, history):  # noqa: ANN001, ANN201
        self.calls.append((m.reading.value, [h.reading.value for h in history]))
        if m.reading.kind is not MeasurementKind.OXYGEN_SATURATION or m.reading.value is None:
            return None
        return LOW if m.reading.value < 94 else Evaluation.legacy("N", "Normal", RANGES)


@pytest.mark.parametrize("case", sorted(BEFORE))
async def test_the_stored_evaluation_maps_to_what_the_send_time_zone_hook_produced(store, case):
    given = BEFORE[case]
    zone = Evaluation.legacy(given["zone"]["level"], given["zone"]["display"], tuple(tuple(r) for r in given["zone"]["ranges"]))
    m = measurement(MeasurementKind(given["measurement"]["kind"]), given["measurement"]["value"], id=uuid.UUID(given["measurement"]["id"]))
    await store.record(replace(m, evaluation=zone), ["kommune"])
    due = await store.due("kommune", limit=10, now=LATER.replace(year=2100))
    obs = pmd_bundle(due, CTX, kommunenummer="0301")["entry"][0]["resource"]
    assert obs == given["observation"]


async def test_the_evaluation_is_decided_when_recorded_stored_and_shown(store):
    plan = Zones()
    events = EventBus()
    service = MeasurementService(store, destinations_for=lambda kind: ("kommune",), local_zone=UTC, events=events, evaluator=plan)
    api = HubApi(measurements=service, queries=store, events=events, local_zone=UTC, clock=lambda: LATER)
    first = (await service.record_reading(spo2(97, received_at=T0))).measurement
    low = (await service.record_reading(spo2(92, received_at=T0 + timedelta(minutes=1)))).measurement
    assert plan.calls == [(97, []), (92, [97])]  # decided once each, with the history the plan asked for
    assert first.evaluation.observation_interpretation == "N" and low.evaluation == LOW

    [view] = [v for v in await api.recent() if v.id == str(low.id)]
    assert view.evaluation == LOW  # the patient sees the zone and the advice
    assert (await api.measurement(str(low.id))).evaluation == LOW

    # Sending only reads it: whatever the plan says later, the nurse gets what the patient saw.
    plan.evaluate = lambda m, history: pytest.fail("evaluated again at send time")
    due = await store.due("kommune", limit=10, now=LATER.replace(year=2100))
    assert [o.payload.evaluation for o in due] == [first.evaluation, LOW]
    [_, sent] = pmd_bundle(due, CTX, kommunenummer="0301")["entry"]
    assert sent["resource"]["interpretation"][0]["coding"][0]["code"] == "L"
    assert [r["text"] for r in sent["resource"]["referenceRange"]] == ["grønn", "gul", "rød"]


async def test_without_a_plan_nothing_is_evaluated_and_nothing_is_added(store):
    service = MeasurementService(store, destinations_for=lambda kind: ("kommune",), local_zone=UTC)
    assert isinstance(service.evaluator, NoEvaluation)
    m = (await service.record_reading(spo2(92, received_at=T0))).measurement
    assert m.evaluation is None
    assert store.db.execute("SELECT count(*) FROM evaluations").fetchone()[0] == 0
    [due] = await store.due("kommune", limit=10, now=LATER.replace(year=2100))
    obs = pmd_bundle([due], CTX, kommunenummer="0301")["entry"][0]["resource"]
    assert "referenceRange" not in obs and all(
        c["system"] != "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
        for i in obs.get("interpretation", [])
        for c in i["coding"]
    )
