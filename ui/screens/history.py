"""History: a 7- or 30-day chart per kind of measurement, and the values as a list."""

from __future__ import annotations

from datetime import timedelta

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.properties import ObjectProperty, StringProperty

from ui import theme
from ui.chart import LINE_COLOURS, HistoryChart  # noqa: F401  (HistoryChart: used in history.kv)
from ui.i18n import tr
from ui.widgets import HeimaScreen, fill, load_kv


class HistoryScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)
    start_text = StringProperty("")
    releasable = True  # drawn from the model: let go when left (its chart and rows)

    def on_model(self, _inst, model) -> None:
        later = Clock.create_trigger(self.update)  # several changes in one frame: one rebuild
        for name in ("kinds", "kind", "rows", "series", "days", "bands", "band_legend"):
            self.watch(model, name, later)
        self.update()

    _stale = False
    _shown_kinds = None
    _shown_chart = None

    def update(self, *_args) -> None:
        """Show the model; while another screen is shown, only remember to (new values arriving
        on Today do not rebuild a chart and 30 rows nobody sees)."""
        if self.manager is not None and self.manager.current != self.name:
            self._stale = True
            return
        self._stale = False
        m = self.model
        self.title = tr._("History")
        box = self.ids.kinds
        if self._shown_kinds != list(m.kinds):
            self._shown_kinds = list(m.kinds)
            box.clear_widgets()
            for value, name in m.kinds:
                b = Factory.FitButton(text=name, action="kind-" + value)
                b.bind(on_release=lambda btn, v=value: setattr(m, "kind", v))
                box.add_widget(b)
        for b, (value, _name) in zip(reversed(box.children), m.kinds):
            b.role = "selected" if value == m.kind else "secondary"
        start = m.api.clock().astimezone(m.api.local_zone).date() - timedelta(days=int(m.days))
        self.start_text = self.ids.chart.start_text = tr.short_day(start)
        chart = (list(m.series), int(m.days), tuple(m.y_range), int(m.decimals), tr.lang, list(m.bands), list(m.band_legend))
        if chart != self._shown_chart:  # the same chart is not plotted again
            self._shown_chart = chart
            self.ids.chart.show(m.series, days=int(m.days), y_range=tuple(m.y_range), decimals=int(m.decimals), bands=list(m.bands))
            self._legend(m.legend if len(m.series) > 1 else [])
            self._zones(m.band_legend)
        fill(self.ids.rows, m.rows[:30], Factory.HistoryRow)  # the newest 30; the chart shows the rest

    def _legend(self, names: list[str]) -> None:
        """Which line is which, in the lines' own colours (a chart of two lines: blood pressure)."""
        box = self.ids.legend
        box.clear_widgets()
        for n, name in enumerate(names):
            colour = theme.rgba(LINE_COLOURS[n % len(LINE_COLOURS)])
            entry = Factory.LegendEntry()
            entry.text, entry.colour = name, colour
            box.add_widget(entry)

    def _zones(self, entries) -> None:
        """The plan's zones behind the chart, each named in words beside its colour."""
        box = self.ids.zone_list
        box.clear_widgets()
        for level, words in entries:
            entry = Factory.ZoneEntry()
            entry.text, entry.colour = words, theme.rgba(theme.ZONE_BANDS[level])
            box.add_widget(entry)

    def on_pre_enter(self, *_args) -> None:
        if self._stale and self.model is not None:
            self.update()

    def spoken(self) -> str:
        m = self.model
        name = dict(m.kinds).get(m.kind, "")
        first = m.rows[0] if m.rows else None
        newest = tr._("Newest value")
        latest = f"{newest}: {first['value']}, {first['when']}." if first else m.empty_text
        zones = " ".join(f"{words}." for _level, words in m.band_legend)
        return " ".join(x for x in (f"{self.title}. {name}. {latest}", m.bands_title + "." if zones else "", zones) if x)


load_kv(__file__)
