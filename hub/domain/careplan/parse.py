"""Reading a centre's CarePlan JSON into a plan the hub can act on, or refusing it with a reason.

The layout is Heima's (docs/care-plan-format.md): standard FHIR R4 CarePlan with, on each
`activity.detail`, zones (`urn:heima:careplan:zone`), a baseline, a default level, the re-measure
wait, and on `scheduledTiming` a time zone and the task's window. Everything wrong with a plan is
refused here, at import, with a reason that names the activity and says what to change; the
hub's last good plan stays in force. Reasons name activities, zones and codes — never a limit,
a baseline or any other number about the patient.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.domain.careplan import codes
from hub.domain.careplan.model import (
    ActionText,
    Activity,
    CarePlan,
    FormActivity,
    Level,
    MeasurementActivity,
    Zone,
)
from hub.domain.careplan.timing import (
    DAILY_UNITS,
    DAY_CODES,
    DEFAULT_AFTER,
    DEFAULT_BEFORE,
    SUB_DAILY_UNITS,
    WHEN_TIMES,
    Period,
    Timing,
)
from hub.domain.careplan.units import convert, normalise
from hub.domain.readings import MeasurementKind

# fhirpathpy and antlr4 (~8 MB with the R4 model) are imported with the first rule compiled.
_ACTIVE_DETAIL = {"not-started", "scheduled", "in-progress", None}
_DROPPED_DETAIL = {"cancelled", "stopped", "completed", "entered-in-error"}
_DURATION = {"s": timedelta(seconds=1), "min": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "wk": timedelta(weeks=1)}
_EPS = 1e-9


class PlanError(ValueError):
    """A plan Heima will not use. `activity` names where, `reason` what to change."""

    def __init__(self, reason: str, activity: str | None = None) -> None:
        self.reason = reason
        self.activity = activity
        super().__init__(f"activity '{activity}': {reason}" if activity else reason)


# -- small readers ---------------------------------------------------------------------------


def _exts(element: Mapping[str, Any] | None, url: str) -> list[Mapping[str, Any]]:
    return [e for e in (element or {}).get("extension", []) if isinstance(e, Mapping) and e.get("url") == url]


def _ext(element: Mapping[str, Any] | None, url: str) -> Mapping[str, Any] | None:
    found = _exts(element, url)
    return found[0] if found else None


def _duration(value: Mapping[str, Any] | None, what: str, where: str) -> timedelta:
    if not isinstance(value, Mapping) or not isinstance(value.get("value"), int | float):
        raise PlanError(f"{what} needs a valueDuration with a number", where)
    unit = value.get("code") or value.get("unit")
    if unit not in _DURATION:
        raise PlanError(f"{what}: give the duration in s, min, h, d or wk", where)
    return value["value"] * _DURATION[unit]


def _zone_name(name: Any) -> str:
    if not isinstance(name, str):
        raise PlanError("a time zone must be an IANA name such as Europe/Oslo")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PlanError("unknown time zone: use an IANA name such as Europe/Oslo") from None
    return name


def _tz_of(element: Mapping[str, Any] | None) -> str | None:
    for url in codes.TZ_EXTENSIONS:
        found = _ext(element, url)
        if found is not None:
            return _zone_name(found.get("valueCode") or found.get("valueString"))
    return None


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _instant(text: Any, zone: str | None, *, end: bool, where: str | None) -> datetime:
    """A FHIR date or dateTime as UTC; a date alone is its whole local day (an end: exclusive)."""
    if not isinstance(text, str):
        raise PlanError("a date must be written as YYYY-MM-DD or a full dateTime", where)
    try:
        if _DATE.match(text):
            if zone is None:
                raise PlanError("a date without a time zone: add the plan's time zone (tz-code)", where)
            day = date.fromisoformat(text) + (timedelta(days=1) if end else timedelta())
            return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PlanError("a date must be written as YYYY-MM-DD or a full dateTime", where) from None
    if moment.tzinfo is None:
        if zone is None:
            raise PlanError("a dateTime without an offset needs the plan's time zone (tz-code)", where)
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


def _period(value: Any, zone: str | None, where: str | None) -> Period:
    if not isinstance(value, Mapping) or "start" not in value:
        raise PlanError("a pause needs a valuePeriod with a start", where)
    start = _instant(value["start"], zone, end=False, where=where)
    end = _instant(value["end"], zone, end=True, where=where) if value.get("end") else None
    if end is not None and end <= start:
        raise PlanError("a pause ends before it starts", where)
    return Period(start, end)


def _action(ext: Mapping[str, Any], where: str, zone_id: str) -> ActionText:
    texts: list[tuple[str, str]] = []
    for a in _exts(ext, "action"):
        if isinstance(a.get("valueString"), str):  # a bare text is bokmål
            lang, text = "nb", a["valueString"]
        else:
            lang_ext, text_ext = _ext(a, "language"), _ext(a, "text")
            lang = (lang_ext or {}).get("valueCode", "nb")
            text = (text_ext or {}).get("valueString") or (text_ext or {}).get("valueMarkdown")
        if isinstance(text, str) and text.strip():
            texts.append((str(lang), text.strip()))
    if not texts:
        raise PlanError(f"zone '{zone_id}' has no action text in any language: give the patient's words (nb, nn or en)", where)
    return ActionText(tuple(texts))


def _level(coding: Any, where: str, zone_id: str) -> Level:
    if not isinstance(coding, Mapping) or coding.get("system") not in (None, codes.ZONE_SYSTEM):
        raise PlanError(f"zone '{zone_id}': level must be a Coding from {codes.ZONE_SYSTEM}", where)
    try:
        return Level(coding.get("code"))
    except ValueError:
        raise PlanError(f"zone '{zone_id}': level must be green, yellow or red", where) from None


# -- Timing ----------------------------------------------------------------------------------


def parse_timing(element: Mapping[str, Any], plan_zone: str | None, where: str | None = None) -> Timing:
    """A FHIR Timing as a `Timing`, or a PlanError saying why Heima cannot schedule it."""
    zone = _tz_of(element) or plan_zone
    if zone is None:
        raise PlanError("the schedule has no time zone: add the tz-code extension (e.g. Europe/Oslo) to scheduledTiming or the CarePlan", where)
    repeat = element.get("repeat") or {}
    events = tuple(_instant(e, zone, end=False, where=where) for e in element.get("event", []))
    for unsupported in ("boundsDuration", "boundsRange"):
        if unsupported in repeat:
            raise PlanError(f"scheduledTiming.repeat.{unsupported} is not supported: use boundsPeriod", where)
    bounds = repeat.get("boundsPeriod") or {}
    start = _instant(bounds["start"], zone, end=False, where=where) if bounds.get("start") else None
    end = _instant(bounds["end"], zone, end=True, where=where) if bounds.get("end") else None
    window = _ext(element, codes.EXT_TASK_WINDOW)
    before = _duration(_ext(window, "before").get("valueDuration"), "task-window before", where) if _ext(window, "before") else DEFAULT_BEFORE
    after = _duration(_ext(window, "after").get("valueDuration"), "task-window after", where) if _ext(window, "after") else DEFAULT_AFTER

    frequency = repeat.get("frequency", 1)
    period = repeat.get("period", 1)
    unit = repeat.get("periodUnit", "d")
    if not isinstance(frequency, int) or frequency < 1:
        raise PlanError("scheduledTiming: frequency must be a whole number of at least 1", where)
    if not isinstance(period, int | float) or period <= 0:
        raise PlanError("scheduledTiming: period must be more than 0", where)
    if unit not in DAILY_UNITS and unit not in SUB_DAILY_UNITS:
        raise PlanError("scheduledTiming: periodUnit must be min, h, d, wk, mo or a", where)
    if unit in DAILY_UNITS and float(period) != int(period):
        raise PlanError("scheduledTiming: a period in days, weeks, months or years must be whole (use h for parts of a day)", where)

    times: list[time] = []
    for t in repeat.get("timeOfDay", []):
        try:
            times.append(time.fromisoformat(t))
        except (TypeError, ValueError):
            raise PlanError("scheduledTiming: timeOfDay must be HH:MM:SS", where) from None
    offset = repeat.get("offset", 0)
    for code in repeat.get("when", []):
        if code not in WHEN_TIMES:
            raise PlanError(f"scheduledTiming: when '{code}' is not one Heima knows (docs/care-plan-format.md lists them)", where)
        sign = -1 if code.startswith("AC") else 1
        for base in WHEN_TIMES[code]:
            moved = datetime.combine(date(2000, 1, 1), base) + sign * timedelta(minutes=offset)
            times.append(moved.time())
    times = sorted(set(times))
    days = set()
    for d in repeat.get("dayOfWeek", []):
        if d not in DAY_CODES:
            raise PlanError("scheduledTiming: dayOfWeek must be mon, tue, wed, thu, fri, sat or sun", where)
        days.add(DAY_CODES.index(d))

    if times and unit in SUB_DAILY_UNITS:
        raise PlanError("scheduledTiming: timeOfDay/when go with periods of days or longer, not hours or minutes", where)
    if days and not (unit == "wk" or (unit == "d" and period == 1)):
        raise PlanError("scheduledTiming: dayOfWeek goes with a period of 1 day or of weeks", where)
    if unit in ("wk", "mo", "a") and frequency > 1 and not days and not times:
        raise PlanError("scheduledTiming: several times a week/month/year needs dayOfWeek or timeOfDay to say when", where)
    if int(period) > 1 and unit in DAILY_UNITS and start is None and not events:
        raise PlanError("scheduledTiming: 'every N days/weeks' needs boundsPeriod.start to count from", where)
    count = repeat.get("count")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise PlanError("scheduledTiming: count must be a whole number", where)

    timing = Timing(
        zone=zone, start=start, end=end, count=count, frequency=frequency, period=period, unit=unit,
        times_of_day=tuple(times), days_of_week=frozenset(days), events=tuple(sorted(events)),
        before=before, after=after,
    )
    never = (count == 0) or (start is not None and end is not None and end <= start)
    if never or timing.first_occurrence() is None:
        raise PlanError("the schedule never fires (check boundsPeriod, count, dayOfWeek and event)", where)
    return timing


# -- zones -----------------------------------------------------------------------------------


def _limit(ext: Mapping[str, Any], name: str, target: MeasurementKind, unit: str, where: str, zone_id: str, relative: bool) -> float | None:
    found = _ext(ext, name)
    if found is None:
        return None
    q = found.get("valueQuantity")
    if not isinstance(q, Mapping) or not isinstance(q.get("value"), int | float):
        raise PlanError(f"zone '{zone_id}': {name} needs a valueQuantity with a number", where)
    given = q.get("code") or q.get("unit")
    if not given:
        raise PlanError(f"zone '{zone_id}': {name} has no unit: use the UCUM code {unit}", where)
    if relative:
        # An offset: only a pure scale (g -> kg, mg/dL -> mmol/L) moves it; Fahrenheit would not.
        converted = convert(target, q["value"], given, unit) if normalise(given) in (unit, "g", "[lb_av]", "mg/dL") else None
    else:
        converted = convert(target, q["value"], given, unit)
    if converted is None:
        raise PlanError(f"zone '{zone_id}': {name} is in {given}, which is not exactly convertible to {unit}: write it in {unit}", where)
    return float(converted)


@functools.cache
def _strict_listener() -> type:
    from antlr4.error.ErrorListener import ErrorListener

    class _Strict(ErrorListener):
        def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802 (ANTLR's name)
            raise ValueError("syntax")

    return _Strict


def _well_formed(expression: str) -> bool:
    """fhirpathpy's own parser recovers from syntax errors silently ("%value < < 2" runs and is
    true): a plan's rule is parsed strictly first, to the last token."""
    from antlr4 import CommonTokenStream, InputStream, Token
    from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
    from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

    _Strict = _strict_listener()
    lexer = FHIRPathLexer(InputStream(expression))
    parser = FHIRPathParser(CommonTokenStream(lexer))
    for part in (lexer, parser):
        part.removeErrorListeners()
        part.addErrorListener(_Strict())
    try:
        parser.expression()
        return parser.getTokenStream().LA(1) == Token.EOF
    except Exception:
        return False


