"""The screens as a patient uses them: real widgets, real touches, what the screen then says."""

from __future__ import annotations

import json

from hub.api import Connected, CuffPressure, DownloadProgress, LiveReading, MeasurementKind, Provenance
from ui.scenes import settle

from .conftest import Finger, HeldSession, find, measuring_with, start_measuring, tap, texts, wait_for


async def test_today_says_what_is_done_and_where_it_was_sent(run_app):
    async def work(app):
        await settle(app)
        shown = texts(app.root)
        assert "I dag" in shown and "Lørdag 21. november 2026" in shown
        assert "Gjort klokka 10.30: 96 % · 68 /min" in shown  # a time as Språkrådet writes it; Norwegian spacing
        assert "Sendt ✓" in shown and "Venter på å bli sendt" in shown
        calm = "Noen målinger kunne ikke sendes. Sykepleieren din vet om det, og du trenger ikke gjøre noe."
        assert calm in shown
        from ui import theme

        assert tuple(find(app.root, text=calm).color[:3]) == theme.rgba(theme.INK)[:3]  # calm, not alarm red
        row = find(app.root, text="Kunne ikke sendes — sykepleieren din vet om det")
        assert tuple(row.color[:3]) == theme.rgba(theme.INK)[:3]
        assert "Batteriet i blodtrykksmåleren er nesten tomt. Be om et nytt." in shown  # what it is, not its name
        assert "Heima BP 1" not in shown  # one blood pressure monitor: no need to tell it apart
        assert "Ikke gjort ennå i dag" in shown  # weight

    await run_app(work)


async def test_a_press_that_slides_off_does_nothing_and_release_acts(run_app):
    async def work(app):
        await settle(app)
        button = find(app.root, action="go-settings")
        finger = Finger(button)
        await finger.down()
        assert app.root.current == "today" and app.actions == []  # nothing on press
        await finger.move_to(5, 5)  # the shaky hand slides off
        await finger.up()
        assert app.root.current == "today" and app.actions == []
        await tap(button, app)
        assert app.root.current == "settings"

    await run_app(work)


async def test_language_and_text_size_change_at_once_and_are_kept(run_app, tmp_path):
    settings = tmp_path / "ui.json"

    async def work(app):
        await settle(app)
        await tap(find(app.root, action="go-settings"), app)
        await tap(find(app.root, action="language-nn"), app)
        assert "Innstillingar" in texts(app.root) and "Tekststorleik" in texts(app.root)
        assert "Det finst inga nynorskstemme" in texts(app.root)  # the voice falls back visibly
        title = find(app.root, text="Innstillingar")
        before = title.font_size
        await tap(find(app.root, action="size-larger"), app)
        await settle(app)  # sizes follow Metrics.fontscale on the next frame
        assert title.font_size == before * 1.5
        # the voice note is seen at the largest text, not cut behind the navigation bar
        note = find(app.root, text="Det finst inga nynorskstemme")
        from kivy.uix.scrollview import ScrollView

        view = note.parent
        while not isinstance(view, ScrollView):
            view = view.parent
        nx0, ny0 = note.to_window(note.x, note.y)
        vx0, vy0 = view.to_window(view.x, view.y)
        assert ny0 >= vy0 and note.to_window(note.right, note.top)[1] <= view.to_window(view.right, view.top)[1]
        await tap(find(app.root, action="language-en"), app)
        assert "Text size" in texts(app.root) and "nynorsk voice" not in texts(app.root)
        await tap(find(app.root, action="go-today"), app)
        assert "Saturday 21 November 2026" in texts(app.root)  # British, not US

    await run_app(work, settings_path=settings)
    assert json.loads(settings.read_text()) == {"language": "en", "text_size": "larger", "read_aloud": False}
    from kivy.metrics import Metrics

    Metrics.fontscale = 1.0


