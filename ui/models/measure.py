"""The Measuring screen's model: one measurement of one family, from the guide to the result and
its send state.

Thin on purpose: what the screen shows next is decided by the pure machine in
ui/models/measuring.py; this class holds the Kivy properties the screen binds to, feeds the
machine the hub's events and the patient's commands, and does what it returns (run the session
on the shared loop, read stored values from the hub, put values into words). Nothing here logs a
measured value.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, OptionProperty, StringProperty

from hub.api import FAMILY_KINDS, MANUAL_FIELDS, DeviceFamily, HubApi, HubEvent, ManualValueError, MeasurementKind, MeasurementView, SendState
from ui import kinds, zones
from ui.i18n import N_, Translator
from ui.models import measuring as m
from ui.models.loop import Refresher, events_delivered, spawn
from ui.models.today import send_text

log = logging.getLogger(__name__)
K = MeasurementKind

MEASURE_STATES = [p.value for p in m.Phase]

NOTES = {
    m.Note.CODE_REFUSED: N_("The scale did not take the code. Check your code and measure again."),
    m.Note.NO_DEVICES: N_("Values cannot be fetched from devices here. Type the value in by hand."),
}


class MeasureModel(EventDispatcher):
    family = StringProperty(DeviceFamily.PULSE_OXIMETER.value)
    state = OptionProperty(m.Phase.GUIDE.value, options=MEASURE_STATES)
    by_device = BooleanProperty(False)
    live_label = StringProperty("")
    live_text = StringProperty("")
    progress = NumericProperty(-1.0)  # memory download 0..1; -1: none
    progress_text = StringProperty("")
    results = ListProperty([])  # dicts: name, value, quality, manual, again, zone, zone_text, advice, rest (+ how_picture, how_text)
    again = BooleanProperty(False)  # any result asks to measure again
    wait_text = StringProperty("")  # the plan's wait before measuring again, counting down calmly
    send_text = StringProperty("")
    send_role = StringProperty("body")
    message = StringProperty("")  # what happened, in plain words, for states without a value

    def __init__(self, api: HubApi, tr: Translator, *, timeout: float = 90.0, **kw) -> None:
        super().__init__(**kw)
        self.api = api
        self.tr = tr
        self.timeout = timeout
        self.machine = m.Measuring()
        self._task: asyncio.Task | None = None
        self._views: dict[MeasurementKind, MeasurementView] = {}  # read from the hub, by kind
        self._live: dict[MeasurementKind, tuple[float, str]] = {}
        self._reading: set[asyncio.Task] = set()  # stored values being read from the hub
        self.refresh_send = Refresher(self._refresh_send, "send-state")
        self._ready_at: datetime | None = None  # when the plan's wait before measuring again is over
        self._ticker = None

    # -- the machine -----------------------------------------------------------------------------

    def step(self, event: object) -> None:
        """Feed the machine one event; show its state and do what it says."""
        self.machine, effects = m.transition(self.machine, event)
        self._show(effects)

    def _show(self, effects: tuple[m.Effect, ...]) -> None:
        s = self.machine
        self.family = s.family.value
        self._views = {k: v for k, v in self._views.items() if k in s.shown}
        self.progress = -1.0 if s.progress is None else min(1.0, s.progress[0] / s.progress[1])
        self.progress_text = "" if s.progress is None else self.tr.f(
            N_("Fetching values from the meter: {done} of {total}"), done=s.progress[0], total=s.progress[1]
        )
        self.message = self.tr._(NOTES[s.note]) if s.note is not None else ""
        for effect in effects:
            self._do(effect)
        self.state = s.phase.value  # last: what reacts to the state finds the values in place

    def _do(self, effect: m.Effect) -> None:
        if isinstance(effect, m.StopSession):
            if self._task is not None and not self._task.done():
                self._task.cancel()
            self._task = None
        elif isinstance(effect, m.BeginSession):
            self._task = spawn(self._measure(effect.family), "measure")
        elif isinstance(effect, m.Clear):
            self._live = {}
            self._countdown(None)
            self.results, self.again = [], False
            self.live_text = self.live_label = self.send_text = ""
            self.send_role = "body"
        elif isinstance(effect, m.Read):
            task = spawn(self._read(effect), "measure-result")
            self._reading.add(task)
            task.add_done_callback(self._reading.discard)
        elif isinstance(effect, m.ShowResults):
            self.render()
        elif isinstance(effect, m.RefreshSend):
            self.refresh_send()
        elif isinstance(effect, m.ShowCuff):
            self.live_label = self.tr._(N_("Cuff pressure"))
            self.live_text = kinds.number_text(self.tr, K.SYSTOLIC_PRESSURE, effect.pressure, "mm[Hg]")
        elif isinstance(effect, m.ShowLive):
            # An oximeter streams SpO2 and pulse as two events: both stay on the screen.
            self._live[effect.kind] = (effect.value, effect.unit)
            self._render_live()

    def _render_live(self) -> None:
        order = list(FAMILY_KINDS.get(DeviceFamily(self.family), ()))
        shown = sorted(self._live, key=lambda k: order.index(k) if k in order else 99)
        self.live_label = " · ".join(self.tr._(kinds.KIND_NAME.get(k, kinds.VALUE)) for k in shown)
        self.live_text = "  ".join(kinds.number_text(self.tr, k, *self._live[k]) for k in shown)

    async def _measure(self, family: DeviceFamily) -> None:
        try:
            await self.api.measure_now(timeout=self.timeout, family=family)
            outcome = m.Phase.LOST  # connected and gone without a value
        except TimeoutError:
            outcome = m.Phase.NO_DEVICE
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the device vanished, the radio failed: say it, offer again
            log.warning("measuring ended with %s", type(exc).__name__)
            outcome = m.Phase.FAILED
        # The session's values come as hub events on the Clock, and may still be on their way
        # when the session has ended: take them in first (the machine waits for their reads).
        await events_delivered()
        self.step(m.SessionOver(outcome))

    async def _read(self, effect: m.Read) -> None:
        try:
            view = await self.api.measurement(effect.measurement_id, kind=effect.kind)
        except Exception as exc:  # the store is busy or gone: the session must still end
            log.error("a measurement could not be read: %s", type(exc).__name__)
            view = None
        if view is None:
            self.step(m.ResultMissing(effect.run))
            return
        if effect.run == self.machine.run:
            self._views[view.kind] = view
        self.step(m.ResultRead(view.kind, effect.run))

    # -- commands --------------------------------------------------------------------------------

    def open(self, family: str) -> None:
        """Show the guide of a family (a fresh start)."""
        self.by_device = any(f.by_device for f in self.api.families() if f.family.value == family)
        self.step(m.Open(DeviceFamily(family)))

    def start(self) -> None:
        """Start measuring: wait for the device; values arrive as hub events."""
        self.step(m.Start(self.api.can_measure))

    def as_if_measuring(self) -> None:
        """The screen as during a session, with no device behind it: the gallery's scenes then
        feed the hub's events themselves."""
        self.machine, effects = m.transition(self.machine, m.Start())
        self._show(tuple(e for e in effects if not isinstance(e, m.BeginSession)))

    def cancel(self) -> None:
        self.step(m.Cancel())

    @property
    def measuring(self) -> bool:
        return self.machine.session

    @property
    def downloading(self) -> bool:
        """A meter's memory is coming in: the progress stays on screen until the last record."""
        return self.machine.downloading

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
        self._views = {v.kind: v for v in views}
        self.step(m.ManualSaved(tuple(v.kind for v in views)))
        return ""

    async def show_measurement(self, measurement_id: str, kind: str) -> None:
        """Show a stored measurement as this screen's result (also what a hub event leads to)."""
        try:
            k = K(kind)
        except ValueError:
            return
        self.step(m.Show(measurement_id, k))
        await asyncio.gather(*self._reading, return_exceptions=True)

    # -- hub events ------------------------------------------------------------------------------

    def on_event(self, event: HubEvent) -> None:
        self.step(event)

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
        ready_at: datetime | None = None
        for view in sorted(self._views.values(), key=lambda v: order.index(v.kind) if v.kind in order else 99):
            quality, asks_again = kinds.quality_text(tr, view)
            ev = view.evaluation
            zone = zones.zone_of(ev)
            confirm = ev is not None and ev.remeasure and not asks_again  # the plan asks, before anything alarms
            if confirm:
                quality, asks_again = tr._(zones.CONFIRM_AGAIN), True
            again |= asks_again
            wait = zones.wait_seconds(ev)
            row = {
                "name": tr._(kinds.KIND_NAME.get(view.kind, kinds.VALUE)),
                "value": kinds.value_text(tr, view),
                "quality": quality,
                "manual": kinds.provenance_text(tr, view),
                "again": asks_again,
                "zone": zone,
                "zone_text": zones.zone_text(tr, zone),
                "advice": zones.advice_text(tr, ev),
                "rest": zones.rest_text(tr, wait) if wait else "",
            }
            if wait:
                ends = view.taken_at + timedelta(seconds=wait)
                ready_at = ends if ready_at is None else max(ready_at, ends)
            if asks_again:  # the request and how come first; the doubtful value is small, below
                how = kinds.how_again(view, family) or (kinds.GUIDES[family][0] if confirm and kinds.GUIDES.get(family) else None)
                row["how_picture"] = how.pictogram if how else ""
                row["how_text"] = tr._(how.text) if how else ""
                has_value = row["value"] != "—"
                if not confirm:  # a value to confirm is not doubtful: it is shown as measured
                    row["value"] = tr.f(kinds.UNCERTAIN_VALUE, value=row["value"]) if has_value else ""
            rows.append(row)
        self._countdown(ready_at)
        self.results = rows
        self.again = again
        if self.machine.note is not None:
            self.message = tr._(NOTES[self.machine.note])
        if self._live:
            self._render_live()
        if self._views:
            self.refresh_send()

    def spoken_result(self) -> str:
        parts = []
        for row in self.results:
            advice = [f"{x.rstrip('.')}." for x in (row["zone_text"], row["advice"]) if x]
            if row["again"]:  # as shown: the request, the wait, how, the zone and advice, then the value
                parts.append(f"{row['name']}. {row['quality']}")
                wait = (row["rest"], self.wait_text) if row["rest"] else ()
                parts.extend(f"{x.rstrip('.')}." for x in (*wait, row["how_text"]) if x)
                parts.extend(advice)
                if row["value"]:
                    parts.append(f"{row['value']}.")
                continue
            parts.append(f"{row['name']}: {row['value']}.")
            parts.extend(advice)
            if row["quality"]:
                parts.append(row["quality"])
        if self.send_text:
            parts.append(self.send_text.replace("✓", "").strip() + ".")
        return " ".join(parts)


    # -- the plan's wait before measuring again -------------------------------------------------------

    def _countdown(self, ready_at: datetime | None) -> None:
        """Count the wait down on the Kivy Clock (whole minutes, by the hub's clock), until it is over."""
        self._ready_at = ready_at
        if ready_at is None:
            self.wait_text = ""
            self._stop_ticking()
            return
        if self._ticker is None:
            self._ticker = Clock.schedule_interval(self.tick, 1.0)
        self.tick()

    def tick(self, *_args) -> None:
        if self._ready_at is None:
            self._stop_ticking()
            return
        now = self.api.clock()
        self.wait_text = zones.countdown_text(self.tr, self._ready_at, now)
        if now >= self._ready_at:
            self._stop_ticking()  # "you can measure again now" stays; nothing more to count

    def _stop_ticking(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None


def manual_fields(family: str):
    return MANUAL_FIELDS[DeviceFamily(family)]


__all__ = ["MEASURE_STATES", "MeasureModel", "manual_fields"]