def _compile_rule(expression: Any, where: str, zone_id: str) -> Any:
    if not isinstance(expression, str) or not expression.strip():
        raise PlanError(f"zone '{zone_id}': rule needs a FHIRPath expression", where)
    if not _well_formed(expression):
        raise PlanError(f"zone '{zone_id}': the rule is not valid FHIRPath", where)
    import fhirpathpy
    from fhirpathpy.models import models

    try:
        compiled = fhirpathpy.compile(expression, model=models["r4"])
    except Exception:  # the parser raises its own types; any failure is a bad expression
        raise PlanError(f"zone '{zone_id}': the rule is not valid FHIRPath", where) from None
    # A dry run finds unknown functions and variables, which the parser lets through.
    samples = (
        {"value": 1.0, "baseline": 1.0, "history": []},
        {"value": 1.0, "baseline": 1.0, "history": [{"value": 1.0, "hoursAgo": 1.0, "daysAgo": 0.04}] * 2},
    )
    for context in samples:
        try:
            result = compiled({}, context)
        except Exception:
            raise PlanError(
                f"zone '{zone_id}': the rule fails when run (unknown function or variable? it may use %value, %baseline, %history)", where
            ) from None
        if result not in ([], [True], [False]):
            raise PlanError(f"zone '{zone_id}': the rule must give true or false", where)
    return compiled


