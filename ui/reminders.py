"""Reminders of the self-care plan's tasks: a banner over whatever screen is shown, a short tone,
and the words read aloud when read-aloud is on.

The hub decides when to remind (`ReminderDue`: at the task's time and again every few minutes
until it is done or its window closes, never in the quiet hours); this only shows and plays what
it is told. Before showing, the task is looked up again: one done in the meantime — by the device,
typed in by hand, the nurse — is never reminded of, and the banner goes away by itself once the
task is done on any path. The patient can always close it ("Not now"); nothing here times out.
"""

from __future__ import annotations

import logging
import math
import struct
import wave
from datetime import datetime
from pathlib import Path

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty

from hub.api import DueTask, FormSubmitted, HubApi, HubEvent, MeasurementRecorded, ReminderDue, TaskMissed, TaskState
from ui import kinds
from ui.i18n import N_, Translator
from ui.models.loop import spawn
from ui.models.today import task_family
from ui.widgets import Dialog, RulesWhenMade

log = logging.getLogger(__name__)

TONE_FILE = "reminder-tone.wav"
RATE = 22050


def write_tone(path: Path) -> Path:
    """A short, soft two-note chime (0.7 s, 523 then 659 Hz, faded in and out) as a WAV file:
    made with the standard library, so no sound file ships with Heima."""
    frames = bytearray()
    for freq, seconds in ((523.25, 0.35), (659.25, 0.35)):
        n = int(RATE * seconds)
        for i in range(n):
            fade = min(1.0, i / (RATE * 0.03), (n - i) / (RATE * 0.08))  # no click at either end
            frames += struct.pack("<h", int(9000 * fade * math.sin(2 * math.pi * freq * i / RATE)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    tmp.replace(path)
    return path


class Tone:
    """The reminder's tone: written into `folder` at first use, played with Kivy's SoundLoader.
    `plays` counts the times it was asked to play (a hub without a sound card plays nothing)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / TONE_FILE
        self.sound = None
        self.plays = 0

    def play(self) -> None:
        try:
            if self.sound is None:
                from kivy.core.audio import SoundLoader

                if not self.path.exists():
                    write_tone(self.path)
                self.sound = SoundLoader.load(str(self.path))
            if self.sound is not None:
                self.sound.stop()  # from the start, when it is still sounding
                self.sound.play()
                self.plays += 1
        except Exception as exc:  # no sound is better than no reminder
            log.warning("the reminder tone could not be played: %s", type(exc).__name__)


class ReminderBanner(RulesWhenMade, Dialog):
    rules_of = __file__  # reminders.kv with the first banner
    title = StringProperty("")
    text = StringProperty("")
    button = StringProperty("")
    family = StringProperty("")
    form = StringProperty("")
    reminders = ObjectProperty(None, allownone=True)


REMINDER_TEXT = N_("It is time to measure: {task}.")
REMINDER_FORM_TEXT = N_("It is time to answer: {task}.")
DUE_AT = N_("The plan says {time}.")


class Reminders(EventDispatcher):
    """Shows the hub's reminders (one at a time: the newest), plays the tone, reads it aloud."""

    showing = BooleanProperty(False)
    text = StringProperty("")

    def __init__(self, api: HubApi, tr: Translator, *, tone: Tone, say=lambda _text: None, can_open_forms=lambda: False, **kw) -> None:
        super().__init__(**kw)
        self.api, self.tr, self.tone, self.say = api, tr, tone, say
        self.can_open_forms = can_open_forms
        self._banner: ReminderBanner | None = None
        self._task: tuple[str, datetime] | None = None  # (activity, due) shown

    @property
    def banner_made(self) -> bool:
        return self._banner is not None

    @property
    def banner(self) -> ReminderBanner:
        """The banner, made when the first reminder is shown (held from start, its widgets were
        memory most hours never use: docs/performance.md, part M9)."""
        if self._banner is None:
            self._banner = ReminderBanner()
            self._banner.reminders = self
        return self._banner

    # -- hub events ----------------------------------------------------------------------------

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, ReminderDue):
            spawn(self._remind(event.activity, event.due), "reminder")
        elif isinstance(event, MeasurementRecorded | FormSubmitted | TaskMissed) and self._task is not None:
            spawn(self._recheck(), "reminder-check")

    async def _open_task(self, activity: str, due: datetime) -> DueTask | None:
        task = next((t for t in await self.api.due_today() if t.activity == activity and t.due == due), None)
        return task if task is not None and task.state in (TaskState.DUE_NOW, TaskState.LATER) else None

    async def _remind(self, activity: str, due: datetime) -> None:
        task = await self._open_task(activity, due)
        if task is None:
            return  # done on another path since, or its window closed: never nag
        family = task_family(task)
        if family is None and not (task.questionnaire and self.can_open_forms()):
            return  # a form this app cannot open yet
        self._task = (activity, due)
        self._show(task, family)
        self.tone.play()
        self.say(self.spoken())

    async def _recheck(self) -> None:
        if self._task is not None and await self._open_task(*self._task) is None:
            self.dismiss()

    # -- the banner ------------------------------------------------------------------------------

    def _show(self, task: DueTask, family) -> None:
        tr, b = self.tr, self.banner
        what = tr._(kinds.FAMILY_TITLE[family]) if family is not None else task.title
        b.title = tr._(N_("Reminder"))
        sentence = tr.f(REMINDER_TEXT if family is not None else REMINDER_FORM_TEXT, task=what)
        b.text = " ".join((sentence, tr.f(DUE_AT, time=tr.time(task.due.astimezone(self.api.local_zone)))))
        b.button = tr._(N_("Measure now") if family is not None else N_("Answer now"))
        b.family, b.form = (family.value if family is not None else ""), (task.questionnaire or "")
        self.text = b.text
        if not self.showing:
            b.open(animation=False)
            self.showing = True

    def spoken(self) -> str:
        return f"{self.banner.title}. {self.banner.text}" if self.showing else ""

    def dismiss(self) -> None:
        self._task = None
        if self.showing:
            self.banner.dismiss(animation=False)
            self.showing = False

    def act(self) -> None:
        """"Measure now": the task's measurement (or form), and the banner closes."""
        from kivy.app import App

        family, form = self.banner.family, self.banner.form
        self.dismiss()
        App.get_running_app().open_task(family, form)


__all__ = ["ReminderBanner", "Reminders", "Tone", "write_tone"]
