"""Who the data is about, which hub sent it and who follows it up: what mapping needs besides
the measurement itself. Built once from the hub's configuration and passed to every mapping call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hub.domain.identifiers import InvalidNationalId, parse_national_id
from sync.fhir.codes import FNR, ORGANISATION_NUMBER

DEFAULT_HUB_SERIAL_SYSTEM = "urn:heima:hub-serial"  # our own namespace for hub serial numbers


@lru_cache(maxsize=64)  # asked for every Observation, about the same patient
def is_synthetic_fnr(value: str | None) -> bool:
    """A synthetic test number (Skatteetaten's Tenor: month + 80; NAV's Dolly: month + 40), valid
    mod 11. No real person has one, so data about it is test data."""
    if not value:
        return False
    try:
        return parse_national_id(value).synthetic
    except InvalidNationalId:
        return False


@dataclass(frozen=True, slots=True)
class PatientRef:
    """The patient, as VKP wants it: a logical reference by national identifier (FNR or
    D-number), or a literal `reference` ("Patient/123") when a destination has given us one."""

    identifier: str | None = None
    identifier_system: str = FNR
    display: str | None = None
    reference: str | None = None

    def to_reference(self) -> dict[str, Any] | None:
        ref: dict[str, Any] = {}
        if self.reference:
            ref["reference"] = self.reference
        if self.identifier:
            ref["type"] = "Patient"
            ref["identifier"] = {"system": self.identifier_system, "value": self.identifier}
        if self.display:
            ref["display"] = self.display
        return ref or None

    @property
    def synthetic(self) -> bool:
        """A synthetic test person: everything about them is test data (HTEST)."""
        return self.identifier_system == FNR and is_synthetic_fnr(self.identifier)


# The demo's patient (its data is emulated, whoever is configured): a synthetic fødselsnummer
# (15 May 1945, month + 80; valid mod 11) that can never name a real person.
SYNTHETIC_TEST_PATIENT = PatientRef(identifier="15854540030", display="Testpasient (syntetisk)")


@dataclass(frozen=True, slots=True)
class HubIdentity:
    """The hub itself: the gateway (PHD IG "PHG") that relays every measurement."""

    serial: str
    name: str | None = None
    serial_system: str = DEFAULT_HUB_SERIAL_SYSTEM
    system_id: str | None = None  # EUI-64 as 16 hex digits, when the hub has one
    manufacturer: str | None = None
    model: str | None = None
    software_version: str | None = None


@dataclass(frozen=True, slots=True)
class OrganisationRef:
    """The organisation responsible for the follow-up (Observation.performer)."""

    identifier: str
    identifier_system: str = ORGANISATION_NUMBER  # or RESH_ID
    display: str | None = None

    def to_reference(self) -> dict[str, Any]:
        ref: dict[str, Any] = {
            "type": "Organization",
            "identifier": {"system": self.identifier_system, "value": self.identifier},
        }
        if self.display:
            ref["display"] = self.display
        return ref


@dataclass(frozen=True, slots=True)
class FhirContext:
    patient: PatientRef
    hub: HubIdentity
    organisation: OrganisationRef | None = None
