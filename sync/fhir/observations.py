"""Measurement -> FHIR R4 Observation (plain JSON), after the PHD IG and the VKP profiles.

Rules that matter for patient safety:
- a reading without a value, or one the device marked invalid/unavailable, or a non-finite
  number, becomes `dataAbsentReason` — never a number;
- doubt travels with the value: early estimates are `preliminary`, and questionable values,
  questionable times, ongoing measurements etc. carry a measurement-status `interpretation`;
- test and demo data are labelled HTEST in `meta.security`;
- a manually entered value has a `note` saying so and no `device`.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from hub.domain.measurements import Measurement
from hub.domain.readings import AbsentReason, Provenance, QualityFlag
from sync.fhir.codes import (
    ABSENT_ERROR,
    ABSENT_UNKNOWN,
    CALIBRATION_ONGOING,
    DATA_ABSENT,
    EARLY_INDICATION,
    GATEWAY_DEVICE_EXTENSION,
    HTEST,
    MEASUREMENT_ONGOING,
    PHD_CATEGORY,
    QUESTIONABLE,
    UCUM,
    URI_IDENTIFIER,
    VALIDATED,
    Coding,
    category,
    codes_for,
)
from sync.fhir.context import FhirContext
from sync.fhir.devices import device_reference as logical_device_reference
from sync.fhir.devices import hub_reference

MANUAL_NOTE = "Manuelt registrert (ikke overført fra måleapparat)."
TIME_QUESTIONABLE_NOTE = "Usikkert tidspunkt: målingen kunne ikke plasseres sikkert i tid (apparatets klokke)."
SENSOR_PROBLEM_NOTE = "Måleapparatet meldte feil ved sensoren under målingen."

_PRELIMINARY = {QualityFlag.EARLY_ESTIMATE, QualityFlag.MEASUREMENT_ONGOING}
_TEST_DATA = {QualityFlag.DEMO_DATA, QualityFlag.TESTING_DATA}
_QUESTIONABLE = {QualityFlag.QUESTIONABLE, QualityFlag.TIME_QUESTIONABLE, QualityFlag.SENSOR_PROBLEM}


def fhir_datetime(moment: datetime) -> str:
    """An R4 dateTime with its offset; milliseconds only when there are any."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an Observation time must be timezone-aware")
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


def fhir_decimal(value: float) -> int | float:
    """The number as JSON will carry it: integral values without a trailing `.0`."""
    return int(value) if float(value).is_integer() else value


def absent_reason(measurement: Measurement) -> Coding | None:
    """Why this measurement carries no number, or None when it carries one."""
    reading = measurement.reading
    if reading.absent_reason is not None:
        return DATA_ABSENT[reading.absent_reason]
    if QualityFlag.INVALID in reading.flags:
        return ABSENT_ERROR
    if QualityFlag.UNAVAILABLE in reading.flags:
        return ABSENT_UNKNOWN
    value = reading.value
    if value is None:  # pragma: no cover - a Reading forbids it
        return ABSENT_ERROR
    if math.isnan(value):
        return DATA_ABSENT[AbsentReason.NOT_A_NUMBER]
    if math.isinf(value):
        return DATA_ABSENT[AbsentReason.POSITIVE_INFINITY if value > 0 else AbsentReason.NEGATIVE_INFINITY]
    return None


def interpretations(measurement: Measurement) -> list[Coding]:
    flags = measurement.reading.flags
    found: list[Coding] = []
    if flags & _QUESTIONABLE:
        found.append(QUESTIONABLE)
    if QualityFlag.EARLY_ESTIMATE in flags:
        found.append(EARLY_INDICATION)
    if QualityFlag.MEASUREMENT_ONGOING in flags:
        found.append(MEASUREMENT_ONGOING)
    if QualityFlag.CALIBRATION_ONGOING in flags:
        found.append(CALIBRATION_ONGOING)
    if QualityFlag.VALIDATED in flags and not flags & _QUESTIONABLE:
        found.append(VALIDATED)
    return found


def observation_for(
    measurement: Measurement,
    ctx: FhirContext,
    *,
    device_reference: dict[str, Any] | None = None,
    gateway_reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Observation for one measurement.

    `device_reference` / `gateway_reference` replace the default logical references (by
    identifier) to the sensor and hub Devices, e.g. with `urn:uuid:` references inside a bundle.
    """
    reading = measurement.reading
    codes = codes_for(reading.kind)
    flags = reading.flags

    obs: dict[str, Any] = {"resourceType": "Observation"}
    if flags & _TEST_DATA:
        obs["meta"] = {"security": [HTEST.to_fhir()]}
    obs["extension"] = [
        {"url": GATEWAY_DEVICE_EXTENSION, "valueReference": gateway_reference or hub_reference(ctx.hub)}
    ]
    obs["identifier"] = [{"system": URI_IDENTIFIER, "value": measurement.urn}]
    obs["status"] = "preliminary" if flags & _PRELIMINARY else "final"
    obs["category"] = [category(codes.category), PHD_CATEGORY]
    obs["code"] = codes.code()
    subject = ctx.patient.to_reference()
    if subject:
        obs["subject"] = subject
    obs["effectiveDateTime"] = fhir_datetime(measurement.effective_time)
    if ctx.organisation is not None:
        obs["performer"] = [ctx.organisation.to_reference()]

    missing = absent_reason(measurement)
    if missing is None:
        assert reading.value is not None
        obs["valueQuantity"] = {
            "value": fhir_decimal(reading.value),
            "unit": codes.unit,
            "system": UCUM,
            "code": codes.ucum,
        }
    else:
        obs["dataAbsentReason"] = {"coding": [missing.to_fhir()]}

    found = interpretations(measurement)
    if found:
        obs["interpretation"] = [{"coding": [c.to_fhir()]} for c in found]

    notes = []
    if measurement.provenance is Provenance.MANUAL:
        notes.append(MANUAL_NOTE)
    if QualityFlag.TIME_QUESTIONABLE in flags:
        notes.append(TIME_QUESTIONABLE_NOTE)
    if QualityFlag.SENSOR_PROBLEM in flags:
        notes.append(SENSOR_PROBLEM_NOTE)
    if notes:
        obs["note"] = [{"text": text} for text in notes]

    if measurement.provenance is Provenance.DEVICE and reading.device is not None:
        obs["device"] = device_reference or logical_device_reference(reading.device)
    return obs
