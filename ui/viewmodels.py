"""View-models: Kivy properties the screens bind to, fed by hub events on the Kivy Clock.

The hub publishes events on its bus (on the asyncio loop the app shares); `HubFeed` moves each
onto the Kivy Clock and hands it to the models, which ask `hub.api` for what changed and set
plain properties. Screens only bind to these properties and call these methods. Nothing here
logs a measured value.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.metrics import Metrics
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)

from hub.api import (
    FAMILY_KINDS,
    MANUAL_FIELDS,
    Connected,
    Connection,
    ConsentFailed,
    CuffPressure,
    DeliveryChanged,
    DeviceFamily,
    DeviceFound,
    Disconnected,
    DownloadProgress,
    HubApi,
    HubEvent,
    LiveReading,
    ManualValueError,
    MeasurementKind,
    MeasurementRecorded,
    MeasurementView,
    MeasuringEnded,
    PairingNeeded,
    SendState,
    family_of,
)
from ui import kinds, theme
from ui.i18n import LANGUAGES, N_, Translator
from ui.speech import RecordingSpeaker, Speaker

log = logging.getLogger(__name__)
K = MeasurementKind

_tasks: set[asyncio.Task] = set()


def spawn(coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task:
    """Run a coroutine on the shared loop; a failure is logged by name, never with data."""
    task = asyncio.get_running_loop().create_task(coro, name=f"ui-{what}")
    _tasks.add(task)

    def done(t: asyncio.Task) -> None:
        _tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("ui task %s failed: %s", what, type(t.exception()).__name__)

    task.add_done_callback(done)
    return task


async def next_frame(count: int = 1, *, timeout: float = 5.0) -> None:
    """Wait until the Kivy Clock has ticked `count` times (the app runs on this loop); a Clock
    that does not tick within `timeout` seconds (the app is gone) raises TimeoutError."""
    loop = asyncio.get_running_loop()
    for _ in range(count):
        fut = loop.create_future()
        Clock.schedule_once(lambda _dt, f=fut: f.done() or f.set_result(None), 0)
        async with asyncio.timeout(timeout):
            await fut


async def events_delivered() -> None:
    """Return once the hub events published so far have reached the models: HubFeed hands them
    to the Clock, whose callbacks of one frame all run before any scheduled during it."""
    try:
        await next_frame(2, timeout=1.0)
    except TimeoutError:  # no Clock running (the app is closing): nothing more will come
        pass


class Refresher:
    """Runs `refresh()` again when asked while it runs, never twice at once."""

    def __init__(self, refresh, what: str) -> None:
        self._refresh = refresh
        self._what = what
        self._task: asyncio.Task | None = None
        self._again = False

    def __call__(self, *_args) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = spawn(self._run(), self._what)

    async def _run(self) -> None:
        while True:
            self._again = False
            await self._refresh()
            if not self._again:
                return

    async def wait(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)


# --- settings ---------------------------------------------------------------------------------


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


# --- Today --------------------------------------------------------------------------------------


def send_text(tr: Translator, state: SendState | None, not_shared: tuple[str, ...] | list[str] = ()) -> tuple[str, str]:
    if state is None:
        return "", "body"
    if state is SendState.NOT_SHARED:
        return tr.f(kinds.SEND_TEXT[state], destination=", ".join(not_shared)), kinds.SEND_COLOUR[state]
    return tr._(kinds.SEND_TEXT[state]), kinds.SEND_COLOUR[state]


class TodayModel(EventDispatcher):
    date_text = StringProperty("")
    items = ListProperty([])  # dicts for the Today rows
    send_text = StringProperty("")
    send_role = StringProperty("body")
    connection_text = StringProperty("")
    battery_text = StringProperty("")
    link_text = StringProperty("")
    loaded = BooleanProperty(False)

    def __init__(self, api: HubApi, tr: Translator, **kw) -> None:
        super().__init__(**kw)
        self.api = api
        self.tr = tr
        self.refresh = Refresher(self._refresh, "today")
        self._view = None

    async def _refresh(self) -> None:
        try:
            self._view = await self.api.today()
        except Exception as exc:  # the store is busy or gone: say so, keep the screen
            log.error("today could not be read: %s", type(exc).__name__)
            self.connection_text = self.tr._(N_("Your values cannot be shown just now. Try again in a moment."))
            return
        self.render()

    def render(self, *_args) -> None:
        view, tr = self._view, self.tr
        if view is None:
            return
        self.date_text = tr.day(view.day).capitalize() if tr.lang != "en" else tr.day(view.day)
        rows = []
        for item in view.items:
            values = " · ".join(kinds.value_text(tr, v) for v in item.latest)
            when = tr.time(item.latest[0].taken_at.astimezone(self.api.local_zone)) if item.latest else ""
            marks = [kinds.provenance_text(tr, v) for v in item.latest if kinds.provenance_text(tr, v)]
            s_text, s_role = send_text(tr, item.send_state, item.not_shared)
            rows.append(
                {
                    "family": item.family.value,
                    "title": tr._(kinds.FAMILY_TITLE[item.family]),
                    "done": item.done,
                    "status": tr.f(N_("Done at {time}: {values}"), time=when, values=values) if item.done else tr._(N_("Not done yet today")),
                    "note": marks[0] if marks else "",
                    "send_text": s_text,
                    "send_role": s_role if s_role != "body" else "card",
                }
            )
        self.items = rows
        withheld = sorted({name for item in view.items for name in item.not_shared})
        if view.send_state is None:
            self.send_text, self.send_role = tr._(N_("Nothing to send yet")), "body"
        elif view.send_state in (SendState.SENT, SendState.NOT_SHARED) and withheld:
            # Never "everything is sent" beside a value the patient's withdrawal kept back.
            self.send_text, self.send_role = send_text(tr, SendState.NOT_SHARED, withheld)[0], "body"
        elif view.send_state in (SendState.SENT, SendState.NOT_SHARED):
            self.send_text, self.send_role = tr._(N_("Everything is sent ✓")), "ok-bg"
        elif view.send_state is SendState.WAITING:
            self.send_text = tr.n("{count} value is waiting to send", "{count} values are waiting to send", view.waiting)
            self.send_role = "wait-bg"
        else:
            # Calm, not alarm red: the patient can do nothing about it, and is told so.
            self.send_text = tr._(N_("Some values could not be sent. Your nurse knows, and you need not do anything."))
            self.send_role = "body"
        self.connection_text = (
            tr._(N_("There is no connection to the centre just now. Your values are kept safe here and sent later."))
            if view.connection is Connection.TRYING
            else ""
        )
        self.battery_text = (
            tr.f(N_("The battery in {device} is low. Ask for a new one."), device=", ".join(view.battery_low))
            if view.battery_low
            else ""
        )
        self.loaded = True

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, MeasurementRecorded | DeliveryChanged):
            self.refresh()
        elif isinstance(event, Connected):
            self.link_text = self.tr._(N_("A device is connected."))
        elif isinstance(event, Disconnected | MeasuringEnded):
            self.link_text = ""


# --- Measuring ------------------------------------------------------------------------------------

MEASURE_STATES = ["guide", "waiting", "found", "pairing", "user-code", "connected", "live", "result", "no-device", "lost", "failed", "unavailable"]


class MeasureModel(EventDispatcher):
    """One measurement of one family, from the guide to the result and its send state."""

    family = StringProperty(DeviceFamily.PULSE_OXIMETER.value)
    state = OptionProperty("guide", options=MEASURE_STATES)
    by_device = BooleanProperty(False)
    live_label = StringProperty("")
    live_text = StringProperty("")
    progress = NumericProperty(-1.0)  # memory download 0..1; -1: none
    progress_text = StringProperty("")
    results = ListProperty([])  # dicts: name, value, quality, manual, again (+ how_picture, how_text)
    again = BooleanProperty(False)  # any result asks to measure again
    send_text = StringProperty("")
    send_role = StringProperty("body")
    message = StringProperty("")  # what happened, in plain words, for states without a value

    def __init__(self, api: HubApi, tr: Translator, *, timeout: float = 90.0, **kw) -> None:
        super().__init__(**kw)
        self.api = api
        self.tr = tr
        self.timeout = timeout
        self._task: asyncio.Task | None = None
        self._adding: set[asyncio.Task] = set()  # results being read from the hub
        self._views: dict[MeasurementKind, MeasurementView] = {}
        self._live: dict[MeasurementKind, tuple[float, str]] = {}
        self.refresh_send = Refresher(self._refresh_send, "send-state")

    # -- commands --------------------------------------------------------------------------------

    def open(self, family: str) -> None:
        """Show the guide of a family (a fresh start)."""
        self.cancel()
        self.family = family
        self.by_device = any(f.by_device for f in self.api.families() if f.family.value == family)
        self._reset()
        self.state = "guide"

    def _reset(self) -> None:
        self._views = {}
        self._live: dict[MeasurementKind, tuple[float, str]] = {}
        self.results = []
        self.again = False
        self.live_text = self.live_label = self.progress_text = self.message = self.send_text = ""
        self.progress = -1.0
        self.send_role = "body"

    def start(self) -> None:
        """Start measuring: wait for the device; values arrive as hub events."""
        if not self.api.can_measure:
            self.state = "unavailable"
            self.message = self.tr._(N_("Values cannot be fetched from devices here. Type the value in by hand."))
            return
        self.cancel()
        self._reset()
        self.state = "waiting"
        self._task = spawn(self._measure(), "measure")

    async def _measure(self) -> None:
        try:
            await self.api.measure_now(timeout=self.timeout, family=DeviceFamily(self.family))
            ended = "lost"  # connected and gone without a value
        except TimeoutError:
            ended = "no-device"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the device vanished, the radio failed: say it, offer again
            log.warning("measuring ended with %s", type(exc).__name__)
            ended = "failed"
        # The session's values come as hub events on the Clock, and may still be on their way
        # when the session has ended: take them in first, or a stored value shows as "lost".
        await events_delivered()
        if self._adding:
            await asyncio.gather(*self._adding, return_exceptions=True)
        self.state = "result" if self._views else ended

    @property
    def downloading(self) -> bool:
        """A meter's memory is coming in: the progress stays on screen until the last record."""
        return 0.0 <= self.progress < 1.0 and self.measuring

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def save_manual(self, values: dict[MeasurementKind, float | None]) -> str:
        """Store typed values; returns "" or what is wrong with them, in the patient's words."""
        family = DeviceFamily(self.family)
        try:
            views = await self.api.record_manual_family(family, values)
        except ManualValueError as err:
            f = err.field
            unit = kinds.unit_text(self.tr, f.unit)
            return self.tr.f(
                N_("{name} must be between {low} and {high} {unit}. Check the number."),
                name=self.tr._(kinds.KIND_NAME[f.kind]),
                low=self.tr.number(f.low, f.decimals),
                high=self.tr.number(f.high, f.decimals),
                unit=unit,
            )
        except ValueError:
            return self.tr._(N_("Please type in every number."))
        self._reset()
        for v in views:
            self._views[v.kind] = v
        self.render()
        self.state = "result"
        self.refresh_send()
        return ""

    # -- hub events ------------------------------------------------------------------------------

    @property
    def measuring(self) -> bool:
        return self._task is not None and not self._task.done()

    def on_event(self, event: HubEvent) -> None:
        if not self.measuring and not isinstance(event, DeliveryChanged | ConsentFailed):
            return  # (a refused consent ends the session: its event may come a frame after the end)
        if isinstance(event, DeviceFound) and self.state == "waiting":
            self.state = "found"
        elif isinstance(event, PairingNeeded):
            # A shared scale asking for the patient's user code is not pairing: say what it asks.
            self.state = "user-code" if event.method == "consent-code" else "pairing"
        elif isinstance(event, ConsentFailed):  # a shared scale refused the code (or it was cancelled)
            if not self.measuring and self.state != "lost":
                return
            self.message = self.tr._(N_("The scale did not take the code. Check your code and measure again."))
        elif isinstance(event, Connected) and self.state in ("waiting", "found", "pairing", "user-code"):
            self.state = "connected"
        elif isinstance(event, CuffPressure):
            self.live_label = self.tr._(N_("Cuff pressure"))
            self.live_text = kinds.number_text(self.tr, K.SYSTOLIC_PRESSURE, event.pressure, "mm[Hg]")
            self.state = "live"
        elif isinstance(event, LiveReading):
            # An oximeter streams SpO2 and pulse as two events: both stay on the screen.
            self._live[event.kind] = (event.value, event.unit)
            order = list(FAMILY_KINDS.get(DeviceFamily(self.family), ())) if self.family else []
            shown = sorted(self._live, key=lambda k: order.index(k) if k in order else 99)
            self.live_label = " · ".join(self.tr._(kinds.KIND_NAME.get(k, kinds.VALUE)) for k in shown)
            self.live_text = "  ".join(kinds.number_text(self.tr, k, *self._live[k]) for k in shown)
            if self.state != "result":
                self.state = "live"
        elif isinstance(event, DownloadProgress):
            if event.total > 0:
                self.progress = min(1.0, event.done / event.total)
                self.progress_text = self.tr.f(
                    N_("Fetching values from the meter: {done} of {total}"), done=event.done, total=event.total
                )
                if event.done >= event.total and self._views:
                    self.state = "result"  # the last record is in: show the newest value
                elif self.state != "result" or self.downloading:
                    self.state = "live"
        elif isinstance(event, MeasurementRecorded):
            adding = spawn(self._add(event.measurement_id, event.kind), "measure-result")
            self._adding.add(adding)
            adding.add_done_callback(self._adding.discard)
        elif isinstance(event, DeliveryChanged):
            if self._views:
                self.refresh_send()

    async def show_measurement(self, measurement_id: str, kind: str) -> None:
        """Show a stored measurement as this screen's result (also what a hub event leads to)."""
        await self._add(measurement_id, kind)

    async def _add(self, measurement_id: Any, kind: Any) -> None:
        try:
            k = K(kind)
        except ValueError:
            return
        if not isinstance(measurement_id, str):
            return
        view = await self.api.measurement(measurement_id, kind=k)
        if view is None:
            return
        family = family_of(view.kind)
        if family is not None and family.value != self.family:
            # The patient used another device than the screen showed: show what arrived.
            self.family = family.value
            self._views = {kk: vv for kk, vv in self._views.items() if kk in FAMILY_KINDS[family]}
        self._views[view.kind] = view
        self.render()
        if not self.downloading:
            self.state = "result"
        self.refresh_send()

    async def _refresh_send(self) -> None:
        ids = [v.id for v in self._views.values()]
        state = await self.api.send_states(ids)
        not_shared = await self.api.not_shared_with(ids) if state is SendState.NOT_SHARED else []
        text, role = send_text(self.tr, state, not_shared)
        self.send_text, self.send_role = text, (role + "-bg" if role != "body" else role)

    def render(self, *_args) -> None:
        tr = self.tr
        rows = []
        again = False
        family = DeviceFamily(self.family)
        order = list(FAMILY_KINDS[family])
        for view in sorted(self._views.values(), key=lambda v: order.index(v.kind) if v.kind in order else 99):
            quality, asks_again = kinds.quality_text(tr, view)
            again |= asks_again
            row = {
                "name": tr._(kinds.KIND_NAME.get(view.kind, kinds.VALUE)),
                "value": kinds.value_text(tr, view),
                "quality": quality,
                "manual": kinds.provenance_text(tr, view),
                "again": asks_again,
            }
            if asks_again:  # the request and how come first; the doubtful value is small, below
                how = kinds.how_again(view, family)
                row["how_picture"] = how.pictogram if how else ""
                row["how_text"] = tr._(how.text) if how else ""
                has_value = row["value"] != "—"
                row["value"] = tr.f(kinds.UNCERTAIN_VALUE, value=row["value"]) if has_value else ""
            rows.append(row)
        self.results = rows
        self.again = again
        if self._views:
            self.refresh_send()

    def spoken_result(self) -> str:
        parts = []
        for row in self.results:
            if row["again"]:  # as shown: the request, how, then the doubtful value
                parts.append(f"{row['name']}. {row['quality']}")
                parts.extend(f"{x}." for x in (row["how_text"].rstrip("."), row["value"]) if x)
                continue
            parts.append(f"{row['name']}: {row['value']}.")
            if row["quality"]:
                parts.append(row["quality"])
        if self.send_text:
            parts.append(self.send_text.replace("✓", "").strip() + ".")
        return " ".join(parts)