def _zone(ext: Mapping[str, Any], n: int, activity: MeasurementActivityDraft) -> Zone:
    where = activity.id
    zone_id = ext.get("id") or f"zone-{n}"
    level_ext = _ext(ext, "level")
    if level_ext is None:
        raise PlanError(f"zone '{zone_id}' has no level (green, yellow or red)", where)
    level = _level(level_ext.get("valueCoding"), where, zone_id)
    target = activity.main_target
    component = _ext(ext, "component")
    if component is not None:
        code = (component.get("valueCoding") or {}).get("code")
        if MeasurementKind.BLOOD_PRESSURE not in activity.kinds or code not in codes.COMPONENT_BY_LOINC:
            raise PlanError(f"zone '{zone_id}': component must be a blood-pressure component (8480-6, 8462-4, 8478-0) on a blood-pressure activity", where)
        target = codes.COMPONENT_BY_LOINC[code]
    elif MeasurementKind.BLOOD_PRESSURE in activity.kinds:
        raise PlanError(f"zone '{zone_id}': a blood-pressure zone must name its component (systolic 8480-6 or diastolic 8462-4)", where)
    unit = codes.CANONICAL_UNIT[target]
    relative_to = (_ext(ext, "relativeTo") or {}).get("valueCode")
    if relative_to not in (None, "baseline"):
        raise PlanError(f"zone '{zone_id}': relativeTo may only be 'baseline'", where)
    relative = relative_to == "baseline"
    low = _limit(ext, "low", target, unit, where, zone_id, relative)
    high = _limit(ext, "high", target, unit, where, zone_id, relative)
    rule_ext = _ext(ext, "rule")
    rule = compiled = None
    if rule_ext is not None:
        expr = rule_ext.get("valueExpression") or {}
        if expr.get("language", "text/fhirpath") != "text/fhirpath":
            raise PlanError(f"zone '{zone_id}': rule language must be text/fhirpath", where)
        rule = expr.get("expression")
        compiled = _compile_rule(rule, where, zone_id)
        if low is not None or high is not None:
            raise PlanError(f"zone '{zone_id}': give either limits (low/high) or a rule, not both", where)
    elif low is None and high is None:
        raise PlanError(f"zone '{zone_id}' has neither limits (low/high) nor a rule", where)
    if relative or (rule and "%baseline" in rule):
        if activity.baseline is None:
            raise PlanError(f"zone '{zone_id}' is relative to the baseline, but the activity has none: add {codes.EXT_BASELINE}", where)
        if relative:
            low = None if low is None else round(activity.baseline + low, 9)
            high = None if high is None else round(activity.baseline + high, 9)
    if low is not None and high is not None and low >= high:
        raise PlanError(f"zone '{zone_id}': low must be below high", where)
    confirmations = (_ext(ext, "confirmations") or {}).get("valueInteger", 2 if level is Level.RED else 1)
    if not isinstance(confirmations, int) or confirmations < 1:
        raise PlanError(f"zone '{zone_id}': confirmations must be a whole number of at least 1", where)
    alerts = (_ext(ext, "alert") or {}).get("valueBoolean", level is Level.RED)
    window = _ext(ext, "historyWindow")
    count = (_ext(ext, "historyCount") or {}).get("valueInteger", 50)
    if not isinstance(count, int) or count < 1:
        raise PlanError(f"zone '{zone_id}': historyCount must be a whole number of at least 1", where)
    return Zone(
        id=zone_id, level=level, target=target, action=_action(ext, where, zone_id), confirmations=confirmations,
        alerts=bool(alerts), low=low, high=high, relative=relative, rule=rule,
        history_window=_duration(window.get("valueDuration"), "historyWindow", where) if window else timedelta(days=7),
        history_count=count, compiled=compiled,
    )


