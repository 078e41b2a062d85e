"""The questionnaire screens with taps on the touch app (real Kivy widgets, the real hub stack):
the patient answers the COPD check-in and it reaches the reference FHIR server once; Back and the
review change an answer and the question it enabled disappears; a form left half-way opens on the
same question after the app (and the hub) were closed; every kind of question takes its answer."""

from __future__ import annotations

from pathlib import Path

from hub.app import start_hub
from tests.integration.test_questionnaires_to_centre import KOLS, URI, config_for, kols
from ui.app import HeimaApp, drive
from ui.scenes import GALLERY_FORM, settle
from ui.speech import RecordingSpeaker

from .conftest import find, tap, texts

COLOUR_QUESTION = "Hvilken farge har slimet?"


async def tap_on(app, action: str) -> None:
    await tap(find(app.root, action=action), app)
    await settle(app)


async def answer_the_day_by_taps(app) -> None:
    """Breathing a little worse, coughing a little more, yellow-green phlegm, the reliever four
    times, slept well: as the hub-side test's day, every answer a tap."""
    for option in ("option-2", "option-2", "option-2", "option-2", "option-2"):
        await tap_on(app, option)
        await tap_on(app, "form-next")
    assert "Hvor mange ganger har du tatt anfallsmedisin siste døgn?" in texts(app.root)
    await tap_on(app, "key-4")
    await tap_on(app, "form-next")  # the number is saved, then the next question
    await tap_on(app, "option-1")  # slept: no
    await tap_on(app, "form-next")


async def open_kols(app) -> None:
    await settle(app)
    await tap_on(app, "go-forms")
    assert app.root.current == "forms"
    await tap(find(app.root, text="KOLS: daglig innsjekk"), app)
    await settle(app)
    assert app.root.current == "form-question"


async def test_the_patient_answers_the_copd_check_in_with_taps_and_it_reaches_the_centre_once(tmp_path, fhir_server):
    hub = await start_hub(config_for(tmp_path, [{"name": "centre", "kind": "fhir", "url": fhir_server.base_url}]), deliver=False)
    try:
        await hub.questionnaires.import_forms("folder", [kols()])

        async def work(app):
            await open_kols(app)
            assert "1 av 6" in texts(app.root)
            assert "Hvordan er pusten din i dag, sammenlignet med vanlig?" in texts(app.root)
            await answer_the_day_by_taps(app)
            # the score is high enough: the form's advice is one of the steps now
            assert "Svarene dine tyder på at KOLS-en er verre enn vanlig." in texts(app.root)
            await tap_on(app, "form-next")
            for key in ("key-h", "key-e", "key-i"):  # a word to the nurse, on the Norwegian keyboard
                await tap_on(app, key)
            await tap_on(app, "key-space")
            await tap_on(app, "key-å")
            await tap_on(app, "form-next")
            assert app.root.current == "form-review"
            shown = texts(app.root)
            assert "Litt verre" in shown and "Gult eller grønt" in shown and "4 ganger" in shown and "hei å" in shown
            await tap_on(app, "form-send")
            assert app.root.current == "form-done"
            assert "Svarene dine tyder på at KOLS-en er verre enn vanlig." in texts(app.root)  # after scoring

        await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
        delivered = (await hub.deliver_now())["centre"].delivered
        assert delivered == 2  # the response and its score
        assert (await hub.deliver_now())["centre"].delivered == 0
    finally:
        await hub.stop()
    [qr] = fhir_server.resources("QuestionnaireResponse")
    assert qr["status"] == "completed" and qr["questionnaire"] == f"{KOLS}|1.0"
    answers = {i["linkId"]: i["answer"][0] for i in qr["item"] if i.get("answer")}
    assert answers["pust"]["valueCoding"]["code"] == "litt-verre"
    assert answers["slim-farge"]["valueCoding"]["code"] == "gult-gront"
    assert answers["anfallsmedisin-antall"]["valueInteger"] == 4
    assert answers["melding"]["valueString"] == "hei å"
    scores = [o for o in fhir_server.observations() if o.get("derivedFrom")]
    assert [o["valueQuantity"]["value"] for o in scores] == [5]
    assert qr["identifier"]["system"] == URI


