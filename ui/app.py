"""The touch app: one Kivy App on the hub's asyncio loop, talking to `hub.api` only.

    app = HeimaApp(hub_api, speaker=EspeakSpeaker(), settings_path=data_dir / "ui.json")
    await app.async_run(async_lib="asyncio")

Screens: today, measure (one for every device family), manual, history, settings; and the
pairing dialog, attached to the hub's pairing prompts for as long as the app runs. Nothing in
the app times out on the patient: no screen goes back or closes by itself.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

# Kivy's image providers without PIL (~3 MB of RSS): SDL2 reads the theme's PNG atlases and the
# window saves screenshots itself. Read when Kivy is first imported (not when something else did).
os.environ.setdefault("KIVY_IMAGE", "sdl2,tex,dds")

from kivy.app import App
from kivy.config import Config

# The window's size before Kivy opens it (the Pi kiosk runs fullscreen via Kivy's own config).
# HEIMA_WINDOW=1280x800 is a 10" tablet in landscape, the size the gallery and audit use.
if "kivy.core.window" not in __import__("sys").modules:
    _w, _, _h = os.environ.get("HEIMA_WINDOW", "1280x800").partition("x")
    Config.set("graphics", "width", _w)
    Config.set("graphics", "height", _h)
    # No multisampled framebuffer (Kivy's default asks for 2, Mesa gives 4): under software
    # rendering it made every frame ~2.5× dearer and took ~40 MB of RSS (a bare Kivy window
    # 1280×800: 17 → 7 ms a frame, 161 → 131 MB), and screenshots under Mesa show the same
    # pixels either way. A display whose GPU antialiases for free: HEIMA_MULTISAMPLES=4.
    Config.set("graphics", "multisamples", os.environ.get("HEIMA_MULTISAMPLES", "0"))

from kivy.core.window import Window  # noqa: E402
from kivy.uix.screenmanager import Screen  # noqa: E402

from hub.api import HubApi
from ui import theme
from ui.i18n import tr
from ui.passkey import PairingPrompt, PasskeyDialog
from ui.screens.measure import MeasureScreen
from ui.screens.technician import TechnicianActions, attach as attach_technician
from ui.screens.today import TodayScreen
from ui.speech import EspeakSpeaker, Speaker
from ui.models.feed import HubFeed
from ui.models.history import HistoryModel
from ui.models.measure import MeasureModel
from ui.models.settings import Session
from ui.models.today import TodayModel
from ui.widgets import Screens

if TYPE_CHECKING:
    from ui.models.questionnaire import QuestionnaireModel

log = logging.getLogger(__name__)

SCREENS = ("today", "measure", "manual", "history", "settings", "forms", "form-question", "form-review", "form-done")
FORM_SCREENS = ("forms", "form-question", "form-review", "form-done")


class HeimaApp(TechnicianActions, App):
    title = "Heima"

    def __init__(
        self,
        api: HubApi,
        *,
        speaker: Speaker | None = None,
        settings_path: Path | None = None,
        measure_timeout: float = 90.0,
        calls=None,  # the hub's video call service (hub.services.video.CallService): ringing and call screens
        ringer=None,
        sounds_dir: Path | None = None,  # where the reminder tone is written (default: beside the settings)
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.api = api
        self.speaker = speaker or EspeakSpeaker()
        self.settings_path = settings_path
        self.measure_timeout = measure_timeout
        self.actions: list[str] = []  # what the patient did, by action name (tests; no values)
        self.calls, self.ringer = calls, ringer
        self.sounds_dir = sounds_dir or (settings_path.parent if settings_path is not None else None)

    def build(self):
        Window.clearcolor = theme.rgba(theme.BACKGROUND)
        self.tr = tr
        self.session = Session(tr, self.speaker, self.settings_path)
        self.today_model = TodayModel(self.api, tr)
        self.measure_model = MeasureModel(self.api, tr, timeout=self.measure_timeout)
        self.history_model = HistoryModel(self.api, tr)
        self._form_model: QuestionnaireModel | None = None  # made when the forms are first opened
        sm = Screens()
        for name, factory in self._screen_factories().items():
            sm.register(name, factory)
        sm.current = "today"  # only Today is built at start; the rest on first use
        self.pairing_prompt = PairingPrompt()  # its dialog made when a device first asks
        self._detach_families = self.api.subscribe(self.pairing_prompt.follow)  # the asking device's own family
        self._detach_pairing = self.api.pairing.attach(self.pairing_prompt)
        self.reminders = self._reminders()
        self.feed = HubFeed(self.api, self.today_model, self.measure_model, self.history_model, self.reminders)
        self.session.fbind("language", self._language_changed)
        self.measure_model.fbind("state", self._measure_state_changed)
        if self.calls is not None:
            from ui.screens.call import attach_calls

            self.root = sm  # attach_calls adds its screens to the app's root
            attach_calls(self, self.calls, ringer=self.ringer)
        self.root = sm
        attach_technician(self)  # technician mode and first-boot enrolment (ui/screens/technician.py)
        return sm

    @property
    def passkey(self) -> PasskeyDialog:
        """The pairing dialog (made when a device first asks, or here)."""
        return self.pairing_prompt.dialog()

    @property
    def form_model(self) -> QuestionnaireModel:
        """The forms' model, made when first asked for (the forms list or a form opened): its
        module brings the hub's questionnaire engine, which Today, measuring, History and Settings
        never use (docs/performance.md, part M10)."""
        model = self._form_model
        if model is None:
            from ui.models.questionnaire import QuestionnaireModel

            model = self._form_model = QuestionnaireModel(self.api, tr)
            model.fbind("step", self._form_moved)
            model.fbind("review", self._form_moved)
            model.fbind("sent", self._form_moved)
        return model

    @property
    def form_model_made(self) -> QuestionnaireModel | None:
        """The forms' model if it was made, without making it (settling, a language change)."""
        return self._form_model

    def _screen_factories(self) -> dict[str, Callable[[], Screen]]:
        """How each screen is made when first needed. Models are given after construction (a
        screen's ids exist only once its kv rule ran); a screen that draws only on its model's
        changes is drawn once here from what the model holds now."""

        def made(screen: Screen, model, *, attr: str = "model", show: str | None = None) -> Screen:
            setattr(screen, attr, model)
            if show is not None:
                getattr(screen, show)()
            return screen

        def screen(module: str, cls: str) -> Screen:
            # A screen's module and its kv rules imported when it is first opened (~2 MB at start
            # for screens a patient may not open today).
            return getattr(importlib.import_module(f"ui.screens.{module}"), cls)()

        return {
            "today": lambda: made(TodayScreen(), self.today_model),
            "measure": lambda: made(MeasureScreen(), self.measure_model),
            "manual": lambda: made(screen("manual", "ManualScreen"), self.measure_model),
            "history": lambda: made(screen("history", "HistoryScreen"), self.history_model),
            "settings": lambda: made(screen("settings", "SettingsScreen"), self.session, attr="session"),
            "forms": lambda: made(screen("questionnaire_list", "FormsScreen"), self.form_model, show="rebuild"),
            "form-question": lambda: made(screen("questionnaire", "QuestionScreen"), self.form_model, show="_step_changed"),
            "form-review": lambda: made(screen("questionnaire_review", "ReviewScreen"), self.form_model, show="rebuild"),
            "form-done": lambda: made(screen("questionnaire_done", "FormDoneScreen"), self.form_model, show="rebuild"),
        }

    def on_start(self) -> None:
        from ui.models.loop import spawn

        spawn(self.session.load_voices(), "voices")
        self.today_model.refresh()
        self.history_model.refresh()

    def on_stop(self) -> None:
        if not hasattr(self, "feed"):
            return  # build() did not finish
        self.feed.close()
        self.reminders.dismiss()
        self._detach_pairing()
        measure = self.root.built("measure")
        if measure is not None:
            measure.stop_animations()
        self.measure_model.cancel()
        self.speaker.stop()

    # -- what buttons call ------------------------------------------------------------------------

    @property
    def screen(self):
        return self.root.current_screen

    def go(self, name: str) -> None:
        self.actions.append(f"go-{name}")
        if name == "today":
            self.measure_model.cancel()
            self.today_model.refresh()
        elif name == "history":
            self.history_model.refresh()
        self.root.current = name
        self.session.say(self.screen.spoken())

    def measure(self, family: str) -> None:
        self.actions.append(f"measure-{family}")
        self.measure_model.open(family)
        self.root.current = "measure"
        self.session.say(self.screen.spoken())

    def manual(self, family: str) -> None:
        self.actions.append(f"manual-{family}")
        self.measure_model.cancel()
        screen = self.root.get_screen("manual")
        screen.open(family)
        self.root.current = "manual"
        self.session.say(screen.spoken())

    def open_forms(self) -> None:
        """The forms the patient can answer now (from Today)."""
        self.actions.append("go-forms")
        self.form_model.load_forms()
        self.root.current = "forms"
        self.session.say(self.screen.spoken())

    def open_form(self, canonical: str) -> None:
        """Answer a form (url, or url|version): a new one, or the one begun, on the question it
        was left on. Today's form tasks from the care plan and the Forms list call this."""
        self.actions.append("open-form")
        url, _, _version = canonical.partition("|")  # the hub finishes a begun form on its own version
        self._form_opening = True
        self.form_model.open(url)

    def open_task(self, family: str, form: str = "") -> None:
        """A task of the self-care plan: its measurement, or its form (when the app has forms)."""
        if family:
            self.measure(family)
        elif form and hasattr(self, "open_form"):
            self.open_form(form)

    def _reminders(self):
        import tempfile

        from ui.reminders import Reminders, Tone

        folder = self.sounds_dir or Path(tempfile.gettempdir()) / "heima-sounds"
        return Reminders(self.api, tr, tone=Tone(folder), say=self.session.say, can_open_forms=lambda: hasattr(self, "open_form"))

    def read_screen(self) -> None:
        self.actions.append("read-aloud")
        text = self.pairing_prompt.spoken() if self.pairing_prompt.waiting else (self.reminders.spoken() or self.screen.spoken())
        self.session.say(text, asked=True)

    # -- reactions ----------------------------------------------------------------------------------

    def _language_changed(self, *_args) -> None:
        for model in (self.today_model, self.measure_model, self.history_model):
            model.render()
        self.reminders.dismiss()  # shown again in the new language at its next reminder
        if self._form_model is not None:
            self._form_model.relang()
        for name in SCREENS:
            screen = self.root.built(name)  # one not built yet is made in the new language
            if screen is None:
                continue
            for method in ("rebuild", "update"):
                if hasattr(screen, method) and getattr(screen, "model", None) is not None:
                    getattr(screen, method)()

    def _form_moved(self, *_args) -> None:
        """The form's model moved on: show the screen for where it is now (only while a form is
        on screen, or being opened)."""
        opening = getattr(self, "_form_opening", False)
        if self.root.current not in FORM_SCREENS and not opening:
            return
        m = self.form_model
        if m.sent:
            name = "form-done"
        elif m.step is None:
            return  # nothing to show yet (or the form closed: the screen says so)
        elif m.step.at_review:
            if m.review is None:
                return  # the review is on its way
            name = "form-review"
        else:
            name = "form-question"
        self._form_opening = False
        if name != self.root.current:
            self.root.current = name
            self.session.say(self.screen.spoken())

    def _measure_state_changed(self, _model, state: str) -> None:
        if state == "result" and self.root.current in ("measure", "manual"):
            self.session.say(self.root.get_screen("measure").spoken())


async def drive(app: HeimaApp, work, *, size: tuple[int, int] | None = (1280, 800)):
    """Run `app` on the current loop, await `work(app)` once its first frames are drawn, then stop
    it and leave Kivy's window ready for the next app (tests, the gallery, benchmarks)."""
    import asyncio

    from ui.models.loop import finish_spawned, next_frame  # not ui.scenes: the gallery's scenes, which run_app never loads

    if size is not None:
        Window.size = size
    running = asyncio.ensure_future(app.async_run(async_lib="asyncio"))

    async def started_then_work():
        while app.root is None or not app.root.get_parent_window():
            await asyncio.sleep(0.005)
        await next_frame(2)
        return await work(app)

    working = asyncio.ensure_future(started_then_work())
    try:
        await asyncio.wait({running, working}, return_when=asyncio.FIRST_COMPLETED)
        if not working.done():  # the app ended (or crashed) first: that is the error to show
            working.cancel()
            running.result()
            raise RuntimeError("the app stopped before the work was done")
        return working.result()
    finally:
        if not working.done():
            working.cancel()
        app.stop()
        if not running.done():
            await running  # the window stays open: the next App's async_run starts Kivy's loop again
        await finish_spawned()  # the models' refreshes end here, before the caller closes the hub's store
