"""Bundles for NHN Pasientens måledata (PMD), and the strict reading of its answers.

PMD stores Observations only (patients are created on the fly from the logical subject) and does
no conditional create. Its profile asks for a `batch` Bundle in which every entry has a `fullUrl`,
with `Bundle.identifier` (system `https://www.nhn.no/komlink/bundle-identifier`) and the
municipality's kommunenummer in `meta.tag`. The answer is a `batch-response`, one entry per
request entry.

Idempotency is ours: the Bundle.identifier is derived from the batch's sorted measurement ids, so
the same batch always carries the same identifier (a re-send after a lost answer is recognisable
as such), and the sending side keeps a ledger of acknowledged entries (never sent again).

Observations follow the VKP rules (shared/reference/fhir.md): a logical subject by FNR/D-number,
`performer` = the organisation responsible for the follow-up, the sensor by identifier, and —
where the patient's self-care plan has zones for the measurement — `interpretation` (the zone's
level) and one `referenceRange` per zone. The zone is the measurement's stored evaluation
(hub.domain.evaluation), decided when the value was recorded: mapping reads it, never decides it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from hub.domain.digests import uuid5
from hub.domain.evaluation import Evaluation
from hub.domain.evaluation import Evaluation as ZoneAssessment  # the older name  # noqa: F401
from hub.domain.measurements import Measurement
from hub.domain.outgoing import Outgoing, OutgoingKind, as_outgoings
from sync.fhir.bundles import Built, EntryOutcome, BundleResponseError, observation_full_url, parse_batch_response
from sync.fhir.codes import DNR, FNR, ORGANISATION_NUMBER, RESH_ID, URI_IDENTIFIER
from sync.fhir.context import FhirContext
from sync.fhir.devices import HEIMA_NAMESPACE
from sync.fhir.observations import observation_for
from sync.fhir.resources import Mapped, ScoreMapper, mapper_for, register
from sync.fhir.zones import apply_evaluation

BUNDLE_IDENTIFIER_SYSTEM = "https://www.nhn.no/komlink/bundle-identifier"
KOMMUNENUMMER_SYSTEM = "https://register.geonorge.no/sosi-kodelister/inndelinger/inndelingsbase/kommunenummer"
OBSERVATION_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
SUBJECT_SYSTEMS = (FNR, DNR)
PERFORMER_SYSTEMS = (ORGANISATION_NUMBER, RESH_ID)


class PmdMappingError(ValueError):
    """A measurement cannot be sent to PMD as configured (says which rule, never a value)."""


PROFILE = "nhn-pmd"


def bundle_identifier(items: Sequence[Outgoing | Measurement]) -> str:
    """The batch's identifier: the same resource ids, in any order, give the same value."""
    ids = sorted(str(i.id) for i in items)
    return str(uuid5(HEIMA_NAMESPACE, "nhn-pmd-bundle:" + "\n".join(ids)))


def apply_zone(obs: dict[str, Any], zone: Evaluation) -> None:
    """VKP: `interpretation` = the zone; `referenceRange` = every level's limits (sync.fhir.zones;
    observation_for applies a measurement's stored evaluation itself)."""
    apply_evaluation(obs, zone)


def pmd_observation(measurement: Measurement, ctx: FhirContext) -> dict[str, Any]:
    """The Observation for PMD: observation_for's, with the VKP musts checked and the stored
    evaluation's zone applied."""
    if not ctx.patient.identifier or ctx.patient.identifier_system not in SUBJECT_SYSTEMS:
        raise PmdMappingError("PMD needs the patient's fødselsnummer or D-number as the logical subject")
    if ctx.organisation is None or ctx.organisation.identifier_system not in PERFORMER_SYSTEMS:
        raise PmdMappingError("PMD needs the responsible organisation (organisasjonsnummer or RESH-id) as performer")
    return observation_for(measurement, ctx)  # logical references by identifier; the stored evaluation applied


def pmd_build(resources: Sequence[Outgoing | Measurement], ctx: FhirContext, *, kommunenummer: str) -> Built:
    """One PMD batch Bundle: Observations only, each with its fullUrl, no conditional create;
    entry i delivers resource i. A kind PMD does not take raises sync.fhir.resources.NotTaken."""
    items = as_outgoings(resources)
    if not items:
        raise ValueError("a PMD bundle needs at least one measurement")
    if len({i.id for i in items}) != len(items):
        raise ValueError("a measurement appears twice in one batch")
    if len(kommunenummer) != 4 or not kommunenummer.isdigit():
        raise PmdMappingError("the kommunenummer must be four digits")
    entries = []
    for item in items:
        mapped = mapper_for(PROFILE, item.kind).map(item, ctx, transaction=False)  # NotTaken: not an Observation
        entries.append({"fullUrl": mapped.full_url, "resource": mapped.resource, "request": {"method": "POST", "url": "Observation"}})
    bundle = {
        "resourceType": "Bundle",
        "meta": {"tag": [{"system": KOMMUNENUMMER_SYSTEM, "code": kommunenummer}]},
        "identifier": {"system": BUNDLE_IDENTIFIER_SYSTEM, "value": bundle_identifier(items)},
        "type": "batch",
        "entry": entries,
    }
    return Built(bundle, tuple((str(i.id),) for i in items))


def pmd_bundle(resources: Sequence[Outgoing | Measurement], ctx: FhirContext, *, kommunenummer: str) -> dict[str, Any]:
    return pmd_build(resources, ctx, kommunenummer=kommunenummer).bundle


def identifier_of(bundle: dict[str, Any]) -> str:
    return str(bundle["identifier"]["value"])


def parse_pmd_response(reply: Any, request_bundle: dict[str, Any]) -> list[EntryOutcome]:
    """PMD's batch-response, one outcome per Observation sent (see parse_batch_response). An
    answer naming another resource type than Observation is refused as a whole."""
    outcomes = parse_batch_response(reply, request_bundle)
    if any(o.resource_type != "Observation" for o in outcomes):  # pragma: no cover - we send Observations only
        raise BundleResponseError("the request held something other than Observations")
    return outcomes


class PmdObservationMapper:
    """A measurement -> PMD's Observation (logical references only: PMD takes nothing else)."""

    resource_type = "Observation"

    def sensors(self, item: Outgoing) -> Sequence[Any]:
        return ()

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        m = item.measurement
        assert m is not None
        return Mapped(pmd_observation(m, ctx), (URI_IDENTIFIER, m.urn), observation_full_url(m))


class PmdScoreMapper(ScoreMapper):
    """A questionnaire's score -> PMD's Observation: the same Observation, with VKP's musts checked
    (its response is not sent to PMD: derivedFrom names it logically, by identifier)."""

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        if not ctx.patient.identifier or ctx.patient.identifier_system not in SUBJECT_SYSTEMS:
            raise PmdMappingError("PMD needs the patient's fødselsnummer or D-number as the logical subject")
        if ctx.organisation is None or ctx.organisation.identifier_system not in PERFORMER_SYSTEMS:
            raise PmdMappingError("PMD needs the responsible organisation (organisasjonsnummer or RESH-id) as performer")
        return super().map(item, ctx, transaction=False)


# Pasientens måledata takes Observations only: a measurement and a questionnaire's score, no other kind.
register(PROFILE, OutgoingKind.MEASUREMENT, PmdObservationMapper())
register(PROFILE, OutgoingKind.SCORE, PmdScoreMapper())

