"""History: a 7- or 30-day chart per kind of measurement, and the values as a list."""

from __future__ import annotations

from datetime import timedelta

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.properties import ObjectProperty, StringProperty

from ui.chart import HistoryChart  # noqa: F401  (used in history.kv)
from ui.i18n import tr
from ui.widgets import HeimaScreen, load_kv


class HistoryScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)
    start_text = StringProperty("")

    def on_model(self, _inst, model) -> None:
        later = Clock.create_trigger(self.update)  # several changes in one frame: one rebuild
        for name in ("kinds", "kind", "rows", "series", "days"):
            model.fbind(name, later)
        self.update()

    def update(self, *_args) -> None:
        m = self.model
        self.title = tr._("History")
        box = self.ids.kinds
        box.clear_widgets()
        for value, name in m.kinds:
            b = Factory.FitButton(text=name, action="kind-" + value, role="selected" if value == m.kind else "secondary")
            b.bind(on_release=lambda btn, v=value: setattr(m, "kind", v))
            box.add_widget(b)
        start = m.api.clock().astimezone(m.api.local_zone).date() - timedelta(days=int(m.days))
        self.start_text = tr.short_day(start)
        self.ids.chart.show(m.series, days=int(m.days), y_range=tuple(m.y_range))
        rows = self.ids.rows
        rows.clear_widgets()
        for row in m.rows[:30]:  # the newest 30; the chart shows the rest
            w = Factory.HistoryRow()
            for key, value in row.items():
                setattr(w, key, value)
            rows.add_widget(w)

    def spoken(self) -> str:
        m = self.model
        name = dict(m.kinds).get(m.kind, "")
        first = m.rows[0] if m.rows else None
        newest = tr._("Newest value")
        latest = f"{newest}: {first['value']}, {first['when']}." if first else m.empty_text
        return f"{self.title}. {name}. {latest}"


load_kv(__file__)
