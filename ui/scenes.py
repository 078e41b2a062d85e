"""Every state of every screen the patient can see, reachable by name: the gallery renders
them to PNGs and the accessibility audit walks them in every language and text size.

A scene drives the app only through what a screen itself uses (its view-model's commands and
properties, and hub events fed as the hub would send them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hub.api import Connected, CuffPressure, DownloadProgress, HubEvent, LiveReading, MeasurementKind, ReminderDue, TaskState
from ui.screens import call as call_scenes
from ui.models.loop import next_frame, settle  # noqa: F401  (settle: the scenes', tests' and benchmarks' name)
from ui.models.measuring import Phase, SessionOver

LANGUAGES = ("nb", "nn", "en")
TEXT_SIZES = ("normal", "large", "larger")


@dataclass(frozen=True)
class Scene:
    name: str
    enter: Callable[[Any, dict[str, Any]], Awaitable[None]]
    plan: bool = False  # shown on a hub with the self-care plan in force (hub.app.example_hub(plan=True))


def _feed(app: Any, event: HubEvent) -> None:
    app.feed._deliver(event)


async def today(app, ctx):
    app.go("today")


async def guide_oximeter(app, ctx):
    app.measure("pulse-oximeter")


async def guide_blood_pressure(app, ctx):
    app.measure("blood-pressure")


async def guide_glucose(app, ctx):
    app.measure("glucose")


async def waiting(app, ctx):
    app.measure("pulse-oximeter")
    app.measure_model.as_if_measuring()
    _feed(app, Connected("F0:11:22:33:44:01"))


async def live_cuff(app, ctx):
    app.measure("blood-pressure")
    app.measure_model.as_if_measuring()  # a device is talking
    _feed(app, CuffPressure(None, 148))


async def live_oximeter(app, ctx):
    app.measure("pulse-oximeter")
    app.measure_model.as_if_measuring()
    _feed(app, LiveReading(None, MeasurementKind.OXYGEN_SATURATION, 97, "%"))
    _feed(app, LiveReading(None, MeasurementKind.PULSE_RATE, 112, "/min"))


async def download(app, ctx):
    app.measure("glucose")
    app.measure_model.as_if_measuring()
    _feed(app, DownloadProgress(None, 12, 40))


async def result_good(app, ctx):
    app.measure("pulse-oximeter")
    for mid, kind in ctx["oximeter"]:
        await app.measure_model.show_measurement(mid, kind)


async def result_again(app, ctx):
    app.measure("blood-pressure")
    for mid, kind in ctx["blood-pressure-loose"]:
        await app.measure_model.show_measurement(mid, kind)


async def result_temperature(app, ctx):
    app.measure("thermometer")
    for mid, kind in ctx["temperature"]:
        await app.measure_model.show_measurement(mid, kind)


async def no_device(app, ctx):
    app.measure("pulse-oximeter")
    app.measure_model.as_if_measuring()
    app.measure_model.step(SessionOver(Phase.NO_DEVICE))  # no device answered in time


async def manual_temperature(app, ctx):
    app.manual("thermometer")
    screen = app.root.get_screen("manual")
    for key in ("3", "7", "decimal", "5"):
        screen.key(key)


async def manual_blood_pressure(app, ctx):
    app.manual("blood-pressure")
    screen = app.root.get_screen("manual")
    for key in ("1", "4", "2"):
        screen.key(key)


async def history_oxygen(app, ctx):
    app.history_model.kind = "oxygen-saturation"
    app.history_model.days = 30
    app.go("history")


async def history_blood_pressure(app, ctx):
    app.history_model.kind = "blood-pressure"
    app.history_model.days = 7
    app.go("history")


async def history_temperature(app, ctx):
    """A kind with one value this week: the point drawn whole, its value written beside it."""
    app.history_model.kind = "body-temperature"
    app.history_model.days = 7
    app.go("history")


async def settings(app, ctx):
    app.go("settings")


async def passkey(app, ctx):
    app.go("today")
    ctx["pending"] = asyncio.ensure_future(app.passkey.passkey_for("Heima PLX 1"))
    await next_frame(2)
    for key in "246":
        app.passkey.key(key)


async def confirm(app, ctx):
    app.go("today")
    ctx["pending"] = asyncio.ensure_future(app.passkey.confirm_numeric("Heima BP 1", 123456))


async def consent_code(app, ctx):
    app.go("today")
    ctx["pending"] = asyncio.ensure_future(app.passkey.consent_code_for("Heima Scale 1", 2))
    await next_frame(2)
    for key in "12":
        app.passkey.key(key)


SCENES: tuple[Scene, ...] = tuple(
    Scene(name.replace("_", "-"), fn)
    for name, fn in [
        ("today", today),
        ("guide_oximeter", guide_oximeter),
        ("guide_blood_pressure", guide_blood_pressure),
        ("guide_glucose", guide_glucose),
        ("waiting", waiting),
        ("live_cuff", live_cuff),
        ("live_oximeter", live_oximeter),
        ("download", download),
        ("result_good", result_good),
        ("result_again", result_again),
        ("result_temperature", result_temperature),
        ("no_device", no_device),
        ("manual_temperature", manual_temperature),
        ("manual_blood_pressure", manual_blood_pressure),
        ("history_oxygen", history_oxygen),
        ("history_blood_pressure", history_blood_pressure),
        ("history_temperature", history_temperature),
        ("settings", settings),
        ("passkey", passkey),
        ("confirm", confirm),
        ("consent_code", consent_code),
        ("call_ringing", call_scenes.scene_ringing),
        ("call_in_call", call_scenes.scene_in_call),
    ]
)


# --- the self-care plan (on the plan's example hub: hub.examples.seed_plan_examples) -------------


async def _plan_result(app, ids) -> None:
    app.measure("blood-pressure")
    for mid, kind in ids:
        await app.measure_model.show_measurement(mid, kind)


async def plan_today(app, ctx):
    """Today by the plan at 11.30: weight missed (said calmly), blood pressure done, oxygen due
    now, blood pressure again this evening."""
    app.go("today")


async def plan_today_other(app, ctx):
    app.go("today")
    await settle(app)
    app.today_model.show_others = True


async def plan_result_green(app, ctx):
    await _plan_result(app, ctx["plan-green"])


async def plan_result_yellow(app, ctx):
    await _plan_result(app, ctx["plan-yellow"])


async def plan_remeasure(app, ctx):
    """A first red value: measure again after the plan's rest, counted down, with the advice."""
    await _plan_result(app, ctx["plan-red-first"])


