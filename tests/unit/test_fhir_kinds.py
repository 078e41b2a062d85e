"""Every measurement kind -> FHIR R4 Observation: codes, UCUM units and conversions, the blood
pressure panel and its components, glucose specimen/meal/site, temperature sites, device status
flags, and the control-solution refusal. Checked with fhir.resources (R4B models parse the R4
resources we send) and with our own assertions."""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from fhir.resources.R4B.observation import Observation
from hypothesis import given
from hypothesis import strategies as st

from drivers.gatt.glucose import GlucoseSampleType, Meal
from drivers.gatt.thermometer import TemperatureType
from hub.domain.kit import NEVER_SHARED
from hub.domain.measurements import Measurement
from hub.domain.readings import (
    AbsentReason,
    Component,
    DeviceIdentity,
    MeasurementKind,
    Provenance,
    QualityFlag,
    Reading,
)
from sync.fhir.bundles import transaction_bundle
from sync.fhir.codes import CODES, CONVERSIONS, PANEL_COMPONENTS, UnsupportedUnit, to_canonical
from sync.fhir.observations import (
    STATUS_NOTES,
    NotForDestination,
    PanelShapeError,
    not_for_destination,
    observation_for,
)
from tests.servers.samples import CTX

K = MeasurementKind
F = QualityFlag
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
MDC = "urn:iso:std:iso:11073:10101"
NPU = "urn:oid:2.16.578.1.12.4.1.1.7280"
UCUM = "http://unitsofmeasure.org"
DAR = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
STATUS = "http://hl7.org/fhir/uv/phd/CodeSystem/measurement-status"

WHEN = datetime(2025, 3, 1, 8, 30, 15, tzinfo=timezone(timedelta(hours=1)))
CUFF = DeviceIdentity(address="A0:9E:1A:00:00:01", name="BP7000", manufacturer="Omron", model="HEM-7600T", serial="20250301")


def reading(
    kind: MeasurementKind,
    value: float | None = None,
    unit: str | None = None,
    *,
    absent: AbsentReason | None = None,
    components: tuple[Component, ...] = (),
    flags: set[QualityFlag] | frozenset[QualityFlag] = frozenset(),
    body_site: str | None = None,
    context: tuple[tuple[str, str], ...] = (),
) -> Reading:
    return Reading(
        kind=kind,
        value=value,
        unit=unit if unit is not None else (CODES[kind].ucum or "mm[Hg]"),
        received_at=WHEN,
        absent_reason=absent,
        device=CUFF,
        flags=frozenset(flags),
        components=components,
        body_site=body_site,
        context=context,
    )


def measured(r: Reading, provenance: Provenance = Provenance.DEVICE) -> Measurement:
    return Measurement(uuid.uuid4(), r, provenance, WHEN, None)


def obs_of(r: Reading) -> dict:
    obs = observation_for(measured(r), CTX)
    json.dumps(obs, allow_nan=False)
    Observation.model_validate(obs)
    return obs


def codes(concept: dict, system: str) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if c["system"] == system]


def bp(systolic=(120.0, "mm[Hg]"), diastolic=(80.0, "mm[Hg]"), mean=(93.0, "mm[Hg]"), **kw) -> Reading:
    comps = []
    for kind, part in ((K.SYSTOLIC_PRESSURE, systolic), (K.DIASTOLIC_PRESSURE, diastolic), (K.MEAN_ARTERIAL_PRESSURE, mean)):
        if part is None:
            continue
        value, unit = part
        comps.append(Component(kind, value, unit) if not isinstance(value, AbsentReason) else Component(kind, None, unit, value))
    return reading(K.BLOOD_PRESSURE, components=tuple(comps), **kw)


def glucose(value=5.4, unit="mmol/L", **kw) -> Reading:
    return reading(K.BLOOD_GLUCOSE, value, unit, **kw)


# -- codes per kind ---------------------------------------------------------------------------------------

