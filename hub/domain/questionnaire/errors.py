"""Typed errors of the questionnaire engine.

Every error names the item (its linkId) and the rule it broke, never an answer: the patient's
answers must not reach a log through an exception message.
"""

from __future__ import annotations


class QuestionnaireError(ValueError):
    """A Questionnaire Heima cannot run; refused at import, the last good version stays in use."""

    def __init__(self, link_id: str | None, reason: str) -> None:
        self.link_id = link_id
        self.reason = reason
        where = f"item {link_id!r}" if link_id is not None else "the questionnaire"
        super().__init__(f"{where}: {reason}")


class MissingLinkId(QuestionnaireError):
    pass


class DuplicateLinkId(QuestionnaireError):
    pass


class UnknownItemType(QuestionnaireError):
    pass


class UnsupportedFeature(QuestionnaireError):
    """Valid FHIR that Heima cannot honour offline (a required attachment, x-fhir-query, ...)."""


class UnknownModifierExtension(QuestionnaireError):
    pass


class BadEnableWhen(QuestionnaireError):
    """enableWhen pointing at nothing, at a group, or with an answer of another type."""


class EnableWhenCycle(QuestionnaireError):
    pass


class InvalidExpression(QuestionnaireError):
    """A FHIRPath expression that does not parse."""


class MalformedQuestionnaire(QuestionnaireError):
    """Not a Questionnaire at all, or a field of the wrong JSON type."""


class AnswerError(ValueError):
    """An answer the engine will not take; names the item and why, never the value."""

    def __init__(self, link_id: str, reason: str) -> None:
        self.link_id = link_id
        self.reason = reason
        super().__init__(f"item {link_id!r}: {reason}")


class WrongAnswerType(AnswerError):
    pass


class NotAnOption(AnswerError):
    pass


class ReadOnlyItem(AnswerError):
    pass


class UnknownItem(AnswerError):
    pass


class UnsupportedItem(AnswerError):
    """An attachment or reference question: Heima does not take these (yet); the screen says so."""


class ResponseMismatch(AnswerError):
    """A stored response that belongs to another questionnaire, or has items no item matches."""
