"""The self-care plan (egenbehandlingsplan) as the hub holds it: activities, zones, schedules.

Built only by `parse.parse_plan`, which refuses a plan Heima cannot act on; every value here is
therefore usable as it stands. Limits are stored resolved: absolute, in the kind's own unit
(codes.CANONICAL_UNIT), a relative limit already added to the patient's baseline.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from hub.domain.careplan.timing import Period, Timing
from hub.domain.readings import MeasurementKind

FALLBACK_LANGUAGES = {"nb": ("nb", "nn", "en"), "nn": ("nn", "nb", "en"), "en": ("en", "nb", "nn")}


class Level(enum.StrEnum):
    """A zone's level, HL7 Norway's codes. Ordered by severity."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Level.GREEN: 0, Level.YELLOW: 1, Level.RED: 2}


@dataclass(frozen=True, slots=True)
class ActionText:
    """The patient's own action text, by language (BCP-47: nb, nn, en, ...)."""

    texts: tuple[tuple[str, str], ...]

    def pick(self, language: str) -> tuple[str, str] | None:
        """(language, text) in the patient's language, else the nearest one the plan gives."""
        given = dict(self.texts)
        for lang in FALLBACK_LANGUAGES.get(language, (language, "nb", "nn", "en")):
            if given.get(lang):
                return lang, given[lang]
        return self.texts[0] if self.texts else None


class ZoneKind(enum.StrEnum):
    LIMITS = "limits"
    RULE = "rule"
    DEFAULT = "default"  # the plan's default level: no limit covered the value


@dataclass(frozen=True)
class Zone:
    """One zone of one measurement: limits [low, high) or a FHIRPath rule, and what to do."""

    id: str  # names the rule that decided a zone (Evaluation.rule)
    level: Level
    target: MeasurementKind  # the value it reads: the kind, or a panel's component
    action: ActionText
    confirmations: int  # values in this level in a row before it alarms (1 = at once)
    alerts: bool  # whether a confirmed value in this zone alerts the centre
    low: float | None = None  # inclusive; None = no lower limit
    high: float | None = None  # exclusive; None = no upper limit
    relative: bool = False  # written relative to the baseline (the limits above are resolved)
    rule: str | None = None  # FHIRPath over %value, %baseline, %history
    history_window: timedelta = timedelta(days=7)
    history_count: int = 50
    compiled: Callable[..., list] | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> ZoneKind:
        return ZoneKind.RULE if self.rule is not None else ZoneKind.LIMITS

    def covers(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value < self.high)


@dataclass(frozen=True)
class MeasurementActivity:
    id: str
    title: str
    code: str  # LOINC
    kinds: frozenset[MeasurementKind]
    unit: str  # UCUM, the unit limits are held in
    zones: tuple[Zone, ...]
    timing: Timing | None
    baseline: float | None = None
    default_level: Level | None = None
    default_action: ActionText | None = None
    remeasure_wait: timedelta = timedelta(minutes=1)
    confirm_within: timedelta = timedelta(hours=1)
    pauses: tuple[Period, ...] = ()
    paused: bool = False  # detail.status on-hold: nothing due until it changes

    @property
    def targets(self) -> tuple[MeasurementKind, ...]:
        seen: list[MeasurementKind] = []
        for z in self.zones:
            if z.target not in seen:
                seen.append(z.target)
        return tuple(seen)

    def completed_by(self, what: str) -> bool:
        return what in {k.value for k in self.kinds}


@dataclass(frozen=True)
class FormActivity:
    id: str
    title: str
    questionnaire: str  # canonical URL (|version allowed)
    timing: Timing | None
    pauses: tuple[Period, ...] = ()
    paused: bool = False

    def completed_by(self, what: str) -> bool:
        return what == self.questionnaire or what.split("|")[0] == self.questionnaire.split("|")[0]


Activity = MeasurementActivity | FormActivity


@dataclass(frozen=True)
class CarePlan:
    id: str
    version: str | None
    title: str
    activities: tuple[Activity, ...]
    pauses: tuple[Period, ...] = ()

    @property
    def reference(self) -> str:
        return f"CarePlan/{self.id}" + (f"/_history/{self.version}" if self.version else "")

    def activity_for(self, kind: MeasurementKind) -> MeasurementActivity | None:
        for a in self.activities:
            if isinstance(a, MeasurementActivity) and kind in a.kinds:
                return a
        return None

    @property
    def measurement_kinds(self) -> frozenset[MeasurementKind]:
        """What the plan asks for: the kinds Today offers first."""
        return frozenset(k for a in self.activities if isinstance(a, MeasurementActivity) for k in a.kinds)
