"""The History screen's model: one kind over 7 or 30 days, as chart lines and a list."""

from __future__ import annotations

import logging

from kivy.event import EventDispatcher
from kivy.properties import ListProperty, NumericProperty, StringProperty

from hub.api import HubApi, HubEvent, MeasurementKind, MeasurementRecorded, MeasurementView
from ui import kinds
from ui.i18n import N_, Translator
from ui.models.loop import Refresher

log = logging.getLogger(__name__)
K = MeasurementKind


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


__all__ = ["HistoryModel"]
