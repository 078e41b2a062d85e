"""The questionnaire service on a real store: start, answer, back, resume after the hub was closed,
review, submit once into the outbox (the response for the FHIR server, the score for it and for
Pasientens måledata), forms imported from a source, a bad new version keeping the old one."""

from __future__ import annotations

import copy
import json

import pytest

from hub.domain.questionnaire import NotSubmittable, WrongAnswerType
from hub.services.events import FormSaved, FormSent, FormSubmitted
from hub.services.questionnaires import FOLDER, FormClosed

from .service_kit import Kit, all_examples, c, example_json

KOLS = "https://oppfolging.example.no/fhir/Questionnaire/kols-daglig"


async def kit_with_examples(tmp_path) -> Kit:  # noqa: ANN001
    kit = await Kit.open(tmp_path)
    report = await kit.service.import_forms(FOLDER, all_examples())
    assert not report.refused and len(report.kept) == 3
    return kit


async def test_the_forms_offered_and_a_form_walked_one_item_at_a_time_in_the_patients_language(tmp_path):
    kit = await kit_with_examples(tmp_path)
    try:
        available = {f.url: f for f in await kit.service.available(lang="en")}
        assert available[KOLS].title == "COPD: daily check-in" and available[KOLS].form_id is None
        step = await kit.service.start(KOLS, lang="nn")
        assert (step.number, step.item.link_id, step.at_review, step.can_go_back) == (1, "pust", False, False)
        assert step.item.text == "Korleis er pusten din i dag, samanlikna med vanleg?"
        assert [o.label for o in step.item.options] == ["Som vanleg", "Litt verre", "Mykje verre"]
        total_before = step.total
        step = await kit.service.answer(step.form_id, "pust", c("litt-verre"), lang="nn")
        step = await kit.service.next(step.form_id)
        step = await kit.service.answer(step.form_id, "hoste", c("nei"))
        step = await kit.service.next(step.form_id)
        assert step.item.link_id == "slim" and step.number == 3
        step = await kit.service.answer(step.form_id, "slim", c("ja"))
        assert step.total == total_before + 1  # the colour of the phlegm is asked now
        back = await kit.service.back(step.form_id)
        assert back.item.link_id == "hoste" and back.item.answers == (c("nei"),)
        assert [type(e) for e in kit.events].count(FormSaved) >= 5
    finally:
        await kit.close()


async def test_a_half_answered_form_comes_back_on_the_same_item_with_the_answers_kept_aside_too(tmp_path):
    kit = await kit_with_examples(tmp_path)
    step = await kit.service.start(KOLS)
    fid = step.form_id
    for link_id, value in [("pust", c("som-vanlig")), ("hoste", c("nei")), ("slim", c("ja")), ("slim-farge", c("gult-gront"))]:
        await kit.service.answer(fid, link_id, value)
    await kit.service.answer(fid, "slim", c("nei"))  # the colour is no longer asked: kept aside
    for _ in range(3):
        step = await kit.service.next(fid)
    assert step.item.link_id == "anfallsmedisin"
    await kit.close()

    again = await Kit.open(tmp_path)  # a new process: nothing in memory
    try:
        assert [f.form_id for f in await again.service.available() if f.url == KOLS] == [fid]
        resumed = await again.service.start(KOLS)
        assert (resumed.form_id, resumed.item.link_id, resumed.number, resumed.total) == (fid, step.item.link_id, step.number, step.total)
        review = await again.service.review(fid)
        assert "slim-farge" not in [i.link_id for i in review.items]
        await again.service.answer(fid, "slim", c("ja"))  # asked again: the colour given before is back
        review = await again.service.review(fid)
        assert {i.link_id: i.answers for i in review.items}["slim-farge"] == (c("gult-gront"),)
    finally:
        await again.close()


async def answer_kols(kit: Kit) -> str:
    step = await kit.service.start(KOLS)
    for link_id, value in [("pust", c("litt-verre")), ("hoste", c("litt-mer")), ("slim", c("ja")), ("slim-farge", c("gult-gront")),
                           ("anfallsmedisin", c("ja")), ("anfallsmedisin-antall", 4), ("sovn", c("nei"))]:
        await kit.service.answer(step.form_id, link_id, value)
    return step.form_id


async def test_submit_queues_the_response_and_its_score_once_the_score_alone_for_pmd(tmp_path):
    kit = await kit_with_examples(tmp_path)
    try:
        fid = await answer_kols(kit)
        review = await kit.service.review(fid)
        assert review.can_submit and not review.problems
        sent = await kit.service.submit(fid)
        assert not sent.already and [v for _, v in sent.scores] == [5]
        rows = kit.rows("SELECT g.kind, o.destination FROM outbox o JOIN outgoing g ON g.id = o.resource_id ORDER BY g.kind, o.destination")
        assert rows == [("questionnaire-response", "centre"), ("score", "centre"), ("score", "pmd")]
        response = json.loads(kit.rows("SELECT payload FROM outgoing WHERE kind = 'questionnaire-response'")[0][0])
        assert response["id"] == sent.response_id and response["questionnaire"] == f"{KOLS}|1.0"
        again = await kit.service.submit(fid)  # a second tap: the same submission, nothing new
        assert again.already and again.response_id == sent.response_id
        assert len(kit.rows("SELECT * FROM outbox")) == 3
        assert [e for e in kit.events if isinstance(e, FormSubmitted)] == [FormSubmitted(fid, sent.response_id, 1)]
        with pytest.raises(FormClosed):
            await kit.service.answer(fid, "pust", c("som-vanlig"))
        assert [f.form_id for f in await kit.service.available() if f.url == KOLS] == [None]
    finally:
        await kit.close()