async def test_back_and_the_review_change_an_answer_and_the_question_it_enabled_disappears(run_app):
    async def work(app):
        await open_kols(app)
        for option in ("option-1", "option-1", "option-2"):  # usual breath, no cough, phlegm: yes
            await tap_on(app, option)
            await tap_on(app, "form-next")
        assert COLOUR_QUESTION in texts(app.root) and "4 av 7" in texts(app.root)
        await tap_on(app, "form-back")
        assert "Har du mer slim enn vanlig?" in texts(app.root)
        await tap_on(app, "option-1")  # no phlegm after all: the colour is not asked
        assert "3 av 6" in texts(app.root)
        await tap_on(app, "form-next")
        assert COLOUR_QUESTION not in texts(app.root)
        assert "Har du brukt mer anfallsmedisin enn vanlig siste døgn?" in texts(app.root)
        await tap_on(app, "option-1")
        await tap_on(app, "form-next")
        await tap_on(app, "option-1")
        await tap_on(app, "form-next")
        await tap_on(app, "form-next")  # nothing to say to the nurse
        assert app.root.current == "form-review"
        assert COLOUR_QUESTION not in texts(app.root)
        await tap_on(app, "change-3")  # the phlegm answer: yes after all
        assert app.root.current == "form-question" and "Har du mer slim enn vanlig?" in texts(app.root)
        await tap_on(app, "option-2")
        await tap_on(app, "form-next")
        assert COLOUR_QUESTION in texts(app.root)  # asked again, and in the review
        for _ in range(4):
            await tap_on(app, "form-next")
        assert app.root.current == "form-review"
        assert COLOUR_QUESTION in texts(app.root) and "Ikke svart" in texts(app.root)

    await run_app(work)


async def test_a_form_left_half_way_opens_on_the_same_question_after_the_app_and_hub_were_closed(tmp_path):
    config = config_for(tmp_path, [])
    hub = await start_hub(config, deliver=False)
    try:
        async def first(app):
            await tap_on(app, "go-forms")
            await tap(find(app.root, text="KOLS: daglig innsjekk"), app)
            await settle(app)
            await tap_on(app, "option-3")
            await tap_on(app, "form-next")
            await tap_on(app, "option-2")
            await tap_on(app, "form-next")
            assert "Har du mer slim enn vanlig?" in texts(app.root)

        await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), first)
    finally:
        await hub.stop()
    hub = await start_hub(config, deliver=False)
    try:
        async def again(app):
            await tap_on(app, "go-forms")
            assert "Påbegynt: fortsett der du var" in texts(app.root)
            await tap(find(app.root, text="KOLS: daglig innsjekk"), app)
            await settle(app)
            assert app.root.current == "form-question"
            assert "Har du mer slim enn vanlig?" in texts(app.root) and "3 av 6" in texts(app.root)
            await tap_on(app, "form-back")
            assert find(app.root, action="option-2").role == "selected"  # "Litt mer", as answered

        await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), again)
    finally:
        await hub.stop()


async def test_every_kind_of_question_takes_its_answer_and_the_review_shows_it(run_app, example):
    hub, _ids = example

    async def work(app):
        await settle(app)
        app.open_form(GALLERY_FORM)
        await settle(app)
        assert app.root.current == "form-question"
        assert "Slik ser et bilde fra skjemaet ut." in texts(app.root)
        assert app.root.get_screen("form-question").ids.picture.texture is not None  # the form's picture
        await tap_on(app, "form-next")
        await tap_on(app, "help")
        assert "Svimmel: at det går rundt for deg" in texts(app.root)
        await tap_on(app, "option-1")  # Ja
        await tap_on(app, "form-next")
        await tap_on(app, "option-other")  # "Annet", typed
        for key in ("key-shift", "key-n", "key-a", "key-b", "key-o"):
            await tap_on(app, key)
        await tap_on(app, "form-next")
        for key in ("key-7", "key-8", "key-decimal", "key-5"):
            await tap_on(app, key)
        assert "78,5 kg" in texts(app.root)
        await tap_on(app, "form-next")
        await tap_on(app, "key-3")
        await tap_on(app, "form-next")
        await tap_on(app, "unit-2")  # litres
        await tap_on(app, "key-1")
        await tap_on(app, "form-next")
        await tap_on(app, "date-yesterday")
        await tap_on(app, "form-next")
        for key in ("key-0", "key-9", "key-3", "key-0"):
            await tap_on(app, key)
        assert "09.30" in texts(app.root)
        await tap_on(app, "form-next")
        for key in ("key-shift", "key-p", "key-a", "key-r", "key-a"):
            await tap_on(app, key)
        await tap_on(app, "form-next")
        assert app.root.current == "form-review"
        shown = texts(app.root)
        for answer in ("Ja", "Nabo", "78,5 kg", "3 ganger", "1 liter", "fredag 20. november 2026", "09.30", "Para"):
            assert answer in shown, answer

    await run_app(work)
