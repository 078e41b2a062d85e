"""Small hand-written forms for the engine's tests (each feature on its own)."""

from __future__ import annotations

from datetime import datetime, timezone

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
CORE = "http://hl7.org/fhir/StructureDefinition/"


def form(*items, **top) -> dict:
    return {"resourceType": "Questionnaire", "url": "http://heima.test/q", "version": "2", "status": "active", "item": list(items), **top}


def expr(kind: str, text: str, name: str | None = None) -> dict:
    v = {"language": "text/fhirpath", "expression": text}
    if name:
        v["name"] = name
    return {"url": SDC + "sdc-questionnaire-" + kind, "valueExpression": v}


def coding(code: str, score=None, where: str = "option") -> dict:
    c = {"system": "http://heima.test/cs", "code": code, "display": code.title()}
    ext = [{"url": CORE + "ordinalValue", "valueDecimal": score}] if score is not None else []
    if where == "coding" and ext:
        return {"valueCoding": {**c, "extension": ext}}
    if where == "weight" and score is not None:
        return {"valueCoding": c, "extension": [{"url": CORE + "itemWeight", "valueDecimal": score}]}
    return {"valueCoding": c, **({"extension": ext} if ext else {})}


def ew(question: str, op: str, **answer) -> dict:
    return {"question": question, "operator": op, **answer}
