"""`heima questionnaire check|complete` as a form author uses it: the real entry point (hub.cli.main)
on real files, the hub's own engine behind it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import cli

from .answers import CS, EXAMPLES, TYPICAL, answered, example
from .forms import NOW

AUTHORED = "2026-03-01T10:30:00+01:00"
KOLS = EXAMPLES / "kols-daglig.json"


def heima(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["questionnaire", *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, data) -> Path:  # noqa: ANN001
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def kols() -> dict:
    return json.loads(KOLS.read_text(encoding="utf-8"))


def coding(code: str) -> dict:
    return {"valueCoding": {"system": CS, "code": code}}


# -- check -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_check_passes_each_example_with_one_line(capsys, name):
    code, out, err = heima(capsys, "check", EXAMPLES / name)
    assert (code, err) == (0, "")
    assert len(out.splitlines()) == 1
    assert all(word in out for word in ("items", "enableWhen", "calculations", "scoring"))


def test_check_says_what_the_form_holds(capsys):
    code, out, _ = heima(capsys, "check", KOLS)
    assert code == 0
    assert out.strip() == (
        "ok kols-daglig.json: https://oppfolging.example.no/fhir/Questionnaire/kols-daglig|1.0 — 10 items "
        "(9 questions, 0 groups), 3 enableWhen, 0 calculations, scoring: 6 scored question(s), 1 score item(s)"
    )


def _points_at_nothing(f):  # noqa: ANN001
    f["item"][3]["enableWhen"][0]["question"] = "finnes-ikke"


def _duplicate(f):  # noqa: ANN001
    f["item"][2]["linkId"] = "pust"


def _cycle(f):  # noqa: ANN001
    f["item"][0]["enableWhen"] = [{"question": "slim-farge", "operator": "exists", "answerBoolean": True}]
    f["item"][2]["enableWhen"] = [{"question": "pust", "operator": "exists", "answerBoolean": True}]


def _bad_fhirpath(f):  # noqa: ANN001
    f["item"][5]["extension"].append({
        "url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
        "valueExpression": {"language": "text/fhirpath", "expression": "%resource.item.where(linkId = "},
    })


def _unknown_type(f):  # noqa: ANN001
    f["item"][6]["type"] = "slider"


def _wrong_answer_type(f):  # noqa: ANN001
    f["item"][3]["enableWhen"][0] = {"question": "slim", "operator": "=", "answerBoolean": True}


def _unknown_modifier(f):  # noqa: ANN001
    f["item"][1]["modifierExtension"] = [{"url": "https://example.org/only-for-nurses", "valueBoolean": True}]


@pytest.mark.parametrize(
    ("damage", "link_id", "words"),
    [
        (_points_at_nothing, "slim-farge", "points at 'finnes-ikke'"),
        (_duplicate, "pust", "share this linkId"),
        (_cycle, "pust", "round in a circle (pust → slim → slim-farge → pust)"),
        (_bad_fhirpath, "anfallsmedisin-antall", "FHIRPath"),
        (_unknown_type, "sovn", "slider"),
        (_wrong_answer_type, "slim-farge", "another type"),
        (_unknown_modifier, "hoste", "modifierExtension"),
    ],
)
def test_check_refuses_a_form_heima_cannot_run_naming_the_item(capsys, tmp_path, damage, link_id, words):
    form = kols()
    damage(form)
    code, out, err = heima(capsys, "check", write(tmp_path, "form.json", form))
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and "Heima cannot run this form" in err
    assert words.lower() in err.lower()
    if link_id:
        assert repr(link_id) in err


@pytest.mark.parametrize("field", ["url", "version"])
def test_check_refuses_a_form_a_response_could_not_name(capsys, tmp_path, field):
    form = kols()
    del form[field]
    code, _, err = heima(capsys, "check", write(tmp_path, "form.json", form))
    assert code == 2 and f"it has no {field}" in err


def test_check_says_why_a_file_cannot_be_read(capsys, tmp_path):
    code, _, err = heima(capsys, "check", tmp_path / "missing.json")
    assert code == 2 and "no such file" in err
    code, _, err = heima(capsys, "check", write(tmp_path, "broken.json", '{"resourceType": "Questionnaire",'))
    assert code == 2 and "is not JSON (line 1" in err
    code, _, err = heima(capsys, "check", write(tmp_path, "patient.json", {"resourceType": "Patient"}))
    assert code == 2 and "not a FHIR Questionnaire" in err


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = ["linkId", "type", "text", "required", "repeats", "enableWhen", "answerOption", "extension", "item",
        "maxLength", "initial", "enableBehavior", "readOnly", "code"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 9), key=st.sampled_from(KEYS), value=JSON)
def test_a_damaged_form_is_refused_with_a_reason_never_a_crash(capsys, tmp_path, index, key, value):
    """Any field of any item replaced by any JSON: exit 0 (still a form Heima runs) or exit 2 and
    one line of reason — never a traceback."""
    form = kols()
    form["item"][index][key] = value
    code, out, err = heima(capsys, "check", write(tmp_path, "form.json", form))
    assert (code == 0 and out.startswith("ok ")) or (code == 2 and len(err.splitlines()) == 1), (code, out, err)


def _paths(node, here=()):  # noqa: ANN001
    yield here
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, here + (key,))


FORM_PATHS = list(_paths(json.loads(KOLS.read_text(encoding="utf-8"))))[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(FORM_PATHS), value=JSON)
def test_any_part_of_a_form_damaged_is_refused_with_a_reason_never_a_crash(capsys, tmp_path, where, value):
    form = kols()
    node = form
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    code, out, err = heima(capsys, "check", write(tmp_path, "form.json", form))
    assert (code == 0 and out.startswith("ok ")) or (code == 2 and len(err.splitlines()) == 1), (code, out, err)


# -- complete ----------------------------------------------------------------------------------------


def saved(name: str) -> dict:
    """What the hub saves half-way: the typical answers as an in-progress response."""
    answers, _ = TYPICAL[name]
    return answered(example(name), answers, now=NOW).response(now=NOW, status="in-progress")


@pytest.mark.parametrize("name", sorted(TYPICAL))
def test_complete_prints_the_response_heima_would_submit(capsys, tmp_path, name):
    code, out, err = heima(capsys, "complete", EXAMPLES / f"{name}.json", write(tmp_path, "r.json", saved(name)), "--authored", AUTHORED)
    assert code == 0, err
    response = json.loads(out)
    assert response["status"] == "completed" and response["authored"] == AUTHORED
    assert response["questionnaire"] == f"https://oppfolging.example.no/fhir/Questionnaire/{name}|1.0"
    total = TYPICAL[name][1]
    assert next(i for i in response["item"] if i["linkId"] == "sum")["answer"] == [{"valueInteger": total}]
    assert f"score: item 'sum' (total) {total}" in err and "problem" not in err
    QuestionnaireResponse.model_validate(response)


def test_complete_leaves_out_disabled_answers_fills_the_score_and_names_the_problems(capsys, tmp_path):
    answers = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "https://oppfolging.example.no/fhir/Questionnaire/kols-daglig|1.0",
        "status": "in-progress",
        "item": [
            {"linkId": "pust", "answer": [coding("litt-verre")]},
            {"linkId": "hoste", "answer": [coding("litt-mer")]},
            {"linkId": "slim", "answer": [coding("nei")]},
            {"linkId": "slim-farge", "answer": [coding("blod")]},  # asked only after "ja"
            {"linkId": "anfallsmedisin", "answer": [coding("ja")]},
            {"linkId": "anfallsmedisin-antall", "answer": [{"valueInteger": 60}]},  # at most 50
            {"linkId": "sum", "answer": [{"valueInteger": 99}]},  # worked out again, not taken
            {"linkId": "melding", "answer": [{"valueString": "Hemmelig beskjed"}]},
        ],  # "sovn" (required) not answered
    }
    code, out, err = heima(capsys, "complete", KOLS, write(tmp_path, "r.json", answers), "--authored", AUTHORED)
    assert code == 1
    response = json.loads(out)
    assert response["status"] == "in-progress"
    linked = [i["linkId"] for i in response["item"]]
    assert "slim-farge" not in linked and "melding" in linked
    assert next(i for i in response["item"] if i["linkId"] == "sum")["answer"] == [{"valueInteger": 3}]
    assert err.splitlines() == [
        "left out: item 'slim-farge' is not enabled by these answers, so its answer is not sent",
        "score: total of the chosen options 3",
        "score: item 'sum' (total) 3",
        "problem: item 'anfallsmedisin-antall': above the highest allowed value 50",
        "problem: item 'sovn': required, not answered",
        "could not be submitted: 2 problem(s)",
    ]
    assert "Hemmelig" not in err and "60" not in err


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({"linkId": "anfallsmedisin-antall", "answer": [{"valueString": "4"}]}, "'anfallsmedisin-antall'"),  # "4" is not 4
        ({"linkId": "pust", "answer": [coding("kanskje")]}, "'pust': this value is not one of the item's options"),
        ({"linkId": "finnes-ikke", "answer": [{"valueBoolean": True}]}, "'finnes-ikke'"),
    ],
)
def test_complete_refuses_answers_the_form_cannot_take(capsys, tmp_path, answer, words):
    answers = {"resourceType": "QuestionnaireResponse", "status": "in-progress", "item": [answer]}
    code, out, err = heima(capsys, "complete", KOLS, write(tmp_path, "r.json", answers), "--authored", AUTHORED)
    assert (code, out) == (2, "")
    assert "the answers cannot be used with this form" in err and words in err


def test_complete_refuses_a_response_to_another_form_or_version(capsys, tmp_path):
    answers = saved("kols-daglig")
    answers["questionnaire"] = "https://oppfolging.example.no/fhir/Questionnaire/kols-daglig|0.9"
    code, _, err = heima(capsys, "complete", KOLS, write(tmp_path, "r.json", answers), "--authored", AUTHORED)
    assert code == 2 and "another version" in err


def test_complete_keeps_who_it_is_about(capsys, tmp_path):
    answers = saved("kols-daglig")
    answers["subject"] = {"type": "Patient", "identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "15854540030"}}
    code, out, _ = heima(capsys, "complete", KOLS, write(tmp_path, "r.json", answers), "--authored", AUTHORED)
    assert code == 0 and json.loads(out)["subject"] == answers["subject"]


def test_complete_needs_a_zone_on_the_time(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        heima(capsys, "complete", KOLS, write(tmp_path, "r.json", saved("kols-daglig")), "--authored", "2026-03-01T10:30:00")
    assert exit.value.code == 2
    assert "with its zone" in capsys.readouterr().err


def test_the_command_needs_no_data_folder_or_configuration(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = heima(capsys, "check", KOLS)
    assert code == 0 and "data in" not in out
    assert list(tmp_path.iterdir()) == []



RESPONSE_PATHS = list(_paths(json.loads(json.dumps(saved("kols-daglig")))))[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(RESPONSE_PATHS), value=JSON)
def test_any_part_of_the_answers_damaged_is_refused_or_reported_never_a_crash(capsys, tmp_path, where, value):
    answers = saved("kols-daglig")
    node = answers
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    code, out, err = heima(capsys, "complete", KOLS, write(tmp_path, "r.json", answers), "--authored", AUTHORED)
    if code == 2:
        assert out == "" and len(err.splitlines()) == 1, err
    else:
        assert code in (0, 1) and json.loads(out)["resourceType"] == "QuestionnaireResponse"
