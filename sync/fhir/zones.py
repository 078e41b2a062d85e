"""A measurement's stored evaluation (hub.domain.evaluation) on its Observation, for every
destination: `interpretation` = the zone's ObservationInterpretation code, the zone (HL7 Norway)
and the VKP triage; `referenceRange` = every level's limits, typed (VKP). Read, never decided.
Kept apart from sync.fhir.careplan so sync.fhir.observations can use it without a cycle."""

from __future__ import annotations

from typing import Any

from hub.domain.careplan import codes as plan_codes
from hub.domain.evaluation import Evaluation
from sync.fhir.codes import UCUM


def _decimal(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _quantity(value: float, unit: str | None, template: dict[str, Any] | None) -> dict[str, Any]:
    q: dict[str, Any] = {"value": _decimal(value)}
    if template is not None and (unit is None or template.get("code") == unit):
        q.update({k: template[k] for k in ("unit", "system", "code") if k in template})
    elif unit:
        q.update({"unit": unit, "system": UCUM, "code": unit})
    return q


def apply_evaluation(obs: dict[str, Any], evaluation: Evaluation) -> None:
    """The stored evaluation on an Observation: one interpretation (ObservationInterpretation,
    the zone, the VKP triage) first, and each level's limits as a typed referenceRange — on the
    component it reads for a panel (blood pressure), else on the Observation."""
    codings = []
    for c in evaluation.interpretation:
        coding = {"system": c.system, "code": c.code}
        if c.display:
            coding["display"] = c.display
        codings.append(coding)
    if codings:
        concept: dict[str, Any] = {"coding": codings}
        if evaluation.zone:
            concept["text"] = plan_codes.LEVEL_TEXT.get(evaluation.zone, evaluation.zone)
        obs["interpretation"] = [concept, *obs.get("interpretation", [])]
    # Copies, never changed in place: parts of an Observation may be shared between Observations
    # (sync.fhir.observations builds what is the same for a kind once).
    if "component" in obs:
        obs["component"] = [dict(c) for c in obs["component"]]
    components = {
        c.get("code", {}).get("coding", [{}])[0].get("code"): c for c in obs.get("component", []) if c.get("code", {}).get("coding")
    }
    for r in evaluation.reference_ranges:
        target = components.get(r.component) if r.component else obs
        if target is None:  # pragma: no cover - a plan's component the panel lacks: left out, not guessed
            continue
        template = target.get("valueQuantity") or obs.get("valueQuantity")
        entry: dict[str, Any] = {"type": {"coding": [{"system": r.type.system, "code": r.type.code}]}}
        if r.low is not None:
            entry["low"] = _quantity(r.low, r.unit, template)
        if r.high is not None:
            entry["high"] = _quantity(r.high, r.unit, template)
        if r.text:
            entry["text"] = r.text
        target["referenceRange"] = [*target.get("referenceRange", []), entry]