async def test_a_value_typed_by_hand_is_stored_marked_manual_with_a_decimal_comma(run_app, example, caplog):
    hub, _ = example
    caplog.set_level("DEBUG")

    async def work(app):
        await settle(app)
        await tap(find(app.root, action="measure-thermometer"), app)
        await tap(find(app.root, action="manual"), app)
        for key in ("3", "8", "decimal", "2"):
            await tap(find(app.root, action=f"key-{key}"), app)
        assert "Temperatur:  38,2 °C" in texts(app.root)
        await tap(find(app.root, action="save"), app)
        await wait_for(lambda: app.root.current == "measure" and app.measure_model.state == "result")
        await settle(app)
        shown = texts(app.root)
        assert "38,2 °C" in shown and "skrevet inn for hånd" in shown and "Venter på å bli sendt" in shown

    await run_app(work)
    [temp] = await hub.api.recent(kind=MeasurementKind.BODY_TEMPERATURE, limit=1)
    assert temp.value == 38.2 and temp.provenance is Provenance.MANUAL
    assert "38.2" not in caplog.text and "38,2" not in caplog.text  # patient data never in logs


async def test_an_impossible_weight_is_refused_in_plain_words(run_app, example):
    hub, _ = example

    async def work(app):
        await settle(app)
        app.manual("weight")
        await settle(app)
        for key in "1200":
            await tap(find(app.root, action=f"key-{key}"), app)
        await tap(find(app.root, action="save"), app)
        await wait_for(lambda: "må være mellom" in texts(app.root))
        assert "Vekt må være mellom 2,0 og 400,0 kg. Sjekk tallet." in texts(app.root)
        assert app.root.current == "manual"

    before = len(await hub.api.recent(kind=MeasurementKind.BODY_WEIGHT, limit=100))
    await run_app(work)
    assert len(await hub.api.recent(kind=MeasurementKind.BODY_WEIGHT, limit=100)) == before


async def test_a_device_that_never_answers_is_told_with_what_to_do(run_app, example):
    hub, _ = example
    async def no_device(timeout, **_):
        raise TimeoutError

    api = measuring_with(hub, no_device)

    async def work(app):
        await settle(app)
        await start_measuring(app, "pulse-oximeter")
        await wait_for(lambda: app.measure_model.state == "no-device")
        await settle(app)
        assert "Ingen apparater svarte. Sjekk at fingerklypa er slått på og ligger nær denne skjermen" in texts(app.root)
        assert find(app.root, action="try-again") and find(app.root, action="manual")

    await run_app(work, api=api)


async def test_live_cuff_pressure_and_memory_download_show_as_they_come(run_app, example):
    hub, _ = example
    held = HeldSession()
    api = measuring_with(hub, held.measure)

    async def work(app):
        await settle(app)
        await start_measuring(app, "blood-pressure")
        await held.started.wait()
        hub.events.publish(Connected("F0:11:22:33:44:02"))
        hub.events.publish(CuffPressure("F0:11:22:33:44:02", 162))
        await settle(app)
        assert "162 mmHg" in texts(app.root) and "Trykk i mansjetten" in texts(app.root)
        hub.events.publish(DownloadProgress("F0:11:22:33:44:02", 3, 40))
        await settle(app)
        assert "Henter målinger fra apparatet: 3 av 40" in texts(app.root)
        held.release.set()
        await wait_for(lambda: app.measure_model.state == "lost")  # it ended without a value
        await settle(app)
        assert "Apparatet stoppet før en verdi kom. Mål på nytt." in texts(app.root)

    await run_app(work, api=api)


async def test_a_value_stored_as_the_session_ends_is_shown_not_called_lost(run_app, example):
    """A device that sends its value and hangs up at once: the session is over before the value's
    event reaches the screen. The screen still shows the value, never "stopped before a value came"."""
    hub, _ = example
    from hub.app import GALLERY_NOW
    from hub.domain.readings import DeviceIdentity, Reading

    thermometer = DeviceIdentity(address="F0:11:22:33:44:07", name="Heima Thermo 7")

    async def measure_and_hang_up(timeout, **_):
        reading = Reading(MeasurementKind.BODY_TEMPERATURE, 37.4, "Cel", GALLERY_NOW, device=thermometer)
        await hub.service.record_reading(reading)  # committed; its event is still on its way

    api = measuring_with(hub, measure_and_hang_up)

    async def work(app):
        await settle(app)
        await start_measuring(app, "thermometer")
        await wait_for(lambda: not app.measure_model.measuring)
        await settle(app)
        assert app.measure_model.state == "result"
        shown = texts(app.root)
        assert "37,4 °C" in shown and "stoppet før en verdi kom" not in shown

    await run_app(work, api=api)


