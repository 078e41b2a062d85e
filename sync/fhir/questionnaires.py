"""A submitted questionnaire -> FHIR R4: the QuestionnaireResponse, and each score as an Observation.

Plain functions of (what was submitted, FhirContext) -> resource JSON, for the registry of
outgoing kinds (sync.fhir.resources) to call:

- `response_for(submission, ctx)`: the QuestionnaireResponse — status completed, `questionnaire`
  = canonical url|version (with the form's title as its display), `subject` the patient,
  `authored`, `author` the hub (it recorded the answers), `source` the patient (or a
  RelatedPerson who answered for them), named by its identifier `urn:uuid:<id>` fixed at submit.
- `score_observation_for(score, ctx)`: one Observation per score (hub.domain.questionnaire
  .submission says which scores): category survey, coded with the instrument's LOINC where the
  form gives one on the score's item, else LOINC 74465-6 "Questionnaire response score"; the
  value a `{score}` quantity; `derivedFrom` the response (a logical reference by identifier, or
  the reference given — e.g. the response's entry in a transaction bundle).
- `map(resource, ctx)`: either, by type.

Data about a synthetic test person is test data: HTEST on both, as on every Observation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine comes with the first form's payload, not with every hub's delivery path (part M10)
    from hub.domain.questionnaire import Coding as FormCoding
    from hub.domain.questionnaire import ScoreResult, Submission
from sync.fhir.codes import HTEST, LOINC, OBSERVATION_CATEGORY, UCUM, URI_IDENTIFIER
from sync.fhir.context import FhirContext
from sync.fhir.devices import hub_reference
from sync.fhir.observations import fhir_datetime

QUESTIONNAIRE_SCORE = {"system": LOINC, "code": "74465-6", "display": "Questionnaire response score"}
SURVEY = {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
SCORE_UNIT = {"unit": "{score}", "system": UCUM, "code": "{score}"}
DISPLAY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/display"
SCORING_FORMULAS = "http://ehelse.no/scoringFormulas"  # Helsenorge's QS/SS/TS marks: how, not what


def urn(value: Any) -> str:
    return f"urn:uuid:{value}"


def response_reference(submission_id: Any) -> dict[str, Any]:
    """A logical reference to the response by its identifier (what a batch or a lone score uses)."""
    return {"type": "QuestionnaireResponse", "identifier": {"system": URI_IDENTIFIER, "value": urn(submission_id)}}


def response_for(submission: Submission, ctx: FhirContext) -> dict[str, Any]:
    qr: dict[str, Any] = {"resourceType": "QuestionnaireResponse"}
    if ctx.patient.synthetic:
        qr["meta"] = {"security": [HTEST.to_fhir()]}
    qr["identifier"] = {"system": URI_IDENTIFIER, "value": urn(submission.id)}
    qr["questionnaire"] = submission.questionnaire
    if submission.title:
        qr["_questionnaire"] = {"extension": [{"url": DISPLAY_EXTENSION, "valueString": submission.title}]}
    qr["status"] = "completed"
    patient = ctx.patient.to_reference()
    if patient:
        qr["subject"] = patient
    qr["authored"] = fhir_datetime(submission.authored)
    qr["author"] = hub_reference(ctx.hub)
    if submission.answered_by is not None:
        qr["source"] = {"type": "RelatedPerson", "display": submission.answered_by}
    elif patient:
        qr["source"] = patient
    if submission.items:
        qr["item"] = [dict(i) for i in submission.items]
    return qr


def score_observation_for(
    score: ScoreResult, ctx: FhirContext, *, derived_from: dict[str, Any] | None = None
) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation"}
    if ctx.patient.synthetic:
        obs["meta"] = {"security": [HTEST.to_fhir()]}
    obs["identifier"] = [{"system": URI_IDENTIFIER, "value": urn(score.id)}]
    obs["status"] = "final"
    obs["category"] = [SURVEY]
    obs["code"] = _score_code(score)
    patient = ctx.patient.to_reference()
    if patient:
        obs["subject"] = patient
    obs["effectiveDateTime"] = fhir_datetime(score.authored)
    if ctx.organisation is not None:
        obs["performer"] = [ctx.organisation.to_reference()]
    obs["valueQuantity"] = {"value": _number(score.value), **SCORE_UNIT}
    obs["derivedFrom"] = [derived_from or response_reference(score.response_id)]
    return obs


def map(resource: Submission | ScoreResult, ctx: FhirContext) -> dict[str, Any]:  # noqa: A001 - the registry's name
    from hub.domain.questionnaire import ScoreResult, Submission

    if isinstance(resource, Submission):
        return response_for(resource, ctx)
    if isinstance(resource, ScoreResult):
        return score_observation_for(resource, ctx)
    raise TypeError(f"not a submitted questionnaire or score: {type(resource).__name__}")


def _score_code(score: ScoreResult) -> dict[str, Any]:
    """The item's LOINC (the instrument's own score code) first, else 74465-6; the item's other
    codes after it, Helsenorge's scoring marks left out (they say how it was added up)."""
    codes = [c for c in score.code if c.system != SCORING_FORMULAS]
    loinc = [c for c in codes if c.system == LOINC]
    others = [c for c in codes if c.system != LOINC and c.system]
    coding = [_coding(c) for c in loinc] or [dict(QUESTIONNAIRE_SCORE)]
    code: dict[str, Any] = {"coding": coding + [_coding(c) for c in others]}
    if score.text:
        code["text"] = score.text
    return code


def _coding(c: FormCoding) -> dict[str, Any]:
    out: dict[str, Any] = {"system": c.system, "code": c.code}
    if c.display:
        out["display"] = c.display
    return out


def _number(value: Decimal) -> int | float:
    """JSON's number: a whole score without a decimal point."""
    return int(value) if value == value.to_integral_value() else float(value)
