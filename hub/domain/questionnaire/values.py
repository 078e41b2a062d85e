"""Answer values: typed in the engine, FHIR JSON at the edges.

An answer is a plain Python value of the item's type (bool, int, Decimal, str, date, datetime with
a zone, time) or one of the two small types here (Coding, Quantity). Reading a stored response is
strict: a value of another type is refused, never coerced (a "3" is not the integer 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Union

from hub.domain.questionnaire.errors import WrongAnswerType


@dataclass(frozen=True)
class Coding:
    """A coded answer; equal when system and code are (the display is only for people)."""

    code: str
    system: str | None = None
    display: str | None = field(default=None, compare=False)

    def matches(self, other: "Coding") -> bool:
        # A side without a system matches on the code alone, as the engines that wrote the forms do.
        if self.system and other.system and self.system != other.system:
            return False
        return self.code == other.code

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.system:
            out["system"] = self.system
        out["code"] = self.code
        if self.display:
            out["display"] = self.display
        return out


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    unit: str | None = None
    system: str | None = None
    code: str | None = None

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": number_to_json(self.value)}
        for key in ("unit", "system", "code"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


Value = Union[bool, int, Decimal, str, date, datetime, time, Coding, Quantity]

# The value[x] key each item type answers with (choice items may also answer with their options' type).
VALUE_KEY = {
    "boolean": "valueBoolean",
    "decimal": "valueDecimal",
    "integer": "valueInteger",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "time": "valueTime",
    "string": "valueString",
    "text": "valueString",
    "url": "valueUri",
    "choice": "valueCoding",
    "open-choice": "valueCoding",
    "quantity": "valueQuantity",
    "attachment": "valueAttachment",
    "reference": "valueReference",
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


def number_to_json(d: Decimal | int) -> int | float:
    if isinstance(d, int):
        return d
    return int(d) if d == d.to_integral_value() and d.as_tuple().exponent >= 0 else float(d)


def parse_value(key: str, raw: Any, link_id: str) -> Value:
    """A FHIR value[x] (key, JSON value) as a typed value; WrongAnswerType when it is not one."""

    def bad() -> WrongAnswerType:
        return WrongAnswerType(link_id, f"{key} does not hold a value of its type")

    if key == "valueBoolean":
        if not isinstance(raw, bool):
            raise bad()
        return raw
    if key == "valueInteger":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise bad()
        return raw
    if key == "valueDecimal":
        return _decimal(raw, bad)
    if key in ("valueString", "valueUri"):
        if not isinstance(raw, str):
            raise bad()
        return raw
    if key == "valueDate":
        if not isinstance(raw, str) or not _DATE.match(raw):
            raise bad()
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise bad() from None
    if key == "valueDateTime":
        if not isinstance(raw, str) or not _DATETIME.match(raw):
            raise bad()
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise bad() from None
    if key == "valueTime":
        if not isinstance(raw, str) or not _TIME.match(raw):
            raise bad()
        try:
            return time.fromisoformat(raw)
        except ValueError:
            raise bad() from None
    if key == "valueCoding":
        if not isinstance(raw, dict) or not isinstance(raw.get("code"), str):
            raise bad()
        system, display = raw.get("system"), raw.get("display")
        if (system is not None and not isinstance(system, str)) or (display is not None and not isinstance(display, str)):
            raise bad()
        return Coding(code=raw["code"], system=system, display=display)
    if key == "valueQuantity":
        if not isinstance(raw, dict) or "value" not in raw:
            raise bad()
        extra = {k: raw.get(k) for k in ("unit", "system", "code")}
        if any(v is not None and not isinstance(v, str) for v in extra.values()):
            raise bad()
        return Quantity(value=_decimal(raw["value"], bad), **extra)
    raise WrongAnswerType(link_id, f"{key} is not an answer type Heima takes")


def _decimal(raw: Any, bad) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
        raise bad()
    try:
        d = Decimal(str(raw)) if isinstance(raw, float) else Decimal(raw)
    except InvalidOperation:
        raise bad() from None
    if not d.is_finite():
        raise bad()
    return d


def value_key(value: Value) -> str:
    """The value[x] key a typed value is written with."""
    if isinstance(value, bool):
        return "valueBoolean"
    if isinstance(value, int):
        return "valueInteger"
    if isinstance(value, Decimal):
        return "valueDecimal"
    if isinstance(value, datetime):
        return "valueDateTime"
    if isinstance(value, date):
        return "valueDate"
    if isinstance(value, time):
        return "valueTime"
    if isinstance(value, Coding):
        return "valueCoding"
    if isinstance(value, Quantity):
        return "valueQuantity"
    return "valueString"


def value_to_fhir(value: Value, *, as_uri: bool = False) -> dict[str, Any]:
    key = value_key(value)
    if key == "valueString" and as_uri:
        key = "valueUri"
    if isinstance(value, (Coding, Quantity)):
        raw: Any = value.to_fhir()
    elif isinstance(value, Decimal):
        raw = number_to_json(value)
    elif isinstance(value, datetime):
        raw = value.isoformat()
    elif isinstance(value, (date, time)):
        raw = value.isoformat()
    else:
        raw = value
    return {key: raw}


def values_equal(a: Value, b: Value) -> bool:
    if isinstance(a, Coding) and isinstance(b, Coding):
        return a.matches(b)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return a.value == b.value and (a.code or a.unit) == (b.code or b.unit)
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, datetime) != isinstance(b, datetime):
        return False
    return a == b


def order_key(value: Value) -> Any:
    """What <, >, <= and >= compare; a Quantity by its number (same unit is checked at import)."""
    if isinstance(value, Quantity):
        return value.value
    return value


def is_number(value: Value) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)
