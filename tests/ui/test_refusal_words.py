"""Why enrolment or a return was refused, on the screen in the app's language: every reason the hub
can give has words in every language (never the service's English message, never an exception's
text), and a refused profile shows them through taps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from babel.messages.pofile import read_po

from hub.domain import refusals
from tests.ui.conftest import find, tap, texts, wait_for
from tests.ui.test_technician_screens import type_pin
from tests.unit.technician.profiles import HUB_ID, NOW, centre_key, payload, signed, write_trusted
from ui.i18n import LANGUAGES, LOCALE_DIR
from ui.models.refusals import TEXTS
from ui.scenes import next_frame


def test_every_refusal_reason_the_hub_gives_has_words():
    assert set(TEXTS) == set(refusals.ALL)
    assert len(set(refusals.ALL)) == len(refusals.ALL)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_refusal_reason_is_translated_in_every_language(lang):
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "heima.po", "rb") as f:
        catalog = read_po(f, locale=lang)
    missing = [reason for reason, msgid in TEXTS.items() if not (catalog.get(msgid) and catalog.get(msgid).string)]
    assert not missing, f"{lang}: no words for {missing}"
    if lang != "en":
        untranslated = [reason for reason, msgid in TEXTS.items() if catalog.get(msgid).string == msgid]
        assert not untranslated, f"{lang}: still English for {untranslated}"


def usb_hub(tmp_path, hub, *, data: dict, clock=lambda: NOW):
    """The example hub given a fresh desk: a new hub with a signed profile on a USB stick."""
    from hub.app.technician_desk import desk

    etc = tmp_path / "etc"
    etc.mkdir()
    key = centre_key()
    write_trusted(etc / "enrolment-keys.json", key)
    (etc / "hub-id").write_text(HUB_ID)
    stick = tmp_path / "media" / "tone" / "HEIMA-USB"
    stick.mkdir(parents=True)
    (stick / "kari.json").write_bytes(signed(data, key))
    hub.api.technician = desk(etc / "heima.toml", tmp_path / "data", profile_folders=(tmp_path / "media",), clock=clock)
    return etc / "heima.toml"


async def enrol_by_taps(app, language: str) -> str:
    app.session.language = language
    await next_frame(2)
    await tap(find(app.root, action="enrol-start"))
    await tap(find(app.root, action="enrol-profile-0"))
    await type_pin(app, "739154", "enrol-pin-ok")
    await type_pin(app, "739154", "enrol-pin-ok")
    await wait_for(lambda: app.technician.enrol_step == "done", timeout=30)
    await next_frame(3)
    return texts(app.root)


@pytest.mark.parametrize(
    ("language", "change", "clock", "words"),
    [
        ("nb", {}, NOW + timedelta(days=30), "Profilen er for gammel. Be senteret om en ny."),
        ("nn", {"hub_id": "HEIMA-0099"}, NOW, "Denne profilen er for ein annan boks."),
        ("en", {}, NOW - timedelta(days=3), "The profile is not valid yet. Check the box's date and time"),
    ],
    ids=["expired-nb", "other-hub-nn", "not-yet-valid-en"],
)
async def test_a_refused_profile_says_why_in_the_apps_language_and_not_the_services_english(
    run_app, example, tmp_path, language, change, clock, words
):
    hub, _ids = example
    config = usb_hub(tmp_path, hub, data=payload(tmp_path / "inbox", **change), clock=lambda: clock)
    shown: dict = {}

    async def work(app):
        await wait_for(lambda: app.root.current == "enrol")
        shown["text"] = await enrol_by_taps(app, language)
        app.session.language = "nb"  # the words follow the language when it changes
        await next_frame(3)
        shown["again"] = texts(app.root)

    await run_app(work)
    assert words in shown["text"]
    for english in ("expired", "profile is for hub", "valid only from", "HEIMA-0099"):
        assert english not in shown["text"]  # the service's message stays off the screen
    assert "Profilen ble avvist" in shown["again"]
    assert not config.exists()
