"""The self-care plan's part of what Heima sends: a measurement's stored evaluation on its
Observation, the alert a confirmed red value raises (a DetectedIssue), and a missed task (an
Observation with dataAbsentReason not-performed, triage blue, basedOn the plan, effectivePeriod the
window).

Mapping reads what was decided when the value was recorded (hub.domain.evaluation) and never
decides again. VKP (shared/reference/fhir.md): `interpretation` = the zone and the triage;
`referenceRange` = every level's limits with `type` from ObservationInterpretation (a blood
pressure's on its components); an alert is a DetectedIssue implicating the Observations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.domain.careplan import codes as plan_codes
from hub.domain.careplan.due import MissedTask
from hub.domain.evaluation import ZoneAlert
from hub.domain.outgoing import Outgoing, OutgoingKind
from sync.fhir.codes import DATA_ABSENT_REASON, HTEST, URI_IDENTIFIER, category
from sync.fhir.context import FhirContext
from sync.fhir.devices import hub_reference
from sync.fhir.observations import fhir_datetime
from sync.fhir.resources import Mapped, _urn, register
from sync.fhir.zones import apply_evaluation

NOT_PERFORMED = {"system": DATA_ABSENT_REASON, "code": "not-performed", "display": "Not Performed"}
MISSED_TRIAGE = {"system": plan_codes.VKP_TRIAGE, "code": plan_codes.MISSED_TRIAGE, "display": "blå"}
SEVERITY = {"red": "high", "yellow": "moderate", "green": "low"}
# A missed task is coded by the plan's activity id (CarePlan.activity.id, named in basedOn's plan).
ACTIVITY_SYSTEM = "urn:heima:careplan:activity"


def _security(ctx: FhirContext) -> dict[str, Any] | None:
    return {"security": [HTEST.to_fhir()]} if ctx.patient.synthetic else None


def _observation_reference(measurement_id: str) -> dict[str, Any]:
    return {"type": "Observation", "identifier": {"system": URI_IDENTIFIER, "value": f"urn:uuid:{measurement_id}"}}


def detected_issue_for(item: Outgoing, ctx: FhirContext) -> dict[str, Any]:
    """A confirmed red value as VKP's alert: a DetectedIssue (the triage code, severity, the colour
    in `detail`) implicating the Observations of the run that confirmed it. No value in any text."""
    alert = item.payload
    assert isinstance(alert, ZoneAlert)
    level = plan_codes.LEVEL_TEXT.get(alert.zone, alert.zone)
    issue: dict[str, Any] = {"resourceType": "DetectedIssue"}
    meta = _security(ctx)
    if meta:
        issue["meta"] = meta
    issue["identifier"] = [{"system": URI_IDENTIFIER, "value": item.urn}]
    issue["status"] = "final"
    issue["code"] = {
        "coding": [{"system": plan_codes.VKP_TRIAGE, "code": plan_codes.TRIAGE_BY_LEVEL.get(alert.zone, "R"), "display": level}],
        "text": f"Egenbehandlingsplan: {level} sone bekreftet",
    }
    issue["severity"] = SEVERITY.get(alert.zone, "high")
    subject = ctx.patient.to_reference()
    if subject:
        issue["patient"] = subject
    issue["identifiedDateTime"] = fhir_datetime(alert.at)
    issue["author"] = hub_reference(ctx.hub)
    issue["implicated"] = [_observation_reference(m) for m in alert.measurements]
    rule = f" ({alert.rule})" if alert.rule else ""
    issue["detail"] = f"{level.capitalize()}: {alert.activity}{rule}, {len(alert.measurements)} måling(er) i rød sone etter hverandre"
    issue["reference"] = alert.plan
    return issue


def missed_task_observation_for(item: Outgoing, ctx: FhirContext) -> dict[str, Any]:
    """A task whose window closed undone: an Observation with no value (not performed), triage
    blue, based on the plan, its window as the effective period."""
    task = item.payload
    assert isinstance(task, MissedTask)
    obs: dict[str, Any] = {"resourceType": "Observation"}
    meta = _security(ctx)
    if meta:
        obs["meta"] = meta
    obs["identifier"] = [{"system": URI_IDENTIFIER, "value": item.urn}]
    obs["basedOn"] = [{"reference": task.plan.split("/_history/")[0], "type": "CarePlan", "display": task.plan}]
    obs["status"] = "final"
    # Coded by the plan's activity, not the measurement's LOINC: nothing was measured, so no
    # vital-signs profile applies (their vs-1 also fails on an effectivePeriod in Medplum's
    # validator; docs/fhir-conformance.md). The LOINC is named in the text and in the plan.
    what = f"LOINC {task.code}" if task.code else (task.questionnaire or "")
    obs["code"] = {
        "coding": [{"system": ACTIVITY_SYSTEM, "code": task.activity}],
        "text": f"Ikke utført: {task.activity}" + (f" ({what})" if what else ""),
    }
    if task.questionnaire:
        obs["category"] = [category("survey")]
    subject = ctx.patient.to_reference()
    if subject:
        obs["subject"] = subject
    obs["effectivePeriod"] = {"start": fhir_datetime(task.opens), "end": fhir_datetime(task.closes)}
    if ctx.organisation is not None:
        obs["performer"] = [ctx.organisation.to_reference()]
    obs["dataAbsentReason"] = {"coding": [NOT_PERFORMED]}
    obs["interpretation"] = [{"coding": [MISSED_TRIAGE], "text": "Ikke utført"}]
    return obs


class DetectedIssueMapper:
    resource_type = "DetectedIssue"

    def sensors(self, item: Outgoing) -> Sequence[Any]:
        return ()

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        return Mapped(detected_issue_for(item, ctx), (URI_IDENTIFIER, item.urn), _urn(f"detected-issue-entry:{item.id}"))


class MissedTaskMapper:
    resource_type = "Observation"

    def sensors(self, item: Outgoing) -> Sequence[Any]:
        return ()

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        return Mapped(missed_task_observation_for(item, ctx), (URI_IDENTIFIER, item.urn), _urn(f"observation-entry:{item.id}"))


register("fhir", OutgoingKind.ZONE_ALERT, DetectedIssueMapper())
register("fhir", OutgoingKind.MISSED_TASK, MissedTaskMapper())


__all__ = ["DetectedIssueMapper", "MissedTaskMapper", "apply_evaluation", "detected_issue_for", "missed_task_observation_for"]


class PmdMissedTaskMapper(MissedTaskMapper):
    """Pasientens måledata takes the missed task too (an Observation), with VKP's musts checked."""

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        from sync.fhir.pmd import PERFORMER_SYSTEMS, SUBJECT_SYSTEMS, PmdMappingError

        if not ctx.patient.identifier or ctx.patient.identifier_system not in SUBJECT_SYSTEMS:
            raise PmdMappingError("PMD needs the patient's fødselsnummer or D-number as the logical subject")
        if ctx.organisation is None or ctx.organisation.identifier_system not in PERFORMER_SYSTEMS:
            raise PmdMappingError("PMD needs the responsible organisation (organisasjonsnummer or RESH-id) as performer")
        return super().map(item, ctx, transaction=False)


register("nhn-pmd", OutgoingKind.MISSED_TASK, PmdMissedTaskMapper())
