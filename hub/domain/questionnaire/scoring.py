"""Scores: the ordinal values of chosen options, and the items that add them up.

Where a score sits differs between engines (see questionnaires-and-plans.md): on the option, on
the option's Coding, or R5's itemWeight; all are read at import into AnswerOption.score. An
option without a score counts 0 (Helsenorge's rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Literal

from hub.domain.questionnaire.model import AnswerOption, Item
from hub.domain.questionnaire.values import Coding, Quantity, Value, values_equal

Path = tuple[tuple[str, int], ...]
ScoreKind = Literal["question", "section", "total", "calculated"]


@dataclass(frozen=True)
class Score:
    """One score the form produces (what becomes an Observation at submit)."""

    link_id: str
    path: Path
    value: Decimal
    kind: ScoreKind
    code: tuple[Coding, ...]  # the item's codes: the instrument's LOINC when the form gives one
    text: str | None


@dataclass(frozen=True)
class Scores:
    total: Decimal | None  # all enabled chosen options' scores added up; None: the form has none
    questions: dict[Path, Decimal]  # per answered scored question
    items: tuple[Score, ...]  # calculated numbers and Helsenorge QS/SS/TS items, in form order


def option_for(item: Item, value: Value) -> AnswerOption | None:
    for o in item.options:
        if type(o.value) is type(value) and values_equal(o.value, value):
            return o
    return None


def answer_score(item: Item, answers: Iterable[Value]) -> Decimal:
    total = Decimal(0)
    for a in answers:
        o = option_for(item, a)
        if o is not None and o.score is not None:
            total += o.score
    return total


def as_number(value: Value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, Quantity):
        return value.value
    return None
