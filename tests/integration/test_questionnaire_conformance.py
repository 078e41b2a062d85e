"""Every QuestionnaireResponse and score Observation Heima emits passes Medplum's validator (a
validator nobody here wrote; tests/servers/fhir_validator.py) against R4 base and the VKP v0.9.0
QuestionnaireResponse / Observation profiles, with zero errors and zero warnings:

- the example check-ins (packaging/examples/questionnaires), answered as a patient would, through
  `heima questionnaire complete` and through the mapper the outbox uses (sync.fhir.questionnaires);
- the real-world forms written by others (tests/fixtures/questionnaires), every question they
  show answered; and the example Questionnaires themselves.
The validator is shown to be live on each kind: a broken copy fails.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone

import pytest

from hub import cli
from hub.domain.questionnaire import load_questionnaire, submit
from sync.fhir import questionnaires as fq
from sync.fhir.context import SYNTHETIC_TEST_PATIENT, FhirContext, HubIdentity, OrganisationRef
from tests.servers.fhir_profiles import VKP_OBSERVATION, VKP_QUESTIONNAIRE_RESPONSE
from tests.servers.fhir_validator import Item, items_for, validate
from tests.unit.questionnaire.answers import EXAMPLES, FIXTURES, TYPICAL, answered, example, fill_everything

NOW = datetime(2026, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))
CTX = FhirContext(SYNTHETIC_TEST_PATIENT, HubIdentity("HEIMA-0042"), OrganisationRef("974589095", display="Oslo kommune"))
SUBJECT = SYNTHETIC_TEST_PATIENT.to_reference()


def completed_by_the_cli(name: str, tmp_path, capsys) -> dict:  # noqa: ANN001
    answers, _ = TYPICAL[name]
    saved = answered(example(name), answers, now=NOW).response(now=NOW, status="in-progress", subject=SUBJECT)
    path = tmp_path / f"{name}.response.json"
    path.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
    code = cli.main(["questionnaire", "complete", str(EXAMPLES / f"{name}.json"), str(path), "--authored", NOW.isoformat()])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def emitted() -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = []
    for name, (answers, _) in sorted(TYPICAL.items()):
        sub = submit(answered(example(name), answers, now=NOW), now=NOW)
        found.append((f"{name}/mapped", fq.response_for(sub, CTX)))
        found += [(f"{name}/score/{s.link_id}", fq.score_observation_for(s, CTX)) for s in sub.scores]
        found.append((f"{name}/questionnaire", json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))))
    for path in sorted(FIXTURES.rglob("*.json")):
        q = load_questionnaire(json.loads(path.read_text(encoding="utf-8")))
        state = fill_everything(q, now=NOW)
        assert state.problems() == (), path.name
        found.append((f"fixture/{path.relative_to(FIXTURES)}", state.response(now=NOW, subject=SUBJECT, source=SUBJECT)))
    return found


def test_what_is_validated_covers_every_kind_and_every_form(emitted):
    kinds = {r["resourceType"] for _, r in emitted}
    assert kinds == {"QuestionnaireResponse", "Observation", "Questionnaire"}
    fixtures = [n for n, _ in emitted if n.startswith("fixture/")]
    assert len(fixtures) == len(list(FIXTURES.rglob("*.json"))) == 4
    assert sum(r["resourceType"] == "Observation" for _, r in emitted) == 3
    # the filler answered the forms written by others deeply: groups, repeats, calculated values
    assert all(len(json.dumps(r.get("item", []))) > 150 for n, r in emitted if n.startswith("fixture/"))


def test_every_response_and_score_passes_r4_and_vkp_with_no_errors_or_warnings(emitted):
    report = validate(item for name, resource in emitted for item in items_for(name, resource))
    assert {r.profile for r in report} == {"base", VKP_QUESTIONNAIRE_RESPONSE, VKP_OBSERVATION}
    assert [f"{r.name} [{r.profile}] {e}" for r in report for e in r.errors + r.warnings] == []


def test_what_heima_questionnaire_complete_prints_passes_r4_and_vkp(tmp_path, capsys):
    printed = {name: completed_by_the_cli(name, tmp_path, capsys) for name in sorted(TYPICAL)}
    assert all(r["status"] == "completed" for r in printed.values())
    report = validate(item for name, resource in printed.items() for item in items_for(name, resource))
    assert len(report) == 2 * len(printed)
    assert [f"{r.name} [{r.profile}] {e}" for r in report for e in r.errors + r.warnings] == []


def test_the_validator_is_live_for_responses_and_scores(emitted):
    by_name = dict(emitted)
    response = copy.deepcopy(by_name["kols-daglig/mapped"])
    no_subject = copy.deepcopy(response)
    del no_subject["subject"]
    # (Medplum does not check required code bindings: a status "done" passes; a malformed dateTime does not)
    bad_time = dict(copy.deepcopy(response), authored="yesterday")
    no_link_id = copy.deepcopy(response)
    del no_link_id["item"][1]["linkId"]
    bad_answer = copy.deepcopy(response)
    bad_answer["item"][0]["answer"][0] = {"valueCoding": "litt-verre"}
    score = copy.deepcopy(by_name["kols-daglig/score/sum"])
    score_no_subject = copy.deepcopy(score)
    del score_no_subject["subject"]
    report = validate([
        Item("no-subject", no_subject, (VKP_QUESTIONNAIRE_RESPONSE,)),
        Item("bad-time", bad_time), Item("no-link-id", no_link_id), Item("bad-answer", bad_answer),
        Item("score-no-subject", score_no_subject, (VKP_OBSERVATION,)),
    ])
    by = {(r.name, r.profile): r for r in report}
    assert by["no-subject", "base"].errors == () and any("subject" in e for e in by["no-subject", VKP_QUESTIONNAIRE_RESPONSE].errors)
    assert all(by[name, "base"].errors for name in ("bad-time", "no-link-id", "bad-answer"))
    assert any("subject" in e for e in by["score-no-subject", VKP_OBSERVATION].errors)
