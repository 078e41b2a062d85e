"""Import: every item type read into the model; a form Heima cannot run refused, naming the item."""

from __future__ import annotations

import pytest

from hub.domain.questionnaire import (
    BadEnableWhen, DuplicateLinkId, EnableWhenCycle, InvalidExpression, MalformedQuestionnaire, MissingLinkId,
    UnknownItemType, UnknownModifierExtension, UnsupportedFeature, load_questionnaire,
)
from hub.domain.questionnaire.values import Coding

from .forms import CORE, SDC, coding, ew, expr, form


def test_every_item_type_is_read():
    types = ["boolean", "decimal", "integer", "date", "dateTime", "time", "string", "text", "url", "quantity", "attachment"]
    q = load_questionnaire(form(
        {"linkId": "g", "type": "group", "text": "G", "item": [{"linkId": t, "type": t} for t in types]},
        {"linkId": "d", "type": "display", "text": "Thanks"},
        {"linkId": "c", "type": "choice", "answerOption": [coding("a"), coding("b")]},
        {"linkId": "oc", "type": "open-choice", "answerOption": [coding("a")]},
    ))
    assert [i.type for i in q.walk()] == ["group", *types, "display", "choice", "open-choice"]
    assert q.canonical == "http://heima.test/q|2"
    assert not q.by_link_id["attachment"].supported


def test_contained_value_set_is_expanded_with_its_scores():
    vs = {"resourceType": "ValueSet", "id": "yn", "compose": {"include": [{"system": "http://s", "concept": [
        {"code": "y", "display": "Yes", "extension": [{"url": CORE + "ordinalValue", "valueDecimal": 1}]},
        {"code": "n", "display": "No"}]}]}}
    q = load_questionnaire(form({"linkId": "c", "type": "choice", "answerValueSet": "#yn"}, contained=[vs]))
    opts = q.by_link_id["c"].options
    assert [o.value for o in opts] == [Coding("y", "http://s"), Coding("n", "http://s")]
    assert [o.score for o in opts] == [1, None]


def test_an_outside_value_set_is_refused_politely():
    with pytest.raises(UnsupportedFeature) as e:
        load_questionnaire(form({"linkId": "c", "type": "choice", "answerValueSet": "http://loinc.org/vs/LL1-1"}))
    assert e.value.link_id == "c" and "offline" in e.value.reason


def test_display_help_media_and_rendering_are_carried_for_the_screens():
    q = load_questionnaire(form({
        "linkId": "q", "type": "boolean", "text": "Short of breath?",
        "_text": {"extension": [{"url": CORE + "rendering-markdown", "valueMarkdown": "**Short** of breath?"}]},
        "extension": [{"url": SDC + "sdc-questionnaire-itemMedia", "valueAttachment": {"contentType": "image/png", "url": "http://x/p.png"}},
                      {"url": "http://ehelse.no/fhir/StructureDefinition/validationtext", "valueString": "Svar ja eller nei"}],
        "item": [{"linkId": "q-help", "type": "display", "text": "Harder to breathe than usual",
                  "extension": [{"url": CORE + "questionnaire-itemControl", "valueCodeableConcept": {"coding": [{"code": "help"}]}}]}],
    }))
    item = q.by_link_id["q"]
    assert item.help == ("Harder to breathe than usual",)
    assert item.media.url == "http://x/p.png" and item.rendering_markdown == "**Short** of breath?"
    assert item.validation_text == "Svar ja eller nei"


