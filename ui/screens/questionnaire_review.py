"""Before sending: every question shown and its answer, a tap on one to change it; Send."""

from __future__ import annotations

from kivy.properties import ObjectProperty, StringProperty

from hub.api import ItemView
from ui.i18n import tr
from ui.models.questionnaire import answer_text, problem_text
from ui.keyboard import make
from ui.widgets import HeimaScreen, load_kv


def answers_of(item: ItemView) -> str:
    if not item.supported:
        return tr._("Answer this one with your care team.")
    if not item.answers:
        return tr._("Not answered")
    return ", ".join(answer_text(tr, item, a) for a in item.answers)


class ReviewScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)  # QuestionnaireModel
    note = StringProperty("")
    error = StringProperty("")

    def on_model(self, _screen, model) -> None:
        if model is not None:
            model.fbind("review", self.rebuild)
            model.fbind("error", self.rebuild)

    def rebuild(self, *_args) -> None:
        review = self.model.review if self.model else None
        self.title = tr._("Check your answers")
        self.error = self.model.error if self.model else ""
        box = self.ids.rows
        box.clear_widgets()
        if review is None:
            return
        self.note = tr._("Tap an answer to change it.") if review.can_submit else tr._("Some answers are missing. Tap them to answer.")
        for n, item in enumerate(i for i in review.items if i.type != "display"):
            problems = [problem_text(tr, p) for p in item.problems]
            row = make("ReviewRow", question=item.text or item.link_id, answer=answers_of(item),
                                    problem=problems[0] if problems else "", action=f"change-{n + 1}",
                                    changeable=not item.read_only and item.supported)
            row.ids.go.bind(on_release=lambda _b, path=item.path: self.change(path))
            box.add_widget(row)

    def change(self, path) -> None:
        self.model.go_to(path)

    def send(self) -> None:
        self.model.submit()

    def spoken(self) -> str:
        review = self.model.review if self.model else None
        parts = [self.title, self.note]
        for item in (review.items if review else ()):
            if item.type != "display":
                parts.append(f"{item.text}: {answers_of(item)}.")
        return " ".join(p for p in parts if p)


load_kv(__file__)