def _check_coverage(zones: Sequence[Zone], target: MeasurementKind, has_default: bool, where: str) -> None:
    """Limit zones for one value must not overlap, and leave no gap unless a default level fills it."""
    limits = sorted((z for z in zones if z.rule is None and z.target == target), key=lambda z: -1e300 if z.low is None else z.low)
    if not limits:
        if not has_default:
            raise PlanError(f"{target.value}: no limits cover any value: add limit zones or a default level ({codes.EXT_DEFAULT_LEVEL})", where)
        return
    fill = "; or name a default level"
    if limits[0].low is not None and not has_default:
        raise PlanError(f"{target.value}: values below zone '{limits[0].id}' are in no zone: give it no low limit{fill}", where)
    if limits[-1].high is not None and not has_default:
        raise PlanError(f"{target.value}: values above zone '{limits[-1].id}' are in no zone: give it no high limit{fill}", where)
    for a, b in zip(limits, limits[1:], strict=False):
        a_high = float("inf") if a.high is None else a.high
        b_low = float("-inf") if b.low is None else b.low
        if a_high > b_low + _EPS:
            raise PlanError(f"{target.value}: zones '{a.id}' and '{b.id}' overlap: make one zone's high equal the next one's low", where)
        if a_high < b_low - _EPS and not has_default:
            raise PlanError(f"{target.value}: between zones '{a.id}' and '{b.id}' values are in no zone: make '{a.id}' high equal '{b.id}' low{fill}", where)


