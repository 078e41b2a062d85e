"""The patient answers a questionnaire: start a form (a given version), answer, go back, review,
submit — saved on every answer, so a half-answered form survives kill -9 and a power cut and comes
back on the same question with the same answers (those kept aside for disabled items too).

Where forms come from is the caller's business (a centre's Tasks through sync.pull, the folder of
example check-ins); `import_forms` checks each with the engine and keeps the good ones. A form the
engine refuses is reported with the reason naming the item and never replaces the version in use;
a form half-answered on an older version is finished on that version (it stays cached).

Steps: one item per screen — each question and each display text the form shows now, in form
order (groups are the headings of what is in them). Progress is "number of total" over what is
shown now; answering may enable more.

Submit puts the QuestionnaireResponse and each score (an Observation derived from it) into the
outbox in one transaction, for every destination that takes their kind (hub.domain.outgoing
.TAKEN_BY: Pasientens måledata takes the scores only), with identifiers fixed at submit, once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from hub.domain.outgoing import Outgoing, OutgoingKind
from hub.services.events import EventBus, FormSaved, FormSent, FormSubmitted

# The engine (hub.domain.questionnaire, ~1.1 MB of modules and objects) and the views built from it
# are imported when a form is first opened or a changed form checked, not with the hub: the touch
# app's Today never uses them (docs/performance.md, part M10).
if TYPE_CHECKING:
    from hub.domain.questionnaire import AnswerError, FormState, Path, Questionnaire, Value, VisibleItem
    from hub.services.questionnaires_views import FormSummary, ItemView, ReviewView, StepView, SubmittedForm

log = logging.getLogger(__name__)

FOLDER = "folder"  # the source name of forms read from a folder (the embedded default)


# --- the store, as this service sees it (hub.store.forms.FormStore) ---------------------------------


class CachedFormLike(Protocol):
    url: str
    version: str
    source: str
    title: str | None
    imported_at: datetime
    offered: bool
    resource: dict[str, Any]


class SavedFormLike(Protocol):
    id: str
    url: str
    version: str
    state: str
    response: dict[str, Any]
    step: Any
    answered_by: str | None
    submission_id: str | None


class FormStorePort(Protocol):
    async def keep_forms(
        self, source: str, forms: Sequence[tuple[str, str, str | None, dict[str, Any]]], *, offered: Sequence[tuple[str, str]]
    ) -> None: ...
    async def cached_forms(self, *, offered_only: bool = True) -> Sequence[CachedFormLike]: ...
    async def cached_form(self, url: str, version: str) -> CachedFormLike | None: ...
    async def begin_form(
        self, *, id: str, url: str, version: str, response: dict[str, Any], step: Any, answered_by: str | None, at: datetime
    ) -> SavedFormLike: ...
    async def save_form(self, form_id: str, response: dict[str, Any], step: Any, *, at: datetime) -> bool: ...
    async def forms_in_progress(self) -> Sequence[SavedFormLike]: ...
    async def saved_form(self, form_id: str) -> SavedFormLike | None: ...
    async def discard_form(self, form_id: str) -> bool: ...
    async def submit_form(
        self, form_id: str, response: dict[str, Any], items: Sequence[tuple[Outgoing, Sequence[str]]], *, at: datetime
    ) -> str | None: ...
    async def unsent_submissions(self) -> set[str]: ...


# --- errors the screens and the importer see ---------------------------------------------------------


class FormNotFound(LookupError):
    """No such form: not offered, not cached, or no form in progress by that id."""


class FormClosed(RuntimeError):
    """The form was submitted or discarded: it takes no more answers."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A Questionnaire the engine cannot run: why (naming the item), and which form it claimed to be."""

    source: str
    url: str | None
    version: str | None
    reason: str


@dataclass(slots=True)
class ImportReport:
    source: str
    kept: list[tuple[str, str]] = field(default_factory=list)  # (url, version) now offered
    refused: list[Refused] = field(default_factory=list)
    kept_older: list[tuple[str, str]] = field(default_factory=list)  # offered still: its newer version was refused


# --- one form being answered ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Open:
    id: str
    q: Questionnaire
    state: FormState
    step: dict[str, Any] | None  # {"path": [[linkId, i], ...], "index": n}; None: at the review
    answered_by: str | None


