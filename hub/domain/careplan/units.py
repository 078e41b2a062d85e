"""Exact unit conversions for plan limits and readings, and nothing else.

A centre may write a weight limit in g or a glucose limit in mg/dL; the hub judges in the kind's
own unit (codes.CANONICAL_UNIT). Only conversions that are exact by definition are made (g↔kg,
[lb_av]↔kg, [degF]↔Cel, and glucose mg/dL↔mmol/L with the factor 18.016 the issue fixes); any
other unit is refused rather than guessed (kPa for blood pressure included: write mm[Hg]).
"""

from __future__ import annotations

from collections.abc import Callable

from hub.domain.readings import MeasurementKind

_GLUCOSE_MG_PER_MMOL = 18.016

# (from, to) -> function, per kind (None: any kind).
_LINEAR: dict[tuple[str, str], float] = {
    ("g", "kg"): 0.001,
    ("[lb_av]", "kg"): 0.45359237,  # exact by definition
}
_GLUCOSE: dict[tuple[str, str], Callable[[float], float]] = {
    ("mg/dL", "mmol/L"): lambda v: v / _GLUCOSE_MG_PER_MMOL,
    ("mmol/L", "mg/dL"): lambda v: v * _GLUCOSE_MG_PER_MMOL,
}
_TEMPERATURE: dict[tuple[str, str], Callable[[float], float]] = {
    ("[degF]", "Cel"): lambda v: (v - 32) * 5 / 9,
}
_SPELLINGS = {"mmHg": "mm[Hg]", "mmol/l": "mmol/L", "mg/dl": "mg/dL", "lb": "[lb_av]", "°C": "Cel", "min-1": "/min", "1/min": "/min"}


def normalise(unit: str) -> str:
    """The UCUM code for a few common spellings centres write (mmHg, mmol/l)."""
    return _SPELLINGS.get(unit, unit)


def convert(kind: MeasurementKind, value: float, from_unit: str, to_unit: str) -> float | None:
    """`value` in `to_unit`, or None when no exact conversion exists for this kind."""
    a, b = normalise(from_unit), normalise(to_unit)
    if a == b:
        return value
    if (a, b) in _LINEAR:
        return round(value * _LINEAR[(a, b)], 9)
    if (b, a) in _LINEAR:
        return round(value / _LINEAR[(b, a)], 9)
    if kind is MeasurementKind.BLOOD_GLUCOSE and (a, b) in _GLUCOSE:
        return round(_GLUCOSE[(a, b)](value), 9)
    if kind is MeasurementKind.BODY_TEMPERATURE and (a, b) in _TEMPERATURE:
        return round(_TEMPERATURE[(a, b)](value), 9)
    return None
