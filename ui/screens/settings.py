"""Settings: language, text size, read-aloud. Each choice takes effect at once."""

from __future__ import annotations

from kivy.properties import ObjectProperty

from ui.i18n import tr
from ui.widgets import HeimaScreen, load_kv


class SettingsScreen(HeimaScreen):
    session = ObjectProperty(None, allownone=True, rebind=True)
    releasable = True  # every choice is the session's at once: let go when left

    def spoken(self) -> str:
        s = self.session
        return " ".join(
            x
            for x in (
                tr._("Settings") + ".",
                tr._("Language") + ":",
                {"nb": "Bokmål", "nn": "Nynorsk", "en": "English"}[s.language] + ".",
                s.voice_note,
            )
            if x
        )


load_kv(__file__)
