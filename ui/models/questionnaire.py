"""The questionnaire screens' model: the forms offered, the item on screen, the review and what
the form shows after sending. The hub's engine holds the response and decides what is shown;
this model only asks `hub.api` and keeps the latest answer it gave (the Android FHIR SDK's shape).

Commands run one after another on the shared loop (an answer is saved before "Next" moves on);
`idle()` waits for them (tests, the gallery).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty

from hub.api import AnswerError, Coding, FormClosed, FormNotFound, HubApi, ItemView, NotSubmittable, Path, Problem, Quantity, ReviewView, StepView, Value
from ui.i18n import N_, Translator
from ui.models.loop import spawn

log = logging.getLogger(__name__)

# What stops an answer being sent, in the patient's words (Problem.kind → text; {limit} the form's limit).
PROBLEM_TEXT = {
    "required": N_("This question needs an answer."),
    "min-value": N_("The answer is below the lowest allowed, {limit}."),
    "max-value": N_("The answer is above the highest allowed, {limit}."),
    "min-length": N_("The answer is too short."),
    "max-length": N_("The answer is too long."),
    "regex": N_("The answer is not written the way the form asks."),
    "max-decimal-places": N_("The answer has too many decimals."),
    "min-occurs": N_("This question needs more answers."),
    "max-occurs": N_("This question has too many answers."),
}
# Problems the patient can fix on the question itself: "Next" stays until they do.
STAYS_ON = frozenset({"min-value", "max-value", "min-length", "max-length", "regex", "max-decimal-places"})


def problem_text(tr: Translator, problem: Problem) -> str:
    msgid = PROBLEM_TEXT.get(problem.kind, N_("This answer cannot be sent as it is."))
    return tr.f(msgid, limit=str(problem.limit or "").replace(".", ","))


def answer_text(tr: Translator, item: ItemView, value: Value) -> str:
    """An answer as the patient reads it: the option's label, Ja/Nei, 37,5 kg, a day, 10.30."""
    if isinstance(value, bool):
        return tr._(N_("Yes")) if value else tr._(N_("No"))
    if isinstance(value, Coding):
        for o in item.options:
            if isinstance(o.value, Coding) and o.value.matches(value):
                return o.label
        return value.display or value.code
    if isinstance(value, Quantity):
        return f"{_number(tr, value.value)} {value.unit or item.unit or ''}".strip()
    if isinstance(value, (int, Decimal)):
        return f"{_number(tr, value)} {item.unit or ''}".strip()
    if isinstance(value, datetime):
        return tr.f(N_("{day} at {time}"), day=tr.day(value.date()), time=tr.time(value))
    if isinstance(value, date):
        return tr.day(value)
    if isinstance(value, time):
        return tr.time(datetime.combine(date(2000, 1, 1), value))
    return str(value)


def _number(tr: Translator, value: int | Decimal) -> str:
    decimals = max(0, -value.as_tuple().exponent) if isinstance(value, Decimal) else 0  # type: ignore[operator]
    return tr.number(float(value), decimals)


def after_texts(review: ReviewView | None) -> list[str]:
    """What the form shows the patient once answered: its display texts enabled by the answers
    (the advice a high score turns on), read from the review just before sending."""
    if review is None:
        return []
    return [i.text for i in review.items if i.type == "display" and i.text]