async def plan_result_red(app, ctx):
    await _plan_result(app, ctx["plan-red"])


async def plan_reminder(app, ctx):
    app.go("today")
    task = next(t for t in await app.api.due_today() if t.state is TaskState.DUE_NOW)
    _feed(app, ReminderDue(task.activity, task.title, task.due, task.closes, task.due))
    for _ in range(100):
        if app.reminders.showing:
            break
        await next_frame(1)


async def plan_history(app, ctx):
    app.history_model.kind = "oxygen-saturation"
    app.history_model.days = 30
    app.go("history")


PLAN_SCENES: tuple[Scene, ...] = tuple(
    Scene(name.replace("_", "-"), fn, plan=True)
    for name, fn in [
        ("plan_today", plan_today),
        ("plan_today_other", plan_today_other),
        ("plan_result_green", plan_result_green),
        ("plan_result_yellow", plan_result_yellow),
        ("plan_remeasure", plan_remeasure),
        ("plan_result_red", plan_result_red),
        ("plan_reminder", plan_reminder),
        ("plan_history", plan_history),
    ]
)


async def leave(app: Any, ctx: dict[str, Any]) -> None:
    """Undo what a scene left open (a dialog waiting for an answer)."""
    pending = ctx.pop("pending", None)
    app.reminders.dismiss()
    app.today_model.show_others = False
    for undo in ctx.pop("undo", []):  # a scene's own clean-up (the example video call)
        undo()
    if app.pairing_prompt.waiting:
        app.passkey.finish(None)
    if pending is not None:
        await asyncio.wait_for(pending, 1)
    app.measure_model.cancel()


