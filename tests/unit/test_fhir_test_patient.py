"""Who the data is about when no real patient is: the demo sends as a synthetic test person and
everything about a synthetic person is labelled HTEST; a hub with no patient configured invents
nobody, and its folder bundles say that no patient is set."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.app import demo_config, fhir_context
from hub.config import HubConfig, PatientConfig
from sync.destinations.directory import NO_PATIENT_TAG, DirectoryDestination
from sync.fhir.context import SYNTHETIC_TEST_PATIENT, FhirContext, PatientRef, is_synthetic_fnr
from sync.fhir.observations import observation_for
from tests.servers.samples import CTX, measurement

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
HTEST = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST", "display": "test health data"}


def mod11_valid(number: str) -> bool:
    """The fødselsnummer's two check digits (Skatteetaten's weights)."""
    digits = [int(d) for d in number]
    for weights, at in (((3, 7, 6, 1, 8, 9, 4, 5, 2), 9), ((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), 10)):
        check = (11 - sum(w * d for w, d in zip(weights, digits, strict=False)) % 11) % 11
        if check == 10 or check != digits[at]:
            return False
    return True


def test_the_test_patient_is_a_valid_synthetic_fodselsnummer():
    number = SYNTHETIC_TEST_PATIENT.identifier
    assert number is not None and len(number) == 11 and mod11_valid(number)
    assert 81 <= int(number[2:4]) <= 92  # Skatteetaten's synthetic numbers: month + 80
    assert SYNTHETIC_TEST_PATIENT.identifier_system == FNR and SYNTHETIC_TEST_PATIENT.synthetic


@pytest.mark.parametrize(("number", "synthetic"), [("15854540030", True), ("13116900216", False), ("1585454003", False), (None, False)])
def test_synthetic_numbers_are_told_by_their_month(number, synthetic):
    assert is_synthetic_fnr(number) is synthetic


def test_data_about_a_synthetic_person_is_htest_a_real_patients_is_not():
    test = observation_for(measurement(), replace(CTX, patient=SYNTHETIC_TEST_PATIENT))
    assert test["meta"]["security"] == [HTEST]
    assert test["subject"]["identifier"] == {"system": FNR, "value": "15854540030"}
    assert "meta" not in observation_for(measurement(), CTX)


def test_a_hub_with_no_patient_configured_never_puts_real_readings_on_the_test_person():
    ctx = fhir_context(HubConfig())  # the embedded defaults: a folder, no patient
    obs = observation_for(measurement(), ctx)
    assert "subject" not in obs and "meta" not in obs  # no subject invented, not labelled test data
    folder = DirectoryDestination("local-folder", "/nonexistent", ctx=ctx)
    assert NO_PATIENT_TAG in folder.bundle([measurement()])["meta"]["tag"]  # the bundle says so


def test_the_demo_is_about_the_test_patient_even_when_a_real_one_is_configured():
    real = HubConfig(patient=PatientConfig(identifier="13116900216", display="Kari Nordmann", device_users=(("S1", 2),)))
    assert fhir_context(real).patient == PatientRef(identifier="13116900216", display="Kari Nordmann")
    demo = demo_config(real)
    assert demo.patient.device_users == (("S1", 2),)
    obs = observation_for(measurement(), fhir_context(demo))
    assert obs["subject"]["identifier"]["value"] == SYNTHETIC_TEST_PATIENT.identifier
    assert obs["meta"]["security"] == [HTEST]
    assert isinstance(fhir_context(demo), FhirContext)