async def test_a_form_with_a_missing_required_answer_is_not_sent_and_nothing_is_queued(tmp_path):
    kit = await kit_with_examples(tmp_path)
    try:
        step = await kit.service.start(KOLS)
        await kit.service.answer(step.form_id, "pust", c("som-vanlig"))
        review = await kit.service.review(step.form_id)
        assert not review.can_submit and "hoste" in {p.link_id for p in review.problems}
        with pytest.raises(NotSubmittable):
            await kit.service.submit(step.form_id)
        assert kit.rows("SELECT count(*) FROM outbox") == [(0,)]
        with pytest.raises(WrongAnswerType):
            await kit.service.answer(step.form_id, "anfallsmedisin-antall", "4")  # "4" is not 4: refused, not saved
    finally:
        await kit.close()


async def test_sent_once_every_destination_has_it(tmp_path):
    kit = await kit_with_examples(tmp_path)
    try:
        assert await kit.service.check_sent() == []
        fid = await answer_kols(kit)
        sent = await kit.service.submit(fid)
        ids = [r[0] for r in kit.rows("SELECT resource_id FROM outbox WHERE destination = 'centre'")]
        await kit.store.mark_delivered("centre", ids)
        assert await kit.service.check_sent() == []  # PMD still waits for the score
        score = [r[0] for r in kit.rows("SELECT resource_id FROM outbox WHERE destination = 'pmd'")]
        await kit.store.mark_delivered("pmd", score)
        assert await kit.service.check_sent() == [sent.response_id]
        assert FormSent(sent.response_id) in kit.events
    finally:
        await kit.close()


def _version(raw: dict, version: str, **changes) -> dict:  # noqa: ANN003
    new = copy.deepcopy(raw)
    new["version"] = version
    new.update(changes)
    return new


async def test_a_bad_new_version_is_refused_naming_the_item_and_the_last_good_one_stays(tmp_path):
    kit = await kit_with_examples(tmp_path)
    try:
        good = example_json("kols-daglig")
        bad = _version(good, "2.0")
        bad["item"][3]["enableWhen"][0]["question"] = "finnes-ikke"
        report = await kit.service.import_forms(FOLDER, [bad])
        assert [r.reason for r in report.refused] == [
            "item 'slim-farge': enableWhen points at 'finnes-ikke', which is no item of this form"
        ]
        assert report.kept_older == [(KOLS, "1.0")]
        assert [(f.url, f.version) for f in await kit.service.available() if f.url == KOLS] == [(KOLS, "1.0")]
    finally:
        await kit.close()


async def test_the_same_forms_again_are_kept_and_a_changed_one_under_a_kept_version_is_still_checked(tmp_path):
    # A start that finds the forms it kept keeps them without the engine (part M10); JSON that
    # differs from the kept copy under the same url and version is checked as any new form.
    kit = await kit_with_examples(tmp_path)
    try:
        again = await kit.service.import_forms(FOLDER, all_examples())
        assert not again.refused and sorted(again.kept) == sorted((f.url, f.version) for f in await kit.service.available())
        changed = example_json("kols-daglig")
        changed["item"][3]["enableWhen"][0]["question"] = "finnes-ikke"
        report = await kit.service.import_forms(FOLDER, [changed])
        assert [r.reason for r in report.refused] == [
            "item 'slim-farge': enableWhen points at 'finnes-ikke', which is no item of this form"
        ]
        assert report.kept_older == [(KOLS, "1.0")]
        step = await kit.service.start(KOLS)  # the kept copy, unchanged
        assert step.item is not None and step.number == 1
    finally:
        await kit.close()


async def test_a_new_version_never_breaks_a_form_half_answered_on_the_old_one(tmp_path):
    kit = await kit_with_examples(tmp_path)
    try:
        step = await kit.service.start(KOLS)
        await kit.service.answer(step.form_id, "pust", c("mye-verre"))
        newer = _version(example_json("kols-daglig"), "2.0")
        newer["item"] = [i for i in newer["item"] if i["linkId"] != "pust"]  # v2 asks no more about breathing
        await kit.service.import_forms(FOLDER, [newer])
        summary = next(f for f in await kit.service.available() if f.url == KOLS)
        assert (summary.version, summary.version_in_progress, summary.form_id) == ("2.0", "1.0", step.form_id)
        await kit.close()
        kit = await Kit.open(tmp_path)
        resumed = await kit.service.start(KOLS)
        assert resumed.form_id == step.form_id and resumed.item.answers == (c("mye-verre"),)
        fid = await answer_kols(kit)
        assert fid == step.form_id
        sent = await kit.service.submit(fid)
        payload = json.loads(kit.rows("SELECT payload FROM outgoing WHERE id = ?", sent.response_id)[0][0])
        assert payload["questionnaire"] == f"{KOLS}|1.0"
        started = await kit.service.start(KOLS)  # the next one is on the new version
        assert started.form_id != fid and started.item.link_id == "hoste"
    finally:
        await kit.close()
