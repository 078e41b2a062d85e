"""What the questionnaire screens draw: one step (an item) with its display data in the patient's
language, the progress, the review, the forms available — plain frozen dataclasses built from the
engine's state, so a screen never reads a Questionnaire's JSON itself.

Texts: the form's own text, or its `translation` extension (http://hl7.org/fhir/StructureDefinition
/translation on `_text`, `_display`, `_title`) for the patient's language when the form gives one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hub.domain.questionnaire import AnswerOption, Coding, FormState, Item, Media, Path, Problem, Questionnaire, Value, VisibleItem

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"


@dataclass(frozen=True, slots=True)
class OptionView:
    value: Value  # what to send back with answer()
    label: str
    media: Media | None = None


@dataclass(frozen=True, slots=True)
class ItemView:
    """One item on screen: a question (answer it), a display text, or a worked-out value."""

    path: Path
    link_id: str
    type: str  # the FHIR item type: boolean, decimal, choice, quantity, display, ...
    text: str | None  # in the patient's language when the form has it
    prefix: str | None
    section: str | None  # the text of the group it is in
    help: tuple[str, ...]
    media: Media | None
    options: tuple[OptionView, ...]
    open_choice: bool  # the patient may type an answer that is not among the options
    unit: str | None  # what a number is in (the quantity's unit, or the form's unit)
    unit_options: tuple[Coding, ...]
    answers: tuple[Value, ...]
    required: bool
    repeats: bool
    read_only: bool  # shown, not asked (read-only, worked out by the form, or "answer elsewhere")
    supported: bool  # False: attachment/reference, "answer this with your care team"
    min_value: Value | None
    max_value: Value | None
    max_length: int | None
    max_decimal_places: int | None
    entry_format: str | None
    item_control: str | None
    markdown: str | None
    problems: tuple[Problem, ...]  # what stops this one being sent as it is


@dataclass(frozen=True, slots=True)
class StepView:
    """Where the patient is in a form: the item on screen and "number of total"."""

    form_id: str
    title: str | None
    number: int  # 1-based; on the review: total + 1
    total: int
    item: ItemView | None  # None: the review is next (or there is nothing to ask)
    at_review: bool
    can_go_back: bool


@dataclass(frozen=True, slots=True)
class ReviewView:
    form_id: str
    title: str | None
    items: tuple[ItemView, ...]  # every item shown, with its answers, in form order
    problems: tuple[Problem, ...]
    can_submit: bool


@dataclass(frozen=True, slots=True)
class FormSummary:
    """A form the patient can answer today (the newest version offered), and whether it is begun."""

    url: str
    version: str
    title: str | None
    source: str  # a centre's name, or "folder"
    form_id: str | None  # the form in progress, when one is
    version_in_progress: str | None  # may be an older version: it is finished on that one


@dataclass(frozen=True, slots=True)
class SubmittedForm:
    form_id: str
    response_id: str
    scores: tuple[tuple[str | None, Decimal], ...]  # (what, value)
    already: bool  # it had been submitted before: nothing new was queued


# --- texts in the patient's language ---------------------------------------------------------------


def translated(element: Any, field: str, lang: str | None, form_lang: str | None) -> str | None:
    """`element[field]` in `lang`: the form's own text when that is its language (or no
    translation exists), else the `translation` extension on `_field`."""
    if not isinstance(element, dict):
        return None
    base = element.get(field)
    if lang and not _same_lang(lang, form_lang):
        ext = element.get(f"_{field}")
        for t in (ext.get("extension", []) if isinstance(ext, dict) else []):
            if not isinstance(t, dict) or t.get("url") != TRANSLATION:
                continue
            parts = {e.get("url"): e for e in t.get("extension", []) if isinstance(e, dict)}
            code = (parts.get("lang") or {}).get("valueCode")
            content = (parts.get("content") or {}).get("valueString")
            if isinstance(code, str) and isinstance(content, str) and _same_lang(lang, code):
                return content
    return base if isinstance(base, str) else None


def _same_lang(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a.lower().replace("_", "-").split("-")[0] == b.lower().replace("_", "-").split("-")[0]


def form_title(q: Questionnaire, lang: str | None) -> str | None:
    return translated(q.raw, "title", lang, q.raw.get("language")) or q.title


def item_view(state: FormState, vi: VisibleItem, lang: str | None, section: str | None,
              problems: tuple[Problem, ...] = ()) -> ItemView:
    item = vi.item
    form_lang = state.q.raw.get("language")
    return ItemView(
        path=vi.path,
        link_id=item.link_id,
        type=item.type,
        text=translated(item.raw, "text", lang, form_lang) or item.text,
        prefix=item.prefix,
        section=section,
        help=_help(item, lang, form_lang),
        media=item.media,
        options=tuple(_option(item, o, lang, form_lang) for o in item.options),
        open_choice=item.type == "open-choice",
        unit=_unit(item),
        unit_options=item.unit_options,
        answers=vi.answers,
        required=item.required,
        repeats=item.repeats,
        read_only=vi.read_only,
        supported=item.supported,
        min_value=item.min_value,
        max_value=item.max_value,
        max_length=item.max_length,
        max_decimal_places=item.max_decimal_places,
        entry_format=item.entry_format,
        item_control=item.item_control,
        markdown=item.rendering_markdown,
        problems=tuple(p for p in problems if p.path == vi.path),
    )


def _help(item: Item, lang: str | None, form_lang: str | None) -> tuple[str, ...]:
    raw_children = item.raw.get("item", []) if isinstance(item.raw, dict) else []
    texts = [
        translated(c, "text", lang, form_lang)
        for c in raw_children
        if isinstance(c, dict) and c.get("type") == "display" and _is_help(c)
    ]
    found = tuple(t for t in texts if t)
    return found or item.help


def _is_help(raw: dict[str, Any]) -> bool:
    for ext in raw.get("extension", []):
        codings = (ext.get("valueCodeableConcept") or {}).get("coding", []) if isinstance(ext, dict) else []
        if any(isinstance(c, dict) and c.get("code") == "help" for c in codings):
            return True
    return False


def _option(item: Item, option: AnswerOption, lang: str | None, form_lang: str | None) -> OptionView:
    v = option.value
    label: str | None = None
    if isinstance(v, Coding):
        for raw in item.raw.get("answerOption", []) if isinstance(item.raw, dict) else []:
            coding = raw.get("valueCoding") if isinstance(raw, dict) else None
            if isinstance(coding, dict) and coding.get("code") == v.code and coding.get("system") == v.system:
                label = translated(coding, "display", lang, form_lang)
                break
        label = label or v.display or v.code
    else:
        label = str(v)
    return OptionView(v, label, _option_media(option))


def _option_media(option: AnswerOption) -> Media | None:
    for ext in option.extensions.get("http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-itemAnswerMedia", ()):
        att = ext.get("valueAttachment") if isinstance(ext, dict) else None
        if isinstance(att, dict):
            return Media(att.get("contentType"), att.get("url"), att.get("data"), att.get("title"))
    return None


def _unit(item: Item) -> str | None:
    if item.unit is not None:
        return item.unit.display or item.unit.code
    if len(item.unit_options) == 1:
        u = item.unit_options[0]
        return u.display or u.code
    return None
