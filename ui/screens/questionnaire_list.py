"""The forms the patient can answer now ("Skjema"), from Today: one big button a form; a form
begun says so and opens on the question it was left on."""

from __future__ import annotations

from kivy.properties import ObjectProperty

from ui.i18n import tr
from ui.keyboard import make
from ui.widgets import HeimaScreen, load_kv


class FormsScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)  # QuestionnaireModel

    def on_model(self, _screen, model) -> None:
        if model is not None:
            model.fbind("forms", self.rebuild)

    def rebuild(self, *_args) -> None:
        box = self.ids.forms
        box.clear_widgets()
        for n, form in enumerate(self.model.forms if self.model else []):
            b = make("FormEntry", text=form["title"], note=tr._("Begun: continue where you were") if form["begun"] else "",
                                  action=f"form-{n + 1}")
            b.ids.go.bind(on_release=lambda _b, url=form["url"]: self.open(url))
            box.add_widget(b)

    def open(self, url: str) -> None:
        from kivy.app import App

        App.get_running_app().open_form(url)

    def spoken(self) -> str:
        titles = [form["title"] for form in self.model.forms] if self.model else []
        if not titles:
            return f"{self.title}. {tr._('There are no forms to answer now.')}"
        return f"{self.title}. {', '.join(titles)}."


load_kv(__file__)
