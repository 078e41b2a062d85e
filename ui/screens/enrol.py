"""First boot: a hub with no configuration says so, and the technician enrols it here from a
signed profile on a USB stick or a QR code's text (a hand scanner types it into the field; the
hub reads no camera). The outcome is shown: ready, or the refusal's reason (never patient data)."""

from __future__ import annotations

from kivy.properties import ObjectProperty

from ui.widgets import BigButton, HeimaScreen, fill, load_kv


class EnrolScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)

    def on_model(self, *_args) -> None:
        self.model.fbind("profiles", self.update)
        self.model.fbind("enrol_step", self.update)

    def update(self, *_args) -> None:
        m = self.model
        rows = [{"text": name, "path": path, "action": f"enrol-profile-{n}"} for n, (name, path) in enumerate(m.profiles)] if m.enrol_step == "choose" else []
        fill(self.ids.profiles, rows, self._profile_button)
        if m.enrol_step != "choose":
            self.ids.qr.text = ""

    def _profile_button(self) -> BigButton:
        button = BigButton(primary=True)
        button.bind(on_release=lambda b: self.model.choose_file(b.path))
        return button

    def spoken(self) -> str:
        return f"{self.title}. {self.model.enrol_message if self.model else ''}"


load_kv(__file__)
