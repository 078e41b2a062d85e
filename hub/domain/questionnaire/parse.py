"""load_questionnaire: FHIR R4 Questionnaire JSON -> the typed model, or a typed refusal.

Everything a form's author can get wrong is found here, once, with the item named: a missing or
duplicate linkId, an unknown type, an enableWhen that points at nothing, at another answer type or
round in a circle, FHIRPath that does not parse, a modifierExtension Heima does not know.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from hub.domain.questionnaire import extensions as X
from hub.domain.questionnaire.errors import (
    BadEnableWhen, DuplicateLinkId, MalformedQuestionnaire, MissingLinkId, QuestionnaireError,
    UnknownItemType, UnknownModifierExtension, UnsupportedFeature, WrongAnswerType,
)
from hub.domain.questionnaire.expressions import Expression, compile_expression
from hub.domain.questionnaire.model import (
    ITEM_TYPES, QUESTION_TYPES, UNSUPPORTED_TYPES, AnswerOption, EnableWhen, Item, Media, Questionnaire,
)
from hub.domain.questionnaire.plan import build_plan
from hub.domain.questionnaire.values import Coding, Value, parse_value

_ANSWER_KEYS = ("valueInteger", "valueDate", "valueTime", "valueString", "valueCoding", "valueDecimal",
                "valueBoolean", "valueDateTime", "valueQuantity", "valueUri", "valueReference", "valueAttachment")
_OPERATORS = ("exists", "=", "!=", ">", "<", ">=", "<=")
_ORDERED = {"decimal", "integer", "date", "dateTime", "time", "quantity", "string", "text", "url"}
# The enableWhen answer[x] each question type can be compared with.
_EW_KEYS = {
    "boolean": {"answerBoolean"},
    "decimal": {"answerDecimal", "answerInteger"},
    "integer": {"answerInteger", "answerDecimal"},
    "date": {"answerDate"},
    "dateTime": {"answerDateTime"},
    "time": {"answerTime"},
    "string": {"answerString"},
    "text": {"answerString"},
    "url": {"answerString"},
    "choice": {"answerCoding", "answerString", "answerInteger", "answerDate", "answerTime"},
    "open-choice": {"answerCoding", "answerString", "answerInteger", "answerDate", "answerTime"},
    "quantity": {"answerQuantity"},
    "reference": {"answerReference"},
    "attachment": set(),
}


def load_questionnaire(raw: Any) -> Questionnaire:
    """The typed Questionnaire, or a QuestionnaireError naming the item and the reason."""
    if not isinstance(raw, dict) or raw.get("resourceType") != "Questionnaire":
        raise MalformedQuestionnaire(None, "this is not a FHIR Questionnaire (resourceType must be 'Questionnaire')")
    _refuse_modifiers(raw, None)
    contained = {c.get("id"): c for c in raw.get("contained", []) if isinstance(c, dict)}
    by_link_id: dict[str, Item] = {}
    parent_of: dict[str, str | None] = {}
    raw_items = raw.get("item", [])
    if not isinstance(raw_items, list):
        raise MalformedQuestionnaire(None, "item must be a list")
    items = tuple(_item(r, None, contained, by_link_id, parent_of) for r in raw_items)
    # Items are registered as they close (children first); keep document order for the walk.
    variables = tuple(compile_expression(e.get("valueExpression"), None, "variable") for e in _exts(raw, X.VARIABLE))
    launch = tuple(
        e2.get("valueCoding", {}).get("code") or e2.get("valueId") or ""
        for e in _exts(raw, X.LAUNCH_CONTEXT) for e2 in e.get("extension", []) if e2.get("url") == "name"
    )
    q = Questionnaire(
        url=_str(raw, "url"), version=_str(raw, "version"), title=_str(raw, "title"), status=_str(raw, "status"),
        name=_str(raw, "name"), code=tuple(_codings(raw.get("code", []))), items=items, variables=variables,
        launch_contexts=launch, by_link_id=by_link_id, parent_of=parent_of, raw=raw,
    )
    _check_enable_when(q)
    object.__setattr__(q, "plan", build_plan(q))  # the dependency order; cycles are refused here
    return q


def _item(r: Any, parent: str | None, contained: dict, seen: dict[str, Item], parent_of: dict) -> Item:
    if not isinstance(r, dict):
        raise MalformedQuestionnaire(parent, "an item is not a JSON object")
    link_id = r.get("linkId")
    if not isinstance(link_id, str) or not link_id.strip():
        raise MissingLinkId(None, f"an item {'under ' + repr(parent) if parent else 'at the top'} has no linkId")
    if link_id in seen or link_id in parent_of:
        raise DuplicateLinkId(link_id, "two items share this linkId; every linkId must be unique")
    parent_of[link_id] = parent
    try:
        return _item_fields(r, link_id, contained, seen, parent_of)
    except (TypeError, AttributeError, KeyError):  # null, a list or a number where FHIR has another type
        raise MalformedQuestionnaire(link_id, "a field of this item has the wrong JSON type (null, a list or a number where FHIR has another type)") from None


def _item_fields(r: dict, link_id: str, contained: dict, seen: dict[str, Item], parent_of: dict) -> Item:
    _refuse_modifiers(r, link_id)
    type_ = r.get("type")
    if type_ not in ITEM_TYPES:
        raise UnknownItemType(link_id, f"type {type_!r} is not a FHIR R4 item type Heima knows ({', '.join(sorted(ITEM_TYPES))})")
    if type_ in UNSUPPORTED_TYPES and r.get("required") is True:
        raise UnsupportedFeature(link_id, f"a required {type_} question: Heima cannot take {type_}s yet, so the form could never be sent")
    ext_map: dict[str, tuple[dict, ...]] = {}
    for e in _list(r, "extension", link_id):
        if isinstance(e, dict) and isinstance(e.get("url"), str):
            ext_map[e["url"]] = ext_map.get(e["url"], ()) + (e,)

    children_raw = r.get("item", [])
    if not isinstance(children_raw, list):
        raise MalformedQuestionnaire(link_id, "item must be a list")
    if type_ == "display" and children_raw:
        raise MalformedQuestionnaire(link_id, "a display item cannot have child items")
    children = tuple(_item(c, link_id, contained, seen, parent_of) for c in children_raw)
    help_texts = tuple(c.text for c in children if c.type == "display" and c.item_control == "help" and c.text)

    options = _options(r, link_id, type_, contained)
    calc = _first(ext_map, X.CALCULATED, "valueExpression") or _first(ext_map, X.SDF_CALCULATED, "valueExpression") \
        or _first(ext_map, X.SDF_CALCULATED, "valueString")
    ewe = _first(ext_map, X.ENABLE_WHEN_EXPRESSION, "valueExpression")
    ie = _first(ext_map, X.INITIAL_EXPRESSION, "valueExpression")
    if X.ANSWER_EXPRESSION in ext_map:
        raise UnsupportedFeature(link_id, "answerExpression (options computed at run time) is not supported; list the options in answerOption")
    scoring = next((c.code for c in _codings(r.get("code", [])) if c.system == X.SCORING_FORMULAS and c.code in ("QS", "SS", "TS")), None)
    unit = _first(ext_map, X.UNIT, "valueCoding")
    item = Item(
        link_id=link_id,
        type=type_,
        text=_str(r, "text"),
        prefix=_str(r, "prefix"),
        code=tuple(_codings(r.get("code", []))),
        required=r.get("required") is True,
        repeats=r.get("repeats") is True,
        read_only=r.get("readOnly") is True,
        hidden=_first(ext_map, X.HIDDEN, "valueBoolean") is True,
        max_length=_int(r.get("maxLength"), link_id, "maxLength"),
        min_length=_int(_first(ext_map, X.MIN_LENGTH, "valueInteger"), link_id, "minLength"),
        min_value=_limit(ext_map.get(X.MIN_VALUE), link_id),
        max_value=_limit(ext_map.get(X.MAX_VALUE), link_id),
        regex=_regex(_first(ext_map, X.REGEX, "valueString"), link_id),
        max_decimal_places=_int(_first(ext_map, X.MAX_DECIMAL_PLACES, "valueInteger"), link_id, "maxDecimalPlaces"),
        min_occurs=_int(_first(ext_map, X.MIN_OCCURS, "valueInteger"), link_id, "minOccurs"),
        max_occurs=_int(_first(ext_map, X.MAX_OCCURS, "valueInteger"), link_id, "maxOccurs"),
        initial=_initial(r, link_id, type_),
        options=options,
        unit=_coding(unit) if isinstance(unit, dict) else None,
        unit_options=tuple(_coding(e["valueCoding"]) for e in ext_map.get(X.UNIT_OPTION, ()) if isinstance(e.get("valueCoding"), dict)),
        enable_when=tuple(_enable_when(e, link_id) for e in _list(r, "enableWhen", link_id)),
        enable_behavior=r.get("enableBehavior", "all"),
        enable_when_expression=compile_expression(ewe, link_id, "enableWhenExpression") if ewe is not None else None,
        calculated_expression=compile_expression(calc, link_id, "calculatedExpression") if calc is not None else None,
        initial_expression=compile_expression(ie, link_id, "initialExpression") if ie is not None else None,
        variables=tuple(compile_expression(e.get("valueExpression"), link_id, "variable") for e in ext_map.get(X.VARIABLE, ())),
        scoring=scoring,
        item_control=_item_control(ext_map),
        help=help_texts,
        media=_media(ext_map),
        rendering_markdown=_first(r.get("_text", {}) and _ext_map(r.get("_text", {})), X.RENDERING_MARKDOWN, "valueMarkdown"),
        rendering_xhtml=_first(r.get("_text", {}) and _ext_map(r.get("_text", {})), X.RENDERING_XHTML, "valueString"),
        validation_text=_first(ext_map, X.VALIDATION_TEXT, "valueString"),
        entry_format=_first(ext_map, X.ENTRY_FORMAT, "valueString"),
        items=children,
        extensions=ext_map,
        raw={k: v for k, v in r.items() if k != "item"},
    )
    if item.enable_behavior not in ("all", "any"):
        raise MalformedQuestionnaire(link_id, "enableBehavior must be 'all' or 'any'")
    if item.enable_when and len(item.enable_when) > 1 and "enableBehavior" not in r:
        raise MalformedQuestionnaire(link_id, "several enableWhen need an enableBehavior (all or any)")
    if type_ in ("group", "display") and (item.initial or options):
        raise MalformedQuestionnaire(link_id, f"a {type_} item cannot have initial values or answer options")
    seen[link_id] = item
    return item


def _list(r: dict, key: str, link_id: str | None) -> list:
    """A FHIR list field: [] when absent, refused when it holds anything but a list."""
    v = r.get(key)
    if v is None and key not in r:
        return []
    if not isinstance(v, list):
        raise MalformedQuestionnaire(link_id, f"{key} must be a list")
    return v


def _refuse_modifiers(r: dict, link_id: str | None) -> None:
    mods = r.get("modifierExtension")
    if mods:
        urls = ", ".join(str(m.get("url")) for m in mods if isinstance(m, dict))
        raise UnknownModifierExtension(link_id, f"modifierExtension {urls} changes what the form means and Heima does not know it")


def _ext_map(r: dict) -> dict[str, tuple[dict, ...]]:
    out: dict[str, tuple[dict, ...]] = {}
    for e in r.get("extension", []) if isinstance(r, dict) else []:
        if isinstance(e, dict) and isinstance(e.get("url"), str):
            out[e["url"]] = out.get(e["url"], ()) + (e,)
    return out


def _exts(r: dict, url: str) -> list[dict]:
    return [e for e in r.get("extension", []) if isinstance(e, dict) and e.get("url") == url]


def _first(ext_map: Any, url: str, key: str) -> Any:
    if not ext_map:
        return None
    for e in ext_map.get(url, ()):
        if key in e:
            return e[key]
    return None


def _str(r: dict, key: str) -> str | None:
    v = r.get(key)
    return v if isinstance(v, str) else None


def _int(v: Any, link_id: str, what: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise MalformedQuestionnaire(link_id, f"{what} must be a whole number ≥ 0")
    return v


def _coding(c: dict) -> Coding:
    return Coding(code=str(c.get("code", "")), system=c.get("system"), display=c.get("display"))


def _codings(cs: Any) -> list[Coding]:
    return [_coding(c) for c in cs if isinstance(c, dict)] if isinstance(cs, list) else []


def _regex(v: Any, link_id: str) -> str | None:
    if v is None:
        return None
    try:
        re.compile(v)
    except (re.error, TypeError):
        raise MalformedQuestionnaire(link_id, "the regex extension is not a valid regular expression") from None
    return v


def _limit(exts: tuple[dict, ...] | None, link_id: str) -> Value | None:
    if not exts:
        return None
    for key, raw in exts[0].items():
        if key.startswith("value"):
            try:
                return parse_value(key, raw, link_id)
            except WrongAnswerType:
                raise MalformedQuestionnaire(link_id, f"minValue/maxValue {key} does not hold a value of its type") from None
    return None


def _score(exts: Any) -> Decimal | None:
    for e in exts or []:
        if isinstance(e, dict) and e.get("url") in X.SCORE_URLS:
            for key in ("valueDecimal", "valueInteger"):
                v = e.get(key)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    return Decimal(str(v))
    return None


def _options(r: dict, link_id: str, type_: str, contained: dict) -> tuple[AnswerOption, ...]:
    out: list[AnswerOption] = []
    for o in _list(r, "answerOption", link_id):
        if not isinstance(o, dict):
            raise MalformedQuestionnaire(link_id, "an answerOption is not a JSON object")
        key = next((k for k in _ANSWER_KEYS if k in o), None)
        if key is None:
            raise MalformedQuestionnaire(link_id, "an answerOption has no value")
        if key in ("valueReference", "valueAttachment"):
            raise UnsupportedFeature(link_id, f"answerOption {key} is not supported")
        try:
            value = parse_value(key, o[key], link_id)
        except WrongAnswerType:
            raise MalformedQuestionnaire(link_id, f"an answerOption {key} does not hold a value of its type") from None
        # ordinalValue on the option (LHC, Android) or on its Coding (Helsenorge).
        score = _score(o.get("extension"))
        if score is None and isinstance(o[key], dict):
            score = _score(o[key].get("extension"))
        out.append(AnswerOption(value, o.get("initialSelected") is True, score, _ext_map(o)))
    vs = r.get("answerValueSet")
    if vs is not None:
        out.extend(_expand(vs, link_id, contained))
    if out and type_ not in ("choice", "open-choice", "integer", "date", "time", "string", "text"):
        raise MalformedQuestionnaire(link_id, f"a {type_} item cannot have answer options")
    if type_ == "choice" and not out and r.get("answerValueSet") is None:
        raise MalformedQuestionnaire(link_id, "a choice item needs answerOption or answerValueSet")
    return tuple(out)


def _expand(ref: Any, link_id: str, contained: dict) -> list[AnswerOption]:
    """A contained ValueSet's codes (its expansion if it has one, else what compose lists)."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise UnsupportedFeature(link_id, "answerValueSet points outside the form; Heima works offline: contain the ValueSet or list answerOption")
    vs = contained.get(ref[1:])
    if not isinstance(vs, dict) or vs.get("resourceType") != "ValueSet":
        raise MalformedQuestionnaire(link_id, f"answerValueSet {ref} names no contained ValueSet")
    out: list[AnswerOption] = []
    contains = (vs.get("expansion") or {}).get("contains")
    if contains:
        stack = list(contains)
        while stack:
            c = stack.pop(0)
            if "code" in c:
                out.append(AnswerOption(Coding(c["code"], c.get("system"), c.get("display")), score=_score(c.get("extension"))))
            stack[0:0] = c.get("contains", [])
        return out
    for inc in (vs.get("compose") or {}).get("include", []):
        if inc.get("filter") or inc.get("valueSet") or not inc.get("concept"):
            raise UnsupportedFeature(link_id, f"contained ValueSet {ref} includes codes by filter or a whole system; list its concepts")
        for c in inc["concept"]:
            out.append(AnswerOption(Coding(c["code"], inc.get("system"), c.get("display")), score=_score(c.get("extension"))))
    return out