async def set_look(app: Any, language: str, text_size: str) -> None:
    app.session.language = language
    app.session.text_size = text_size
    await next_frame(2)


# --- questionnaires: every kind of question, the review and what a form shows after sending -----

KOLS = "https://oppfolging.example.no/fhir/Questionnaire/kols-daglig"
GALLERY_FORM = "https://oppfolging.example.no/fhir/Questionnaire/heima-galleri"  # hub/examples_form.json
_CS = "https://oppfolging.example.no/fhir/CodeSystem/heima-innsjekk"
KOLS_DAY = (("pust", "mye-verre"), ("hoste", "mye-mer"), ("slim", "ja"), ("slim-farge", "gult-gront"),
            ("anfallsmedisin", "nei"), ("sovn", "ja"))


async def _form_at(app, url: str, link_id: str) -> Any:
    app.open_form(url)
    await app.form_model.idle()
    app.form_model.go_to(link_id)
    await app.form_model.idle()
    await next_frame(2)
    return app.root.get_screen("form-question")


async def _kols_answered(app) -> None:
    from hub.api import Coding

    for link_id, code in KOLS_DAY:
        app.form_model.go_to(link_id)
        await app.form_model.idle()
        app.form_model.answer(Coding(code, _CS))
    await app.form_model.idle()


async def form_list(app, ctx):
    app.open_forms()


async def form_choice(app, ctx):
    await _form_at(app, KOLS, "pust")


async def form_boolean_help(app, ctx):
    screen = await _form_at(app, GALLERY_FORM, "svimmel")
    screen.help_shown = True


async def form_open_choice_keyboard(app, ctx):
    screen = await _form_at(app, GALLERY_FORM, "hjelp-valg")
    screen.open_other()
    for key in "Nabo":
        screen.key(key)


async def form_integer_unit(app, ctx):
    screen = await _form_at(app, GALLERY_FORM, "skritt")
    screen.key("3")


async def form_decimal(app, ctx):
    screen = await _form_at(app, GALLERY_FORM, "vekt")
    for key in ("7", "8", "decimal", "5"):
        screen.key(key)


async def form_quantity_units(app, ctx):
    screen = await _form_at(app, GALLERY_FORM, "drikke")
    screen.choose_unit(1)
    screen.key("1")


async def form_date(app, ctx):
    screen = await _form_at(app, GALLERY_FORM, "dato")
    screen.open_picker()


async def form_time(app, ctx):
    screen = await _form_at(app, GALLERY_FORM, "klokka")
    for key in "0930":
        screen.key(key)


async def form_string_keyboard(app, ctx):
    screen = await _form_at(app, GALLERY_FORM, "ord")
    for key in "Paracet":
        screen.key(key)


async def form_picture(app, ctx):
    await _form_at(app, GALLERY_FORM, "intro")


async def form_review(app, ctx):
    await _form_at(app, KOLS, "pust")
    await _kols_answered(app)
    app.form_model.go_to("melding")
    app.form_model.next()  # after the last question: the review


async def form_after_sending(app, ctx):
    await form_review(app, ctx)
    await app.form_model.idle()
    app.form_model.submit()


SCENES = SCENES + tuple(
    Scene(name.replace("_", "-"), fn)
    for name, fn in [
        ("form_list", form_list),
        ("form_choice", form_choice),
        ("form_boolean_help", form_boolean_help),
        ("form_open_choice_keyboard", form_open_choice_keyboard),
        ("form_integer_unit", form_integer_unit),
        ("form_decimal", form_decimal),
        ("form_quantity_units", form_quantity_units),
        ("form_date", form_date),
        ("form_time", form_time),
        ("form_string_keyboard", form_string_keyboard),
        ("form_picture", form_picture),
        ("form_review", form_review),
        ("form_after_sending", form_after_sending),
    ]
)


# --- technician mode and first-boot enrolment (the example hub's desk: hub.app.technician_desk) ---