class QuestionnaireModel(EventDispatcher):
    forms = ListProperty([])  # dicts: url, title, begun
    step = ObjectProperty(None, allownone=True)  # StepView: the item on screen
    review = ObjectProperty(None, allownone=True)  # ReviewView
    after = ListProperty([])  # the form's texts for the patient after sending
    scores = ListProperty([])  # (what, value) of the sent form
    error = StringProperty("")  # why the last command did not do what was asked
    form_id = StringProperty("")
    sent = BooleanProperty(False)  # the form on screen was sent: what it shows after scoring is next

    def __init__(self, api: HubApi, tr: Translator, **kw: Any) -> None:
        super().__init__(**kw)
        self.api = api
        self.tr = tr
        self._queue: asyncio.Queue[tuple[Callable[[], Awaitable[Any]], str]] | None = None
        self._runner: asyncio.Task | None = None
        self._pending = 0
        self._idle: asyncio.Event | None = None

    # -- the commands (each queued, run in order) ------------------------------------------------

    def run(self, work: Callable[[], Awaitable[Any]], what: str) -> None:
        if self._queue is None:
            self._queue, self._idle = asyncio.Queue(), asyncio.Event()
        self._pending += 1
        self._idle.clear()
        self._queue.put_nowait((work, what))
        if self._runner is None or self._runner.done():
            self._runner = spawn(self._drain(), "forms")

    async def _drain(self) -> None:
        assert self._queue is not None and self._idle is not None
        while not self._queue.empty():
            work, what = self._queue.get_nowait()
            try:
                await work()
            except AnswerError:
                self.error = self.tr._(N_("That answer could not be used. Try again."))
            except (FormClosed, FormNotFound):
                self.error = self.tr._(N_("This form is no longer open. Choose it again from the list."))
                self.step, self.form_id = None, ""
            except NotSubmittable:
                self.error = self.tr._(N_("Some answers are missing. Tap them to answer."))
                await self._review()
            except Exception as exc:  # a screen never dies of a hub error; logged by type only
                log.error("form command %s failed: %s", what, type(exc).__name__)
                self.error = self.tr._(N_("Something went wrong. Try again."))
            finally:
                self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    async def idle(self) -> None:
        if self._idle is not None and self._pending:
            await self._idle.wait()

    @property
    def lang(self) -> str:
        return self.tr.lang

    def load_forms(self) -> None:
        async def work() -> None:
            found = await self.api.forms_available(lang=self.lang)
            self.forms = [{"url": f.url, "title": f.title or f.url, "begun": f.form_id is not None} for f in found]
        self.run(work, "list")

    def open(self, url: str) -> None:
        """Start the form, or resume the one begun: the same item it was left on."""
        async def work() -> None:
            self.sent, self.after, self.scores, self.review = False, [], [], None
            self._show(await self.api.start_form(url, lang=self.lang))
            await self._review_if_there()
        self.error = ""
        self.run(work, "open")

    def answer(self, value: Value | list[Value] | None, *, then_next: bool = False) -> None:
        step = self.step
        if step is None or step.item is None:
            return
        form_id, path = step.form_id, step.item.path

        async def work() -> None:
            shown = await self.api.answer(form_id, path, value, lang=self.lang)
            self._show(shown)
            item = shown.item
            if then_next and not (item is not None and any(p.kind in STAYS_ON for p in item.problems)):
                self._show(await self.api.next_item(form_id, lang=self.lang))
                await self._review_if_there()
        self.error = ""
        self.run(work, "answer")

    def next(self) -> None:
        self._move(lambda form_id: self.api.next_item(form_id, lang=self.lang), "next")

    def back(self) -> None:
        self._move(lambda form_id: self.api.previous_item(form_id, lang=self.lang), "back")

    def go_to(self, path: Path) -> None:
        """From the review: to one item to change its answer."""
        self._move(lambda form_id: self.api.go_to_item(form_id, path, lang=self.lang), "go-to")

    def submit(self) -> None:
        form_id = self.form_id

        async def work() -> None:
            review = await self.api.review_form(form_id, lang=self.lang)
            sent = await self.api.submit_form(form_id)
            self.after = after_texts(review)
            self.scores = list(sent.scores)
            self.sent = True
            self.review, self.step, self.form_id = None, None, ""
        self.error = ""
        self.run(work, "submit")

    def relang(self) -> None:
        """The patient changed language: the same item, in the new language."""
        if not self.form_id:
            self.load_forms()
            return

        async def work() -> None:
            self._show(await self.api.form_step(self.form_id, lang=self.lang))
            await self._review_if_there()
        self.run(work, "language")
        self.load_forms()

    # -- the work --------------------------------------------------------------------------------

    def _move(self, call: Callable[[str], Awaitable[StepView]], what: str) -> None:
        form_id = self.form_id
        if not form_id:
            return

        async def work() -> None:
            self._show(await call(form_id))
            await self._review_if_there()
        self.error = ""
        self.run(work, what)

    def _show(self, step: StepView) -> None:
        self.form_id = step.form_id
        if not step.at_review:
            self.review = None  # (a review seen before is stale once an answer may change)
        self.step = step

    async def _review_if_there(self) -> None:
        if self.step is not None and self.step.at_review:
            await self._review()

    async def _review(self) -> None:
        if self.form_id:
            self.review = await self.api.review_form(self.form_id, lang=self.lang)

    # -- for the screens -------------------------------------------------------------------------

    @property
    def item(self) -> ItemView | None:
        return self.step.item if self.step is not None else None

    def progress_text(self) -> str:
        s = self.step
        if s is None or s.at_review or not s.total:
            return ""
        return self.tr.f(N_("{n} of {total}"), n=s.number, total=s.total)


__all__ = ["PROBLEM_TEXT", "QuestionnaireModel", "after_texts", "answer_text", "problem_text"]
