"""The code systems and extension URLs a Heima self-care plan is written in.

A centre writes these into the CarePlan JSON (docs/care-plan-format.md lists them all); the hub
reads them back here. Nothing in this module reads a clock or a file.
"""

from __future__ import annotations

from types import MappingProxyType

from hub.domain.readings import MeasurementKind

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# VKP CarePlan category: 2 = egenbehandlingsplan (self-care plan).
VKP_CAREPLAN_CATEGORY = "http://ehelse.no/fhir/CodeSystem/vkp-careplan-category-v090"
SELF_CARE_PLAN = "2"
# HL7 Norway's zone levels (the "Planer" draft): green / yellow / red.
ZONE_SYSTEM = "http://hl7.no/fhir/ig/planer-hacking/CodeSystem/planer-hacking-observation-severity-zone-cs"
# VKP triage: R, O, Y, G, B (blue = missed), BL, NR. The URL follows the VKP category's pattern
# (inferred: only the name vkp-triage-v090 is published in what we read).
VKP_TRIAGE = "http://ehelse.no/fhir/CodeSystem/vkp-triage-v090"
OBSERVATION_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

# Time zone of a Timing (IANA name): the R4 extension registry's tz-code, or the later "timezone".
TZ_EXTENSIONS = (
    "http://hl7.org/fhir/StructureDefinition/tz-code",
    "http://hl7.org/fhir/StructureDefinition/timezone",
)

# Heima's own extensions (a logical URI namespace, like the project's other urn:heima: names).
EXT_ZONE = "urn:heima:careplan:zone"
EXT_BASELINE = "urn:heima:careplan:baseline"
EXT_DEFAULT_LEVEL = "urn:heima:careplan:default-level"
EXT_REMEASURE_WAIT = "urn:heima:careplan:remeasure-wait"
EXT_CONFIRM_WITHIN = "urn:heima:careplan:confirm-within"
EXT_TASK_WINDOW = "urn:heima:careplan:task-window"
EXT_PAUSE = "urn:heima:careplan:pause"

# What a measurement activity's LOINC code means on the hub: the kinds it covers. A pulse in the
# plan covers the oximeter's pulse and the cuff's.
KINDS_BY_LOINC: MappingProxyType[str, frozenset[MeasurementKind]] = MappingProxyType(
    {
        "2708-6": frozenset({MeasurementKind.OXYGEN_SATURATION}),
        "59408-5": frozenset({MeasurementKind.OXYGEN_SATURATION}),
        "8867-4": frozenset({MeasurementKind.PULSE_RATE, MeasurementKind.CUFF_PULSE_RATE}),
        "85354-9": frozenset({MeasurementKind.BLOOD_PRESSURE}),
        "29463-7": frozenset({MeasurementKind.BODY_WEIGHT}),
        "15074-8": frozenset({MeasurementKind.BLOOD_GLUCOSE}),
        "8310-5": frozenset({MeasurementKind.BODY_TEMPERATURE}),
    }
)

# The blood-pressure panel's components a zone may name.
COMPONENT_BY_LOINC: MappingProxyType[str, MeasurementKind] = MappingProxyType(
    {
        "8480-6": MeasurementKind.SYSTOLIC_PRESSURE,
        "8462-4": MeasurementKind.DIASTOLIC_PRESSURE,
        "8478-0": MeasurementKind.MEAN_ARTERIAL_PRESSURE,
    }
)
LOINC_BY_COMPONENT = MappingProxyType({v: k for k, v in COMPONENT_BY_LOINC.items()})

# The UCUM unit the hub judges each kind in (what the drivers deliver).
CANONICAL_UNIT: MappingProxyType[MeasurementKind, str] = MappingProxyType(
    {
        MeasurementKind.OXYGEN_SATURATION: "%",
        MeasurementKind.PULSE_RATE: "/min",
        MeasurementKind.CUFF_PULSE_RATE: "/min",
        MeasurementKind.BLOOD_PRESSURE: "mm[Hg]",
        MeasurementKind.SYSTOLIC_PRESSURE: "mm[Hg]",
        MeasurementKind.DIASTOLIC_PRESSURE: "mm[Hg]",
        MeasurementKind.MEAN_ARTERIAL_PRESSURE: "mm[Hg]",
        MeasurementKind.BODY_WEIGHT: "kg",
        MeasurementKind.BLOOD_GLUCOSE: "mmol/L",
        MeasurementKind.BODY_TEMPERATURE: "Cel",
    }
)

# Zone level -> VKP triage code.
TRIAGE_BY_LEVEL = MappingProxyType({"green": "G", "yellow": "Y", "red": "R"})
MISSED_TRIAGE = "B"
# The nurse's words for the levels (bokmål), used as display and referenceRange.text.
LEVEL_TEXT = MappingProxyType({"green": "grønn", "yellow": "gul", "red": "rød"})
