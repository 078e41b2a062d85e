"""Where a value stands in the patient's plan: its evaluation, decided when the value is recorded.

The self-care plan (egenbehandlingsplan, hub.domain.careplan) decides it: the zone the value is in,
the rule that decided it, the patient's own advice in every language the plan gives, whether to
measure again first (and after how long), whether the centre is alerted, the interpretation codes
and every level's limits. It is decided once, in the recording transaction (the Evaluator port of
hub.services.evaluation), stored with the measurement exactly as decided, shown to the patient, and
only *read* when the measurement is mapped for a destination — what the patient saw is what the
nurse gets, whenever it is sent.

One type: an evaluation stored before the care plan existed (schema 4: a level, a display, ranges
and advice) reads back as an `Evaluation` with only those parts (`legacy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

OBSERVATION_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
FALLBACK_LANGUAGES = {"nb": ("nb", "nn", "en"), "nn": ("nn", "nb", "en"), "en": ("en", "nb", "nn")}


@dataclass(frozen=True, slots=True)
class Code:
    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    """One level's limits for the Observation's referenceRange (VKP: one per level, typed)."""

    type: Code  # ObservationInterpretation: N, L, H, LL, HH, A, AA
    low: float | None = None
    high: float | None = None
    text: str | None = None  # the level's name for the nurse (bokmål): grønn, gul, rød
    unit: str | None = None  # UCUM; None: the Observation's own unit (a schema-4 row)
    level: str | None = None  # green / yellow / red
    component: str | None = None  # the LOINC of the panel component it applies to
    zone: str | None = None  # the zone's id in the plan


def pick_text(texts: tuple[tuple[str, str], ...], language: str) -> tuple[str, str] | None:
    """(language, text) in the patient's language, else the nearest one given."""
    given = dict(texts)
    for lang in FALLBACK_LANGUAGES.get(language, (language, "nb", "nn", "en")):
        if given.get(lang):
            return lang, given[lang]
    return texts[0] if texts else None


@dataclass(frozen=True)
class Evaluation:
    """What the plan said about one value; stored with it and mapped to FHIR later as it is."""

    plan: str | None = None  # CarePlan reference (with version when known)
    activity: str | None = None
    zone: str | None = None  # green / yellow / red
    rule: str | None = None  # the zone id that decided it ("default" for the plan's default level)
    rule_kind: str | None = None  # limits / rule / default
    language: str | None = None  # the language of `advice`
    advice: str | None = None  # the patient's own action text, in their language where the plan has it
    advice_texts: tuple[tuple[str, str], ...] = ()  # every language the plan gives
    remeasure: bool = False
    remeasure_reason: str | None = None  # "flagged" / "confirm"
    remeasure_after_s: int | None = None  # the plan's wait before measuring again
    alert: bool = False
    confirmations_seen: int = 0
    confirmations_needed: int = 0
    implicated: tuple[str, ...] = ()  # with `alert`: the earlier values that confirmed it (ids)
    interpretation: tuple[Code, ...] = ()  # ObservationInterpretation, zone (HL7 Norway), VKP triage
    reference_ranges: tuple[ReferenceRange, ...] = ()

    @property
    def observation_interpretation(self) -> str | None:
        """The ObservationInterpretation code of the decided zone: a stored one, else its range's
        type (N, L, H, LL, HH, A, AA), or by level for a rule zone (N, A, AA)."""
        for c in self.interpretation:
            if c.system == OBSERVATION_INTERPRETATION:
                return c.code
        for r in self.reference_ranges:
            if r.zone is not None and r.zone == self.rule:
                return r.type.code
        return {"green": "N", "yellow": "A", "red": "AA"}.get(self.zone or "")

    def advice_in(self, language: str) -> str | None:
        picked = pick_text(self.advice_texts, language)
        if picked:
            return picked[1]
        return self.advice

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["advice_texts"] = [list(p) for p in self.advice_texts]
        d["implicated"] = list(self.implicated)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evaluation:
        """What to_dict wrote, whichever Heima wrote it: keys this Heima does not know are left out."""
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in d.items() if k in known}
        data["advice_texts"] = tuple(tuple(p) for p in data.get("advice_texts", ()))
        data["implicated"] = tuple(data.get("implicated", ()))
        data["interpretation"] = tuple(Code(**c) for c in data.get("interpretation", ()))
        data["reference_ranges"] = tuple(
            ReferenceRange(**{**r, "type": Code(**r["type"])}) for r in data.get("reference_ranges", ())
        )
        return cls(**data)

    @classmethod
    def legacy(
        cls,
        level: str,
        display: str | None = None,
        ranges: tuple[tuple[str, float | None, float | None, str | None], ...] = (),
        advice: str | None = None,
    ) -> Evaluation:
        """A schema-4 evaluation (an ObservationInterpretation level, its display, ranges as
        (level, low, high, text), advice) as the one type."""
        return cls(
            advice=advice,
            interpretation=(Code(OBSERVATION_INTERPRETATION, level, display),),
            reference_ranges=tuple(
                ReferenceRange(Code(OBSERVATION_INTERPRETATION, lvl), low, high, text) for lvl, low, high, text in ranges
            ),
        )


@dataclass(frozen=True, slots=True)
class ZoneAlert:
    """A confirmed value in an alerting zone, for the centre (VKP: a DetectedIssue implicating the
    Observations). Named at capture from the value that raised it, so it is queued once."""

    plan: str  # CarePlan reference
    activity: str
    zone: str  # green / yellow / red
    rule: str | None
    code: str | None  # the activity's LOINC
    measurements: tuple[str, ...]  # the values that confirmed it, the raising one last
    at: datetime  # when the raising value was measured

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan, "activity": self.activity, "zone": self.zone, "rule": self.rule, "code": self.code,
            "measurements": list(self.measurements), "at": self.at.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ZoneAlert:
        return cls(
            plan=d["plan"], activity=d["activity"], zone=d["zone"], rule=d.get("rule"), code=d.get("code"),
            measurements=tuple(d["measurements"]), at=datetime.fromisoformat(d["at"]),
        )


__all__ = ["Code", "Evaluation", "OBSERVATION_INTERPRETATION", "ReferenceRange", "ZoneAlert", "pick_text"]