async def test_the_passkey_dialog_answers_the_hubs_pairing_with_what_was_typed(run_app, example):
    hub, _ = example
    import asyncio

    async def work(app):
        await settle(app)
        answer = asyncio.ensure_future(hub.api.pairing.passkey_for("Heima PLX 1"))
        await wait_for(lambda: app.passkey.waiting)
        await settle(app)
        # No measuring under way: the screen does not know which kind of device asks, so the
        # sentence says "the device" and the device's own name stands on a line of its own.
        assert "Skriv inn de 6 tallene som apparatet viser." in texts(app.passkey)
        assert "| Heima PLX 1 |" in texts(app.passkey)
        for key in "246810":
            await tap(find(app.passkey, action=f"key-{key}"), app)
        assert app.passkey.digits == "246810"
        await tap(find(app.passkey, action="pairing-ok"), app)
        assert await asyncio.wait_for(answer, 2) == 246810
        confirm = asyncio.ensure_future(hub.api.pairing.confirm_numeric("Heima BP 1", 4321))
        await wait_for(lambda: app.passkey.waiting)
        await settle(app)
        assert "004 321" in texts(app.passkey)
        await tap(find(app.passkey, action="pairing-cancel"), app)
        assert await asyncio.wait_for(confirm, 2) is False

    await run_app(work)
    assert not hub.api.pairing.attached  # the app let go of the pairing prompt when it stopped


async def test_read_aloud_speaks_the_screen_in_its_language(run_app):
    from ui.speech import RecordingSpeaker

    speaker = RecordingSpeaker()

    async def work(app):
        await settle(app)
        assert not app.session.read_aloud  # off by default: nothing is read unasked
        await tap(find(app.root, action="go-history"), app)
        assert speaker.said == []
        await tap(find(app.root, action="go-today"), app)
        await tap(find(app.root, action="read-aloud"), app)
        await wait_for(lambda: speaker.said)
        voice, text = speaker.said[-1]
        assert voice == "nb" and text.startswith("I dag Lørdag 21. november 2026.")
        assert "✓" not in text
        await tap(find(app.root, action="go-settings"), app)
        await tap(find(app.root, action="read-aloud-on"), app)
        await tap(find(app.root, action="go-today"), app)
        await tap(find(app.root, action="measure-weight"), app)  # opening a guide reads it
        await wait_for(lambda: speaker.said[-1][1].startswith("Vekt. Ta av deg skoene."))

    await run_app(work, speaker=speaker)


async def test_history_charts_the_chosen_kind_and_period(run_app):
    async def work(app):
        await settle(app)
        await tap(find(app.root, action="go-history"), app)
        await tap(find(app.root, action="kind-blood-pressure"), app)
        await tap(find(app.root, action="days-30"), app)
        chart = app.root.get_screen("history").ids.chart
        assert len(chart.lines) == 2  # upper and lower value: a line (with its points) each
        assert chart.xmin == -30 and len(chart.lines[0].points) >= 29
        assert "171/99 mmHg" in texts(app.root)

    await run_app(work)


async def test_a_missing_and_a_questionable_value_say_to_measure_again(run_app, example):
    hub, _ = example
    from datetime import timedelta

    from hub.app import GALLERY_NOW
    from hub.domain.readings import AbsentReason, DeviceIdentity, QualityFlag, Reading

    ox = DeviceIdentity(address="F0:11:22:33:44:09", name="Heima PLX 9")
    at = GALLERY_NOW - timedelta(minutes=1)
    missing = await hub.service.record_reading(
        Reading(MeasurementKind.OXYGEN_SATURATION, None, "%", at, absent_reason=AbsentReason.NOT_A_NUMBER, device=ox)
    )
    unsure = await hub.service.record_reading(
        Reading(MeasurementKind.PULSE_RATE, 212, "/min", at, device=ox, flags=frozenset({QualityFlag.QUESTIONABLE}))
    )

    async def work(app):
        await settle(app)
        app.measure("pulse-oximeter")
        for outcome in (missing, unsure):
            await app.measure_model.show_measurement(str(outcome.measurement.id), outcome.measurement.reading.kind.value)
        await settle(app)
        shown = texts(app.root)
        assert "Mål på nytt: apparatet kunne ikke gi en verdi." in shown
        assert "Usikker måling: 212 /min" in shown and "Mål på nytt: apparatet er usikkert på denne verdien." in shown
        assert find(app.root, action="measure-again").role == "primary"  # measuring again comes first

    await run_app(work)


