"""A form or a stored response with a field of the wrong JSON type (null, a list where FHIR has an
object, ...) is refused with a typed error naming the item — never a TypeError from deep inside."""

from __future__ import annotations

import pytest

from hub.domain.questionnaire import AnswerError, FormState, MalformedQuestionnaire, load_questionnaire

from .forms import NOW, coding, form

Q = form(
    {"linkId": "a", "type": "choice", "answerOption": [coding("x"), coding("y")]},
    {"linkId": "b", "type": "integer", "enableWhen": [{"question": "a", "operator": "exists", "answerBoolean": True}]},
)


@pytest.mark.parametrize(
    ("field", "value"),
    [("enableWhen", None), ("enableWhen", {"question": "a"}), ("extension", "x"), ("initial", [None]), ("answerOption", [3])],
)
def test_a_form_field_of_the_wrong_json_type_is_refused_naming_the_item(field, value):
    raw = form(*[dict(i) for i in Q["item"]])
    raw["item"][1 if field != "answerOption" else 0][field] = value
    with pytest.raises(MalformedQuestionnaire) as refused:
        load_questionnaire(raw)
    assert refused.value.link_id == ("b" if field != "answerOption" else "a")


@pytest.mark.parametrize("answer", [None, {"valueInteger": 1}, "1"])
def test_a_stored_response_with_a_field_of_the_wrong_json_type_is_refused_naming_the_item(answer):
    stored = {"resourceType": "QuestionnaireResponse", "item": [{"linkId": "a", "answer": [{"valueCoding": {"system": "http://heima.test/cs", "code": "x"}}]},
                                                              {"linkId": "b", "answer": answer}]}
    with pytest.raises(AnswerError) as refused:
        FormState.resume(load_questionnaire(Q), stored, now=NOW)
    assert refused.value.link_id == "b"
