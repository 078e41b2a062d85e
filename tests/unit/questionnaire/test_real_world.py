"""Forms written by others (tests/fixtures/questionnaires, see its README for sources and licences)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from hub.domain.questionnaire import Coding, FormState, Quantity, load_questionnaire

from .forms import NOW

FIXTURES = Path(__file__).parents[2] / "fixtures" / "questionnaires"


def load(name: str):
    return load_questionnaire(json.loads((FIXTURES / name).read_text()))


@pytest.mark.parametrize("name", sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json")))
def test_every_fixture_loads_starts_and_emits_a_valid_response(name):
    s = FormState.start(load(name), now=NOW)
    assert s.visible_items()
    QuestionnaireResponse.model_validate(s.response(now=NOW))


def test_android_skip_logic_shows_the_date_after_yes_and_drops_it_after_no():
    s = FormState.start(load("android-fhir/behavior_skip_logic.json"), now=NOW)
    assert [v.link_id for v in s.visible_items()] == ["1.0", "1-select-one"]
    s = s.answer("1.0", Coding("Y", "custom")).answer("1.1", date(2025, 10, 1))
    assert "1.1" in [v.link_id for v in s.visible_items()]
    no = s.answer("1.0", Coding("N", "custom"))
    assert [i["linkId"] for i in no.response(now=NOW)["item"]] == ["1.0"]


def test_android_repeated_group_answers_per_instance():
    s = FormState.start(load("android-fhir/component_repeated_group.json"), now=NOW).add_group("1")
    first, second = s.instances("1")
    s = s.answer(first + (("1-1", 0),), date(2026, 1, 1)).answer(second + (("1-2", 0),), Coding("answer-b"))
    resp = s.response(now=NOW)
    assert [len(g["item"]) for g in resp["item"]] == [1, 1]
    QuestionnaireResponse.model_validate(resp)


def test_android_quantity_initial_value_with_its_unit_option():
    s = FormState.start(load("android-fhir/behavior_calculated_expression.json"), now=NOW)
    assert s.answers("a-age-years") == (Quantity(Decimal(0), "years", "http://unitsofmeasure.org", "years"),)


def test_smart_forms_bmi_is_calculated_from_height_and_weight():
    s = FormState.start(load("smart-forms/bmi-questionnaire.json"), now=NOW)
    assert {p.link_id for p in s.problems()} == {"patient-height", "patient-weight"}
    s = s.answer("patient-height", Decimal(165)).answer("patient-weight", Decimal("70.5"))
    assert s.answers("bmi-result") == (Decimal("25.9"),)
    assert not s.problems()
