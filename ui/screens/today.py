"""Today: what is done today, whether it is sent, and a big button per measurement; with a
self-care plan, its tasks first and the other families behind "Other measurement"."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.properties import ObjectProperty

from ui.i18n import tr
from ui.widgets import HeimaScreen, fill, load_kv


class TodayScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)

    def on_model(self, _inst, model) -> None:
        later = Clock.create_trigger(self.rebuild)
        for name in ("items", "tasks", "others", "show_others"):
            model.fbind(name, later)
        self.rebuild()

    def rebuild(self, *_args) -> None:
        m = self.model
        fill(self.ids.tasks, m.tasks, Factory.TaskRow)
        fill(self.ids.rows, m.items, Factory.TodayRow)
        fill(self.ids.others, m.others if m.show_others else [], Factory.TodayRow)

    def spoken(self) -> str:
        m = self.model
        parts = [tr._("Today"), m.date_text + "."]
        for task in m.tasks:
            parts.append(f"{task['title']}: {task['status']}")
        for item in m.items:
            parts.append(f"{item['title']}: {item['status']}.")
        parts += [m.send_text.replace("✓", ""), m.connection_text, m.battery_text]
        return " ".join(p for p in parts if p)


load_kv(__file__)