def _initial(r: dict, link_id: str, type_: str) -> tuple[Value, ...]:
    values: list[Value] = []
    for init in _list(r, "initial", link_id):
        if not isinstance(init, dict):
            raise MalformedQuestionnaire(link_id, "an initial is not a JSON object")
        key = next((k for k in init if k.startswith("value")), None)
        if key is None:
            raise MalformedQuestionnaire(link_id, "an initial has no value")
        try:
            values.append(parse_value(key, init[key], link_id))
        except WrongAnswerType:
            raise MalformedQuestionnaire(link_id, f"initial {key} does not hold a value of its type") from None
    if len(values) > 1 and r.get("repeats") is not True:
        raise MalformedQuestionnaire(link_id, "several initial values on an item that does not repeat")
    return tuple(values)


def _enable_when(e: Any, link_id: str) -> EnableWhen:
    if not isinstance(e, dict) or not isinstance(e.get("question"), str):
        raise BadEnableWhen(link_id, "an enableWhen names no question")
    op = e.get("operator")
    if op not in _OPERATORS:
        raise BadEnableWhen(link_id, f"enableWhen operator {op!r} is not one of {', '.join(_OPERATORS)}")
    keys = [k for k in e if k.startswith("answer")]
    if len(keys) != 1:
        raise BadEnableWhen(link_id, "an enableWhen needs exactly one answer[x]")
    key = keys[0]
    if op == "exists" and key != "answerBoolean":
        raise BadEnableWhen(link_id, "enableWhen 'exists' takes answerBoolean")
    if key in ("answerReference",):
        raise UnsupportedFeature(link_id, "enableWhen on a reference answer is not supported")
    try:
        value = parse_value("value" + key[len("answer"):], e[key], link_id)
    except WrongAnswerType:
        raise BadEnableWhen(link_id, f"enableWhen {key} does not hold a value of its type") from None
    return EnableWhen(e["question"], op, value)