# -- activities and the plan -----------------------------------------------------------------


class MeasurementActivityDraft:
    """What a zone needs to know about its activity while the activity is being read."""

    def __init__(self, id: str, kinds: frozenset[MeasurementKind], baseline: float | None) -> None:
        self.id, self.kinds, self.baseline = id, kinds, baseline

    @property
    def main_target(self) -> MeasurementKind:
        # A pulse activity covers the oximeter's and the cuff's pulse; both are read as one value.
        return MeasurementKind.PULSE_RATE if MeasurementKind.PULSE_RATE in self.kinds else next(iter(self.kinds))


def _activity_id(activity: Mapping[str, Any], detail: Mapping[str, Any], n: int) -> str:
    return str(activity.get("id") or detail.get("id") or f"activity {n}")


def _title(detail: Mapping[str, Any], fallback: str) -> str:
    code = detail.get("code") or {}
    return detail.get("description") or code.get("text") or next((c.get("display") for c in code.get("coding", []) if c.get("display")), None) or fallback


def _pauses(element: Mapping[str, Any], zone: str | None, where: str | None) -> tuple[Period, ...]:
    return tuple(_period(p.get("valuePeriod"), zone, where) for p in _exts(element, codes.EXT_PAUSE))


def _measurement(activity_id: str, detail: Mapping[str, Any], loinc: str, plan_zone: str | None, paused: bool) -> MeasurementActivity:
    where = activity_id
    kinds = codes.KINDS_BY_LOINC[loinc]
    baseline_ext = _ext(detail, codes.EXT_BASELINE)
    draft = MeasurementActivityDraft(activity_id, kinds, None)
    baseline = None
    if baseline_ext is not None:
        if MeasurementKind.BLOOD_PRESSURE in kinds:
            raise PlanError("a baseline is for single-value measurements, not blood pressure", where)
        wrapper = {"extension": [{"url": "baseline", **{k: v for k, v in baseline_ext.items() if k != "url"}}]}
        baseline = _limit(wrapper, "baseline", draft.main_target, codes.CANONICAL_UNIT[draft.main_target], where, "baseline", False)
    draft.baseline = baseline
    zones = tuple(_zone(z, n, draft) for n, z in enumerate(_exts(detail, codes.EXT_ZONE), start=1))
    ids = [z.id for z in zones]
    if len(set(ids)) != len(ids):
        raise PlanError("two zones have the same id: each zone needs its own", where)
    default = _ext(detail, codes.EXT_DEFAULT_LEVEL)
    default_level = default_action = None
    if default is not None:
        level_ext = _ext(default, "level") or {}
        default_level = _level(level_ext.get("valueCoding") or {"code": default.get("valueCode")}, where, "default")
        default_action = _action(default, where, "default")
    targets = {z.target for z in zones}
    for target in sorted(targets, key=lambda k: k.value):
        _check_coverage(zones, target, default_level is not None, where)
    timing = parse_timing(detail["scheduledTiming"], plan_zone, where) if "scheduledTiming" in detail else None
    wait = _ext(detail, codes.EXT_REMEASURE_WAIT)
    within = _ext(detail, codes.EXT_CONFIRM_WITHIN)
    zone_name = timing.zone if timing else plan_zone
    return MeasurementActivity(
        id=activity_id, title=_title(detail, activity_id), code=loinc, kinds=kinds,
        unit=codes.CANONICAL_UNIT[draft.main_target], zones=zones, timing=timing, baseline=baseline,
        default_level=default_level, default_action=default_action,
        remeasure_wait=_duration(wait.get("valueDuration"), "remeasure-wait", where) if wait else timedelta(minutes=1),
        confirm_within=_duration(within.get("valueDuration"), "confirm-within", where) if within else timedelta(hours=1),
        pauses=_pauses(detail, zone_name, where), paused=paused,
    )


