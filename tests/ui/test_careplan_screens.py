"""The self-care plan on the patient's screens: a value's zone in words and colour with the plan's
own advice (read aloud), measuring again after the plan's rest counted down by the hub's clock,
Today driven by the plan (due now, later, done, missed — calmly), reminders with a tone that go
away once the task is done on another path, and History's zone bands.

The hub is the gallery's plan hub (hub.app.example_hub(plan=True): the heart-failure example plan
with oxygen at 12.00, in force for a month); its clock is moved by the test, never the wall clock.
"""

from __future__ import annotations

import asyncio
import wave
from datetime import timedelta

import pytest
from kivy.core.window import Window

from hub.api import DeviceFamily, MeasurementKind, ReminderDue, TaskState
from hub.app import GALLERY_NOW, example_hub
from ui import theme
from ui.app import HeimaApp, drive
from ui.scenes import next_frame, settle
from ui.speech import RecordingSpeaker

from .conftest import find, tap, texts, wait_for

K = MeasurementKind


@pytest.fixture
async def plan_hub(tmp_path):
    hub, ids = await example_hub(tmp_path / "hub", GALLERY_NOW, plan=True)
    yield hub, ids
    await hub.stop()


async def run(hub, work, *, tmp_path=None, read_aloud: bool = False, speaker=None, timeout: float = 60.0):
    speaker = speaker or RecordingSpeaker()
    app = HeimaApp(hub.api, speaker=speaker, sounds_dir=tmp_path)

    async def bounded(a):
        a.session.read_aloud = read_aloud
        async with asyncio.timeout(timeout):
            await settle(a)
            return await work(a)

    return await drive(app, bounded)


def move_clock(hub, to) -> None:
    hub.example_now[0] = to


def zone_badge(root, text: str):
    """The zone's badge showing `text`: (its colour, the colour of its words)."""
    from ui.screens.measure import ZoneBadge

    badge = next(w for w in root.walk(restrict=True) if isinstance(w, ZoneBadge) and w.text == text and w.opacity > 0)
    return tuple(badge.bg_colour), tuple(badge.ids.badge.color)


async def show(app, ids) -> None:
    app.measure("blood-pressure")
    for mid, kind in ids:
        await app.measure_model.show_measurement(mid, kind)
    await settle(app)


async def test_a_value_shows_its_zone_in_words_and_colour_with_the_plans_own_advice(plan_hub):
    hub, ids = plan_hub
    speaker = RecordingSpeaker()

    async def work(app):
        await show(app, ids["plan-green"])
        shown = texts(app.root)
        assert "Grønn sone" in shown and "Verdien er innenfor planen din. Fortsett som før." in shown
        colour, ink = zone_badge(app.root, "Grønn sone")
        assert colour[:3] == theme.rgba(theme.ZONE_GREEN)[:3] and theme.contrast(ink, colour) >= 7

        await show(app, ids["plan-yellow"])
        assert "Gul sone" in texts(app.root) and "Blodtrykket er høyt." in texts(app.root)
        colour, ink = zone_badge(app.root, "Gul sone")
        assert colour[:3] == theme.rgba(theme.ZONE_YELLOW)[:3] and theme.contrast(ink, colour) >= 7

        await show(app, ids["plan-red"])  # the confirming red: no more "measure again", the advice
        shown = texts(app.root)
        assert "Rød sone" in shown and "Blodtrykket er svært høyt. Ring oppfølgingssenteret nå." in shown
        assert "Mål en gang til" not in shown
        assert "Rød sone. Blodtrykket er svært høyt." in speaker.said[-1][1]  # read aloud as it came

        app.session.language = "en"  # the plan's own words in the patient's language
        await settle(app)
        assert "Red zone" in texts(app.root) and "Your blood pressure is very high" in texts(app.root)

    await run(hub, work, read_aloud=True, speaker=speaker)


async def test_measure_again_first_with_the_plans_rest_counted_down_by_the_hubs_clock(plan_hub):
    hub, ids = plan_hub

    async def work(app):
        await show(app, ids["plan-red-first"])  # measured 2 minutes ago; the plan says 5 minutes' rest
        shown = texts(app.root)
        order = [shown.index(t) for t in ("Mål en gang til, så vi er sikre.", "Hvil i 5 minutter før du måler igjen.", "3 minutter igjen.", "Sitt med ryggen mot stolen", "Rød sone", "Blodtrykket er svært høyt")]
        assert order == sorted(order)  # the request, the wait, the guide, then the zone and advice
        assert find(app.root, action="measure-again").role == "primary"
        move_clock(hub, GALLERY_NOW + timedelta(minutes=2, seconds=30))
        app.measure_model.tick()  # the Kivy Clock's tick, now, not in a second
        await settle(app)
        assert "Mindre enn ett minutt igjen." in texts(app.root)
        move_clock(hub, GALLERY_NOW + timedelta(minutes=4))
        app.measure_model.tick()
        await settle(app)
        assert "Nå kan du måle igjen." in texts(app.root)
        assert app.measure_model._ticker is None  # nothing left counting

    await run(hub, work)


