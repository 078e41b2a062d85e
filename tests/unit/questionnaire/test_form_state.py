"""Answering a form: what is shown, what the response holds, problems, scores, resume."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal

import pytest

from hub.domain.questionnaire import (
    Coding, FormState, NotAnOption, Quantity, ReadOnlyItem, ResponseMismatch, UnknownItem, UnsupportedItem,
    WrongAnswerType, load_questionnaire,
)

from .forms import CORE, NOW, coding, ew, expr, form

YES = Coding("yes", "http://heima.test/cs")


def start(*items, patient=None, **top) -> FormState:
    return FormState.start(load_questionnaire(form(*items, **top)), now=NOW, patient=patient)


def shown(s: FormState) -> list[str]:
    return [v.link_id for v in s.visible_items()]


def linkids_in(resp: dict) -> list[str]:
    out: list[str] = []

    def go(items):
        for it in items:
            out.append(it["linkId"])
            go(it.get("item", []))
            for a in it.get("answer", []):
                go(a.get("item", []))

    go(resp.get("item", []))
    return out


@pytest.mark.parametrize("op, answer, value, enabled", [
    ("=", 5, 5, True), ("=", 5, 4, False), ("!=", 5, 4, True), ("!=", 5, 5, False),
    (">", 5, 6, True), (">", 5, 5, False), ("<", 5, 4, True), ("<", 5, 5, False),
    (">=", 5, 5, True), (">=", 5, 4, False), ("<=", 5, 5, True), ("<=", 5, 6, False),
])
def test_enable_when_operators(op, answer, value, enabled):
    s = start({"linkId": "n", "type": "integer"}, {"linkId": "f", "type": "string", "enableWhen": [ew("n", op, answerInteger=answer)]})
    assert ("f" in shown(s.answer("n", value))) is enabled


def test_exists_and_no_answer():
    s = start({"linkId": "n", "type": "integer"},
              {"linkId": "has", "type": "string", "enableWhen": [ew("n", "exists", answerBoolean=True)]},
              {"linkId": "hasnt", "type": "string", "enableWhen": [ew("n", "exists", answerBoolean=False)]},
              {"linkId": "ne", "type": "string", "enableWhen": [ew("n", "!=", answerInteger=1)]},
              {"linkId": "gt", "type": "string", "enableWhen": [ew("n", ">", answerInteger=1)]})
    assert shown(s) == ["n", "hasnt", "ne"]
    assert shown(s.answer("n", 3)) == ["n", "has", "ne", "gt"]


def test_enable_behavior_any_and_all():
    items = [{"linkId": "a", "type": "boolean"}, {"linkId": "b", "type": "boolean"}]
    cond = [ew("a", "=", answerBoolean=True), ew("b", "=", answerBoolean=True)]
    s = start(*items, {"linkId": "any", "type": "string", "enableWhen": cond, "enableBehavior": "any"},
              {"linkId": "all", "type": "string", "enableWhen": cond, "enableBehavior": "all"})
    assert shown(s.answer("a", True)) == ["a", "b", "any"]
    assert shown(s.answer("a", True).answer("b", True)) == ["a", "b", "any", "all"]


def test_coded_and_dated_conditions():
    s = start({"linkId": "c", "type": "choice", "answerOption": [coding("yes"), coding("no")]},
              {"linkId": "d", "type": "date"},
              {"linkId": "if-yes", "type": "string", "enableWhen": [ew("c", "=", answerCoding={"system": "http://heima.test/cs", "code": "yes"})]},
              {"linkId": "recent", "type": "string", "enableWhen": [ew("d", ">=", answerDate="2026-01-01")]})
    s = s.answer("c", YES).answer("d", date(2026, 2, 1))
    assert shown(s) == ["c", "d", "if-yes", "recent"]


def test_disabled_answers_leave_the_response_transitively_and_come_back():
    s = start({"linkId": "smoker", "type": "boolean"},
              {"linkId": "g", "type": "group", "enableWhen": [ew("smoker", "=", answerBoolean=True)], "item": [
                  {"linkId": "per-day", "type": "integer"},
                  {"linkId": "trying", "type": "boolean", "enableWhen": [ew("per-day", ">", answerInteger=10)]}]},
              {"linkId": "help", "type": "string", "enableWhen": [ew("trying", "=", answerBoolean=True)]})
    s = s.answer("smoker", True).answer("per-day", 20).answer("trying", True).answer("help", "yes please")
    assert linkids_in(s.response(now=NOW)) == ["smoker", "g", "per-day", "trying", "help"]
    off = s.answer("smoker", False)
    assert linkids_in(off.response(now=NOW)) == ["smoker"]  # the group, its children and what hung on them
    assert shown(off) == ["smoker"]
    back = off.answer("smoker", True)
    assert linkids_in(back.response(now=NOW)) == ["smoker", "g", "per-day", "trying", "help"]
    assert back.answers("help") == ("yes please",)


def test_enable_when_inside_a_repeating_group_looks_at_its_own_instance():
    s = start({"linkId": "med", "type": "group", "repeats": True, "item": [
        {"linkId": "name", "type": "string"}, {"linkId": "taken", "type": "boolean"},
        {"linkId": "why-not", "type": "string", "enableWhen": [ew("taken", "=", answerBoolean=False)]},
        {"linkId": "dose", "type": "group", "repeats": True, "item": [
            {"linkId": "mg", "type": "integer"},
            {"linkId": "big", "type": "boolean", "enableWhen": [ew("mg", ">", answerInteger=100)]}]}]})
    s = s.add_group("med")
    m0, m1 = s.instances("med")
    s = s.answer(m0 + (("taken", 0),), True).answer(m1 + (("taken", 0),), False)
    assert not s.is_enabled(m0 + (("why-not", 0),))
    assert s.is_enabled(m1 + (("why-not", 0),))
    s = s.add_group(m1 + (("dose", 0),))
    d0, d1 = [p for p in s.instances("dose") if p[:1] == m1]
    s = s.answer(d1 + (("mg", 0),), 500)
    assert s.is_enabled(d1 + (("big", 0),)) and not s.is_enabled(d0 + (("big", 0),))
    assert not s.is_enabled(s.instances("dose")[0] + (("big", 0),))  # medicine 0's dose saw nothing
    resp = s.response(now=NOW)
    assert [i["linkId"] for i in resp["item"]] == ["med", "med"]
    with pytest.raises(UnknownItem):
        s.answer("taken", True)  # inside a repeating group: the path is needed
    fewer = s.remove_group(m0)
    assert len(fewer.instances("med")) == 1 and fewer.answers(fewer.instances("med")[0] + (("taken", 0),)) == (False,)


def test_repeating_question_takes_several_answers_and_a_single_one_refuses_two():
    s = start({"linkId": "sym", "type": "choice", "repeats": True, "answerOption": [coding("cough"), coding("fever")]},
              {"linkId": "one", "type": "integer"})
    s = s.answer("sym", [Coding("cough", "http://heima.test/cs"), Coding("fever", "http://heima.test/cs")])
    assert len(s.answers("sym")) == 2 and s.answers("sym")[0].display == "Cough"
    with pytest.raises(WrongAnswerType):
        s.answer("one", [1, 2])


@pytest.mark.parametrize("type_, good, bad", [
    ("boolean", True, 1), ("integer", 3, True), ("integer", 3, Decimal("3.5")), ("decimal", Decimal("37.5"), 37.5),
    ("date", date(2026, 1, 2), datetime(2026, 1, 2, tzinfo=timezone.utc)), ("dateTime", datetime(2026, 1, 2, 8, tzinfo=timezone.utc), datetime(2026, 1, 2, 8)),
    ("time", time(8, 0), "08:00"), ("string", "ok", 3), ("text", "long", None.__class__), ("url", "http://x", 1),
])
def test_answers_of_the_wrong_type_are_refused(type_, good, bad):
    s = start({"linkId": "x", "type": type_})
    assert s.answer("x", good).answers("x") == ((Decimal(good) if type_ == "decimal" else good),)
    with pytest.raises(WrongAnswerType) as e:
        s.answer("x", bad)
    assert e.value.link_id == "x" and repr(bad) not in str(e.value)


def test_read_only_unsupported_and_not_an_option():
    s = start({"linkId": "ro", "type": "string", "readOnly": True, "initial": [{"valueString": "fixed"}]},
              {"linkId": "att", "type": "attachment"},
              {"linkId": "c", "type": "choice", "answerOption": [coding("yes")]},
              {"linkId": "oc", "type": "open-choice", "answerOption": [coding("yes")]})
    assert s.answers("ro") == ("fixed",)
    with pytest.raises(ReadOnlyItem):
        s.answer("ro", "other")
    with pytest.raises(UnsupportedItem):
        s.answer("att", "x")
    with pytest.raises(NotAnOption):
        s.answer("c", Coding("maybe", "http://heima.test/cs"))
    assert s.answer("oc", "something else").answers("oc") == ("something else",)


def test_quantity_with_unit_options():
    s = start({"linkId": "w", "type": "quantity", "extension": [
        {"url": CORE + "questionnaire-unitOption", "valueCoding": {"system": "http://unitsofmeasure.org", "code": "kg", "display": "kg"}},
        {"url": CORE + "questionnaire-unitOption", "valueCoding": {"system": "http://unitsofmeasure.org", "code": "[lb_av]", "display": "lb"}}]})
    assert s.answer("w", Decimal("81.5")).response(now=NOW)["item"][0]["answer"] == [
        {"valueQuantity": {"value": 81.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}]
    assert s.answer("w", Quantity(Decimal(180), "lb", "http://unitsofmeasure.org", "[lb_av]")).answers("w")[0].code == "[lb_av]"
    with pytest.raises(NotAnOption):
        s.answer("w", Quantity(Decimal(80), "stone", None, "stone"))


def test_initial_values_and_initial_selected():
    s = start({"linkId": "i", "type": "integer", "initial": [{"valueInteger": 7}]},
              {"linkId": "c", "type": "choice", "answerOption": [coding("a"), {**coding("b"), "initialSelected": True}]})
    assert s.answers("i") == (7,) and s.answers("c")[0].code == "b"


def test_problems_required_and_limits():
    s = start({"linkId": "t", "type": "decimal", "required": True, "extension": [
                  {"url": CORE + "minValue", "valueDecimal": 34}, {"url": CORE + "maxValue", "valueDecimal": 43},
                  {"url": CORE + "maxDecimalPlaces", "valueInteger": 1}]},
              {"linkId": "s", "type": "string", "maxLength": 5, "extension": [
                  {"url": CORE + "minLength", "valueInteger": 2}, {"url": CORE + "regex", "valueString": "[a-z]+"}]},
              {"linkId": "d", "type": "date", "extension": [{"url": CORE + "maxValue", "valueDate": "2026-03-01"}]},
              {"linkId": "hidden", "type": "string", "required": True, "extension": [{"url": CORE + "questionnaire-hidden", "valueBoolean": True}]},
              {"linkId": "g", "type": "group", "required": True, "item": [{"linkId": "gq", "type": "boolean"}]})
    assert {(p.link_id, p.kind) for p in s.problems()} == {("t", "required"), ("g", "required")}
    s = s.answer("t", Decimal("44.25")).answer("s", "ABCDEF").answer("d", date(2026, 3, 2)).answer("gq", False)
    kinds = {(p.link_id, p.kind, p.limit) for p in s.problems()}
    assert kinds == {("t", "max-value", "43"), ("t", "max-decimal-places", "1"), ("s", "max-length", "5"), ("s", "regex", None), ("d", "max-value", "2026-03-01")}
    assert not s.answer("t", Decimal("37.5")).answer("s", "abc").answer("d", date(2026, 1, 1)).problems()
    assert "hidden" not in shown(s)


def test_a_disabled_required_item_is_no_problem():
    s = start({"linkId": "a", "type": "boolean"}, {"linkId": "b", "type": "string", "required": True, "enableWhen": [ew("a", "=", answerBoolean=True)]})
    assert not s.problems()
    assert [p.link_id for p in s.answer("a", True).problems()] == ["b"]


def test_variables_calculations_and_enable_when_expression():
    s = start({"linkId": "h", "type": "decimal"}, {"linkId": "w", "type": "decimal"},
              {"linkId": "bmi", "type": "decimal", "readOnly": True, "extension": [
                  expr("calculatedExpression", "(%weight / ((%height / 100) * (%height / 100))).round(1)")]},
              {"linkId": "advice", "type": "display", "text": "Talk to your nurse", "extension": [expr("enableWhenExpression", "%resource.item.where(linkId='bmi').answer.value > 30")]},
              extension=[expr("variable", "%resource.item.where(linkId='h').answer.value", "height"),
                         expr("variable", "%resource.item.where(linkId='w').answer.value", "weight")])
    s = s.answer("h", Decimal(180)).answer("w", Decimal(81))
    assert s.answers("bmi") == (Decimal("25"),)
    assert "advice" not in shown(s)
    s = s.answer("w", Decimal(120))
    assert s.answers("bmi") == (Decimal("37"),) and "advice" in shown(s)
    with pytest.raises(ReadOnlyItem):
        s.answer("bmi", Decimal(1))


def test_initial_expression_reads_the_patient_and_the_engine_clock():
    patient = {"resourceType": "Patient", "birthDate": "1946-05-17", "name": [{"given": ["Kari"]}]}
    s = start({"linkId": "born", "type": "date", "extension": [expr("initialExpression", "%patient.birthDate")]},
              {"linkId": "today", "type": "date", "extension": [expr("initialExpression", "today()")]}, patient=patient)
    assert s.answers("born") == (date(1946, 5, 17),)
    assert s.answers("today") == (NOW.date(),)  # the time passed in, not the machine's


def test_scores_from_ordinal_values_item_weight_and_helsenorge_codes():
    opts = [coding("never", 0), coding("sometimes", 1, where="coding"), coding("often", 2, where="weight")]
    sf = "http://ehelse.no/scoringFormulas"
    s = start({"linkId": "sec1", "type": "group", "item": [
                  {"linkId": "q1", "type": "choice", "answerOption": opts},
                  {"linkId": "q2", "type": "choice", "answerOption": opts},
                  {"linkId": "ss1", "type": "quantity", "code": [{"system": sf, "code": "SS"}]}]},
              {"linkId": "q3", "type": "choice", "answerOption": opts, "enableWhen": [ew("q1", "exists", answerBoolean=True)]},
              {"linkId": "ts", "type": "quantity", "code": [{"system": sf, "code": "TS"}, {"system": "http://loinc.org", "code": "74465-6"}]})
    s = s.answer(("sec1", 0), None) if False else s
    s = s.answer("q1", Coding("sometimes", "http://heima.test/cs")).answer("q2", Coding("often", "http://heima.test/cs")).answer("q3", Coding("often", "http://heima.test/cs"))
    sc = s.scores()
    assert sc.total == 5
    by = {x.link_id: x for x in sc.items}
    assert by["ss1"].value == 3 and by["ts"].value == 5 and by["ts"].kind == "total"
    assert any(c.code == "74465-6" for c in by["ts"].code)
    assert s.answers("ts")[0].value == 5
    # q3 disabled: its score no longer counts anywhere
    s = s.answer("q1", None)
    assert s.scores().total == 2 and {x.link_id: x.value for x in s.scores().items}["ts"] == 2


def test_response_shape():
    s = start({"linkId": "a", "type": "boolean", "text": "Breathless?"}, {"linkId": "d", "type": "display", "text": "Thanks"})
    r = s.answer("a", True).response(now=NOW, subject={"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "x"}},
                                     source={"reference": "Patient/p1"})
    assert r["status"] == "completed" and r["questionnaire"] == "http://heima.test/q|2"
    assert r["authored"] == "2026-03-01T09:30:00+00:00" and r["source"] == {"reference": "Patient/p1"}
    assert r["item"] == [{"linkId": "a", "text": "Breathless?", "answer": [{"valueBoolean": True}]}]
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
    QuestionnaireResponse.model_validate(r)
    with pytest.raises(ValueError):
        s.response(now=datetime(2026, 3, 1, 9))  # a time without a zone


def test_state_is_immutable():
    s = start({"linkId": "a", "type": "boolean"})
    s2 = s.answer("a", True)
    assert s.answers("a") == () and s2.answers("a") == (True,)


def test_resume_from_an_in_progress_response_gives_the_same_form():
    items = [{"linkId": "a", "type": "boolean"},
             {"linkId": "g", "type": "group", "repeats": True, "item": [{"linkId": "n", "type": "integer"}, {"linkId": "t", "type": "dateTime"}]},
             {"linkId": "b", "type": "decimal", "enableWhen": [ew("a", "=", answerBoolean=True)]}]
    s = start(*items).answer("a", True).answer("b", Decimal("1.5")).add_group("g")
    g0, g1 = s.instances("g")
    s = s.answer(g1 + (("n", 0),), 4).answer(g0 + (("t", 0),), datetime(2026, 3, 1, 8, tzinfo=timezone.utc))
    saved = s.response(now=NOW, status="in-progress")
    again = FormState.resume(load_questionnaire(form(*items)), saved, now=NOW)
    assert again.visible_items() == s.visible_items()
    assert again.response(now=NOW) == s.response(now=NOW)


@pytest.mark.parametrize("answer", [{"valueString": "3"}, {"valueDecimal": 3.0}, {"valueBoolean": True}, {"valueInteger": True}])
def test_resume_refuses_answers_of_the_wrong_type(answer):
    q = load_questionnaire(form({"linkId": "n", "type": "integer"}))
    with pytest.raises(WrongAnswerType) as e:
        FormState.resume(q, {"resourceType": "QuestionnaireResponse", "status": "in-progress", "item": [{"linkId": "n", "answer": [answer]}]}, now=NOW)
    assert e.value.link_id == "n" and "3" not in str(e.value)


def test_resume_refuses_another_form_or_version():
    q = load_questionnaire(form({"linkId": "n", "type": "integer"}))
    with pytest.raises(ResponseMismatch):
        FormState.resume(q, {"resourceType": "QuestionnaireResponse", "questionnaire": "http://heima.test/q|1", "status": "in-progress"}, now=NOW)
    with pytest.raises(ResponseMismatch):
        FormState.resume(q, {"resourceType": "QuestionnaireResponse", "status": "in-progress", "item": [{"linkId": "zz"}]}, now=NOW)
