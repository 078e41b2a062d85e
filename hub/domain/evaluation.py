"""Where a value stands in the patient's plan: its evaluation, decided when the value is recorded.

The self-care plan (egenbehandlingsplan) gives a measurement kind its zones; the evaluation says
which zone the value fell in, every zone's limits, and what the plan tells the patient to do. It is
decided once, in the recording transaction (hub.services.measurements, through the Evaluator port),
stored with the measurement, shown to the patient, and only *read* when the measurement is mapped
for a destination — what the patient saw is what the nurse gets, whenever it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ZoneRange:
    """One zone of the plan as a reference range: its limits and its level."""

    level: str  # ObservationInterpretation code: N, L, H, LL, HH, A, AA, ...
    low: float | None = None
    high: float | None = None
    text: str | None = None  # e.g. "grønn", "gul", "rød"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The plan's answer for one measurement: its zone's level, all zones for its kind, and the
    advice the patient is given (shown on the hub; not sent)."""

    level: str  # ObservationInterpretation code of the zone the value is in
    display: str | None = None
    ranges: tuple[ZoneRange, ...] = ()
    advice: str | None = None
