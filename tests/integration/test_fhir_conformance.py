"""What Heima sends passes a validator nobody here wrote: Medplum's `validateResource` (from
@medplum/core, installed with the reference server) against R4 base, the R4 vital-signs profiles
and the VKP v0.9.0 Observation profiles — every kind of resource, from the real mappers
(tests/servers/fhir_corpus.py). Zero errors; every warning is one docs/fhir-conformance.md lists.
The validator is shown to be live: a deliberately broken copy fails every profile that applies.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from tests.servers.fhir_corpus import resources
from tests.servers.fhir_profiles import SD, VITALSIGNS, VKP_OBSERVATION, applicable, profiles, snapshot
from tests.servers.fhir_validator import Item, Result, items_for, validate

DOC = Path(__file__).resolve().parents[2] / "docs" / "fhir-conformance.md"
VKP = "http://hl7.no/fhir/StructureDefinition/vkp-Observation-"
# Every profile Heima's Observations fall under (R4 has resprate, headcircum and vitalspanel too:
# Heima measures none of them).
EXPECTED_PROFILES = {
    VITALSIGNS,
    *(SD + n for n in ("oxygensat", "heartrate", "bp", "bodyweight", "bodyheight", "bmi", "bodytemp")),
    VKP_OBSERVATION,
    "http://ehelse.no/fhir/StructureDefinition/vkp-Observation-Bloodpressure-v090",
    *(VKP + n + "-v090" for n in ("Oxygensat", "Heartrate", "Bodyweight", "Bodytemp")),
}


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, dict]]:
    return resources()


@pytest.fixture(scope="module")
def report(corpus) -> list[Result]:
    return validate(item for name, resource in corpus for item in items_for(name, resource))


def _message(issue: str) -> str:
    """An issue without its path and with bundle-local ids left out, as the doc lists it."""
    message = issue.split(": ", 1)[1]
    return re.sub(r"urn:uuid:[0-9a-f-]{36}", "urn:uuid:…", message)


def test_the_corpus_holds_every_kind_of_resource_heima_emits(corpus):
    kinds = {r["resourceType"] for _, r in corpus}
    assert kinds == {"Observation", "Device", "Bundle", "DetectedIssue"}  # DetectedIssue: a confirmed red's alert
    bundles = {name: r["type"] for name, r in corpus if r["resourceType"] == "Bundle"}
    assert bundles == {"Bundle/transaction": "transaction", "Bundle/batch": "batch", "Bundle/nhn-pmd": "batch"}
    observations = [r for _, r in corpus if r["resourceType"] == "Observation"]
    assert any("valueSampledData" in o for o in observations)  # continuous oximetry chunks
    assert any(o.get("meta", {}).get("security") for o in observations)  # HTEST
    assert any("note" in o and "device" not in o for o in observations)  # manual entry
    panels = [o for o in observations if "component" in o and "dataAbsentReason" in o]
    assert panels  # a blood pressure that failed as a whole
    # Values judged by the example self-care plans: zone and triage, every level's typed range (a
    # blood pressure's on its components), and missed tasks (not performed, triage blue, the window).
    evaluated = [o for name, o in corpus if name.startswith("Observation/evaluated-")]
    assert evaluated and all(any(c["system"].endswith("vkp-triage-v090") for c in o["interpretation"][0]["coding"]) for o in evaluated)
    assert any("referenceRange" in o for o in evaluated)
    assert any("referenceRange" in c for o in evaluated for c in o.get("component", []))
    missed = [o for name, o in corpus if name.startswith("Observation/missed-")]
    assert missed and all(o["dataAbsentReason"]["coding"][0]["code"] == "not-performed" and "effectivePeriod" in o for o in missed)


def test_everything_heima_sends_passes_r4_vital_signs_and_vkp_with_zero_errors(report):
    errors = [f"{r.name} [{r.profile}] {e}" for r in report for e in r.errors]
    assert errors == []


def test_every_profile_heima_falls_under_was_applied(report):
    applied = {r.profile for r in report} - {"base"}
    assert applied == EXPECTED_PROFILES
    assert all(url in profiles() for url in applied)


def test_every_warning_is_listed_in_the_conformance_doc(report):
    listed = DOC.read_text(encoding="utf-8")
    unlisted = sorted({_message(w) for r in report for w in r.warnings} - {m for m in (_message(w) for r in report for w in r.warnings) if m in listed})
    assert unlisted == []


def _first(corpus, name: str) -> dict:
    return copy.deepcopy(next(r for n, r in corpus if n == name))


def test_the_validator_is_live_a_broken_copy_fails_every_profile_that_applies(corpus):
    """Without a subject, an Observation is still R4 (subject is 0..1) but meets no vital-signs
    or VKP profile (1..1): each profile must say so, so each one is really applied."""
    samples = ["Observation/plx-spo2", "Observation/plx-pulse", "Observation/bp-panel", "Observation/weight",
               "Observation/height", "Observation/bmi", "Observation/temperature-mouth", "Observation/glucose-site-None"]
    items = []
    for name in samples:
        broken = _first(corpus, name)
        del broken["subject"]
        items.append(Item(name, broken, tuple(applicable(broken))))
    report = validate(items)
    assert {r.profile for r in report} - {"base"} == EXPECTED_PROFILES
    for r in report:
        if r.profile == "base":
            assert r.errors == (), r
        else:
            assert any("subject" in e for e in r.errors), (r.name, r.profile)


def test_the_validator_catches_what_each_vital_sign_profile_forbids(corpus):
    spo2_without_2708 = _first(corpus, "Observation/plx-spo2")
    spo2_without_2708["code"]["coding"] = [c for c in spo2_without_2708["code"]["coding"] if c["code"] != "2708-6"]
    bp_without_diastolic = _first(corpus, "Observation/bp-panel")
    bp_without_diastolic["component"] = [c for c in bp_without_diastolic["component"] if c["code"]["coding"][0]["code"] != "8462-4"]
    pulse_without_8867 = _first(corpus, "Observation/plx-pulse")
    pulse_without_8867["code"]["coding"] = [c for c in pulse_without_8867["code"]["coding"] if c["code"] != "8867-4"]
    temperature_without_8310 = _first(corpus, "Observation/temperature-mouth")
    temperature_without_8310["code"]["coding"] = [c for c in temperature_without_8310["code"]["coding"] if c["code"] != "8310-5"]
    cases = {
        "spo2-without-2708-6": (spo2_without_2708, SD + "oxygensat", "OxygenSatCode"),
        "bp-without-diastolic": (bp_without_diastolic, SD + "bp", "DiastolicBP"),
        "vkp-bp-without-diastolic": (bp_without_diastolic, "http://ehelse.no/fhir/StructureDefinition/vkp-Observation-Bloodpressure-v090", "DiastolicBP"),
        "pulse-without-8867-4": (pulse_without_8867, SD + "heartrate", "HeartRateCode"),
        "temperature-without-8310-5": (temperature_without_8310, SD + "bodytemp", "BodyTempCode"),
    }
    report = validate(Item(name, resource, (profile,)) for name, (resource, profile, _) in cases.items())
    by = {(r.name, r.profile): r for r in report}
    for name, (_, profile, word) in cases.items():
        assert any(word in e for e in by[name, profile].errors), (name, by[name, profile])


def test_the_validator_catches_base_r4_errors_in_devices_and_bundles(corpus):
    device = _first(corpus, "Device/hub")
    device["identifier"] = device["identifier"][0]  # one Identifier where R4 has a list
    bundle = _first(corpus, "Bundle/nhn-pmd")
    bundle["type"] = "parcel"
    observation = _first(corpus, "Observation/plx-spo2")
    observation["effectiveDateTime"] = "yesterday"
    report = validate([Item("device", device), Item("bundle", bundle), Item("observation", observation)])
    assert all(r.errors for r in report), report


# -- the snapshot merge (VKP ships differentials only) -------------------------------------------


def test_snapshot_adds_a_slice_after_the_base_slices_with_its_children_from_the_data_type():
    base = profiles()[SD + "oxygensat"]
    profile = {
        "url": "urn:test",
        "differential": {
            "element": [
                {"id": "Observation.code.coding", "path": "Observation.code.coding", "min": 1},
                {"id": "Observation.code.coding:SCT", "path": "Observation.code.coding", "sliceName": "SCT"},
                {"id": "Observation.code.coding:SCT.code", "path": "Observation.code.coding.code", "patternCode": "431314004"},
                {"id": "Observation.subject.identifier", "path": "Observation.subject.identifier", "min": 1},
            ]
        },
    }
    ids = [e["id"] for e in snapshot(profile, base)["snapshot"]["element"]]
    elements = {e["id"]: e for e in snapshot(profile, base)["snapshot"]["element"]}
    assert elements["Observation.code.coding"]["min"] == 1 and "slicing" in elements["Observation.code.coding"]
    sct = ids.index("Observation.code.coding:SCT")
    assert ids.index("Observation.code.coding:OxygenSatCode.code") < sct < ids.index("Observation.code.coding:SCT.code")
    assert elements["Observation.code.coding:SCT"]["sliceName"] == "SCT" and "slicing" not in elements["Observation.code.coding:SCT"]
    code = elements["Observation.code.coding:SCT.code"]
    assert code["path"] == "Observation.code.coding.code" and code["patternCode"] == "431314004" and code["type"] == [{"code": "code"}]
    identifier = elements["Observation.subject.identifier"]
    assert identifier["min"] == 1 and identifier["type"][0]["code"] == "Identifier"
    assert ids.index("Observation.subject") < ids.index("Observation.subject.identifier") < ids.index("Observation.focus")
    assert len(ids) == len(set(ids)) == len(base["snapshot"]["element"]) + 3