SINGLE = {
    # kind: (LOINC, SNOMED, MDC, UCUM, value)
    K.CUFF_PULSE_RATE: (["8867-4"], ["364075005"], ["149546"], "/min", 64),
    K.SYSTOLIC_PRESSURE: (["8480-6"], ["271649006"], ["150021"], "mm[Hg]", 121),
    K.DIASTOLIC_PRESSURE: (["8462-4"], ["271650006"], ["150022"], "mm[Hg]", 79),
    K.MEAN_ARTERIAL_PRESSURE: (["8478-0"], [], ["150023"], "mm[Hg]", 93),
    K.BODY_WEIGHT: (["29463-7"], ["27113001"], ["188736"], "kg", 72.35),
    K.BODY_HEIGHT: (["8302-2"], [], ["188740"], "cm", 171.5),
    K.BODY_MASS_INDEX: (["39156-5"], [], ["188752"], "kg/m2", 24.6),
    K.BODY_FAT: (["41982-0"], [], ["188748"], "%", 27.1),
    K.BLOOD_GLUCOSE: (["15074-8"], ["434912009"], [], "mmol/L", 6.3),
    K.BODY_TEMPERATURE: (["8310-5"], ["276885007"], ["150364"], "Cel", 37.2),
}


@pytest.mark.parametrize("kind", list(SINGLE))
def test_single_kind_codes_and_unit(kind):
    loinc, snomed, mdc, ucum, value = SINGLE[kind]
    obs = obs_of(reading(kind, value, ucum))
    assert codes(obs["code"], LOINC) == loinc
    assert codes(obs["code"], SCT) == snomed
    assert codes(obs["code"], MDC) == mdc
    assert obs["valueQuantity"]["value"] == value
    assert obs["valueQuantity"]["system"] == UCUM and obs["valueQuantity"]["code"] == ucum
    assert "component" not in obs and "dataAbsentReason" not in obs
    assert obs["category"][0]["coding"][0]["code"] == "vital-signs"


def test_body_weight_is_29463_7_never_the_misprint():
    every_code = {c.code for row in CODES.values() for c in row.codings}
    assert "29463-7" in every_code and "29563-7" not in every_code


def test_glucose_carries_the_npu_code():
    obs = obs_of(glucose())
    assert codes(obs["code"], NPU) == ["NPU02187"]


def test_every_kind_maps_and_parses():
    for kind in MeasurementKind:
        r = bp() if kind in PANEL_COMPONENTS else reading(kind, 1.0)
        obs = obs_of(r)
        assert obs["code"]["coding"]


# -- blood pressure panel -----------------------------------------------------------------------------


