"""Measuring, the same screen for every device family: guide, waiting, live, result, problem."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.properties import ColorProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from hub.api import DeviceFamily
from ui import kinds, pictograms  # noqa: F401  (Pictogram for the kv)
from ui.i18n import N_, tr
from ui.widgets import HeimaScreen, load_kv

PANEL_OF_STATE = {
    "guide": "guide",
    "waiting": "waiting",
    "found": "waiting",
    "pairing": "waiting",
    "user-code": "waiting",
    "connected": "waiting",
    "live": "waiting",
    "result": "result",
    "no-device": "problem",
    "lost": "problem",
    "failed": "problem",
    "unavailable": "problem",
}

STATUS = {
    "waiting": N_("Switch on {device}. Waiting for it …"),
    "found": N_("Found the device. Connecting …"),
    "pairing": N_("The device asks to be paired. Answer the question on the screen."),
    "user-code": N_("The scale asks for your code. Type it in on the screen."),
    "connected": N_("Connected. Measuring — keep still."),
    "live": N_("Measuring — keep still."),
}

# A meter whose values are fetched from its memory: nothing is measured while it talks.
FETCHING = N_("Connected. Fetching the values from {device} …")

PROBLEM = {
    "no-device": N_("No device answered. Check that {device} is switched on and close to this screen. Then try again."),
    "lost": N_("The device stopped before a value arrived. Please measure again."),
    "failed": N_("Something went wrong while measuring. Please try again."),
}


class ZoneBadge(BoxLayout):
    """The plan's zone of a value, in words on the zone's colour (measure.kv)."""

    zone = StringProperty("")
    text = StringProperty("")
    bg_colour = ColorProperty((1, 1, 1, 1))  # the audit reads the colour text stands on here


# Each panel's class (measure.kv), made when the panel is first shown.
PANEL_CLASS = {
    "guide": "MeasureGuidePanel",
    "waiting": "MeasureWaitingPanel",
    "result": "MeasureResultPanel",
    "problem": "MeasureProblemPanel",
}


class MeasurePanel(Screen):
    """One of the measuring screen's panels; `screen` is the measuring screen it shows."""

    screen = ObjectProperty(None, rebind=True)


class MeasureGuidePanel(MeasurePanel):
    pass


class MeasureWaitingPanel(MeasurePanel):
    pass


class MeasureResultPanel(MeasurePanel):
    pass


class MeasureProblemPanel(MeasurePanel):
    pass


class MeasureScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)
    family_title = StringProperty("")
    status_text = StringProperty("")
    problem_text = StringProperty("")

    _blink = None
    releasable = True  # what it shows is the model's; let go when left unless measuring

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # A panel is made when first shown, not all four for the one shown: a visit shows the
        # guide and the waiting panel, or the result; the rest were ~1 MB of widgets and labels.
        for name in PANEL_CLASS:
            self.ids.panels.register(name, lambda name=name: self._make_panel(name))

    def _make_panel(self, name: str) -> MeasurePanel:
        panel = getattr(Factory, PANEL_CLASS[name])(screen=self)
        self.ids.update(panel.ids)  # its widgets by id, as when the panels were in this rule
        return panel

    def on_model(self, _inst, model) -> None:
        later = Clock.create_trigger(self.update)  # several changes in one frame: one rebuild
        for name in ("state", "family", "results", "message"):
            self.watch(model, name, later)
        self.watch(model, "progress", self._restatus)  # a download begins: say so (no rebuild per record)
        self.update()

    def busy(self) -> bool:
        return self.model is not None and (self.model.measuring or self.model.downloading)

    def release(self) -> None:
        self.stop_animations()  # the blink's Clock event holds the picture
        super().release()

    def _texts(self) -> tuple[str, str, str]:
        """Title, status and problem text, straight from the model (never a frame late)."""
        m = self.model
        family = DeviceFamily(m.family)
        device = tr._(kinds.FAMILY_DEVICE[family])
        status = tr.f(STATUS[m.state], device=device) if m.state in STATUS else ""
        if m.state in ("connected", "live") and (m.progress >= 0 or family in kinds.FETCHED_FAMILIES):
            status = tr.f(FETCHING, device=device)
        said = m.state == "unavailable" or (m.state == "lost" and m.message)  # the model knows why
        problem = m.message if said else (tr.f(PROBLEM[m.state], device=device) if m.state in PROBLEM else "")
        return tr._(kinds.FAMILY_TITLE[family]), status, problem

    def _restatus(self, *_args) -> None:
        self.status_text = self._texts()[1]

    def update(self, *_args) -> None:
        m = self.model
        family = DeviceFamily(m.family)
        self.family_title, self.status_text, self.problem_text = self._texts()
        self.title = self.family_title
        panels = self.ids.panels
        panels.current = PANEL_OF_STATE[m.state]  # made now if it was not yet
        if panels.built("guide") is not None:
            self._build_guide(family)
        if panels.built("result") is not None:
            self._build_results()
        self._pulse(m.state in ("waiting", "found", "connected", "pairing", "user-code"))

    def _build_guide(self, family: DeviceFamily) -> None:
        box = self.ids.steps
        box.clear_widgets()
        box.cols = max(1, min(4, len(kinds.GUIDES[family])))  # the steps side by side, in one row
        for n, step in enumerate(kinds.GUIDES[family], start=1):
            w = Factory.GuideStep()
            w.pictogram = step.pictogram
            w.text = f"{n}. {tr._(step.text)}"
            box.add_widget(w)

    def _build_results(self) -> None:
        box = self.ids.results
        box.clear_widgets()
        again = any(row["again"] for row in self.model.results)
        for row in self.model.results:
            w = Factory.AgainCard() if row["again"] else Factory.ResultCard()
            if not row["again"]:
                w.big = not again
            for key, value in row.items():
                if key != "again":
                    setattr(w, key, value)
            box.add_widget(w)

    def _pulse(self, on: bool) -> None:
        """While waiting, the device picture blinks softly twice a second: enough to show that
        something is going on, without redrawing the screen 60 times a second on a small hub."""
        if self._blink is not None:
            self._blink.cancel()
            self._blink = None
        pic = self.ids.get("waiting_picture")  # None: the waiting panel was never shown
        if pic is None:
            return
        pic.opacity = 1
        if on:
            def blink(_dt) -> None:
                pic.opacity = 0.45 if pic.opacity == 1 else 1

            self._blink = Clock.schedule_interval(blink, 0.5)

    def stop_animations(self) -> None:
        self._pulse(False)

    def spoken(self) -> str:
        m = self.model
        title, status, problem = self._texts()
        panel = PANEL_OF_STATE[m.state]
        if panel == "guide":
            steps = " ".join(tr._(s.text) for s in kinds.GUIDES[DeviceFamily(m.family)])
            return f"{title}. {steps}"
        if panel == "waiting":
            return " ".join(x for x in (status, m.live_label, m.live_text, m.progress_text) if x)
        if panel == "result":
            return f"{title}. {m.spoken_result()}"
        return problem


load_kv(__file__)
