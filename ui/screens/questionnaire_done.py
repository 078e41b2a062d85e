"""After sending: thanks, and what the form shows the patient now that it is scored (its texts
the answers turned on, such as advice to call the nurse)."""

from __future__ import annotations

from kivy.properties import ObjectProperty

from ui.i18n import tr
from ui.keyboard import make
from ui.widgets import HeimaScreen, load_kv


class FormDoneScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)  # QuestionnaireModel

    def on_model(self, _screen, model) -> None:
        if model is not None:
            model.fbind("after", self.rebuild)

    def rebuild(self, *_args) -> None:
        self.title = tr._("Thank you")
        box = self.ids.after
        box.clear_widgets()
        for text in self.model.after if self.model else []:
            box.add_widget(make("AfterText", text=text))

    def spoken(self) -> str:
        return " ".join([self.title + ".", tr._("Your answers are saved and will be sent to your nurse."),
                         *(self.model.after if self.model else [])])


load_kv(__file__)
