"""Today: what is done today, whether it is sent, and a big button per measurement."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.properties import ObjectProperty

from ui.i18n import tr
from ui.widgets import HeimaScreen, fill, load_kv


class TodayScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)

    def on_model(self, _inst, model) -> None:
        model.fbind("items", Clock.create_trigger(self.rebuild))
        self.rebuild()

    def rebuild(self, *_args) -> None:
        fill(self.ids.rows, self.model.items, Factory.TodayRow)

    def spoken(self) -> str:
        m = self.model
        parts = [tr._("Today"), m.date_text + "."]
        for item in m.items:
            parts.append(f"{item['title']}: {item['status']}.")
        parts += [m.send_text.replace("✓", ""), m.connection_text, m.battery_text]
        return " ".join(p for p in parts if p)


load_kv(__file__)
