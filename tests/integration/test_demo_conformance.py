"""`make demo` with the embedded defaults: what it writes to its bundle folder is about the
synthetic test patient, labelled test data, and passes Medplum's validator (R4, vital signs, VKP)
with zero errors — the demo is the first FHIR a centre sees from Heima."""

from __future__ import annotations

import dataclasses
import json

from hub.app import run_demo
from hub.config import HubConfig
from sync.fhir.context import SYNTHETIC_TEST_PATIENT
from tests.servers.fhir_validator import items_for, validate

HTEST = ("http://terminology.hl7.org/CodeSystem/v3-ActReason", "HTEST")


async def test_the_demo_sends_valid_observations_about_the_synthetic_test_patient(tmp_path):
    config = dataclasses.replace(HubConfig(), data_dir=tmp_path / "heima-data")
    assert await run_demo(config, say=lambda _: None) == 0
    bundles = [json.loads(f.read_text(encoding="utf-8")) for f in sorted((config.data_dir / "bundles").iterdir())]
    observations = [e["resource"] for b in bundles for e in b["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == 2  # SpO2 and pulse
    for obs in observations:
        assert obs["subject"]["identifier"]["value"] == SYNTHETIC_TEST_PATIENT.identifier
        assert [(s["system"], s["code"]) for s in obs["meta"]["security"]] == [HTEST]
    report = validate(item for i, b in enumerate(bundles) for item in items_for(f"demo-bundle-{i}", b))
    assert [f"{r.name} [{r.profile}] {e}" for r in report for e in r.errors] == []
    assert any(r.profile.endswith("/oxygensat") for r in report)
