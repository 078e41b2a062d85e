"""`heima plan check` and `heima plan simulate` as pure functions (the CLI only reads the files
and prints): the same parsing and evaluation the hub runs.

simulate's values, in time order, one object each:
    {"time": "2026-03-02T08:05:00+01:00", "kind": "body-weight", "value": 82.4, "unit": "kg",
     "flags": ["cuff-loose"]}
`kind` is a Heima measurement kind or `code` a LOINC code of the plan; blood pressure gives
"systolic" and "diastolic" (mm[Hg]) instead of "value". Each value yields one JSON-able dict:
zone, rule, advice, remeasure (+ wait), alert.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from hub.domain.careplan import codes
from hub.domain.careplan.evaluate import Observed, evaluate
from hub.domain.careplan.model import CarePlan, FormActivity, MeasurementActivity
from hub.domain.careplan.parse import parse_plan
from hub.domain.careplan.timing import describe
from hub.domain.readings import MeasurementKind


class ValuesError(ValueError):
    """A simulate input that cannot be read: says which value (by position) and what is wrong."""


def check_plan(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A summary of a usable plan; raises PlanError (the CLI: exit 2 with its reason)."""
    plan = parse_plan(doc)
    activities = []
    for a in plan.activities:
        entry: dict[str, Any] = {"id": a.id, "title": a.title, "schedule": describe(a.timing) if a.timing else "when needed"}
        if isinstance(a, MeasurementActivity):
            entry["code"] = a.code
            entry["zones"] = [{"id": z.id, "level": z.level.value, "kind": z.kind.value} for z in a.zones]
            if a.default_level:
                entry["default_level"] = a.default_level.value
        elif isinstance(a, FormActivity):
            entry["questionnaire"] = a.questionnaire
        activities.append(entry)
    return {"ok": True, "plan": plan.reference, "title": plan.title, "activities": activities}


def _kind(item: Mapping[str, Any], n: int) -> MeasurementKind:
    if "kind" in item:
        try:
            return MeasurementKind(item["kind"])
        except ValueError:
            raise ValuesError(f"value {n}: unknown kind (use a Heima kind such as body-weight)") from None
    code = item.get("code")
    if code in codes.KINDS_BY_LOINC:
        return sorted(codes.KINDS_BY_LOINC[code])[0]
    raise ValuesError(f"value {n}: give 'kind' or a known LOINC 'code'")


def read_value(item: Mapping[str, Any], n: int) -> Observed:
    if not isinstance(item, Mapping):
        raise ValuesError(f"value {n}: must be a JSON object")
    kind = _kind(item, n)
    try:
        when = datetime.fromisoformat(str(item["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        raise ValuesError(f"value {n}: 'time' must be an ISO dateTime with an offset") from None
    if when.tzinfo is None:
        raise ValuesError(f"value {n}: 'time' needs an offset (e.g. +01:00)")
    components: list[tuple[MeasurementKind, float, str]] = []
    for key, comp in (("systolic", MeasurementKind.SYSTOLIC_PRESSURE), ("diastolic", MeasurementKind.DIASTOLIC_PRESSURE)):
        if key in item:
            components.append((comp, float(item[key]), "mm[Hg]"))
    value = item.get("value")
    if value is None and not components:
        raise ValuesError(f"value {n}: give 'value' (or systolic/diastolic)")
    return Observed(
        kind=kind, time=when, value=None if value is None else float(value),
        unit=item.get("unit", codes.CANONICAL_UNIT.get(kind, "")), components=tuple(components),
        flags=frozenset(item.get("flags", ())), id=f"value-{n}",
    )


def simulate(plan: CarePlan | Mapping[str, Any], values: Sequence[Mapping[str, Any]], *, language: str = "nb") -> Iterator[dict[str, Any]]:
    """One dict per value, judged with every earlier value as history, as the hub would."""
    if not isinstance(plan, CarePlan):
        plan = parse_plan(plan)
    history: list[Observed] = []
    for n, item in enumerate(values, start=1):
        value = read_value(item, n)
        if history and value.time < history[-1].time:
            raise ValuesError(f"value {n}: values must be in time order")
        e = evaluate(plan, value, history, language=language)
        history.append(value)
        yield {
            "time": value.time.isoformat(),
            "kind": value.kind.value,
            "zone": e.zone if e else None,
            "rule": e.rule if e else None,
            "advice": e.advice if e else None,
            "remeasure": e.remeasure if e else False,
            "remeasure_after_s": e.remeasure_after_s if e else None,
            "alert": e.alert if e else False,
        }