async def test_a_flagged_value_asks_to_measure_again_first_with_how_and_does_not_look_like_a_result(run_app, example):
    """171/99 with a loose cuff: the request to measure again, large and first, with the cuff
    picture and how to put it on; the doubtful value only after it, in small muted type."""
    from kivy.metrics import sp

    from ui import theme
    from ui.pictograms import Pictogram

    hub, ids = example

    async def work(app):
        await settle(app)
        app.measure("blood-pressure")
        for mid, kind in ids["blood-pressure-loose"]:
            await app.measure_model.show_measurement(mid, kind)
        await settle(app)
        request = find(app.root, text="Mål på nytt: mansjetten satt for løst.")
        how = find(app.root, text="Sett mansjetten på bar overarm, i høyde med hjertet.")
        value = find(app.root, text="171/99\u00a0mmHg")
        assert value.text == "Usikker måling: 171/99\u00a0mmHg"
        # read top to bottom: the request, then how, then the value
        top = lambda w: w.to_window(w.x, w.top)[1]  # noqa: E731
        assert top(request) > top(how) > top(value)
        assert request.font_size > value.font_size and value.font_size < sp(40)  # not the 72 sp of a result
        assert tuple(value.color[:3]) == theme.rgba(theme.INK_MUTED)[:3]
        cuff = [w for w in app.root.walk() if isinstance(w, Pictogram) and w.name == "cuff" and w.width > 0]
        assert cuff and cuff[0].get_root_window() is not None
        assert find(app.root, text="74\u00a0/min")  # the pulse, not flagged, is shown as it is
        assert find(app.root, action="measure-again").role == "primary"

    await run_app(work)


async def test_a_shared_scale_asks_for_the_patients_4_digit_code_in_large_type(run_app, example, caplog):
    """The scale's consent-code question reaches the dialog through the hub's pairing provider:
    four digits typed with the number pad, OK only once all four are there; Cancel answers None."""
    hub, _ = example
    import asyncio
    import logging

    from ui import theme

    caplog.set_level(logging.DEBUG)

    async def work(app):
        await settle(app)
        answer = asyncio.ensure_future(hub.api.pairing.consent_code_for("Heima Scale 1", 2))
        await wait_for(lambda: app.passkey.waiting)
        await settle(app)
        shown = texts(app.passkey)
        assert "Koden din på vekta" in shown
        assert "Skriv inn koden for bruker 2 på vekta (4 tall)." in shown and "Heima Scale 1" not in shown
        assert [s.text for s in app.passkey.slots()] == ["", "", "", ""]  # four boxes, not a passkey's six
        for key in "907":
            await tap(find(app.passkey, action=f"key-{key}"), app)
        await tap(find(app.passkey, action="pairing-ok"), app)  # three digits: not yet
        assert not answer.done() and [s.text for s in app.passkey.slots()] == ["9", "0", "7", ""]
        for key in "35":  # a fifth digit does not fit
            await tap(find(app.passkey, action=f"key-{key}"), app)
        assert [s.text for s in app.passkey.slots()] == ["9", "0", "7", "3"]
        from kivy.metrics import sp

        assert app.passkey.slots()[0].font_size == sp(int(theme.FONT_SLOT.removesuffix("sp")))  # large type
        await tap(find(app.passkey, action="pairing-ok"), app)
        assert await asyncio.wait_for(answer, 2) == 9073
        again = asyncio.ensure_future(hub.api.pairing.consent_code_for("Heima Scale 1", 2))
        await wait_for(lambda: app.passkey.waiting)
        await settle(app)
        assert [s.text for s in app.passkey.slots()] == ["", "", "", ""]  # a fresh question starts empty
        await tap(find(app.passkey, action="pairing-cancel"), app)
        assert await asyncio.wait_for(again, 2) is None

    await run_app(work)
    assert "9073" not in caplog.text