def manual_fields(family: str):
    return MANUAL_FIELDS[DeviceFamily(family)]


# --- History ----------------------------------------------------------------------------------------


class HistoryModel(EventDispatcher):
    kind = StringProperty("")
    days = NumericProperty(7)
    kinds = ListProperty([])  # [(kind value, name)]
    series = ListProperty([])  # [[(x days from today, y), ...] per line]
    rows = ListProperty([])  # dicts: when, value, note
    legend = ListProperty([])  # the name of each line of the chart
    y_range = ListProperty([0, 100])
    empty_text = StringProperty("")
    unit = StringProperty("")
    decimals = NumericProperty(0)

    def __init__(self, api: HubApi, tr: Translator, **kw) -> None:
        super().__init__(**kw)
        self.api = api
        self.tr = tr
        self.refresh = Refresher(self._refresh, "history")
        shown: list[MeasurementKind] = []
        for f in api.families():
            for k in f.kinds:
                if k not in shown and not (k is K.CUFF_PULSE_RATE and K.PULSE_RATE in shown):
                    shown.append(k)
        self._kinds = shown
        self.kind = shown[0].value if shown else ""
        self.fbind("kind", self.refresh)
        self.fbind("days", self.refresh)
        self._views: list[MeasurementView] = []

    async def _refresh(self) -> None:
        if not self.kind:
            return
        kind = K(self.kind)
        try:
            views = await self.api.history(kind, days=int(self.days))
            if kind is K.PULSE_RATE and K.CUFF_PULSE_RATE not in self._kinds:
                views = sorted(views + await self.api.history(K.CUFF_PULSE_RATE, days=int(self.days)), key=lambda v: v.taken_at)
        except Exception as exc:
            log.error("history could not be read: %s", type(exc).__name__)
            return
        self._views = views
        self.render()

    def render(self, *_args) -> None:
        tr = self.tr
        self.kinds = [(k.value, tr._(kinds.KIND_NAME[k])) for k in self._kinds]
        if not self.kind:
            return
        kind = K(self.kind)
        now = self.api.clock()
        lines = []
        for series_kind in kinds.chart_series(kind):
            pts = []
            for v in self._views:
                value = v.value
                if series_kind is not kind:
                    c = v.component(series_kind)
                    value = c.value if c else None
                if value is not None:
                    pts.append(((v.taken_at - now).total_seconds() / 86400.0, float(value)))
            lines.append(pts)
        self.decimals = kinds.DECIMALS.get(kind, 0)
        self.legend = [tr._(kinds.KIND_NAME[k]) for k in kinds.chart_series(kind)]
        self.series = lines
        ys = [y for line in lines for _, y in line]
        self.y_range = [min(ys), max(ys)] if ys else [0, 1]
        rows = []
        for v in reversed(self._views):
            local = v.taken_at.astimezone(self.api.local_zone)
            quality, again = kinds.quality_text(tr, v)
            note = ", ".join(x for x in (kinds.provenance_text(tr, v), quality) if x)
            rows.append({"when": f"{tr.short_day(local.date())} {tr.time(local)}", "value": kinds.value_text(tr, v), "note": note})
        self.rows = rows
        self.empty_text = "" if self._views else tr.f(N_("No values in the last {days} days."), days=int(self.days))

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, MeasurementRecorded):
            self.refresh()


# --- the feed ---------------------------------------------------------------------------------------


class HubFeed:
    """Hub events -> the Kivy Clock -> the models."""

    def __init__(self, api: HubApi, *models: Any) -> None:
        self.models = models
        self._stop = api.subscribe(self._on_event)
        self.received = 0

    def _on_event(self, event: HubEvent) -> None:
        Clock.schedule_once(lambda _dt: self._deliver(event), 0)

    def _deliver(self, event: HubEvent) -> None:
        self.received += 1
        for model in self.models:
            try:
                model.on_event(event)
            except Exception as exc:  # one model's bug must not stop the others
                log.error("a screen could not handle the %s event: %s", type(event).__name__, type(exc).__name__)

    def close(self) -> None:
        self._stop()


__all__ = [
    "HistoryModel",
    "HubFeed",
    "MeasureModel",
    "RecordingSpeaker",
    "Session",
    "TodayModel",
    "spawn",
]
