"""Measurement -> Observation and DeviceIdentity -> Device, checked with fhir.resources (R4B models
parse the R4 resources we send) and with our own assertions on codes, units and absent values."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.kit import NEVER_SHARED
from hub.domain.measurements import Measurement
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, Provenance, QualityFlag, Reading
from sync.fhir.codes import CODES, PANEL_COMPONENTS, UnmappedKind, codes_for
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from sync.fhir.devices import bluetooth_address, device_for, device_key, hub_device_for, identifier_query, system_id
from sync.fhir.observations import observation_for
from tests.servers.samples import CTX, OXIMETER, WHEN, measurement

DAR = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def codings(obs: dict, system: str) -> list[str]:
    return [c["code"] for c in obs["code"]["coding"] if c["system"] == system]


def test_spo2_observation_codes_units_identifier():
    m = measurement(MeasurementKind.OXYGEN_SATURATION, 97.0)
    obs = observation_for(m, CTX)
    Observation.model_validate(obs)
    assert codings(obs, "http://loinc.org") == ["2708-6", "59408-5"]
    assert codings(obs, "http://snomed.info/sct") == ["431314004"]
    assert codings(obs, "urn:iso:std:iso:11073:10101") == ["150456"]
    assert obs["valueQuantity"] == {"value": 97, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
    assert obs["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{m.id}"}]
    assert obs["status"] == "final"
    assert obs["effectiveDateTime"] == "2025-03-01T08:30:15+01:00"
    categories = {(c["coding"][0]["system"], c["coding"][0]["code"]) for c in obs["category"]}
    assert ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs") in categories
    assert ("http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories", "phd") in categories
    assert "dataAbsentReason" not in obs and "meta" not in obs and "note" not in obs


def test_pulse_rate_observation():
    obs = observation_for(measurement(MeasurementKind.PULSE_RATE, 72.5), CTX)
    Observation.model_validate(obs)
    assert codings(obs, "http://loinc.org") == ["8867-4"]
    assert codings(obs, "http://snomed.info/sct") == ["364075005"]
    assert codings(obs, "urn:iso:std:iso:11073:10101") == ["149530"]
    assert obs["valueQuantity"]["code"] == "/min" and obs["valueQuantity"]["value"] == 72.5


def test_subject_performer_device_and_gateway_are_logical_references():
    obs = observation_for(measurement(), CTX)
    assert obs["subject"] == {
        "type": "Patient",
        "identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "13116900216"},
        "display": "Kari Nordmann (test)",
    }
    assert obs["performer"][0]["identifier"] == {"system": "urn:oid:2.16.578.1.12.4.1.4.101", "value": "974633574"}
    assert obs["device"]["identifier"] == {"system": "http://hl7.org/fhir/sid/eui-48/bluetooth", "value": "00-1C-05-FF-E8-74"}
    [gateway] = obs["extension"]
    assert gateway["url"] == "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
    assert gateway["valueReference"]["identifier"]["value"] == "HEIMA-TEST-0001"


def test_literal_references_when_given():
    obs = observation_for(
        measurement(), CTX, device_reference={"reference": "urn:uuid:a"}, gateway_reference={"reference": "urn:uuid:b"}
    )
    assert obs["device"] == {"reference": "urn:uuid:a"}
    assert obs["extension"][0]["valueReference"] == {"reference": "urn:uuid:b"}


def test_unknown_patient_has_no_subject_and_still_parses():
    ctx = FhirContext(patient=PatientRef(), hub=HubIdentity("H"))
    obs = observation_for(measurement(), ctx)
    Observation.model_validate(obs)
    assert "subject" not in obs and "performer" not in obs


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (AbsentReason.NOT_A_NUMBER, "not-a-number"),
        (AbsentReason.POSITIVE_INFINITY, "positive-infinity"),
        (AbsentReason.NEGATIVE_INFINITY, "negative-infinity"),
        (AbsentReason.NOT_AT_THIS_RESOLUTION, "error"),
        (AbsentReason.RESERVED, "error"),
        (AbsentReason.ERROR, "error"),
        (AbsentReason.UNSUCCESSFUL, "error"),
    ],
)
def test_absent_reason_codes(reason, code):
    obs = observation_for(measurement(absent=reason), CTX)
    Observation.model_validate(obs)
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"] == [
        {"system": DAR, "code": code, "display": obs["dataAbsentReason"]["coding"][0]["display"]}
    ]


def test_every_absent_reason_is_mapped():
    for reason in AbsentReason:
        obs = observation_for(measurement(absent=reason), CTX)
        assert obs["dataAbsentReason"]["coding"][0]["system"] == DAR


def test_invalid_flag_drops_the_number():
    obs = observation_for(measurement(value=2047.0, flags={QualityFlag.INVALID}), CTX)
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"][0]["code"] == "error"


def test_unavailable_flag_drops_the_number():
    obs = observation_for(measurement(value=50.0, flags={QualityFlag.UNAVAILABLE}), CTX)
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"][0]["code"] == "unknown"


@pytest.mark.parametrize(("value", "code"), [(math.nan, "not-a-number"), (math.inf, "positive-infinity"), (-math.inf, "negative-infinity")])
def test_non_finite_value_never_becomes_a_number(value, code):
    obs = observation_for(measurement(value=value), CTX)
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"][0]["code"] == code
    json.dumps(obs, allow_nan=False)  # strict JSON: would raise on NaN/Infinity


def test_early_estimate_is_preliminary_with_interpretation():
    obs = observation_for(measurement(flags={QualityFlag.EARLY_ESTIMATE}), CTX)
    Observation.model_validate(obs)
    assert obs["status"] == "preliminary"
    assert obs["interpretation"] == [
        {"coding": [{"system": "http://hl7.org/fhir/uv/phd/CodeSystem/measurement-status", "code": "early-indication", "display": "Early indication"}]}
    ]


@pytest.mark.parametrize("flag", [QualityFlag.QUESTIONABLE, QualityFlag.TIME_QUESTIONABLE, QualityFlag.SENSOR_PROBLEM])
def test_questionable_interpretation(flag):
    obs = observation_for(measurement(flags={flag}), CTX)
    assert obs["status"] == "final"
    assert [i["coding"][0]["code"] for i in obs["interpretation"]] == ["questionable"]
    assert "valueQuantity" in obs


def test_time_questionable_gets_a_note():
    obs = observation_for(measurement(flags={QualityFlag.TIME_QUESTIONABLE}), CTX)
    assert any("tidspunkt" in n["text"].lower() for n in obs["note"])


@pytest.mark.parametrize("flag", [QualityFlag.DEMO_DATA, QualityFlag.TESTING_DATA])
def test_test_and_demo_data_are_htest(flag):
    obs = observation_for(measurement(flags={flag}), CTX)
    assert obs["meta"]["security"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST", "display": "test health data"}
    ]


def test_manual_entry_has_note_and_no_device():
    obs = observation_for(measurement(provenance=Provenance.MANUAL), CTX)
    Observation.model_validate(obs)
    assert "device" not in obs
    assert obs["note"][0]["text"].startswith("Manuelt registrert")


def test_manual_entry_with_device_identity_still_has_no_device():
    reading = Reading(MeasurementKind.PULSE_RATE, 70.0, "/min", WHEN, device=OXIMETER)
    m = Measurement(uuid.uuid4(), reading, Provenance.MANUAL, WHEN, None)
    assert "device" not in observation_for(m, CTX)


def test_effective_time_keeps_its_offset_and_milliseconds():
    utc = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert observation_for(measurement(when=utc), CTX)["effectiveDateTime"] == "2025-06-01T12:00:00.123+00:00"
    summer = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert observation_for(measurement(when=summer), CTX)["effectiveDateTime"] == "2025-06-01T14:00:00+02:00"


def test_every_kind_has_codes_and_an_unmapped_kind_is_refused():
    for kind in MeasurementKind:
        assert codes_for(kind).codings
    assert set(CODES) == set(MeasurementKind)
    with pytest.raises(UnmappedKind):
        codes_for("no-such-kind")  # type: ignore[arg-type]


# -- hypothesis: the absent/value rule for any reading -------------------------------------------------

# A control-solution result is never mapped (NotForDestination, tests/unit/test_fhir_kinds.py).
flags_st = st.frozensets(st.sampled_from([f for f in QualityFlag if f not in NEVER_SHARED]), max_size=4)
values_st = st.floats(allow_nan=True, allow_infinity=True, width=32)
# Single-valued kinds, in their own UCUM unit (panels: tests/unit/test_fhir_kinds.py).
single_kinds = [k for k in MeasurementKind if k not in PANEL_COMPONENTS]


@st.composite
def measurements(draw):
    kind = draw(st.sampled_from(single_kinds))
    absent = draw(st.one_of(st.none(), st.sampled_from(list(AbsentReason))))
    value = None if absent else draw(values_st)
    provenance = draw(st.sampled_from(list(Provenance)))
    offset = draw(st.integers(min_value=-12 * 60, max_value=14 * 60))
    when = datetime(2025, 1, 1, tzinfo=timezone(timedelta(minutes=offset))) + timedelta(seconds=draw(st.integers(0, 10**8)))
    unit = CODES[kind].ucum
    reading = Reading(kind, value, unit, when, absent_reason=absent, device=OXIMETER, flags=draw(flags_st))
    return Measurement(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))), reading, provenance, when, None)


@given(measurements())
def test_value_xor_data_absent_reason(m):
    obs = observation_for(m, CTX)
    has_value = "valueQuantity" in obs
    assert has_value != ("dataAbsentReason" in obs)
    if m.reading.absent_reason is not None or m.reading.value is None:
        assert not has_value
    if has_value:
        assert math.isfinite(obs["valueQuantity"]["value"])
        assert QualityFlag.INVALID not in m.reading.flags
    elif m.reading.value is not None and math.isfinite(m.reading.value):
        assert m.reading.flags & {QualityFlag.INVALID, QualityFlag.UNAVAILABLE}
    json.dumps(obs, allow_nan=False)
    Observation.model_validate(obs)


@given(st.floats(allow_nan=False, allow_infinity=False, width=32), flags_st.filter(lambda f: not f & {QualityFlag.INVALID, QualityFlag.UNAVAILABLE}))
def test_any_plain_value_yields_exactly_one_quantity(value, flags):
    obs = observation_for(measurement(value=value, flags=flags), CTX)
    assert obs["valueQuantity"]["value"] == value
    assert "dataAbsentReason" not in obs


# -- devices -------------------------------------------------------------------------------------------------


def test_device_identifiers_follow_the_phd_ig():
    device = device_for(OXIMETER)
    Device.model_validate(device)
    ids = {i["system"]: i for i in device["identifier"]}
    assert ids["http://hl7.org/fhir/sid/eui-48/bluetooth"]["value"] == "00-1C-05-FF-E8-74"
    assert ids["http://hl7.org/fhir/sid/eui-48/bluetooth"]["type"]["coding"][0]["code"] == "BTMAC"
    assert ids["urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"]["value"] == "74-E8-FF-FE-FF-05-1C-00"
    assert ids["urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"]["type"]["coding"][0]["code"] == "SYSID"
    assert device["serialNumber"] == "501900083"
    assert device["manufacturer"] == "Nonin Medical, Inc."
    assert device["modelNumber"] == "3230"
    assert device["version"][0]["value"] == "r2.1"


def test_minimal_device_parses():
    device = device_for(DeviceIdentity(address="AA-BB-CC-DD-EE-FF"))
    Device.model_validate(device)
    assert device["identifier"] == [
        {
            "type": {"coding": [{"system": "http://hl7.org/fhir/uv/phd/CodeSystem/ContinuaDeviceIdentifiers", "code": "BTMAC", "display": "Bluetooth MAC address"}]},
            "system": "http://hl7.org/fhir/sid/eui-48/bluetooth",
            "value": "AA-BB-CC-DD-EE-FF",
        }
    ]


def test_device_without_a_mac_gets_a_stable_key():
    apple = DeviceIdentity(address="6F3E1C9A-2B4D-4E5F-8A9B-0C1D2E3F4A5B")
    system, value = device_key(apple)
    assert system == "urn:ietf:rfc:3986" and value.startswith("urn:uuid:")
    assert device_key(apple) == (system, value)
    Device.model_validate(device_for(apple))
    with_sysid = DeviceIdentity(address="6F3E1C9A-2B4D-4E5F-8A9B-0C1D2E3F4A5B", system_id="0011223344556677")
    assert device_key(with_sysid) == ("urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680", "00-11-22-33-44-55-66-77")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF"), ("AABBCCDDEEFF", "AA-BB-CC-DD-EE-FF"), ("aa-bb-cc-dd-ee-ff", "AA-BB-CC-DD-EE-FF"), ("zz:bb:cc:dd:ee:ff", None), ("aa:bb", None), (None, None)],
)
def test_bluetooth_address_format(raw, expected):
    assert bluetooth_address(raw) == expected


def test_system_id_format():
    assert system_id("74e8fffeff051c00") == "74-E8-FF-FE-FF-05-1C-00"
    assert system_id("74e8") is None


def test_hub_device():
    hub = HubIdentity(serial="HEIMA 7|a,b", name="Stua", system_id="0123456789abcdef", software_version="0.1.0")
    device = hub_device_for(hub)
    Device.model_validate(device)
    assert device["type"]["coding"][0]["code"] == "531981"
    assert device["serialNumber"] == "HEIMA 7|a,b"
    assert {"system": "urn:heima:hub-serial", "value": "HEIMA 7|a,b"} in device["identifier"]


def test_identifier_query_escapes_search_syntax():
    assert identifier_query("urn:ietf:rfc:3986", "urn:uuid:1") == "identifier=urn:ietf:rfc:3986|urn:uuid:1"
    assert identifier_query("urn:heima:hub-serial", "A 7|a,b&c") == "identifier=urn:heima:hub-serial|A%207%5C%7Ca%5C%2Cb%26c"