async def test_a_value_whose_destination_lost_consent_says_it_is_not_shared(run_app, example):
    """Consent withdrawn for the place values go: what was waiting is not sent, and the screen
    says so by name — never "Sent ✓"."""
    hub, ids = example
    await hub.consent.withdraw("local-folder")

    async def work(app):
        await settle(app)
        shown = texts(app.root)
        assert "Ikke delt med local-folder — du trakk tilbake samtykket ditt" in shown  # blood pressure, temperature
        assert "Sendt ✓" in shown  # the oximeter values had gone before
        mid, kind = ids["blood-pressure-loose"][0]
        app.measure_model.open("blood-pressure")
        await app.measure_model.show_measurement(mid, kind)
        app.root.current = "measure"
        await app.measure_model.refresh_send.wait()
        await settle(app)
        assert "Ikke delt med local-folder — du trakk tilbake samtykket ditt" in texts(app.root)
        assert "Sendt ✓" not in texts(app.root)

    await run_app(work)


async def test_a_streaming_oximeter_shows_oxygen_and_pulse_as_they_come(run_app, example):
    hub, _ = example
    held = HeldSession()
    api = measuring_with(hub, held.measure)

    async def work(app):
        await settle(app)
        await start_measuring(app, "pulse-oximeter")
        await held.started.wait()
        hub.events.publish(Connected("F0:11:22:33:44:50"))
        hub.events.publish(LiveReading("F0:11:22:33:44:50", MeasurementKind.OXYGEN_SATURATION, 95, "%"))
        hub.events.publish(LiveReading("F0:11:22:33:44:50", MeasurementKind.PULSE_RATE, 81, "/min"))
        await settle(app)
        shown = texts(app.root)
        assert "95 %  81 /min" in shown and "Oksygenmetning · Puls" in shown
        hub.events.publish(LiveReading("F0:11:22:33:44:50", MeasurementKind.OXYGEN_SATURATION, 96, "%"))
        await settle(app)
        assert "96 %  81 /min" in texts(app.root)
        held.release.set()

    await run_app(work, api=api)


async def test_today_never_says_everything_is_sent_beside_a_value_kept_back(run_app, tmp_path):
    """Nothing waiting and nothing refused, but today's value was kept back by the patient's
    withdrawal: the banner says where it was not shared, not "Everything is sent"."""
    from hub.api import DeviceFamily
    from hub.app import start_hub
    from hub.config import HubConfig

    hub = await start_hub(HubConfig(data_dir=tmp_path / "own", serial="HEIMA-CONSENT"), deliver=False, families=list(DeviceFamily))
    try:
        await hub.api.record_manual(MeasurementKind.BODY_TEMPERATURE, 37.1, "Cel")
        await hub.consent.withdraw("local-folder")

        async def work(app):
            await settle(app)
            shown = texts(app.root)
            assert shown.count("Ikke delt med local-folder — du trakk tilbake samtykket ditt") == 2  # the row and the banner
            assert "Alt er sendt" not in shown and "Sendt ✓" not in shown

        await run_app(work, api=hub.api)
    finally:
        await hub.stop()


async def test_history_shows_each_nights_oximetry_as_its_lowest_value_and_time_under_90(run_app):
    async def work(app):
        await settle(app)
        await tap(find(app.root, action="go-history"), app)
        await tap(find(app.root, action="kind-oximetry-summary"), app)
        shown = texts(app.root)
        assert "Oksygenmetning gjennom natta" in shown
        assert shown.count(" min under 90 %") == 7  # a row per night of the week
        assert "lavest 8" in shown  # lowest SpO2 first, with its unit
        chart = app.root.get_screen("history").ids.chart
        assert len(chart.lines) == 2  # lowest and average: a line (with its points) each
        assert len(chart.lines[0].points) == 7

    await run_app(work)


async def test_a_meters_memory_download_says_it_fetches_values_with_a_bar_that_can_be_seen(run_app):
    """Nothing is measured while a glucose meter hands over its memory: the screen says it is
    fetching values (not "Måler nå — hold deg i ro"), with a bar of at least 3:1 contrast."""
    from ui import theme
    from ui.scenes import SCENES
    from ui.widgets import Meter

    async def work(app):
        await next(s for s in SCENES if s.name == "download").enter(app, {})
        await settle(app)
        shown = texts(app.root)
        assert "Henter målingene fra blodsukkermåleren" in shown and "Måler nå" not in shown
        bar = next(w for w in app.root.walk() if isinstance(w, Meter) and w.opacity == 1)
        assert abs(bar.value - 12 / 40) < 1e-9 and bar.height >= 24
        assert theme.contrast(tuple(bar.fill_colour), tuple(bar.track_colour)) >= 3
        assert theme.contrast(tuple(bar.outline_colour), theme.BACKGROUND) >= 3  # the track's edge is seen

    await run_app(work)


