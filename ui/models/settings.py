"""The patient's settings (Settings screen): language, text size, read-aloud; saved to a small
JSON file when they change."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from kivy.event import EventDispatcher
from kivy.metrics import Metrics
from kivy.properties import BooleanProperty, OptionProperty, StringProperty

from ui import theme
from ui.i18n import LANGUAGES, N_, Translator
from ui.models.loop import spawn
from ui.speech import Speaker

log = logging.getLogger(__name__)


class Session(EventDispatcher):
    """What the patient chose in Settings; saved to a small JSON file when it changes."""

    language = OptionProperty("nb", options=list(LANGUAGES))
    text_size = OptionProperty("normal", options=list(theme.TEXT_SIZES))
    read_aloud = BooleanProperty(False)  # the button always reads; "on" also reads by itself
    voice_note = StringProperty("")  # shown when read-aloud uses another language's voice
    speaking = BooleanProperty(False)

    def __init__(self, tr: Translator, speaker: Speaker, path: Path | None = None, **kw) -> None:
        super().__init__(**kw)
        self.tr = tr
        self.speaker = speaker
        self.path = path
        self._load()
        self.fbind("language", self._apply_language)
        self.fbind("text_size", self._apply_text_size)
        for name in ("language", "text_size", "read_aloud"):
            self.fbind(name, self._save)
        self._apply_language()
        self._apply_text_size()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text())
            self.language = data.get("language", "nb") if data.get("language") in LANGUAGES else "nb"
            self.text_size = data.get("text_size", "normal") if data.get("text_size") in theme.TEXT_SIZES else "normal"
            self.read_aloud = bool(data.get("read_aloud", False))
        except (OSError, ValueError):
            log.warning("the touch app's settings file could not be read; using defaults")

    def _save(self, *_args) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"language": self.language, "text_size": self.text_size, "read_aloud": self.read_aloud}))
            tmp.replace(self.path)
        except OSError:
            log.warning("the touch app's settings could not be saved")

    def _apply_language(self, *_args) -> None:
        self.tr.switch(self.language)
        self.update_voice_note()

    async def load_voices(self) -> None:
        """Ask the speaker which voices this machine has, then say which one is used."""
        loader = getattr(self.speaker, "load_voices", None)
        if loader is not None:
            await loader()
        self.update_voice_note()

    def update_voice_note(self, *_args) -> None:
        voice = self.speaker.voice_for(self.language)
        if voice.voice is None:
            self.voice_note = self.tr._(N_("Read-aloud has no voice on this device. Ask for help to install one."))
        elif voice.fallback:
            self.voice_note = self.tr._(N_("There is no nynorsk voice: text is read aloud with the bokmål voice."))
        else:
            self.voice_note = ""

    def _apply_text_size(self, *_args) -> None:
        Metrics.fontscale = theme.TEXT_SIZES[self.text_size]

    def say(self, text: str, *, asked: bool = False) -> None:
        """Speak `text`: always when the patient asked (the Read aloud button), else only when
        read-aloud is on (a screen opening, a result arriving)."""
        if not (asked or self.read_aloud) or not text.strip():
            return

        async def run() -> None:
            self.speaking = True
            try:
                await self.speaker.say(text, self.language)
            finally:
                self.speaking = False

        spawn(run(), "speech")

    def stop_speaking(self) -> None:
        self.speaker.stop()
        self.speaking = False


__all__ = ["Session"]