def _activity(activity: Mapping[str, Any], n: int, plan_zone: str | None) -> Activity | None:
    detail = activity.get("detail")
    if not isinstance(detail, Mapping):
        raise PlanError("every activity needs a detail (Heima does not follow activity.reference)", f"activity {n}")
    activity_id = _activity_id(activity, detail, n)
    status = detail.get("status")
    if status in _DROPPED_DETAIL:
        return None
    paused = status == "on-hold"
    if status not in _ACTIVE_DETAIL and not paused:
        raise PlanError("detail.status must be not-started, scheduled, in-progress, on-hold, or a finished one", activity_id)
    canonicals = detail.get("instantiatesCanonical") or []
    if canonicals:
        timing = parse_timing(detail["scheduledTiming"], plan_zone, activity_id) if "scheduledTiming" in detail else None
        zone_name = timing.zone if timing else plan_zone
        return FormActivity(
            id=activity_id, title=_title(detail, activity_id), questionnaire=str(canonicals[0]), timing=timing,
            pauses=_pauses(detail, zone_name, activity_id), paused=paused,
        )
    loincs = [c.get("code") for c in (detail.get("code") or {}).get("coding", []) if c.get("system") == codes.LOINC]
    known = [c for c in loincs if c in codes.KINDS_BY_LOINC]
    if not known:
        raise PlanError(
            "detail.code has no LOINC code Heima measures (known: " + ", ".join(codes.KINDS_BY_LOINC) + "), and no instantiatesCanonical form",
            activity_id,
        )
    return _measurement(activity_id, detail, known[0], plan_zone, paused)