def test_blood_pressure_is_one_panel_observation_with_components():
    obs = obs_of(bp())
    assert codes(obs["code"], LOINC) == ["85354-9"]
    assert codes(obs["code"], SCT) == ["75367002"]
    assert codes(obs["code"], MDC) == ["150020"]
    assert "valueQuantity" not in obs and "dataAbsentReason" not in obs
    by_loinc = {codes(c["code"], LOINC)[0]: c for c in obs["component"]}
    assert set(by_loinc) == {"8480-6", "8462-4", "8478-0"}
    assert codes(by_loinc["8480-6"]["code"], SCT) == ["271649006"] and codes(by_loinc["8480-6"]["code"], MDC) == ["150021"]
    assert codes(by_loinc["8462-4"]["code"], SCT) == ["271650006"] and codes(by_loinc["8462-4"]["code"], MDC) == ["150022"]
    assert codes(by_loinc["8478-0"]["code"], MDC) == ["150023"]
    assert by_loinc["8480-6"]["valueQuantity"] == {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
    assert by_loinc["8462-4"]["valueQuantity"]["value"] == 80


def test_kpa_cuff_values_are_sent_in_mm_hg():
    obs = obs_of(bp(systolic=(16.0, "kPa"), diastolic=(10.7, "kPa"), mean=(12.4, "kPa")))
    values = [c["valueQuantity"] for c in obs["component"]]
    assert [v["code"] for v in values] == ["mm[Hg]"] * 3
    assert [v["value"] for v in values] == [120, 80.3, 93]  # 16.0 kPa = 120.01 mm[Hg], 0.1 mm[Hg]
    assert to_canonical(K.SYSTOLIC_PRESSURE, 1.0, "kPa") == 7.5


def test_mmhg_spelling_is_the_same_unit_unchanged():
    obs = obs_of(bp(systolic=(121.5, "mmHg")))
    assert obs["component"][0]["valueQuantity"]["value"] == 121.5


def test_a_component_without_a_value_has_its_own_absent_reason():
    obs = obs_of(bp(mean=(AbsentReason.NOT_A_NUMBER, "mm[Hg]")))
    mean = obs["component"][2]
    assert "valueQuantity" not in mean
    assert mean["dataAbsentReason"]["coding"][0] == {"system": DAR, "code": "not-a-number", "display": "Not a Number (NaN)"}
    assert "valueQuantity" in obs["component"][0]


def test_cuff_without_mean_pressure_sends_two_components():
    obs = obs_of(bp(mean=None))
    assert len(obs["component"]) == 2


@pytest.mark.parametrize(("reason", "code"), [(AbsentReason.ERROR, "error"), (AbsentReason.NOT_A_NUMBER, "not-a-number")])
def test_failed_blood_pressure_is_absent_at_the_top_and_in_systolic_and_diastolic(reason, code):
    # R4's bp profile (and VKP's) needs systolic and diastolic components even when the cuff failed
    obs = obs_of(reading(K.BLOOD_PRESSURE, None, "mm[Hg]", absent=reason))
    assert "valueQuantity" not in obs and obs["dataAbsentReason"]["coding"][0]["code"] == code
    assert [codes(c["code"], LOINC) for c in obs["component"]] == [["8480-6"], ["8462-4"]]
    assert all(c["dataAbsentReason"]["coding"][0]["code"] == code and "valueQuantity" not in c for c in obs["component"])


def test_a_panel_without_diastolic_says_it_is_unknown_never_leaves_it_out():
    obs = obs_of(bp(diastolic=None, mean=None))
    assert [codes(c["code"], LOINC) for c in obs["component"]] == [["8480-6"], ["8462-4"]]
    assert obs["component"][0]["valueQuantity"]["value"] == 120
    assert obs["component"][1]["dataAbsentReason"]["coding"][0]["code"] == "unknown"


def test_invalid_panel_drops_every_component_number():
    obs = obs_of(bp(flags={F.INVALID}))
    assert all("valueQuantity" not in c and c["dataAbsentReason"]["coding"][0]["code"] == "error" for c in obs["component"])


def test_non_finite_component_never_becomes_a_number():
    obs = obs_of(bp(systolic=(math.inf, "mm[Hg]"), diastolic=(math.nan, "kPa")))
    assert [c["dataAbsentReason"]["coding"][0]["code"] for c in obs["component"][:2]] == ["positive-infinity", "not-a-number"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: reading(K.BLOOD_PRESSURE, 120.0, "mm[Hg]"),  # a panel with a value of its own
        lambda: reading(K.BLOOD_PRESSURE, components=(Component(K.SYSTOLIC_PRESSURE, 1.0, "mm[Hg]"),) * 2),
        lambda: reading(K.BLOOD_PRESSURE, components=(Component(K.BODY_WEIGHT, 70.0, "kg"),)),
        lambda: reading(K.BODY_WEIGHT, components=(Component(K.SYSTOLIC_PRESSURE, 1.0, "mm[Hg]"),)),
    ],
)
def test_components_that_do_not_fit_are_refused(make):
    with pytest.raises(PanelShapeError):
        observation_for(measured(make()), CTX)


BP_NOTES = {
    F.BODY_MOVEMENT: "Bevegelse under målingen.",
    F.CUFF_LOOSE: "Mansjetten satt løst.",
    F.IRREGULAR_PULSE: "Uregelmessig puls under målingen.",
    F.PULSE_RATE_OUT_OF_RANGE: "Pulsen var utenfor apparatets grenser.",
    F.IMPROPER_POSITION: "Feil målestilling (mansjetten var ikke riktig plassert).",
}


@pytest.mark.parametrize("flag", list(BP_NOTES))
def test_cuff_status_keeps_the_values_and_says_so(flag):
    obs = obs_of(bp(flags={flag}))
    assert [c["valueQuantity"]["value"] for c in obs["component"]] == [120, 80, 93]
    assert [i["coding"][0] for i in obs["interpretation"]] == [{"system": STATUS, "code": "questionable", "display": "Questionable"}]
    assert obs["note"] == [{"text": BP_NOTES[flag]}]
    assert obs["status"] == "final"


