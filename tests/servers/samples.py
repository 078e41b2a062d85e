"""Sample measurements and a FHIR context for the FHIR mapping and destination tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hub.domain.measurements import Measurement
from hub.domain.readings import (
    AbsentReason,
    DeviceIdentity,
    MeasurementKind,
    Provenance,
    QualityFlag,
    Reading,
)
from sync.fhir.context import FhirContext, HubIdentity, OrganisationRef, PatientRef

OSLO_WINTER = timezone(timedelta(hours=1))
WHEN = datetime(2025, 3, 1, 8, 30, 15, tzinfo=OSLO_WINTER)

OXIMETER = DeviceIdentity(
    address="00:1c:05:ff:e8:74",
    name="Nonin3230_501900083",
    manufacturer="Nonin Medical, Inc.",
    model="3230",
    serial="501900083",
    firmware="r2.1",
    system_id="74e8fffeff051c00",
)
OTHER_OXIMETER = DeviceIdentity(address="C0:FF:EE:00:00:01", name="PO60")

CTX = FhirContext(
    patient=PatientRef(identifier="13116900216", display="Kari Nordmann (test)"),
    hub=HubIdentity(serial="HEIMA-TEST-0001", name="Heima test hub"),
    organisation=OrganisationRef(identifier="974633574", display="Oppfølgingssenteret (test)"),
)


def measurement(
    kind: MeasurementKind = MeasurementKind.OXYGEN_SATURATION,
    value: float | None = 97.0,
    *,
    absent: AbsentReason | None = None,
    device: DeviceIdentity | None = OXIMETER,
    flags: frozenset[QualityFlag] | set[QualityFlag] = frozenset(),
    provenance: Provenance = Provenance.DEVICE,
    when: datetime = WHEN,
    id: uuid.UUID | None = None,
) -> Measurement:
    unit = {"oxygen-saturation": "%", "pulse-rate": "/min"}[kind.value]
    reading = Reading(
        kind=kind,
        value=None if absent is not None else value,
        unit=unit,
        received_at=when,
        absent_reason=absent,
        device=device if provenance is Provenance.DEVICE else None,
        flags=frozenset(flags),
    )
    return Measurement(
        id=id or uuid.uuid4(), reading=reading, provenance=provenance, effective_time=when, natural_key=None
    )


def batch(n: int = 3, device: DeviceIdentity = OXIMETER) -> list[Measurement]:
    """n measurements alternating SpO2 and pulse rate, one second apart."""
    out = []
    for i in range(n):
        kind = MeasurementKind.OXYGEN_SATURATION if i % 2 == 0 else MeasurementKind.PULSE_RATE
        value = 95.0 + i if kind is MeasurementKind.OXYGEN_SATURATION else 60.0 + i
        out.append(measurement(kind, value, device=device, when=WHEN + timedelta(seconds=i)))
    return out