_SHAPE = "its JSON is not shaped as FHIR R4 says (a list, object or value where another belongs): check it against the examples"


def _safe_id(activity: Any, n: int) -> str:
    if isinstance(activity, Mapping):
        detail = activity.get("detail")
        for candidate in (activity.get("id"), detail.get("id") if isinstance(detail, Mapping) else None):
            if isinstance(candidate, str) and candidate:
                return candidate
    return f"activity {n}"


def parse_plan(doc: Mapping[str, Any]) -> CarePlan:
    """The plan, or a PlanError naming the activity and what to change."""
    # A wrong shape anywhere (a list where an object belongs, null for a value) is one clear
    # refusal for the activity it is in, never a crash.
    try:
        return _parse_plan(doc)
    except PlanError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, ArithmeticError):
        raise PlanError(f"the CarePlan: {_SHAPE}") from None


def _parse_plan(doc: Mapping[str, Any]) -> CarePlan:
    if not isinstance(doc, Mapping) or doc.get("resourceType") != "CarePlan":
        raise PlanError("this is not a FHIR CarePlan (resourceType must be CarePlan)")
    if doc.get("status") != "active":
        raise PlanError("the CarePlan is not active (status must be active)")
    categories = [c for cat in doc.get("category") or [] for c in cat.get("coding") or []]
    if not any(c.get("system") == codes.VKP_CAREPLAN_CATEGORY and c.get("code") == codes.SELF_CARE_PLAN for c in categories):
        raise PlanError(f"the CarePlan is not a self-care plan: category must hold {codes.VKP_CAREPLAN_CATEGORY} code 2")
    plan_zone = _tz_of(doc)
    activities: list[Activity] = []
    for n, a in enumerate(doc.get("activity") or [], start=1):
        try:
            got = _activity(a, n, plan_zone)
        except PlanError:
            raise
        except (TypeError, AttributeError, KeyError, IndexError, ValueError, ArithmeticError):
            raise PlanError(_SHAPE, _safe_id(a, n)) from None
        if got is not None:
            activities.append(got)
    if not activities:
        raise PlanError("the plan has no activity Heima can follow")
    ids = [a.id for a in activities]
    if len(set(ids)) != len(ids):
        raise PlanError("two activities have the same id: give each its own activity.id")
    measured = [k for a in activities if isinstance(a, MeasurementActivity) for k in a.kinds]
    if len(set(measured)) != len(measured):
        raise PlanError("two activities measure the same thing: one activity per measurement")
    meta = doc.get("meta") or {}
    version = meta.get("versionId")
    return CarePlan(
        id=str(doc.get("id") or "careplan"),
        version=None if version is None else str(version),
        title=str(doc.get("title") or "egenbehandlingsplan"),
        activities=tuple(activities),
        pauses=_pauses(doc, plan_zone, None),
    )


__all__ = ["PlanError", "parse_plan", "parse_timing"]