def _check_enable_when(q: Questionnaire) -> None:
    for item in q.walk():
        for ew in item.enable_when:
            target = q.by_link_id.get(ew.question)
            if target is None:
                raise BadEnableWhen(item.link_id, f"enableWhen points at {ew.question!r}, which is no item of this form")
            if target.type not in QUESTION_TYPES:
                raise BadEnableWhen(item.link_id, f"enableWhen points at {ew.question!r}, a {target.type} item that takes no answers")
            if ew.question == item.link_id:
                raise BadEnableWhen(item.link_id, "enableWhen points at the item itself")
            if ew.operator == "exists":
                continue
            key = "answer" + _answer_key_of(ew.answer)
            if key not in _EW_KEYS[target.type]:
                raise BadEnableWhen(item.link_id, f"enableWhen compares {ew.question!r} ({target.type}) with {key}, another type")
            if ew.operator not in ("=", "!=") and (target.type not in _ORDERED and key not in ("answerInteger", "answerDate", "answerTime", "answerString")):
                raise BadEnableWhen(item.link_id, f"enableWhen {ew.operator} cannot order {target.type} answers")


def _answer_key_of(v: Value) -> str:
    from hub.domain.questionnaire.values import value_key

    return value_key(v)[len("value"):]


def _item_control(ext_map: dict) -> str | None:
    cc = _first(ext_map, X.ITEM_CONTROL, "valueCodeableConcept")
    if isinstance(cc, dict):
        for c in cc.get("coding", []):
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                return c["code"]
    return None


def _media(ext_map: dict) -> Media | None:
    a = _first(ext_map, X.ITEM_MEDIA, "valueAttachment")
    if not isinstance(a, dict):
        return None
    return Media(a.get("contentType"), a.get("url"), a.get("data"), a.get("title"))


__all__ = ["load_questionnaire", "QuestionnaireError"]
