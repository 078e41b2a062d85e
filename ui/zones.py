"""What the screens say about the patient's self-care plan: a value's zone in words (with its
colour, never colour alone), the plan's own advice in the patient's language, the wait before
measuring again, and a chart's zone bands. Pure functions over `hub.api.Evaluation`; no Kivy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from hub.api import Evaluation, MeasurementKind
from ui import theme
from ui.i18n import N_, Translator

K = MeasurementKind

ZONE_NAME = {"green": N_("Green zone"), "yellow": N_("Yellow zone"), "red": N_("Red zone")}
ZONE_ROLE = {"green": "zone-green", "yellow": "zone-yellow", "red": "zone-red"}
ZONE_COLOUR = {"green": theme.ZONE_GREEN, "yellow": theme.ZONE_YELLOW, "red": theme.ZONE_RED}
SEVERITY = {"green": 0, "yellow": 1, "red": 2}

CONFIRM_AGAIN = N_("Please measure again to be sure.")
REST_FIRST = N_("Rest for {minutes} minutes before you measure again.")
REST_FIRST_ONE = N_("Rest for 1 minute before you measure again.")
LESS_THAN_A_MINUTE = N_("Less than a minute left.")
READY_AGAIN = N_("You can measure again now.")

# Panel components by the LOINC a plan's limits name them with (docs/care-plan-format.md).
COMPONENT_LOINC = {"8480-6": K.SYSTOLIC_PRESSURE, "8462-4": K.DIASTOLIC_PRESSURE, "8478-0": K.MEAN_ARTERIAL_PRESSURE}


def zone_of(evaluation: Evaluation | None) -> str:
    """green / yellow / red, or "" when the plan gave the value no zone (or there is no plan)."""
    zone = evaluation.zone if evaluation is not None else None
    return zone if zone in ZONE_NAME else ""


def zone_text(tr: Translator, zone: str) -> str:
    return tr._(ZONE_NAME[zone]) if zone in ZONE_NAME else ""


def advice_text(tr: Translator, evaluation: Evaluation | None) -> str:
    """The plan's own action text in the patient's language (else the nearest the plan gives);
    never invented: "" without a plan or advice."""
    if evaluation is None:
        return ""
    return (evaluation.advice_in(tr.lang) or "").strip()


def wait_seconds(evaluation: Evaluation | None) -> int:
    """The plan's wait before measuring again, when it asks for that (0: no wait)."""
    if evaluation is None or not evaluation.remeasure:
        return 0
    return max(0, int(evaluation.remeasure_after_s or 0))


def rest_text(tr: Translator, seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return tr._(REST_FIRST_ONE) if minutes == 1 else tr.f(REST_FIRST, minutes=minutes)


def countdown_text(tr: Translator, ready_at: datetime, now: datetime) -> str:
    """A calm countdown in whole minutes (no ticking seconds), then that the patient may measure."""
    left = (ready_at - now).total_seconds()
    if left <= 0:
        return tr._(READY_AGAIN)
    if left < 60:
        return tr._(LESS_THAN_A_MINUTE)
    minutes = math.ceil(left / 60)
    return tr.n("{count} minute left.", "{count} minutes left.", minutes)


@dataclass(frozen=True, slots=True)
class Band:
    """One level's limits as a band behind a chart (None: open at that end)."""

    level: str
    low: float | None
    high: float | None


def bands_for(evaluation: Evaluation | None, kind: MeasurementKind) -> list[Band]:
    """The limit zones of `kind` (a value, or a panel component named by its LOINC) that the
    plan gave this value, lowest first. Rule zones (trends) have no limits and draw no band."""
    if evaluation is None:
        return []
    bands = []
    for r in evaluation.reference_ranges:
        if r.level not in ZONE_NAME or (r.low is None and r.high is None):
            continue
        target = COMPONENT_LOINC.get(r.component) if r.component else None
        if r.component and target is not kind:
            continue
        if not r.component and kind in COMPONENT_LOINC.values():
            continue
        bands.append(Band(r.level, r.low, r.high))
    return sorted(bands, key=lambda b: (b.low if b.low is not None else -math.inf))


def band_text(tr: Translator, band: Band, decimals: int) -> str:
    """A legend entry in words: 'Green zone: 92–100', 'Red zone: under 88', 'Yellow zone: over 160'."""
    name = zone_text(tr, band.level)
    if band.low is not None and band.high is not None:
        return tr.f(N_("{zone}: {low} to {high}"), zone=name, low=tr.number(band.low, decimals), high=tr.number(band.high, decimals))
    if band.low is not None:
        return tr.f(N_("{zone}: {low} or more"), zone=name, low=tr.number(band.low, decimals))
    return tr.f(N_("{zone}: under {high}"), zone=name, high=tr.number(band.high or 0, decimals))


__all__ = [
    "Band",
    "COMPONENT_LOINC",
    "CONFIRM_AGAIN",
    "SEVERITY",
    "ZONE_COLOUR",
    "ZONE_NAME",
    "ZONE_ROLE",
    "advice_text",
    "band_text",
    "bands_for",
    "countdown_text",
    "rest_text",
    "wait_seconds",
    "zone_of",
    "zone_text",
]
