"""The typed model of a FHIR R4 Questionnaire (what load_questionnaire returns).

Only what the engine and the screens need is typed; every extension an item carries is kept in
`extensions` (url -> list of raw extension dicts) so a screen can read rendering hints the engine
does not interpret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from hub.domain.questionnaire.expressions import Expression
from hub.domain.questionnaire.values import Coding, Value

ItemType = Literal[
    "group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time", "string",
    "text", "url", "choice", "open-choice", "attachment", "reference", "quantity",
]
QUESTION_TYPES = frozenset(
    {"boolean", "decimal", "integer", "date", "dateTime", "time", "string", "text", "url",
     "choice", "open-choice", "attachment", "reference", "quantity"}
)
ITEM_TYPES = QUESTION_TYPES | {"group", "display"}
# Valid FHIR Heima does not take answers to: shown with a polite "answer this elsewhere".
UNSUPPORTED_TYPES = frozenset({"attachment", "reference"})

Operator = Literal["exists", "=", "!=", ">", "<", ">=", "<="]
ScoringRole = Literal["QS", "SS", "TS"]


@dataclass(frozen=True)
class AnswerOption:
    value: Value
    initial_selected: bool = False
    score: Decimal | None = None  # ordinalValue / itemWeight / iso21090-CO-value, wherever it sat
    extensions: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class EnableWhen:
    question: str
    operator: Operator
    answer: Value  # for "exists": the bool that says whether an answer must exist


@dataclass(frozen=True)
class Media:
    """itemMedia / itemAnswerMedia: a picture (or sound) the form shows with the question."""

    content_type: str | None
    url: str | None
    data: str | None  # base64, as the form carries it
    title: str | None


@dataclass(frozen=True)
class Item:
    link_id: str
    type: ItemType
    text: str | None = None
    prefix: str | None = None
    code: tuple[Coding, ...] = ()
    required: bool = False
    repeats: bool = False
    read_only: bool = False
    hidden: bool = False
    max_length: int | None = None
    min_length: int | None = None
    min_value: Value | None = None
    max_value: Value | None = None
    regex: str | None = None
    max_decimal_places: int | None = None
    min_occurs: int | None = None
    max_occurs: int | None = None
    initial: tuple[Value, ...] = ()
    options: tuple[AnswerOption, ...] = ()
    unit: Coding | None = None
    unit_options: tuple[Coding, ...] = ()
    enable_when: tuple[EnableWhen, ...] = ()
    enable_behavior: Literal["all", "any"] = "all"
    enable_when_expression: Expression | None = None
    calculated_expression: Expression | None = None
    initial_expression: Expression | None = None
    variables: tuple[Expression, ...] = ()
    scoring: ScoringRole | None = None  # Helsenorge's QS / SS / TS
    item_control: str | None = None
    help: tuple[str, ...] = ()  # the text of display children marked itemControl=help
    media: Media | None = None
    rendering_markdown: str | None = None
    rendering_xhtml: str | None = None
    validation_text: str | None = None  # Helsenorge's validationtext
    entry_format: str | None = None
    items: tuple["Item", ...] = ()
    extensions: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # for %qitem

    @property
    def is_question(self) -> bool:
        return self.type in QUESTION_TYPES

    @property
    def supported(self) -> bool:
        return self.type not in UNSUPPORTED_TYPES

    @property
    def is_scored_choice(self) -> bool:
        return any(o.score is not None for o in self.options)


@dataclass(frozen=True)
class Questionnaire:
    url: str | None
    version: str | None
    title: str | None
    status: str | None
    name: str | None
    code: tuple[Coding, ...]
    items: tuple[Item, ...]
    variables: tuple[Expression, ...]
    launch_contexts: tuple[str, ...]
    by_link_id: dict[str, Item] = field(compare=False, repr=False)
    parent_of: dict[str, str | None] = field(compare=False, repr=False)  # linkId -> parent linkId
    raw: dict[str, Any] = field(compare=False, repr=False)
    plan: Any = field(default=None, compare=False, repr=False)  # dependency order (plan.Plan), made at import

    @property
    def canonical(self) -> str | None:
        """url|version, what QuestionnaireResponse.questionnaire names."""
        if self.url is None:
            return None
        return f"{self.url}|{self.version}" if self.version else self.url

    def ancestors(self, link_id: str) -> tuple[str, ...]:
        """The linkIds above an item, outermost first."""
        chain: list[str] = []
        p = self.parent_of.get(link_id)
        while p is not None:
            chain.append(p)
            p = self.parent_of.get(p)
        return tuple(reversed(chain))

    def walk(self) -> tuple[Item, ...]:
        out: list[Item] = []

        def go(items: tuple[Item, ...]) -> None:
            for it in items:
                out.append(it)
                go(it.items)

        go(self.items)
        return tuple(out)