async def test_the_passkey_shows_six_boxes_that_fill_with_keys_as_large_as_each_other(run_app):
    """The six digits a device shows are typed into six boxes (the next one marked); Erase is as
    large as the digits; at the largest text the dialog's title keeps its margin from the edge."""
    import asyncio

    from ui.scenes import set_look

    async def work(app):
        try:
            await set_look(app, "nb", "larger")
            pending = asyncio.ensure_future(app.passkey.passkey_for("Heima PLX 1"))
            await wait_for(lambda: app.passkey.waiting)
            await settle(app)
            slots = app.passkey.slots()
            assert len(slots) == 6 and all(s.text == "" for s in slots) and slots[0].current
            for key in "246":
                await tap(find(app.passkey, action=f"key-{key}"), app)
            assert [s.text for s in slots] == ["2", "4", "6", "", "", ""] and slots[3].current
            erase, zero = find(app.passkey, action="key-erase"), find(app.passkey, action="key-0")
            assert erase.height == zero.height and erase.width == zero.width
            title = app.passkey.ids.title
            dialog_top = app.passkey.top
            assert dialog_top - title.to_window(title.x, title.top)[1] >= 16  # not against the edge
            await tap(erase, app)
            assert [s.text for s in slots][:3] == ["2", "4", ""] and slots[2].current
            app.passkey.finish(None)
            assert await asyncio.wait_for(pending, 2) is None
        finally:
            await set_look(app, "nb", "normal")
            from kivy.metrics import Metrics

            Metrics.fontscale = 1.0

    await run_app(work)


async def test_guides_show_the_steps_that_matter_with_large_pictures(run_app):
    """Blood sugar: prick the finger before the drop; blood pressure: rest first, as the oximeter
    guide does; every picture at least 200 dp and the whole guide seen without scrolling."""
    from kivy.metrics import dp

    from ui.pictograms import Pictogram

    async def work(app):
        app.measure("glucose")
        await settle(app)
        shown = texts(app.root)
        prick, drop = shown.find("3. Stikk i siden av en fingertupp"), shown.find("4. Sett en bloddråpe på strimmelen.")
        assert 0 <= prick < drop
        pictures = [w for w in app.root.walk() if isinstance(w, Pictogram) and w.get_root_window() and w.height > 0]
        assert len(pictures) == 4 and all(p.height >= dp(200) for p in pictures)
        steps = app.root.get_screen("measure").ids.steps
        view = steps.parent.parent  # the guide's scrolling list
        assert steps.to_window(steps.x, steps.y)[1] >= view.to_window(view.x, view.y)[1]  # nothing below the fold
        app.go("today")
        app.measure("blood-pressure")
        await settle(app)
        assert "hvil i 5 minutter" in texts(app.root)

    await run_app(work)


async def test_a_device_asking_to_pair_while_measuring_is_called_by_its_kind(run_app, example):
    """The patient tapped Start for the finger clip: the pairing question says "fingerklypa",
    and neither the question nor what is read aloud holds the device's own name."""
    import asyncio
    from types import SimpleNamespace

    from hub.api import DeviceFamily, PairingNeeded

    hub, _ = example
    held = HeldSession()
    api = measuring_with(hub, held.measure)

    async def work(app):
        await settle(app)
        await start_measuring(app, "pulse-oximeter")
        await held.started.wait()
        # What the link says before it asks: the asking device and its driver's family.
        hub.events.publish(PairingNeeded(address="F0:11:22:33:44:01", method="passkey", family=DeviceFamily.PULSE_OXIMETER))
        device = SimpleNamespace(address="F0:11:22:33:44:01", name="Heima PLX 1")  # as bleak gives it
        answer = asyncio.ensure_future(api.pairing.passkey_for(device))
        await wait_for(lambda: app.passkey.waiting)
        await settle(app)
        shown = texts(app.passkey)
        assert "Skriv inn de 6 tallene som fingerklypa viser." in shown and "Heima PLX 1" not in shown
        assert "Heima PLX 1" not in app.passkey.spoken()
        app.passkey.finish(None)
        assert await asyncio.wait_for(answer, 2) is None
        held.release.set()

    await run_app(work, api=api)