async def test_today_follows_the_plan_due_later_done_and_missed_as_the_clock_moves(plan_hub):
    hub, _ids = plan_hub

    async def work(app):
        app.go("today")
        await settle(app)
        shown = texts(app.root)
        missed = "Vi ser at du ikke målte i morges. Du kan måle nå om du vil."
        assert missed in shown  # the 07.30 weight
        assert tuple(find(app.root, text=missed).color[:3]) == theme.rgba(theme.INK)[:3]  # calm, not red
        assert "Gjort klokka 08.10." in shown  # blood pressure of 08.00
        assert "Nå er det tid for å måle." in shown  # oxygen at 12.00 (its window opened at 11.30)
        assert "Senere i dag, klokka 20.00." in shown  # blood pressure of the evening
        for family in ("glucose", "thermometer"):  # not in the plan: behind "Other measurement"
            with pytest.raises(LookupError):
                find(app.root, action=f"measure-{family}")
        await tap(find(app.root, action="other-measurement"), app)
        find(app.root, action="measure-glucose")

        move_clock(hub, GALLERY_NOW + timedelta(hours=8, minutes=15))  # 19.45 in Oslo
        app.today_model.refresh()
        await app.today_model.refresh.wait()
        await settle(app)
        shown = texts(app.root)
        assert "Vi ser at du ikke målte i ettermiddag. Du kan måle nå om du vil." in shown  # oxygen of 12.00
        assert shown.count("Nå er det tid for å måle.") == 1  # the evening blood pressure
        await tap(find(app.root, action="task-blodtrykk-2000"), app)
        assert app.root.current == "measure" and app.measure_model.family == "blood-pressure"

    await run(hub, work)


async def test_a_reminder_shows_sounds_and_goes_away_when_the_task_is_done_by_hand(plan_hub, tmp_path):
    hub, _ids = plan_hub
    speaker = RecordingSpeaker()

    async def work(app):
        [task] = [t for t in await hub.api.due_today() if t.state is TaskState.DUE_NOW]
        hub.events.publish(ReminderDue(task.activity, task.title, task.due, task.closes, task.due))  # as the hub's plan clock does
        await wait_for(lambda: app.reminders.showing)
        await settle(app)
        shown = " | ".join(texts(w) for w in Window.children)
        assert "Påminnelse" in shown and "Nå er det tid for å måle: Oksygenmetning og puls. Planen sier klokka 12.00." in shown
        assert app.reminders.tone.plays == 1  # the tone was asked to play
        with wave.open(str(tmp_path / "reminder-tone.wav")) as w:  # written at first use, into the data folder
            assert 0.3 < w.getnframes() / w.getframerate() < 1.5
        assert any("Nå er det tid for å måle: Oksygenmetning og puls" in said for _v, said in speaker.said)

        # Typed in by hand on the manual path: the task is done, the reminder goes.
        await hub.api.record_manual_family(DeviceFamily.PULSE_OXIMETER, {K.OXYGEN_SATURATION: 95, K.PULSE_RATE: 70})
        await wait_for(lambda: not app.reminders.showing)
        hub.events.publish(ReminderDue(task.activity, task.title, task.due, task.closes, task.due + timedelta(minutes=15)))
        for _ in range(10):
            await next_frame(1)
        await settle(app)
        assert not app.reminders.showing and app.reminders.tone.plays == 1  # never after it is done

    await run(hub, work, tmp_path=tmp_path, read_aloud=True, speaker=speaker)


async def test_a_reminder_can_be_put_off_or_followed(plan_hub):
    hub, _ids = plan_hub

    async def work(app):
        [task] = [t for t in await hub.api.due_today() if t.state is TaskState.DUE_NOW]
        hub.events.publish(ReminderDue(task.activity, task.title, task.due, task.closes, task.due))
        await wait_for(lambda: app.reminders.showing)
        await settle(app)
        await tap(find(app.reminders.banner, action="reminder-dismiss"), app)
        assert not app.reminders.showing and app.root.current == "today"
        hub.events.publish(ReminderDue(task.activity, task.title, task.due, task.closes, task.due + timedelta(minutes=15)))
        await wait_for(lambda: app.reminders.showing)
        await settle(app)
        await tap(find(app.reminders.banner, action="reminder-act"), app)  # "Mål nå"
        assert not app.reminders.showing
        assert app.root.current == "measure" and app.measure_model.family == "pulse-oximeter"

    await run(hub, work)


async def test_history_draws_the_plans_zones_as_bands_named_in_words(plan_hub):
    hub, _ids = plan_hub

    async def work(app):
        app.history_model.kind = "oxygen-saturation"
        app.history_model.days = 30
        app.go("history")
        await settle(app)
        shown = texts(app.root)
        assert "Sonene i planen din: Oksygenmetning" in shown
        for words in ("Grønn sone: 92 eller mer", "Gul sone: 88 til 92", "Rød sone: under 88"):
            assert words in shown
        chart = app.root.get_screen("history").ids.chart
        bands = chart.bands
        assert {(b.low, b.high) for b in bands} == {(None, 88.0), (88.0, 92.0), (92.0, None)}
        assert chart.ymin <= 88  # where green ends is seen

    await run(hub, work)


async def test_without_a_plan_there_is_no_zone_no_advice_and_no_task(run_app):
    async def work(app):
        await settle(app)
        shown = texts(app.root)
        assert "Annen måling" not in shown and "Nå er det tid" not in shown
        find(app.root, action="measure-glucose")  # every family, as always
        app.measure("pulse-oximeter")
        for mid, kind in app.example_ids["oximeter"]:
            await app.measure_model.show_measurement(mid, kind)
        await settle(app)
        assert "sone" not in texts(app.root).lower()

    await run_app(work)
