"""Small CarePlan JSON builders for the care-plan tests (the layout of docs/care-plan-format.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

ZONE_SYSTEM = "http://hl7.no/fhir/ig/planer-hacking/CodeSystem/planer-hacking-observation-severity-zone-cs"
UCUM = "http://unitsofmeasure.org"
EXAMPLES = Path(__file__).resolve().parents[3] / "packaging" / "examples" / "careplans"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def q(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def action(nb: str | None = "gjør noe", nn: str | None = None, en: str | None = None) -> list[dict[str, Any]]:
    out = []
    for lang, text in (("nb", nb), ("nn", nn), ("en", en)):
        if text is not None:
            out.append({"url": "action", "extension": [{"url": "language", "valueCode": lang}, {"url": "text", "valueString": text}]})
    return out


def zone(id: str, level: str, *, low=None, high=None, unit: str = "%", rule: str | None = None, component: str | None = None,
         relative: bool = False, confirmations: int | None = None, alert: bool | None = None, window=None, count=None,
         texts: dict[str, str] | None = None) -> dict[str, Any]:
    ext: list[dict[str, Any]] = [{"url": "level", "valueCoding": {"system": ZONE_SYSTEM, "code": level}}]
    if component:
        ext.append({"url": "component", "valueCoding": {"system": "http://loinc.org", "code": component}})
    if relative:
        ext.append({"url": "relativeTo", "valueCode": "baseline"})
    if low is not None:
        ext.append({"url": "low", "valueQuantity": q(low, unit)})
    if high is not None:
        ext.append({"url": "high", "valueQuantity": q(high, unit)})
    if rule is not None:
        ext.append({"url": "rule", "valueExpression": {"language": "text/fhirpath", "expression": rule}})
    if window is not None:
        ext.append({"url": "historyWindow", "valueDuration": q(*window)})
    if count is not None:
        ext.append({"url": "historyCount", "valueInteger": count})
    if confirmations is not None:
        ext.append({"url": "confirmations", "valueInteger": confirmations})
    if alert is not None:
        ext.append({"url": "alert", "valueBoolean": alert})
    if texts != {}:
        ext += action(**(texts if texts is not None else {"nb": f"råd {id}", "nn": f"råd nn {id}", "en": f"advice {id}"}))
    return {"url": "urn:heima:careplan:zone", "id": id, "extension": ext}


def timing(times=("08:00:00",), *, unit: str = "d", period: int = 1, frequency: int = 1, days=(), start: str | None = "2026-01-01",
           end: str | None = None, count: int | None = None, when=(), offset: int | None = None, events=(), tz: str | None = "Europe/Oslo",
           before=None, after=None) -> dict[str, Any]:
    repeat: dict[str, Any] = {"frequency": frequency, "period": period, "periodUnit": unit}
    bounds = {k: v for k, v in (("start", start), ("end", end)) if v}
    if bounds:
        repeat["boundsPeriod"] = bounds
    if times:
        repeat["timeOfDay"] = list(times)
    if days:
        repeat["dayOfWeek"] = list(days)
    if when:
        repeat["when"] = list(when)
    if offset is not None:
        repeat["offset"] = offset
    if count is not None:
        repeat["count"] = count
    t: dict[str, Any] = {"repeat": repeat}
    if events:
        t = {"event": list(events)}
    ext = []
    if tz:
        ext.append({"url": "http://hl7.org/fhir/StructureDefinition/tz-code", "valueCode": tz})
    window = [{"url": k, "valueDuration": q(*v)} for k, v in (("before", before), ("after", after)) if v]
    if window:
        ext.append({"url": "urn:heima:careplan:task-window", "extension": window})
    if ext:
        t["extension"] = ext
    return t


def measurement(id: str, loinc: str, zones=(), *, timing_: dict | None = None, baseline=None, default=None, wait=None,
                within=None, status: str = "scheduled", pauses=()) -> dict[str, Any]:
    ext = list(zones)
    if baseline is not None:
        ext.append({"url": "urn:heima:careplan:baseline", "valueQuantity": q(*baseline)})
    if default is not None:
        ext.append({"url": "urn:heima:careplan:default-level",
                    "extension": [{"url": "level", "valueCoding": {"system": ZONE_SYSTEM, "code": default}}, *action("standard")]})
    if wait is not None:
        ext.append({"url": "urn:heima:careplan:remeasure-wait", "valueDuration": q(*wait)})
    if within is not None:
        ext.append({"url": "urn:heima:careplan:confirm-within", "valueDuration": q(*within)})
    for p in pauses:
        ext.append({"url": "urn:heima:careplan:pause", "valuePeriod": p})
    detail: dict[str, Any] = {"extension": ext, "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]}, "status": status}
    if timing_ is not None:
        detail["scheduledTiming"] = timing_
    return {"id": id, "detail": detail}


def form(id: str, canonical: str, timing_: dict | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"instantiatesCanonical": [canonical], "status": "scheduled"}
    if timing_ is not None:
        detail["scheduledTiming"] = timing_
    return {"id": id, "detail": detail}


def plan(*activities, pauses=(), tz: str | None = None, status: str = "active", category: str = "2") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "CarePlan", "id": "p1", "meta": {"versionId": "3"}, "status": status, "intent": "plan",
        "category": [{"coding": [{"system": "http://ehelse.no/fhir/CodeSystem/vkp-careplan-category-v090", "code": category}]}],
        "activity": [copy.deepcopy(a) for a in activities],
    }
    ext = [{"url": "http://hl7.org/fhir/StructureDefinition/tz-code", "valueCode": tz}] if tz else []
    ext += [{"url": "urn:heima:careplan:pause", "valuePeriod": p} for p in pauses]
    if ext:
        doc["extension"] = ext
    return doc


def spo2_zones() -> list[dict[str, Any]]:
    return [zone("red", "red", high=88), zone("yellow", "yellow", low=88, high=92), zone("green", "green", low=92)]


def spo2_plan(**kw) -> dict[str, Any]:
    return plan(measurement("spo2", "2708-6", spo2_zones(), timing_=timing(), **kw))
