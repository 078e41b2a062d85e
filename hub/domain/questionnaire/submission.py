"""A submitted form: what goes into the outbox (the response, and each score on its own). Pure.

`submit(state, ...)` turns a finished FormState into a `Submission`: the response's items as the
engine emits them and the scores that become Observations, each named by an identifier fixed now
(every destination and every retry sees the same one). sync.fhir.questionnaires maps both.

Which scores become Observations: the items the form fills with a score — Helsenorge's section
and total items (SS, TS), and calculated numbers the form codes (it says what they are; an
uncoded calculation such as a BMI is part of the response, not a score). A form with scored
options but no such item sends the total of the chosen options. A question's own score (QS) is
the answer's and is not sent apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hub.domain.questionnaire.errors import AnswerError
from hub.domain.questionnaire.state import FormState, Problem
from hub.domain.questionnaire.values import Coding


class NotSubmittable(AnswerError):
    """The form still has problems (a missing required answer, a value out of range)."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(first.link_id, f"the form cannot be sent yet: {len(problems)} problem(s), the first {first.kind}")


@dataclass(frozen=True)
class ScoreResult:
    """One score of a submitted form (an Observation derived from the response). It names its
    response, so it can be queued and sent on its own (Pasientens måledata takes it alone)."""

    id: uuid.UUID  # the Observation's identifier, fixed at submit
    response_id: uuid.UUID
    questionnaire: str  # canonical url|version
    authored: datetime
    value: Decimal
    link_id: str | None  # the item that holds it; None: the total of the chosen options
    code: tuple[Coding, ...] = ()  # the item's codes (the instrument's LOINC when the form gives one)
    text: str | None = None


@dataclass(frozen=True)
class Submission:
    """A completed QuestionnaireResponse and its scores, as the hub keeps and sends them."""

    id: uuid.UUID  # the response's identifier, fixed at submit
    questionnaire: str  # canonical url|version
    authored: datetime  # with its zone
    items: tuple[dict[str, Any], ...] = field(compare=False)  # the response's items (FHIR JSON)
    scores: tuple[ScoreResult, ...] = ()
    answered_by: str | None = None  # None: the patient; else who answered for them (a display text)
    title: str | None = None


def submit(
    state: FormState,
    *,
    now: datetime,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    answered_by: str | None = None,
) -> Submission:
    """The submission of a finished form, or NotSubmittable naming the first problem's item."""
    problems = state.problems()
    if problems:
        raise NotSubmittable(problems)
    q = state.q
    if q.canonical is None:
        raise NotSubmittable((Problem((), "-", "questionnaire-url"),))
    response = state.response(now=now)
    response_id = new_id()
    return Submission(
        id=response_id,
        questionnaire=q.canonical,
        authored=now,
        items=tuple(response.get("item", [])),
        scores=tuple(_scores(state, response_id, q.canonical, now, new_id)),
        answered_by=answered_by,
        title=q.title,
    )


def _scores(state: FormState, response_id: uuid.UUID, questionnaire: str, now: datetime,
            new_id: Callable[[], uuid.UUID]) -> list[ScoreResult]:
    scores = state.scores()
    named = [
        (s.value, s.link_id, s.code, s.text)
        for s in scores.items
        if s.kind in ("section", "total") or (s.kind == "calculated" and s.code)
    ]
    if not named and scores.total is not None and scores.questions:
        named.append((scores.total, None, (), state.q.title))
    return [ScoreResult(new_id(), response_id, questionnaire, now, *n) for n in named]
