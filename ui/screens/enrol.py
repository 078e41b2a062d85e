"""First boot: a hub with no configuration says so, and the technician enrols it here from a
signed profile on a USB stick or a QR code: read by the hub's camera ("Scan the QR code",
ui/screens/enrol_scan.py) or typed into the field by a hand scanner. The outcome is shown: ready, or the refusal's reason (never patient data)."""

from __future__ import annotations

from kivy.core.window import Window
from kivy.properties import ObjectProperty, StringProperty

from ui.screens import technician
from ui.widgets import BigButton, HeimaScreen, fill, load_kv


class EnrolScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)
    scanned = StringProperty("")  # what a keyboard-wedge scanner typed (the QR code's text)
    shown_scan = StringProperty("")

    def on_enter(self, *_args) -> None:
        Window.bind(on_textinput=self._typed, on_key_down=self._key)

    def on_leave(self, *_args) -> None:
        Window.unbind(on_textinput=self._typed, on_key_down=self._key)

    def _typed(self, _window, text: str) -> None:
        if self.model is not None and self.model.enrol_step == "choose":
            self.scanned += text

    def _key(self, _window, key: int, *_args) -> None:
        if key == 13 and self.scanned:  # the scanner ends with Enter
            self.use_scan()

    def on_scanned(self, *_args) -> None:
        # The code is one long word: its start is shown, so the technician sees something came.
        self.shown_scan = self.scanned[:24] + ("…" if len(self.scanned) > 24 else "") if self.scanned else "–"

    def use_scan(self) -> None:
        text, self.scanned = self.scanned, ""
        self.model.use_text(text)

    def on_model(self, *_args) -> None:
        self.model.fbind("profiles", self.update)
        self.model.fbind("enrol_step", self.update)

    def update(self, *_args) -> None:
        m = self.model
        rows = [{"text": name, "path": path, "action": f"enrol-profile-{n}"} for n, (name, path) in enumerate(m.profiles)] if m.enrol_step == "choose" else []
        fill(self.ids.profiles, rows, self._profile_button)
        if m.enrol_step != "choose":
            self.scanned = ""
        self.on_scanned()

    def _profile_button(self) -> BigButton:
        button = BigButton(primary=True)
        button.bind(on_release=lambda b: self.model.choose_file(b.path))
        return button

    def spoken(self) -> str:
        return f"{self.title}. {self.model.enrol_message if self.model else ''}"


load_kv(__file__)
load_kv(technician.__file__)  # enrol.kv's TechPad is technician.kv's, which comes with its screens
