"""Typing a value in by hand: one field at a time, a number pad, the value marked as manual."""

from __future__ import annotations

from kivy.factory import Factory
from kivy.properties import DictProperty, ObjectProperty, StringProperty

from hub.api import DeviceFamily
from ui import kinds
from ui.i18n import N_, tr
from ui.models.loop import spawn
from ui.models.measure import manual_fields
from ui.widgets import HeimaScreen, load_kv, parse_typed, typed


class ManualScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)  # the MeasureModel: the result is shown there
    selected = StringProperty("")
    typed_text = DictProperty({})
    error = StringProperty("")

    def open(self, family: str) -> None:
        if self.model.family != family:  # (from the measuring screen it is that screen's family)
            self.model.open(family)
        self.title = tr.f(N_("{what}: type in by hand"), what=tr._(kinds.FAMILY_TITLE[DeviceFamily(family)]))
        fields = manual_fields(family)
        self.typed_text = {f.kind.value: "" for f in fields}
        self.selected = fields[0].kind.value
        self.error = ""
        self.rebuild()

    def rebuild(self, *_args) -> None:
        box = self.ids.fields
        box.clear_widgets()
        for f in manual_fields(self.model.family):
            w = Factory.ManualField()
            w.kind = f.kind.value
            w.name = tr._(kinds.KIND_NAME[f.kind])
            w.unit = kinds.unit_text(tr, f.unit)
            w.value = self.typed_text.get(f.kind.value, "")
            w.chosen = f.kind.value == self.selected
            w.bind(on_release=lambda btn: self.choose(btn.kind))
            box.add_widget(w)
        decimals = next((f.decimals for f in manual_fields(self.model.family) if f.kind.value == self.selected), 0)
        self.ids.pad.decimal = decimals > 0

    def choose(self, kind: str) -> None:
        self.selected = kind
        self.rebuild()

    def key(self, key: str) -> None:
        text = self.typed_text.get(self.selected, "")
        self.typed_text[self.selected] = typed(text, key)
        self.error = ""
        self.rebuild()

    def save(self) -> None:
        values = {f.kind: parse_typed(self.typed_text.get(f.kind.value, "")) for f in manual_fields(self.model.family)}

        async def run() -> None:
            problem = await self.model.save_manual(values)
            if problem:
                self.error = problem
            else:
                self.manager.current = "measure"

        spawn(run(), "manual-save")

    def spoken(self) -> str:
        hint = tr._("Tap a box, then type the number.")
        return f"{self.title}. {hint} {self.error}"


load_kv(__file__)