def test_cuff_status_on_the_pulse_rate_keeps_its_value():
    obs = obs_of(reading(K.CUFF_PULSE_RATE, 131.0, "/min", flags={F.PULSE_RATE_OUT_OF_RANGE, F.IRREGULAR_PULSE}))
    assert obs["valueQuantity"]["value"] == 131
    assert [n["text"] for n in obs["note"]] == [BP_NOTES[F.IRREGULAR_PULSE], BP_NOTES[F.PULSE_RATE_OUT_OF_RANGE]]


def test_every_status_flag_has_a_note_in_bokmal():
    noted = {flag for flag, _ in STATUS_NOTES}
    device_status = set(BP_NOTES) | {
        F.SAMPLE_TOO_SMALL, F.STRIP_ERROR, F.RESULT_TOO_HIGH, F.RESULT_TOO_LOW, F.TEMPERATURE_OUT_OF_RANGE,
        F.READ_INTERRUPTED, F.DEVICE_FAULT, F.DEVICE_TIME_FAULT, F.BATTERY_LOW, F.HUB_CLOCK_UNTRUSTED,
    }  # fmt: skip
    assert device_status <= noted


def test_battery_low_is_noted_but_not_questionable():
    obs = obs_of(reading(K.BODY_WEIGHT, 80.0, "kg", flags={F.BATTERY_LOW}))
    assert "interpretation" not in obs
    assert obs["note"] == [{"text": "Lavt batteri i måleapparatet."}]


# -- weight and body composition --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [K.BODY_WEIGHT, K.BODY_FAT, K.BODY_MASS_INDEX, K.BODY_HEIGHT])
def test_unsuccessful_measurement_is_absent_with_error(kind):
    obs = obs_of(reading(kind, None, absent=AbsentReason.UNSUCCESSFUL))
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"] == [{"system": DAR, "code": "error", "display": "Error"}]


@pytest.mark.parametrize(
    ("kind", "value", "unit", "expected"),
    [
        (K.BODY_HEIGHT, 1.13, "m", 113),  # not 112.99999999999999
        (K.BODY_HEIGHT, 1.755, "m", 175.5),
        (K.BODY_HEIGHT, 1712.0, "mm", 171.2),
        (K.BODY_HEIGHT, 70.0, "[in_i]", 177.8),
        (K.BODY_WEIGHT, 165.0, "[lb_av]", 74.843),
        (K.BODY_WEIGHT, 72350.0, "g", 72.35),
        (K.BLOOD_GLUCOSE, 108.0, "mg/dL", 5.99),
        (K.BLOOD_GLUCOSE, 0.00108, "kg/L", 5.99),  # the GATT Glucose Measurement unit
        (K.BLOOD_GLUCOSE, 0.0054, "mol/L", 5.4),
        (K.BODY_TEMPERATURE, 98.6, "[degF]", 37),
        (K.BODY_TEMPERATURE, 310.15, "K", 37),
        (K.CUFF_PULSE_RATE, 64.0, "{beats}/min", 64),
    ],
)
def test_values_are_converted_to_the_kinds_ucum_unit(kind, value, unit, expected):
    q = obs_of(reading(kind, value, unit))["valueQuantity"]
    assert q["value"] == expected
    assert q["code"] == CODES[kind].ucum


def test_a_value_already_in_ucum_is_never_rounded():
    assert obs_of(reading(K.BODY_WEIGHT, 72.3456, "kg"))["valueQuantity"]["value"] == 72.3456


@pytest.mark.parametrize(("kind", "unit"), [(K.BLOOD_GLUCOSE, "mg"), (K.BODY_WEIGHT, "st"), (K.BODY_TEMPERATURE, "Far"), (K.BODY_FAT, "1")])
def test_an_unknown_unit_is_refused_never_relabelled(kind, unit):
    with pytest.raises(UnsupportedUnit):
        observation_for(measured(reading(kind, 5.0, unit)), CTX)


def test_an_absent_value_needs_no_unit():
    obs = obs_of(reading(K.BLOOD_GLUCOSE, None, "whatever", absent=AbsentReason.ERROR))
    assert obs["dataAbsentReason"]["coding"][0]["code"] == "error"


