"""The History screen's model: one kind over 7 or 30 days, as chart lines and a list; with a
self-care plan, its zones as bands behind the chart, named in words."""

from __future__ import annotations

import logging

from kivy.event import EventDispatcher
from kivy.properties import ListProperty, NumericProperty, StringProperty

from hub.api import HubApi, HubEvent, MeasurementKind, MeasurementRecorded, MeasurementView
from ui import kinds, zones
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
    bands = ListProperty([])  # [(level, low, high)]: the plan's limit zones of the chart's (first) line
    bands_title = StringProperty("")
    band_legend = ListProperty([])  # [(level, words)]: each band named, not only coloured

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
        self._render_bands(kind, ys)
        limits = [x for b in self.bands for x in b[1:] if x is not None]
        if ys and limits:  # the limits near the values are seen: where green ends
            span = max(max(ys) - min(ys), 1.0)
            ys += [x for x in limits if min(ys) - span <= x <= max(ys) + span]
        self.y_range = [min(ys), max(ys)] if ys else [0, 1]
        rows = []
        for v in reversed(self._views):
            local = v.taken_at.astimezone(self.api.local_zone)
            quality, again = kinds.quality_text(tr, v)
            note = ", ".join(x for x in (kinds.provenance_text(tr, v), quality) if x)
            rows.append({"when": f"{tr.short_day(local.date())} {tr.time(local)}", "value": kinds.value_text(tr, v), "note": note})
        self.rows = rows
        self.empty_text = "" if self._views else tr.f(N_("No values in the last {days} days."), days=int(self.days))

    def _render_bands(self, kind: MeasurementKind, ys: list[float]) -> None:
        """The zones the plan gave the newest value of the period (the plan in force then)."""
        tr = self.tr
        series = kinds.chart_series(kind)[0]
        bands: list[zones.Band] = []
        for v in reversed(self._views):
            bands = zones.bands_for(v.evaluation, series)
            if bands:
                break
        self.bands = [(b.level, b.low, b.high) for b in bands]
        name = tr._(kinds.KIND_NAME.get(series, kinds.VALUE))
        self.bands_title = tr.f(N_("Zones in your plan: {name}"), name=name) if bands else ""
        self.band_legend = [(b.level, zones.band_text(tr, b, kinds.DECIMALS.get(kind, 0))) for b in reversed(bands)]

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, MeasurementRecorded):
            self.refresh()


__all__ = ["HistoryModel"]
