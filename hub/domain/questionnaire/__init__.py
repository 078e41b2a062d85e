"""The questionnaire engine: FHIR R4 Questionnaire (+ SDC) in, QuestionnaireResponse out. Pure.

    q = load_questionnaire(json_dict)             # typed model, or a QuestionnaireError naming the item
    s = FormState.start(q, now=now, patient=None)  # immutable: every change returns a new state
    s = s.answer("q1", True)
    s.visible_items(); s.problems(); s.scores()
    s.response(now=now, subject=..., source=...)   # QuestionnaireResponse JSON, status completed
    FormState.resume(q, stored_response, now=now)  # a half-answered form, from what was saved
    submit(s, now=now)                              # Submission: the response + its scores, for the outbox

See docs/questionnaires.md.
"""

from hub.domain.questionnaire.errors import (
    AnswerError, BadEnableWhen, DuplicateLinkId, EnableWhenCycle, InvalidExpression, MalformedQuestionnaire,
    MissingLinkId, NotAnOption, QuestionnaireError, ReadOnlyItem, ResponseMismatch, UnknownItem,
    UnknownItemType, UnknownModifierExtension, UnsupportedFeature, UnsupportedItem, WrongAnswerType,
)
from hub.domain.questionnaire.model import AnswerOption, EnableWhen, Item, Media, Questionnaire
from hub.domain.questionnaire.parse import load_questionnaire
from hub.domain.questionnaire.scoring import Score, Scores
from hub.domain.questionnaire.state import FormState, Path, Problem, VisibleItem
from hub.domain.questionnaire.submission import NotSubmittable, ScoreResult, Submission, submit
from hub.domain.questionnaire.values import Coding, Quantity, Value

__all__ = [
    "AnswerError", "AnswerOption", "BadEnableWhen", "Coding", "DuplicateLinkId", "EnableWhen", "EnableWhenCycle",
    "FormState", "InvalidExpression", "Item", "MalformedQuestionnaire", "Media", "MissingLinkId", "NotAnOption",
    "NotSubmittable", "Path", "Problem", "Quantity", "Questionnaire", "QuestionnaireError", "ReadOnlyItem",
    "ResponseMismatch", "Score", "ScoreResult", "Scores", "Submission", "UnknownItem", "UnknownItemType", "UnknownModifierExtension", "UnsupportedFeature",
    "UnsupportedItem", "Value", "VisibleItem", "WrongAnswerType", "load_questionnaire", "submit",
]