# -- glucose ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specimen", "mdc"),
    [
        ("capillary-whole-blood", "160184"),
        ("capillary-plasma", "160188"),
        ("CAPILLARY_PLASMA", "160188"),  # a driver's enum name
        ("venous-plasma", "160196"),
        ("undetermined-whole-blood", "160364"),
    ],
)
def test_glucose_mdc_follows_the_specimen(specimen, mdc):
    obs = obs_of(glucose(context=(("specimen", specimen),)))
    assert codes(obs["code"], MDC) == [mdc]
    assert codes(obs["code"], LOINC) == ["15074-8"] and codes(obs["code"], NPU) == ["NPU02187"]


def test_glucose_without_specimen_has_no_guessed_mdc():
    assert codes(obs_of(glucose())["code"], MDC) == []


def test_interstitial_fluid_is_not_coded_as_blood():
    obs = obs_of(glucose(context=(("specimen", "interstitial-fluid"),)))
    assert codes(obs["code"], MDC) == ["160212"]
    assert codes(obs["code"], LOINC) == [] and codes(obs["code"], NPU) == []


MEAL_CASES = [
    ("preprandial", "8417868", ["307165006"], "Før måltid"),
    ("postprandial", "8417872", ["24863003"], "Etter måltid"),
    ("fasting", "8417876", ["16985007"], "Fastende"),
    ("casual", "8417880", [], "Uavhengig av måltid"),
    ("bedtime", "8417908", ["307155000"], "Ved sengetid"),
]


@pytest.mark.parametrize(("meal", "mdc", "snomed", "text"), MEAL_CASES)
def test_glucose_meal_context_is_a_component(meal, mdc, snomed, text):
    obs = obs_of(glucose(context=(("meal", meal), ("specimen", "capillary-plasma"))))
    [component] = obs["component"]
    assert codes(component["code"], MDC) == ["8417864"]
    assert codes(component["valueCodeableConcept"], MDC) == [mdc]
    assert codes(component["valueCodeableConcept"], SCT) == snomed
    assert component["valueCodeableConcept"]["text"] == text
    assert "valueQuantity" not in component
    assert obs["valueQuantity"]["value"] == 5.4  # the glucose value stays at the top


def test_an_unknown_meal_word_travels_as_text():
    [component] = obs_of(glucose(context=(("meal", "after the walk"),)))["component"]
    assert component["valueCodeableConcept"] == {"text": "after the walk"}


def test_no_meal_context_no_component():
    assert "component" not in obs_of(glucose(context=(("meal", "not-available"),)))


@pytest.mark.parametrize(
    ("site", "mdc", "snomed"),
    [("finger", "8417848", ["7569003"]), ("alternate-site-test", "8417852", []), ("EARLOBE", "8417856", ["48800003"])],
)
def test_glucose_sample_site_is_the_body_site(site, mdc, snomed):
    for r in (glucose(context=(("site", site),)), glucose(body_site=site)):
        obs = obs_of(r)
        assert codes(obs["bodySite"], MDC) == [mdc]
        assert codes(obs["bodySite"], SCT) == snomed
        assert obs["bodySite"]["text"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: glucose(flags={F.CONTROL_SOLUTION}),
        lambda: glucose(context=(("specimen", "control-solution"),)),
        lambda: glucose(context=(("site", "control_solution"),)),
        lambda: reading(K.BODY_WEIGHT, 70.0, flags={F.CONTROL_SOLUTION}),  # whatever the kind
    ],
)
def test_a_control_solution_result_is_never_sent_as_the_patients(make):
    m = measured(make())
    assert not_for_destination(m)
    with pytest.raises(NotForDestination, match="control-solution"):
        observation_for(m, CTX)
    with pytest.raises(NotForDestination):  # nor inside a bundle: filter before queuing
        transaction_bundle([m], CTX)


def test_a_patient_glucose_is_for_destinations():
    assert not_for_destination(measured(glucose(context=(("specimen", "capillary-whole-blood"),)))) is None


