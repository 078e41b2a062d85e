"""Technician mode's screens: the PIN door, the kit (with the test measurement) and the return.
Reached by holding the Settings title for 3 seconds (`attach`), so a patient never lands here
by a tap; every action is audited by the hub (hub.api.TechnicianDesk). Left by its button, or by
itself after 5 minutes without a touch (ui/models/technician_idle.py), back to the patient's
Today screen."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path

from kivy.clock import Clock
from kivy.properties import ListProperty, ObjectProperty

from ui.i18n import tr
from ui.widgets import BigButton, HeimaScreen, RulesWhenMade, fill

LONG_PRESS_SECONDS = 3.0


class TechnicianPinScreen(RulesWhenMade, HeimaScreen):
    rules_of = __file__  # technician.kv (TechPad, KitRow, the three screens) with the first made
    model = ObjectProperty(None, allownone=True, rebind=True)
    _ticking = None

    def on_enter(self, *_args) -> None:
        # A lockout's wait counts down on screen, and the pad comes back when it is over.
        self._ticking = Clock.schedule_interval(lambda _dt: self.model and self.model.tick(), 1.0)

    def on_leave(self, *_args) -> None:
        if self._ticking is not None:
            self._ticking.cancel()
            self._ticking = None

    def spoken(self) -> str:
        return f"{self.title}. {self.model.pin_message if self.model else ''}"


class TechnicianScreen(RulesWhenMade, HeimaScreen):
    rules_of = __file__  # technician.kv
    model = ObjectProperty(None, allownone=True, rebind=True)

    def on_model(self, *_args) -> None:
        self.model.fbind("kit_rows", self.update)

    def update(self, *_args) -> None:
        from kivy.factory import Factory

        fill(self.ids.rows, [{"title": t, "details": d} for t, d in self.model.kit_rows], Factory.KitRow)

    def spoken(self) -> str:
        # Not the devices' advertised names: read aloud, they could pass for a sentence to a patient.
        return " ".join(x for x in (self.title + ".", self.model.kit_message, self.model.test_message) if x) if self.model else self.title


class TechnicianReturnScreen(RulesWhenMade, HeimaScreen):
    rules_of = __file__  # technician.kv
    model = ObjectProperty(None, allownone=True, rebind=True)
    actions = ListProperty(["return-deliver", "", ""])
    labels = ListProperty(["", "", ""])

    def on_model(self, *_args) -> None:
        for name in ("return_step", "export_folders", "return_counts"):
            self.model.fbind(name, self.update)
        self.update()

    def update(self, *_args) -> None:
        m = self.model
        step = m.return_step
        buttons = {
            "counts": [("return-deliver", tr._("Deliver now")), ("return-wipe", tr._("Wipe the box")), ("return-back", tr._("Back"))],
            "refused": [("return-deliver", tr._("Deliver now")), ("return-back", tr._("Back")), ("", "")],
            "confirm-export": [("return-no", tr._("No")), ("return-export-yes", tr._("Yes, export")), ("", "")],
            "confirm-wipe": [("return-no", tr._("No")), ("return-wipe-yes", tr._("Yes, wipe")), ("", "")],
            "working": [("return-back", tr._("Back")), ("", ""), ("", "")],
            "done": [("return-finished", tr._("Done")), ("", ""), ("", "")],
        }[step]
        self.actions = [a for a, _l in buttons]
        self.labels = [label for _a, label in buttons]
        show_folders = step in ("counts", "refused")
        rows = [{"text": tr.f("Export to {folder}", folder=Path(f).name), "folder": f, "action": f"return-export-{n}"} for n, f in enumerate(m.export_folders)] if show_folders else []
        fill(self.ids.folders, rows, self._folder_button)

    def _folder_button(self) -> BigButton:
        button = BigButton(primary=True)
        button.bind(on_release=lambda b: self.model.ask_export(b.folder))
        return button

    def press(self, n: int) -> None:
        from kivy.app import App

        action, m = self.actions[n], self.model
        if action == "return-deliver":
            m.deliver()
        elif action == "return-wipe":
            m.ask_wipe()
        elif action in ("return-back", "return-finished"):
            App.get_running_app().after_return(action == "return-finished")
        elif action == "return-no":
            m.cancel_return()
        elif action == "return-export-yes":
            m.ask_wipe()  # the second confirmation
        elif action == "return-wipe-yes":
            m.wipe()

    def spoken(self) -> str:
        return f"{self.title}. {self.model.return_counts} {self.model.return_message}" if self.model else self.title


class LongPress:
    """Holding `widget` for `seconds` calls `then()`; lifting the finger earlier does nothing."""

    def __init__(self, widget, then, seconds: float = LONG_PRESS_SECONDS) -> None:
        self.widget, self.then, self.seconds = widget, then, seconds
        self._event = None
        widget.bind(on_touch_down=self._down, on_touch_up=self._up)

    def _down(self, widget, touch) -> None:
        if widget.collide_point(*touch.pos):
            self._cancel()
            self._event = Clock.schedule_once(lambda _dt: self.then(), self.seconds)

    def _up(self, _widget, _touch) -> None:
        self._cancel()

    def _cancel(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None


def attach(app) -> None:
    """Technician mode and first-boot enrolment in the app (when the hub has a desk): the screens,
    the long press on the Settings title, the model following the language."""
    from ui.models.technician import TechnicianModel
    from ui.widgets import Title

    desk = getattr(app.api, "technician", None)
    model = app.technician = TechnicianModel(desk, tr)

    def made(cls) -> Callable[[], HeimaScreen]:
        def make() -> HeimaScreen:
            screen = cls()
            screen.model = model  # kv rules name `app.technician`: the model exists before any screen
            if hasattr(screen, "update"):
                screen.update()  # drawn from what the model holds now, in today's language
            return screen

        return make

    # Built on first use, like the patient's screens: most days nobody opens technician mode.
    for name, cls in (("technician-pin", TechnicianPinScreen), ("technician", TechnicianScreen), ("technician-return", TechnicianReturnScreen), ("enrol", _enrol_screen)):
        app.root.register(name, made(cls))
    app.session.fbind("language", lambda *_a: _relang(app))
    model.fbind("unlocked", lambda _m, ok: ok and app.open_technician())
    _watch_idle(app)

    def watch_title(settings) -> None:
        title = next((w for w in settings.walk(restrict=True) if isinstance(w, Title)), None)
        if title is not None and desk is not None:
            # Held by the Settings screen it watches (Kivy binds methods weakly), only named
            # weakly here: Settings is let go when left and made again (ui/widgets.py).
            settings.technician_press = LongPress(title, app.open_technician_door)
            app._technician_press = weakref.ref(settings.technician_press)

    app.root.when_built("settings", watch_title)  # the long press on its title, once Settings exists
    model.render()
    from ui.screens.technician_pairing import attach_pairing

    attach_pairing(app)  # the pairing screen (technician_pairing.py), built on first use
    from ui.screens.enrol_scan import attach_scan

    attach_scan(app)  # enrolment's camera scan (enrol_scan.py), built on first use
    if desk is not None and not desk.enrolled:
        app.root.current = "enrol"


def _enrol_screen() -> HeimaScreen:
    from ui.screens.enrol import EnrolScreen  # its module and kv rules when first shown (part M7)

    return EnrolScreen()


TECHNICIAN_SCREENS = ("technician", "technician-return", "technician-pairing")
IDLE_CHECK_SECONDS = 1.0


def _watch_idle(app) -> None:
    """While technician mode is open, every touch resets the idle timer and Kivy's Clock asks it
    once a second; when it has run out, technician mode is left (`leave_technician("idle")`)."""
    from kivy.core.window import Window

    from ui.models.technician_idle import IdleTimer

    idle = app.technician_idle = IdleTimer()
    checking: list = []

    def touched(*_args) -> None:
        idle.touch()  # returns None: the touch goes on to the widget it was for

    def opened(_model, unlocked: bool) -> None:
        while checking:
            checking.pop().cancel()
        if unlocked:
            idle.start()
            checking.append(Clock.schedule_interval(lambda _dt: app.check_technician_idle(), IDLE_CHECK_SECONDS))
        else:
            idle.stop()

    Window.bind(on_touch_down=touched)
    app.technician.fbind("unlocked", opened)


class TechnicianActions:
    """What technician mode's buttons call on the app (HeimaApp mixes this in)."""

    def open_technician_door(self) -> None:
        self.actions.append("technician-door")
        self.technician.open_door()
        self.root.current = "technician-pin"
        self.session.say(self.screen.spoken())

    def technician_ok(self, action: str) -> None:
        if action == "enrol-pin-ok":
            self.technician.next_pin()
        else:
            self.technician.submit_pin()

    def open_technician(self) -> None:
        self.actions.append("technician-home")
        self.technician.load_kit()
        self.root.current = "technician"
        self.session.say(self.screen.spoken())

    def open_return(self) -> None:
        self.actions.append("technician-return")
        self.technician.load_return()
        self.root.current = "technician-return"
        self.session.say(self.screen.spoken())

    def after_return(self, finished: bool) -> None:
        if finished:  # the hub is wiped: it is not enrolled any more
            self.technician.unlocked = False
            self.technician.back_to_start()
            self.root.current = "enrol"
        else:
            self.open_technician()

    def check_technician_idle(self) -> None:
        """Kivy's Clock, once a second in technician mode: left when no touch for the idle time.
        Work the technician waits for (a return delivering and wiping, a scan or pairing) counts
        as activity; technician mode shown on no screen (the enrolment after a return) is over."""
        idle, m = self.technician_idle, self.technician
        if not idle.expired():
            return
        pairing = getattr(self, "technician_pairing", None)
        if m.return_step == "working" or (pairing is not None and pairing.step in ("scanning", "pairing")):
            idle.touch()
        elif self.root.current in TECHNICIAN_SCREENS:
            self.leave_technician("idle")

    def leave_technician(self, why: str = "button") -> None:
        self.actions.append("technician-leave")
        self.technician.unlocked = False
        self.technician.pin = ""
        desk = self.technician.desk
        if desk is not None:
            desk.leave(why)  # audited: "technician mode left", by the button or idle
        if desk is not None and not desk.enrolled:
            self.technician.back_to_start()
            self.root.current = "enrol"
        else:
            self.go("today")

    def enrol_finished(self) -> None:
        """Enrolled: the hub starts again with its new configuration (the kiosk's service
        restarts the app when it ends; a test or the gallery sets `on_enrolled`)."""
        self.actions.append("enrol-finished")
        then = getattr(self, "on_enrolled", None)
        if then is not None:
            then()
        else:
            self.stop()


def _relang(app) -> None:
    app.technician.render()
    for name in ("technician", "technician-return", "enrol"):
        screen = app.root.built(name)  # one not built yet is made in the new language
        if screen is not None and hasattr(screen, "update"):
            screen.update()
