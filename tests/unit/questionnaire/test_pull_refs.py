"""How a centre's Task names the form to answer (sync.pull.questionnaires.form_refs): an input's
canonical or reference, or the Task's focus — and any other JSON gives no form, never an error."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.pull.questionnaires import FormRef, form_refs

KOLS = "https://oppfolging.example.no/fhir/Questionnaire/kols-daglig"


def task(**fields) -> dict:  # noqa: ANN003
    return {"resourceType": "Task", "status": "requested", "intent": "order", **fields}


def test_every_way_a_task_names_its_form():
    assert form_refs(task(input=[{"type": {"text": "q"}, "valueCanonical": f"{KOLS}|1.0"}])) == [FormRef(url=KOLS, version="1.0")]
    assert form_refs(task(input=[{"type": {"text": "q"}, "valueCanonical": KOLS}])) == [FormRef(url=KOLS)]
    assert form_refs(task(input=[{"type": {"text": "q"}, "valueReference": {"reference": "Questionnaire/abc"}}])) == [FormRef(id="abc")]
    assert form_refs(task(focus={"reference": f"Questionnaire?url={KOLS}&version=2.0"})) == [FormRef(url=KOLS, version="2.0")]
    assert form_refs(task(focus={"reference": "Patient/1"})) == []
    both = task(input=[{"valueCanonical": f"{KOLS}|1.0"}], focus={"reference": f"Questionnaire?url={KOLS}&version=1.0"})
    assert form_refs(both) == [FormRef(url=KOLS, version="1.0")]  # the same form once


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(
        ["resourceType", "input", "focus", "valueCanonical", "valueReference", "reference", "type"]) | st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["input", "focus", "status"]), json_values, max_size=3))
def test_any_json_in_a_task_gives_forms_or_none_never_an_error(fields):
    for ref in form_refs(task(**fields)):
        assert isinstance(ref, FormRef) and (ref.id or ref.url)


@given(json_values)
def test_anything_that_is_not_a_task_names_no_form(value):
    if not (isinstance(value, dict) and value.get("resourceType") == "Task"):
        assert form_refs(value) == []