@pytest.mark.parametrize(
    ("flag", "comparator", "code", "display"),
    [(F.RESULT_TOO_HIGH, ">", ">", "Off scale high"), (F.RESULT_TOO_LOW, "<", "<", "Off scale low")],
)
def test_off_scale_result_keeps_the_device_number_as_a_limit(flag, comparator, code, display):
    obs = obs_of(glucose(33.3 if flag is F.RESULT_TOO_HIGH else 1.1, flags={flag}))
    q = obs["valueQuantity"]
    assert q["comparator"] == comparator and q["value"] in (33.3, 1.1) and q["code"] == "mmol/L"
    assert {"system": V3, "code": code, "display": display} in [i["coding"][0] for i in obs["interpretation"]]
    assert obs["note"][0]["text"].startswith(("Høyere", "Lavere"))


def test_off_scale_result_without_a_number_stays_absent():
    obs = obs_of(glucose(math.inf, flags={F.RESULT_TOO_HIGH}))
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"][0]["code"] == "positive-infinity"
    assert obs["interpretation"][-1]["coding"][0]["code"] == ">"


@pytest.mark.parametrize(
    "flag", [F.SAMPLE_TOO_SMALL, F.STRIP_ERROR, F.TEMPERATURE_OUT_OF_RANGE, F.READ_INTERRUPTED, F.DEVICE_FAULT, F.DEVICE_TIME_FAULT]
)
def test_glucose_sensor_status_keeps_the_value_questionable_with_a_note(flag):
    obs = obs_of(glucose(flags={flag}))
    assert obs["valueQuantity"]["value"] == 5.4
    assert [i["coding"][0]["code"] for i in obs["interpretation"]] == ["questionable"]
    assert obs["note"] == [{"text": dict(STATUS_NOTES)[flag]}]


# -- body temperature ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("site", "mdc", "snomed"),
    [
        ("armpit", "188452", "91470000"),
        ("axilla", "188452", "91470000"),
        ("ear", "188428", "117590005"),
        ("tympanum", "150392", "42859004"),
        ("tympanic", "150392", "42859004"),
        ("mouth", "188424", "74262004"),
        ("oral", "188424", "74262004"),
        ("rectum", "188420", "34402009"),
        ("finger", "188432", "7569003"),
        ("toe", "188448", "29707007"),
        ("gastrointestinal_tract", "188456", "122865005"),
    ],
)
def test_temperature_site_codes(site, mdc, snomed):
    obs = obs_of(reading(K.BODY_TEMPERATURE, 37.4, "Cel", body_site=site))
    assert codes(obs["code"], MDC) == [mdc]  # the site's own term replaces MDC_TEMP_BODY
    assert codes(obs["code"], LOINC) == ["8310-5"] and codes(obs["code"], SCT) == ["276885007"]
    assert codes(obs["bodySite"], SCT) == [snomed]
    assert obs["bodySite"]["text"]


@pytest.mark.parametrize(
    "word",
    # the thermometer driver's words, and every GATT Temperature Type / Glucose enum name
    ["armpit", "ear", "finger", "gastro-intestinal", "mouth", "rectum", "toe", "tympanum"]
    + [t.name for t in TemperatureType if t is not TemperatureType.BODY],
)
def test_every_thermometer_site_word_is_coded(word):
    obs = obs_of(reading(K.BODY_TEMPERATURE, 37.0, "Cel", body_site=word))
    assert codes(obs["code"], MDC) != ["150364"]
    assert codes(obs["bodySite"], SCT)


def test_every_gatt_glucose_word_is_coded():
    for sample in GlucoseSampleType:
        word = sample.name.lower().replace("_", "-")
        m = measured(glucose(context=(("specimen", word),)))
        if sample is GlucoseSampleType.CONTROL_SOLUTION:
            assert not_for_destination(m)
        else:
            assert codes(obs_of(m.reading)["code"], MDC), word
    for meal in Meal:
        [component] = obs_of(glucose(context=(("meal", meal.name.lower()),)))["component"]
        assert codes(component["valueCodeableConcept"], MDC), meal


def test_temperature_body_general_has_no_body_site():
    obs = obs_of(reading(K.BODY_TEMPERATURE, 37.0, "Cel", body_site="body"))
    assert codes(obs["code"], MDC) == ["150364"] and "bodySite" not in obs


def test_unknown_temperature_site_keeps_the_devices_words():
    obs = obs_of(reading(K.BODY_TEMPERATURE, 36.1, "Cel", body_site="forehead"))
    assert codes(obs["code"], MDC) == ["150364"]
    assert obs["bodySite"] == {"text": "forehead"}