@pytest.mark.parametrize("bad, error, link_id", [
    (form({"type": "boolean"}), MissingLinkId, None),
    (form({"linkId": "a", "type": "boolean"}, {"linkId": "g", "type": "group", "item": [{"linkId": "a", "type": "string"}]}), DuplicateLinkId, "a"),
    (form({"linkId": "a", "type": "question"}), UnknownItemType, "a"),
    (form({"linkId": "a", "type": "boolean", "modifierExtension": [{"url": "http://x/m", "valueBoolean": True}]}), UnknownModifierExtension, "a"),
    (form({"linkId": "a", "type": "boolean", "enableWhen": [ew("nothing", "=", answerBoolean=True)]}), BadEnableWhen, "a"),
    (form({"linkId": "n", "type": "integer"}, {"linkId": "a", "type": "boolean", "enableWhen": [ew("n", "=", answerString="3")]}), BadEnableWhen, "a"),
    (form({"linkId": "g", "type": "group", "item": [{"linkId": "x", "type": "string"}]}, {"linkId": "a", "type": "boolean", "enableWhen": [ew("g", "exists", answerBoolean=True)]}), BadEnableWhen, "a"),
    (form({"linkId": "a", "type": "boolean", "enableWhen": [ew("b", "=", answerBoolean=True)]},
          {"linkId": "b", "type": "boolean", "enableWhen": [ew("c", "=", answerBoolean=True)]},
          {"linkId": "c", "type": "boolean", "enableWhen": [ew("a", "=", answerBoolean=True)]}), EnableWhenCycle, None),
    (form({"linkId": "a", "type": "decimal", "extension": [expr("calculatedExpression", "%resource.item.where(")]}), InvalidExpression, "a"),
    (form({"linkId": "a", "type": "decimal", "extension": [expr("calculatedExpression", "%nowhere + 1")]}), InvalidExpression, "a"),
    (form({"linkId": "a", "type": "attachment", "required": True}), UnsupportedFeature, "a"),
    ({"resourceType": "Patient"}, MalformedQuestionnaire, None),
])
def test_a_form_heima_cannot_run_is_refused_naming_the_item(bad, error, link_id):
    with pytest.raises(error) as e:
        load_questionnaire(bad)
    if link_id is not None:
        assert e.value.link_id == link_id
    assert str(e.value)  # says why


def test_a_cycle_names_an_item_on_it():
    with pytest.raises(EnableWhenCycle) as e:
        load_questionnaire(form({"linkId": "a", "type": "boolean", "enableWhen": [ew("b", "=", answerBoolean=True)]},
                                {"linkId": "b", "type": "boolean", "enableWhen": [ew("a", "=", answerBoolean=True)]}))
    assert e.value.link_id in ("a", "b") and "circle" in e.value.reason


def test_ordinal_values_are_read_from_every_place_engines_put_them():
    q = load_questionnaire(form({"linkId": "c", "type": "choice", "answerOption": [
        coding("a", 1), coding("b", 2, where="coding"), coding("c", 3, where="weight"), coding("d")]}))
    assert [o.score for o in q.by_link_id["c"].options] == [1, 2, 3, None]


def test_helsenorge_scoring_codes_and_sdf_calculated_expression_are_read():
    q = load_questionnaire(form(
        {"linkId": "ts", "type": "quantity", "code": [{"system": "http://ehelse.no/scoringFormulas", "code": "TS"}]},
        {"linkId": "x", "type": "decimal", "extension": [{"url": "http://ehelse.no/fhir/StructureDefinition/sdf-calculatedExpression", "valueString": "1 + 1"}]},
    ))
    assert q.by_link_id["ts"].scoring == "TS"
    assert q.by_link_id["x"].calculated_expression.expression == "1 + 1"


def test_the_engine_is_pure():
    """No UI, no I/O, no clock reads, nothing of ours outside hub.domain (ARCHITECTURE.md's arrows)."""
    import re
    from pathlib import Path

    import hub.domain.questionnaire as pkg

    for f in Path(pkg.__file__).parent.glob("*.py"):
        text = f.read_text()
        imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", text, re.M)
        ours = [m for m in imports if m.split(".")[0] in ("hub", "ui", "drivers", "sync")]
        assert all(m.startswith("hub.domain") for m in ours), f.name
        assert not {m.split(".")[0] for m in imports} & {"kivy", "sqlite3", "httpx", "os", "pathlib", "socket", "logging"}, f.name
        assert not re.search(r"\b(datetime\.now|date\.today|time\.time|open)\(", text), f.name