def _technician_undo(app, ctx) -> None:
    def undo() -> None:
        m = app.technician
        m.unlocked, m.pin, m._unlock, m._tested = False, "", None, None
        m.back_to_start()
        m.cancel_return()
        app.root.current = "today"

    ctx.setdefault("undo", []).append(undo)


async def _technician(app, ctx, then=None) -> None:
    _technician_undo(app, ctx)
    app.open_technician()
    await app.technician.idle()


async def not_enrolled(app, ctx):
    _technician_undo(app, ctx)
    app.technician.back_to_start()
    app.root.current = "enrol"


async def enrol_choose(app, ctx):
    await not_enrolled(app, ctx)
    app.technician.start_enrol()


async def enrol_new_pin(app, ctx):
    await enrol_choose(app, ctx)
    app.technician.choose_file(app.technician.profiles[0][1])
    for key in "2580":
        app.technician.key(key)


async def enrol_ok(app, ctx):
    from hub.api import EnrolOutcome

    await not_enrolled(app, ctx)
    app.technician.show_enrolled(EnrolOutcome(True, hub_id="HEIMA-GALLERY", destinations=("sykehuset", "kommunen")))


async def enrol_refused(app, ctx):
    from hub.api import EnrolOutcome

    await not_enrolled(app, ctx)
    reason = "the profile's signature is not valid: it was changed or damaged after the centre signed it"
    app.technician.show_enrolled(EnrolOutcome(False, reason=reason))


async def technician_pin(app, ctx):
    _technician_undo(app, ctx)
    app.open_technician_door()
    for key in "258":
        app.technician.key(key)


async def technician_locked(app, ctx):
    from datetime import timedelta

    from hub.api import UnlockOutcome

    _technician_undo(app, ctx)
    app.open_technician_door()
    app.technician.show_unlock(UnlockOutcome(False, wait=timedelta(minutes=2)))


async def technician_kit(app, ctx):
    await _technician(app, ctx)


async def return_counts(app, ctx):
    _technician_undo(app, ctx)
    app.open_return()
    await app.technician.idle()


async def return_confirm_export(app, ctx):
    await return_counts(app, ctx)
    app.technician.ask_export(app.technician.export_folders[0])


async def return_confirm_wipe(app, ctx):
    await return_confirm_export(app, ctx)
    app.technician.ask_wipe()


async def return_refused(app, ctx):
    await return_counts(app, ctx)
    app.technician.show_refused()


async def return_done(app, ctx):
    from hub.api import ReturnDone

    await return_counts(app, ctx)
    app.technician.show_done(ReturnDone(214, {"sykehuset": 0, "kommunen": 0}, {"sykehuset": 13, "kommunen": 3}, ("heima.db", "secrets")))


TECHNICIAN_SCENES: tuple[Scene, ...] = tuple(
    Scene(name.replace("_", "-"), fn)
    for name, fn in [
        ("not_enrolled", not_enrolled),
        ("enrol_choose", enrol_choose),
        ("enrol_new_pin", enrol_new_pin),
        ("enrol_ok", enrol_ok),
        ("enrol_refused", enrol_refused),
        ("technician_pin", technician_pin),
        ("technician_locked", technician_locked),
        ("technician_kit", technician_kit),
        ("return_counts", return_counts),
        ("return_confirm_export", return_confirm_export),
        ("return_confirm_wipe", return_confirm_wipe),
        ("return_refused", return_refused),
        ("return_done", return_done),
    ]
)
# The technician's pairing screen (ui/screens/technician_pairing.py): scanning, list, passkey, error, paired.
from ui.screens.technician_pairing import pairing_scenes  # noqa: E402

PAIRING_SCENES: tuple[Scene, ...] = pairing_scenes()
# Enrolment's camera scan (ui/screens/enrol_scan.py): scanning (a code that is not a profile seen), no camera.
from ui.screens.enrol_scan import scan_scenes  # noqa: E402

SCAN_SCENES: tuple[Scene, ...] = scan_scenes()
SCENES = SCENES + TECHNICIAN_SCENES + PAIRING_SCENES + SCAN_SCENES