# -- hypothesis: panels and single values ---------------------------------------------------------------------

PRESSURE_UNITS = ["mm[Hg]", *CONVERSIONS[K.SYSTOLIC_PRESSURE]]
any_flags = st.frozensets(st.sampled_from([f for f in QualityFlag if f not in NEVER_SHARED]), max_size=5)
numbers = st.floats(allow_nan=True, allow_infinity=True, width=32)


@st.composite
def components(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(PANEL_COMPONENTS[K.BLOOD_PRESSURE])), unique=True, max_size=3))
    out = []
    for kind in kinds:
        unit = draw(st.sampled_from(PRESSURE_UNITS))
        absent = draw(st.one_of(st.none(), st.sampled_from(list(AbsentReason))))
        out.append(Component(kind, None if absent else draw(numbers), unit, absent))
    return tuple(out)


@given(components(), any_flags, st.sampled_from(list(AbsentReason)))
def test_panel_invariants(comps, flags, panel_absent):
    r = reading(K.BLOOD_PRESSURE, components=comps, flags=flags, absent=None if comps else panel_absent)
    obs = obs_of(r)
    assert "valueQuantity" not in obs  # a panel never has a top-level value
    sent = {c.kind for c in comps}
    required = [k for k in (K.SYSTOLIC_PRESSURE, K.DIASTOLIC_PRESSURE) if k not in sent]
    assert len(obs["component"]) == len(comps) + len(required)  # systolic and diastolic always there
    for kind, entry in zip(required, obs["component"][len(comps) :], strict=True):
        assert codes(entry["code"], LOINC) == codes(CODES[kind].code(), LOINC) and "valueQuantity" not in entry
        assert "dataAbsentReason" in entry
    if not comps:
        assert "dataAbsentReason" in obs
    for comp, entry in zip(comps, obs["component"][: len(comps)], strict=True):
        has_value = "valueQuantity" in entry
        assert has_value != ("dataAbsentReason" in entry)
        if comp.absent_reason is not None or flags & {F.INVALID, F.UNAVAILABLE}:
            assert not has_value
        if has_value:
            q = entry["valueQuantity"]
            assert (q["system"], q["code"], q["unit"]) == (UCUM, "mm[Hg]", "mmHg")
            assert math.isfinite(q["value"]) and "comparator" not in q
            assert q["value"] == pytest.approx(to_canonical(comp.kind, comp.value, comp.unit))
        assert codes(entry["code"], LOINC) == codes(CODES[comp.kind].code(), LOINC)


single_kinds = [k for k in MeasurementKind if k not in PANEL_COMPONENTS]


@st.composite
def single_values(draw):
    kind = draw(st.sampled_from(single_kinds))
    unit = draw(st.sampled_from([CODES[kind].ucum, *CONVERSIONS.get(kind, {})]))
    absent = draw(st.one_of(st.none(), st.sampled_from(list(AbsentReason))))
    words = st.sampled_from(["finger", "earlobe", "ast", "mouth", "ear", "tympanum", "body", "", "nowhere", "capillary-plasma", "isf", "venous_whole_blood"])
    context = draw(st.lists(st.tuples(st.sampled_from(["meal", "specimen", "site", "position"]), st.one_of(words, st.sampled_from(["fasting", "bedtime", "preprandial", "snack"]))), max_size=3))
    return reading(
        kind, None if absent else draw(numbers), unit, absent=absent, flags=draw(any_flags),
        body_site=draw(st.one_of(st.none(), words)), context=tuple(context),
    )  # fmt: skip


@given(single_values())
def test_single_value_invariants(r):
    obs = obs_of(r)
    has_value = "valueQuantity" in obs
    assert has_value != ("dataAbsentReason" in obs)
    if r.absent_reason is not None or r.flags & {F.INVALID, F.UNAVAILABLE}:
        assert not has_value
    if has_value:
        q = obs["valueQuantity"]
        assert (q["system"], q["code"]) == (UCUM, CODES[r.kind].ucum)
        assert math.isfinite(q["value"])
        assert q["value"] == pytest.approx(to_canonical(r.kind, r.value, r.unit))
    for entry in obs.get("component", []):  # only a glucose meal context: coded, never a quantity
        assert "valueQuantity" not in entry and "valueCodeableConcept" in entry