def steps_of(state: FormState) -> list[VisibleItem]:
    """One item per screen: the questions and display texts shown now, in form order."""
    return [v for v in state.visible_items() if v.item.type != "group"]


def _path_json(path: Path) -> list[list[Any]]:
    return [[lid, i] for lid, i in path]


def _path_of(raw: Any) -> Path:
    return tuple((str(lid), int(i)) for lid, i in raw)


def _section(state: FormState, vi: VisibleItem) -> str | None:
    """The text of the group the item is in (the nearest group with a text)."""
    for lid, _ in reversed(vi.path[:-1]):
        item = state.q.by_link_id[lid]
        if item.type == "group" and item.text:
            return item.text
    return None


def answered_count(state: FormState) -> int:
    return sum(1 for v in state.visible_items() if v.item.is_question and v.answers and not v.calculated)


class QuestionnaireService:
    def __init__(
        self,
        store: FormStorePort,
        *,
        destinations_for: Callable[[OutgoingKind], Sequence[str]],
        clock: Callable[[], datetime],
        events: EventBus | None = None,
        on_queued: Callable[[], None] | None = None,
        patient: dict[str, Any] | None = None,
        new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        """`destinations_for`: routing and consent (ConsentService.destinations_for_resource);
        `patient`: the launch context a form's initialExpression may read (a Patient resource)."""
        self.store = store
        self.destinations_for = destinations_for
        self.clock = clock
        self.events = events
        self.on_queued = on_queued
        self.patient = patient
        self.new_id = new_id
        self._open: dict[str, _Open] = {}
        self._parsed: dict[tuple[str, str], Questionnaire] = {}
        self._unsent: set[str] | None = None

    # --- where forms come from ------------------------------------------------------------------

    async def import_forms(self, source: str, resources: Iterable[dict[str, Any]]) -> ImportReport:
        """Make these Questionnaires what `source` offers now. Each is checked by the engine
        first; a refused one is reported (the reason names the item) and, if a version of the
        same form from this source was offered, that version stays offered. Forms the source
        no longer offers stay cached (a form begun on one is finished on it)."""
        report = ImportReport(source)
        good: list[tuple[str, str, str | None, dict[str, Any]]] = []
        refused_urls: set[str] = set()
        # The same JSON this source offers already was checked when it was kept: kept again without
        # the engine, so a start that finds the forms it had (most starts) does not import it.
        as_kept = {(c.url, c.version): c for c in await self.store.cached_forms() if c.source == source}
        for raw in resources:
            same = as_kept.get(_named(raw))
            if same is not None and same.resource == raw:
                good.append((same.url, same.version, same.title, raw))
                report.kept.append((same.url, same.version))
                continue
            from hub.domain.questionnaire import QuestionnaireError

            try:
                q = checked(raw)
            except QuestionnaireError as exc:
                url = raw.get("url") if isinstance(raw, dict) and isinstance(raw.get("url"), str) else None
                version = raw.get("version") if isinstance(raw, dict) and isinstance(raw.get("version"), str) else None
                report.refused.append(Refused(source, url, version, str(exc)))
                log.warning("a questionnaire from %s was refused: %s", source, exc)
                if url:
                    refused_urls.add(url)
                continue
            assert q.url is not None and q.version is not None
            good.append((q.url, q.version, q.title, raw))
            # Checked, not kept: a parsed form (and the JSON it holds) stays in memory only once the
            # patient opens the forms (`_questionnaire_of`, from the store's copy); most starts import
            # forms nobody opens that day (the touch app's memory: docs/performance.md, part M6).
            self._parsed.pop((q.url, q.version), None)  # a version imported again is parsed again
            report.kept.append((q.url, q.version))
        offered = list(report.kept)
        if refused_urls:
            # The last good version stays in use: what this source offered of a refused form.
            for c in await self.store.cached_forms():
                if c.source == source and c.url in refused_urls and (c.url, c.version) not in offered:
                    if not any(u == c.url for u, _ in report.kept):
                        offered.append((c.url, c.version))
                        report.kept_older.append((c.url, c.version))
        await self.store.keep_forms(source, good, offered=offered)
        return report

    async def available(self, *, lang: str | None = None) -> list[FormSummary]:
        """The forms the patient can answer today: per form the newest version offered, and the
        form in progress (possibly on an older version, finished on that one)."""
        cached = await self.store.cached_forms()
        in_progress = {f.url: f for f in await self.store.forms_in_progress()}
        newest: dict[str, CachedFormLike] = {}
        for c in cached:  # newest import first
            newest.setdefault(c.url, c)
        for url, f in in_progress.items():  # a form begun on a form no longer offered: still finished
            if url not in newest:
                old = await self.store.cached_form(f.url, f.version)
                if old is not None:
                    newest[url] = old
        from hub.services.questionnaires_views import FormSummary, form_title

        out: list[FormSummary] = []
        for url, c in newest.items():
            q = self._questionnaire_of(c)
            began = in_progress.get(url)
            out.append(FormSummary(
                c.url, c.version, form_title(q, lang) if q is not None else c.title, c.source,
                began.id if began else None, began.version if began else None,
            ))
        return out

    # --- answering ---------------------------------------------------------------------------------

    async def start(self, url: str, version: str | None = None, *, answered_by: str | None = None,
                    lang: str | None = None) -> StepView:
        """Start the form (the newest version offered, or `version`), or resume the one in
        progress (on the version it was begun on). Saved before it is shown."""
        for f in await self.store.forms_in_progress():
            if f.url == url:
                return await self.resume(f.id, lang=lang)
        cached = await self._cached(url, version)
        q = self._questionnaire_of(cached)
        if q is None:
            raise FormNotFound("this form cannot be run any more; ask the care team for a new one")
        from hub.domain.questionnaire import FormState

        now = self.clock()
        state = FormState.start(q, now=now, patient=self.patient)
        steps = steps_of(state)
        step = {"path": _path_json(steps[0].path), "index": 0} if steps else None
        form_id = str(self.new_id())
        kept = await self.store.begin_form(
            id=form_id, url=cached.url, version=cached.version, response=state.saved(now=now), step=step,
            answered_by=answered_by, at=now,
        )
        if kept.id != form_id:  # begun a moment ago elsewhere: that one
            return await self.resume(kept.id, lang=lang)
        self._open[form_id] = _Open(form_id, q, state, step, answered_by)
        self._saved(form_id, state)
        return self._step_view(self._open[form_id], lang)

    async def resume(self, form_id: str, *, lang: str | None = None) -> StepView:
        """A form in progress, from what was saved: the same answers, the same step."""
        o = await self._get(form_id)
        return self._step_view(o, lang)

    async def in_progress(self) -> list[str]:
        return [f.id for f in await self.store.forms_in_progress()]

    async def step(self, form_id: str, *, lang: str | None = None) -> StepView:
        return self._step_view(await self._get(form_id), lang)

    async def answer(self, form_id: str, path: Path | str, value: Value | Sequence[Value] | None,
                     *, lang: str | None = None) -> StepView:
        """Set an item's answer(s) (None clears) and save (returns after COMMIT). The step on
        screen stays; answering may enable or disable items after it. Refused with the engine's
        AnswerError (wrong type, not an option, read-only), naming the item; nothing is saved then."""
        o = await self._get(form_id)
        state = o.state.answer(path, value)
        await self._save(o, state, o.step)
        return self._step_view(o, lang)

    async def add_group(self, form_id: str, path: Path | str, *, lang: str | None = None) -> StepView:
        o = await self._get(form_id)
        await self._save(o, o.state.add_group(path), o.step)
        return self._step_view(o, lang)

    async def remove_group(self, form_id: str, path: Path | str, *, lang: str | None = None) -> StepView:
        o = await self._get(form_id)
        await self._save(o, o.state.remove_group(path), o.step)
        return self._step_view(o, lang)

    async def next(self, form_id: str, *, lang: str | None = None) -> StepView:
        """The next item; after the last, the review."""
        o = await self._get(form_id)
        steps = steps_of(o.state)
        i = self._index(o, steps)
        step = None if i is None or i + 1 >= len(steps) else {"path": _path_json(steps[i + 1].path), "index": i + 1}
        await self._save(o, o.state, step)
        return self._step_view(o, lang)

    async def back(self, form_id: str, *, lang: str | None = None) -> StepView:
        """The item before (from the review: the last item); on the first item, stays."""
        o = await self._get(form_id)
        steps = steps_of(o.state)
        if not steps:
            return self._step_view(o, lang)
        i = self._index(o, steps)
        j = len(steps) - 1 if i is None else max(0, i - 1)
        await self._save(o, o.state, {"path": _path_json(steps[j].path), "index": j})
        return self._step_view(o, lang)

    async def go_to(self, form_id: str, path: Path | str, *, lang: str | None = None) -> StepView:
        """From the review: back to one item to change its answer."""
        o = await self._get(form_id)
        steps = steps_of(o.state)
        target = o.state._path(path)  # noqa: SLF001 - the engine's own path rules (linkId or path)
        for j, v in enumerate(steps):
            if v.path == target:
                await self._save(o, o.state, {"path": _path_json(v.path), "index": j})
                return self._step_view(o, lang)
        raise FormNotFound("that item is not shown in this form now")

    async def review(self, form_id: str, *, lang: str | None = None) -> ReviewView:
        """Everything shown, with its answers, and what stops it being sent."""
        from hub.services.questionnaires_views import ReviewView, form_title, item_view

        o = await self._get(form_id)
        problems = o.state.problems()
        items = tuple(item_view(o.state, v, lang, _section(o.state, v), problems) for v in steps_of(o.state))
        return ReviewView(o.id, form_title(o.q, lang), items, problems, not problems)

    async def submit(self, form_id: str, *, answered_by: str | None = None) -> SubmittedForm:
        """Send the form: the QuestionnaireResponse (completed, url|version, subject, authored,
        source) and each score into the outbox, in one transaction, once. NotSubmittable (from
        the engine) names the first problem's item; nothing is queued then. Submitting again
        returns the first submission."""
        from hub.domain.outgoing import of_submission
        from hub.domain.questionnaire import submit
        from hub.services.questionnaires_views import SubmittedForm

        saved = await self.store.saved_form(form_id)
        if saved is None:
            raise FormNotFound("no form by that id")
        if saved.state == "submitted" and saved.submission_id:
            return SubmittedForm(form_id, saved.submission_id, (), already=True)
        o = await self._get(form_id)
        now = self.clock()
        submission = submit(o.state, now=now, new_id=self.new_id, answered_by=answered_by or o.answered_by)
        items = [(item, tuple(self.destinations_for(item.kind))) for item in of_submission(submission)]
        sent_id = await self.store.submit_form(form_id, o.state.saved(now=now), items, at=now)
        if sent_id is None:
            raise FormClosed("this form was put away and cannot be sent")
        self._open.pop(form_id, None)
        already = sent_id != str(submission.id)
        if not already:
            log.info("a questionnaire was submitted with %d score(s)", len(submission.scores))
            if self._unsent is None:  # from now on FormSent is told for it
                self._unsent = await self.store.unsent_submissions()
            self._unsent.add(sent_id)
            if self.events is not None:
                self.events.publish(FormSubmitted(form_id, sent_id, len(submission.scores)))
            if self.on_queued is not None:
                self.on_queued()
        scores = tuple((s.text, s.value) for s in submission.scores) if not already else ()
        return SubmittedForm(form_id, sent_id, scores, already)

    async def discard(self, form_id: str) -> bool:
        """Put a form in progress away (the patient chose not to finish it); kept, never sent."""
        self._open.pop(form_id, None)
        return await self.store.discard_form(form_id)

    # --- sent ✓ -------------------------------------------------------------------------------------

    async def check_sent(self) -> list[str]:
        """After a delivery: the submissions no longer waiting anywhere get a FormSent (once each,
        for this run). Returns their response ids."""
        unsent = await self.store.unsent_submissions()
        if self._unsent is None:
            self._unsent = unsent
            return []
        sent = sorted(self._unsent - unsent)
        self._unsent = unsent
        for response_id in sent:
            if self.events is not None:
                self.events.publish(FormSent(response_id))
        return sent

    # --- the work ------------------------------------------------------------------------------------

    async def _cached(self, url: str, version: str | None) -> CachedFormLike:
        if version is not None:
            found = await self.store.cached_form(url, version)
            if found is None:
                raise FormNotFound("that version of the form is not on this hub")
            return found
        for c in await self.store.cached_forms():  # newest import first
            if c.url == url:
                return c
        raise FormNotFound("that form is not offered on this hub")

    def _questionnaire_of(self, cached: CachedFormLike) -> Questionnaire | None:
        key = (cached.url, cached.version)
        q = self._parsed.get(key)
        if q is None:
            from hub.domain.questionnaire import QuestionnaireError

            try:
                q = checked(cached.resource)
            except QuestionnaireError as exc:  # accepted by an older Heima, refused by this one
                log.warning("a cached questionnaire cannot be run by this Heima: %s", exc)
                return None
            self._parsed[key] = q
        return q

    async def _get(self, form_id: str) -> _Open:
        o = self._open.get(form_id)
        if o is not None:
            return o
        saved = await self.store.saved_form(form_id)
        if saved is None:
            raise FormNotFound("no form by that id")
        if saved.state != "in-progress":
            raise FormClosed("this form was sent or put away")
        cached = await self.store.cached_form(saved.url, saved.version)
        q = self._questionnaire_of(cached) if cached is not None else None
        if q is None:
            raise FormNotFound("the form this was begun on is not on the hub; its answers are kept")
        from hub.domain.questionnaire import FormState

        state = FormState.resume(q, saved.response, now=self.clock(), patient=self.patient)
        o = self._open[form_id] = _Open(form_id, q, state, saved.step, saved.answered_by)
        return o

    async def _save(self, o: _Open, state: FormState, step: dict[str, Any] | None) -> None:
        now = self.clock()
        if not await self.store.save_form(o.id, state.saved(now=now), step, at=now):
            self._open.pop(o.id, None)
            raise FormClosed("this form was sent or put away")
        o.state, o.step = state, step  # only once it is saved
        self._saved(o.id, state)

    def _saved(self, form_id: str, state: FormState) -> None:
        if self.events is not None:
            self.events.publish(FormSaved(form_id, answered_count(state)))

    def _index(self, o: _Open, steps: list[VisibleItem]) -> int | None:
        """Where the patient is among the steps shown now; None: at the review. An item no
        longer shown: the one now at its place."""
        if o.step is None or not steps:
            return None
        path = _path_of(o.step["path"])
        for j, v in enumerate(steps):
            if v.path == path:
                return j
        return min(int(o.step.get("index", 0)), len(steps) - 1)

    def _step_view(self, o: _Open, lang: str | None) -> StepView:
        from hub.services.questionnaires_views import StepView, form_title, item_view

        steps = steps_of(o.state)
        i = self._index(o, steps)
        title = form_title(o.q, lang)
        if i is None:
            return StepView(o.id, title, len(steps) + 1, len(steps), None, True, bool(steps))
        vi = steps[i]
        item: ItemView = item_view(o.state, vi, lang, _section(o.state, vi), o.state.problems())
        return StepView(o.id, title, i + 1, len(steps), item, False, i > 0)


def checked(raw: Any) -> Questionnaire:
    """A Questionnaire the hub can offer: the engine accepts it, and it names itself by url and
    version (a response names its form url|version). QuestionnaireError otherwise, naming the item."""
    from hub.domain.questionnaire import QuestionnaireError, load_questionnaire

    if not isinstance(raw, dict) or raw.get("resourceType") != "Questionnaire":
        raise QuestionnaireError(None, "this is not a FHIR Questionnaire")
    q = load_questionnaire(raw)
    if not q.url or not q.version:
        raise QuestionnaireError(None, f"the form has no {'url' if not q.url else 'version'}; the hub needs url and version")
    return q


def _named(raw: Any) -> tuple[str, str] | None:
    """The (url, version) a Questionnaire's JSON names itself by, as written (unchecked)."""
    if not isinstance(raw, dict):
        return None
    url, version = raw.get("url"), raw.get("version")
    return (url, version) if isinstance(url, str) and isinstance(version, str) else None


def __getattr__(name: str) -> object:
    if name == "AnswerError":  # named here as before; the engine's own, imported when asked for
        from hub.domain.questionnaire import AnswerError

        return AnswerError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FOLDER", "AnswerError", "FormClosed", "FormNotFound", "FormStorePort", "ImportReport", "QuestionnaireService",
    "Refused", "checked", "steps_of",
]
