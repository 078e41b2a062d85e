"""Code systems and code tables: what every MeasurementKind is called in FHIR.

Every kind carries all the codings that apply (LOINC, SNOMED CT, ISO/IEEE 11073 MDC) and its UCUM
unit, as listed in docs (shared/reference/fhir.md). Adding a MeasurementKind means adding a row
here; `codes_for` refuses a kind without one rather than sending an uncoded Observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from hub.domain.readings import AbsentReason, MeasurementKind

# -- code systems and identifier systems ---------------------------------------------------------

LOINC = "http://loinc.org"
SNOMED_CT = "http://snomed.info/sct"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_OBSERVATION_CATEGORY = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# PHD IG 1.x measurement status (the 11073 Measurement-Status bits as interpretation codes).
MEASUREMENT_STATUS = "http://hl7.org/fhir/uv/phd/CodeSystem/measurement-status"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CONTINUA_DEVICE_IDENTIFIERS = "http://hl7.org/fhir/uv/phd/CodeSystem/ContinuaDeviceIdentifiers"

URI_IDENTIFIER = "urn:ietf:rfc:3986"  # identifier.system for a urn:uuid: value
BLUETOOTH_MAC = "http://hl7.org/fhir/sid/eui-48/bluetooth"
EUI64_SYSTEM_ID = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
ORGANISATION_NUMBER = "urn:oid:2.16.578.1.12.4.1.4.101"
RESH_ID = "urn:oid:2.16.578.1.12.4.1.4.102"

GATEWAY_DEVICE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str
    display: str | None = None

    def to_fhir(self) -> dict[str, Any]:
        coding = {"system": self.system, "code": self.code}
        if self.display:
            coding["display"] = self.display
        return coding


@dataclass(frozen=True, slots=True)
class KindCodes:
    """How one kind of measurement is coded and measured."""

    text: str  # Observation.code.text
    codings: tuple[Coding, ...]
    ucum: str  # the UCUM code of valueQuantity
    unit: str  # the human-readable unit of valueQuantity
    category: str = "vital-signs"

    def code(self) -> dict[str, Any]:
        return {"coding": [c.to_fhir() for c in self.codings], "text": self.text}


CODES: Mapping[MeasurementKind, KindCodes] = MappingProxyType(
    {
        MeasurementKind.OXYGEN_SATURATION: KindCodes(
            text="Oxygen saturation (SpO2)",
            codings=(
                Coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
                Coding(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
                Coding(SNOMED_CT, "431314004", "Peripheral oxygen saturation"),
                Coding(MDC, "150456", "MDC_PULS_OXIM_SAT_O2"),
            ),
            ucum="%",
            unit="%",
        ),
        MeasurementKind.PULSE_RATE: KindCodes(
            text="Pulse rate",
            codings=(
                Coding(LOINC, "8867-4", "Heart rate"),
                Coding(SNOMED_CT, "364075005", "Heart rate"),
                Coding(MDC, "149530", "MDC_PULS_OXIM_PULS_RATE"),
            ),
            ucum="/min",
            unit="beats/minute",
        ),
    }
)


class UnmappedKind(ValueError):
    """A MeasurementKind with no row in the code table: add one before sending it anywhere."""


def codes_for(kind: MeasurementKind) -> KindCodes:
    try:
        return CODES[kind]
    except KeyError:
        raise UnmappedKind(
            f"no FHIR codes for measurement kind {str(kind)!r}; add a row to sync/fhir/codes.py"
        ) from None


# -- categories, reasons, statuses -------------------------------------------------------------------


def category(code: str) -> dict[str, Any]:
    display = {"vital-signs": "Vital Signs", "survey": "Survey", "laboratory": "Laboratory"}.get(code)
    return {"coding": [Coding(OBSERVATION_CATEGORY, code, display).to_fhir()]}


PHD_CATEGORY: dict[str, Any] = {
    "coding": [Coding(PHD_OBSERVATION_CATEGORY, "phd", "PHD generated Observation").to_fhir()]
}

# AbsentReason -> http://terminology.hl7.org/CodeSystem/data-absent-reason (R4 4.0.1 codes: the
# IEEE special values are children of `error`; R4 spells NaN "not-a-number", STU3 spelt it "NaN").
# NRes ("not at this resolution") and the reserved SFLOAT value have no code of their own: the
# device sent a value it could not represent, i.e. an error.
DATA_ABSENT: Mapping[AbsentReason, Coding] = MappingProxyType(
    {
        AbsentReason.NOT_A_NUMBER: Coding(DATA_ABSENT_REASON, "not-a-number", "Not a Number (NaN)"),
        AbsentReason.POSITIVE_INFINITY: Coding(DATA_ABSENT_REASON, "positive-infinity", "Positive Infinity (PINF)"),
        AbsentReason.NEGATIVE_INFINITY: Coding(DATA_ABSENT_REASON, "negative-infinity", "Negative Infinity (NINF)"),
        AbsentReason.NOT_AT_THIS_RESOLUTION: Coding(DATA_ABSENT_REASON, "error", "Error"),
        AbsentReason.RESERVED: Coding(DATA_ABSENT_REASON, "error", "Error"),
        AbsentReason.ERROR: Coding(DATA_ABSENT_REASON, "error", "Error"),
        AbsentReason.UNSUCCESSFUL: Coding(DATA_ABSENT_REASON, "error", "Error"),
    }
)
ABSENT_ERROR = Coding(DATA_ABSENT_REASON, "error", "Error")
ABSENT_UNKNOWN = Coding(DATA_ABSENT_REASON, "unknown", "Unknown")

QUESTIONABLE = Coding(MEASUREMENT_STATUS, "questionable", "Questionable")
EARLY_INDICATION = Coding(MEASUREMENT_STATUS, "early-indication", "Early indication")
MEASUREMENT_ONGOING = Coding(MEASUREMENT_STATUS, "msmt-ongoing", "Measurement ongoing")
CALIBRATION_ONGOING = Coding(MEASUREMENT_STATUS, "calibration-ongoing", "Calibration ongoing")
VALIDATED = Coding(MEASUREMENT_STATUS, "validated-data", "Validated data")

HTEST = Coding(ACT_REASON, "HTEST", "test health data")

# Device types (MDC): a personal health device (simple MDS) and a gateway (AHD).
MDS_SIMPLE = Coding(MDC, "65573", "MDC_MOC_VMS_MDS_SIMP")
MDS_GATEWAY = Coding(MDC, "531981", "MDC_MOC_VMS_MDS_AHD")
FIRMWARE_REVISION = Coding(MDC, "531976", "MDC_ID_PROD_SPEC_FW")
SOFTWARE_REVISION = Coding(MDC, "531975", "MDC_ID_PROD_SPEC_SW")
SYSID = Coding(CONTINUA_DEVICE_IDENTIFIERS, "SYSID", "IEEE 11073 System Identifier")
BTMAC = Coding(CONTINUA_DEVICE_IDENTIFIERS, "BTMAC", "Bluetooth MAC address")
