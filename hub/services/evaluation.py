"""The port where a value is evaluated against the patient's plan, in the recording use case.

The care-plan work fills it (zones, rules, advice, re-measure); until then the hub evaluates
nothing (`NoEvaluation`). Whatever it decides is stored with the measurement in the same
transaction and never decided again later (not at send time, not on a retry).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hub.domain.evaluation import Evaluation
from hub.domain.measurements import Measurement


class Evaluator(Protocol):
    # How many of the patient's latest values of the same kind `evaluate` needs (0: none are
    # read, the recording path costs nothing more).
    history_limit: int

    def evaluate(self, measurement: Measurement, history: Sequence[Measurement]) -> Evaluation | None:
        """The evaluation of `measurement`, given the newest earlier values of its kind (newest
        first); None when the plan has nothing to say about it. Pure: no I/O, no clock."""
        ...


class NoEvaluation:
    """Today's plan: nothing is evaluated."""

    history_limit = 0

    def evaluate(self, measurement: Measurement, history: Sequence[Measurement]) -> Evaluation | None:
        return None
