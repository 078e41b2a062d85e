"""A submitted check-in as FHIR (sync.fhir.questionnaires): the QuestionnaireResponse and each score
as an Observation derived from it, from real engine runs of the example forms."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import count

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from hub.domain.questionnaire import Coding, FormState, NotSubmittable, ScoreResult, Submission, load_questionnaire, submit
from sync.fhir import questionnaires as fq
from sync.fhir.context import SYNTHETIC_TEST_PATIENT, FhirContext, HubIdentity, OrganisationRef, PatientRef
from tests.unit.questionnaire.answers import TYPICAL, answered, c, example
from tests.unit.questionnaire.forms import coding, expr, form

OSLO = timezone(timedelta(hours=1))
NOW = datetime(2026, 3, 1, 10, 30, tzinfo=OSLO)
HUB = HubIdentity("HEIMA-0042", name="Heima hub")
PATIENT = PatientRef(identifier="15854540030")  # synthetic (Tenor): test data
REAL = PatientRef(identifier="01010112345", display=None)
CTX = FhirContext(PATIENT, HUB, OrganisationRef("974589095", display="Oslo kommune"))


def ids():
    n = count(1)
    return lambda: uuid.UUID(int=next(n))


def kols_submission(**kw) -> Submission:
    answers, _ = TYPICAL["kols-daglig"]
    return submit(answered(example("kols-daglig"), answers, now=NOW), now=NOW, new_id=ids(), **kw)


def test_the_response_names_its_form_version_patient_hub_and_time():
    qr = fq.response_for(kols_submission(), CTX)
    assert qr["identifier"] == {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.UUID(int=1)}"}
    assert qr["questionnaire"] == "https://oppfolging.example.no/fhir/Questionnaire/kols-daglig|1.0"
    assert qr["_questionnaire"]["extension"][0]["valueString"] == "KOLS: daglig innsjekk"
    assert qr["status"] == "completed"
    assert qr["authored"] == "2026-03-01T10:30:00+01:00"
    patient = {"type": "Patient", "identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "15854540030"}}
    assert qr["subject"] == qr["source"] == patient
    assert qr["author"] == {"type": "Device", "identifier": {"system": "urn:heima:hub-serial", "value": "HEIMA-0042"}, "display": "Heima hub"}
    assert qr["meta"]["security"][0]["code"] == "HTEST"  # the synthetic test person
    assert [i["linkId"] for i in qr["item"]][-2:] == ["sum", "melding"]
    QuestionnaireResponse.model_validate(qr)


def test_someone_answering_for_the_patient_is_the_source_and_a_real_patient_is_no_test_data():
    qr = fq.response_for(kols_submission(answered_by="Kari (datter)"), FhirContext(REAL, HUB))
    assert qr["source"] == {"type": "RelatedPerson", "display": "Kari (datter)"}
    assert qr["subject"]["identifier"]["value"] == "01010112345"
    assert "meta" not in qr


@pytest.mark.parametrize("name", sorted(TYPICAL))
def test_each_score_is_an_observation_derived_from_its_response(name):
    answers, total = TYPICAL[name]
    sub = submit(answered(example(name), answers, now=NOW), now=NOW, new_id=ids())
    (score,) = sub.scores
    obs = fq.score_observation_for(score, CTX)
    assert obs["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.UUID(int=2)}"}]
    assert obs["code"]["coding"] == [{"system": "http://loinc.org", "code": "74465-6", "display": "Questionnaire response score"}]
    assert obs["category"][0]["coding"][0]["code"] == "survey"
    assert obs["valueQuantity"] == {"value": total, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"}
    assert obs["derivedFrom"] == [{"type": "QuestionnaireResponse", "identifier": fq.response_for(sub, CTX)["identifier"]}]
    assert obs["effectiveDateTime"] == "2026-03-01T10:30:00+01:00" and obs["status"] == "final"
    assert obs["subject"] == fq.response_for(sub, CTX)["subject"]
    assert obs["performer"][0]["identifier"]["value"] == "974589095"
    Observation.model_validate(obs)
    assert fq.map(score, CTX) == obs and fq.map(sub, CTX) == fq.response_for(sub, CTX)


def test_a_derived_from_reference_can_be_given_for_a_transaction_bundle():
    score = kols_submission().scores[0]
    obs = fq.score_observation_for(score, CTX, derived_from={"reference": "urn:uuid:entry"})
    assert obs["derivedFrom"] == [{"reference": "urn:uuid:entry"}]


PHQ_LIKE = form(
    {"linkId": "q1", "type": "choice", "answerOption": [coding("a", 0), coding("b", 2)]},
    {"linkId": "q2", "type": "choice", "answerOption": [coding("a", 0), coding("b", 3)]},
    {"linkId": "total", "type": "integer", "readOnly": True,
     "code": [{"system": "http://loinc.org", "code": "44261-6", "display": "PHQ-9 total score"}],
     "extension": [expr("calculatedExpression", "%resource.repeat(item).where(linkId='q1' or linkId='q2').answer.value.code.count()")]},
    title="Et skjema med egen LOINC",
)


B = Coding("b", "http://heima.test/cs")


def test_the_instruments_own_loinc_on_the_score_item_is_used():
    s = FormState.start(load_questionnaire(PHQ_LIKE), now=NOW)
    s = s.answer("q1", B).answer("q2", B)
    (score,) = submit(s, now=NOW).scores
    assert score.link_id == "total"
    code = fq.score_observation_for(score, CTX)["code"]
    assert code["coding"] == [{"system": "http://loinc.org", "code": "44261-6", "display": "PHQ-9 total score"}]


def test_a_form_with_scored_options_and_no_score_item_sends_the_total_of_the_options():
    raw = dict(PHQ_LIKE, item=PHQ_LIKE["item"][:2])
    s = FormState.start(load_questionnaire(raw), now=NOW).answer("q1", B).answer("q2", B)
    (score,) = submit(s, now=NOW).scores
    assert (score.link_id, score.value, score.text) == (None, Decimal(5), "Et skjema med egen LOINC")
    assert fq.score_observation_for(score, CTX)["code"]["coding"][0]["code"] == "74465-6"


def test_an_uncoded_calculation_is_part_of_the_response_not_a_score():
    raw = form(
        {"linkId": "h", "type": "decimal"}, {"linkId": "w", "type": "decimal"},
        {"linkId": "bmi", "type": "decimal", "readOnly": True,
         "extension": [expr("calculatedExpression", "%resource.item.where(linkId='w').answer.value / (%resource.item.where(linkId='h').answer.value / 100).power(2)")]},
    )
    s = FormState.start(load_questionnaire(raw), now=NOW).answer("h", Decimal(180)).answer("w", Decimal(81))
    sub = submit(s, now=NOW)
    assert sub.scores == () and any(i["linkId"] == "bmi" for i in sub.items)


def test_a_form_with_problems_is_not_submitted():
    s = answered(example("kols-daglig"), {"pust": c("som-vanlig")}, now=NOW)
    with pytest.raises(NotSubmittable) as refused:
        submit(s, now=NOW)
    assert refused.value.link_id == "hoste" and len(refused.value.problems) == 4


def test_map_refuses_what_it_does_not_map():
    with pytest.raises(TypeError):
        fq.map({"resourceType": "Observation"}, CTX)  # type: ignore[arg-type]
    assert isinstance(kols_submission().scores[0], ScoreResult)
    assert SYNTHETIC_TEST_PATIENT.synthetic
