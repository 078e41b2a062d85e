"""Measurement (and other outgoing resources) <-> database row. Kept apart so the mapping is written once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import lru_cache
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hub.domain.careplan.due import MissedTask
from hub.domain.evaluation import Evaluation, ZoneAlert
from hub.domain.measurements import Measurement, MonotonicAnchor
from hub.domain.ids import TextUUID
from hub.domain.outgoing import Outgoing, OutgoingKind, of_measurement
from hub.domain.oximetry import SampledSeries, encode_values
from hub.domain.readings import AbsentReason, Component, DeviceIdentity, MeasurementKind, Provenance, QualityFlag, Reading
from hub.domain.usual import UsualOutgoing, UsualValue

if TYPE_CHECKING:  # the questionnaire engine: imported when a submission's row is read (part M10)
    from hub.domain.questionnaire import Coding, ScoreResult, Submission

MEASUREMENT_COLUMNS = (
    "id, kind, value, unit, absent_reason, flags, provenance, device_address, device_name, "
    "device_manufacturer, device_model, device_serial, device_firmware, device_system_id, "
    "device_time, record_id, received_at, effective_time, natural_key, components, body_site, "
    "context, device_user, device_clock_offset_s, received_boot_id, received_boottime, time_pending, duration_s"
)
# A measurement row with its samples, when it has any (LEFT JOIN samples s).
SAMPLE_COLUMNS = "s.start, s.period_s, s.data"
# ... and its evaluation, when it has one (LEFT JOIN evaluations e).
EVALUATION_COLUMNS = "e.level, e.display, e.ranges, e.advice, e.decided"


def measurement_to_row(m: Measurement) -> dict[str, Any]:
    r = m.reading
    d = r.device
    return {
        "id": str(m.id),
        "kind": r.kind.value,
        "value": r.value,
        "unit": r.unit,
        "absent_reason": r.absent_reason.value if r.absent_reason else None,
        "flags": json.dumps(sorted(f.value for f in r.flags)),
        "provenance": m.provenance.value,
        "device_address": d.address if d else None,
        "device_name": d.name if d else None,
        "device_manufacturer": d.manufacturer if d else None,
        "device_model": d.model if d else None,
        "device_serial": d.serial if d else None,
        "device_firmware": d.firmware if d else None,
        "device_system_id": d.system_id if d else None,
        "device_time": r.device_time.isoformat() if r.device_time else None,
        "record_id": r.record_id,
        "received_at": r.received_at.isoformat(),
        "effective_time": m.effective_time.isoformat(),
        "natural_key": m.natural_key,
        "components": json.dumps(
            [[c.kind.value, c.value, c.unit, c.absent_reason.value if c.absent_reason else None] for c in r.components]
        ),
        "body_site": r.body_site,
        "context": json.dumps([list(pair) for pair in r.context]),
        "device_user": r.device_user,
        "device_clock_offset_s": r.device_clock_offset.total_seconds() if r.device_clock_offset is not None else None,
        "received_boot_id": m.received_anchor.boot_id if m.received_anchor else None,
        "received_boottime": m.received_anchor.seconds if m.received_anchor else None,
        "time_pending": int(QualityFlag.HUB_CLOCK_UNTRUSTED in r.flags),
        "duration_s": r.duration.total_seconds() if r.duration is not None else None,
    }


def samples_to_row(m: Measurement) -> dict[str, Any] | None:
    """The samples table's row for a measurement that carries a series, else None."""
    series = m.reading.samples
    if series is None:
        return None
    return {
        "measurement_id": str(m.id),
        "start": series.start.isoformat(),
        "period_s": series.period,
        "count": len(series.values),
        "data": encode_values(series.values),
    }


def evaluation_to_row(m: Measurement) -> dict[str, Any] | None:
    """The evaluations table's row for a measurement the plan evaluated, else None: the whole
    evaluation as decided (`decided`, JSON), and the schema-4 columns a reader of old rows knows."""
    e = m.evaluation
    if e is None:
        return None
    code = next((c for c in e.interpretation if c.code == e.observation_interpretation), None)
    return {
        "measurement_id": str(m.id),
        "level": e.observation_interpretation or "",
        "display": code.display if code else None,
        "ranges": json.dumps([[r.type.code, r.low, r.high, r.text] for r in e.reference_ranges], ensure_ascii=False),
        "advice": e.advice,
        "decided": json.dumps(e.to_dict(), ensure_ascii=False, sort_keys=True),
    }


EVALUATION_ROW = ("measurement_id", "level", "display", "ranges", "advice", "decided")


def _evaluation_from_row(decided: str | None, level: str | None, display: Any, ranges: str | None, advice: Any) -> Evaluation | None:
    if decided is not None:
        return Evaluation.from_dict(json.loads(decided))
    if level is None:
        return None
    # A row written before the care plan (schema 4): its level, display, ranges and advice.
    return Evaluation.legacy(level, display, tuple((lv, low, high, text) for lv, low, high, text in json.loads(ranges)), advice)


_NAMES = [c.strip() for c in MEASUREMENT_COLUMNS.split(",")]
_SAMPLE_NAMES = ["samples_start", "samples_period_s", "samples_data"]
_EVALUATION_NAMES = ["evaluation_level", "evaluation_display", "evaluation_ranges", "evaluation_advice", "evaluation_decided"]


# Reading a backlog back is on the delivery path for every row: the enum values and the few
# devices are looked up in dicts, and the empty JSON lists most rows hold are not parsed.
_KINDS = {k.value: k for k in MeasurementKind}
_PROVENANCES = {p.value: p for p in Provenance}
_FLAGS = {f.value: f for f in QualityFlag}
_NO_FLAGS: frozenset[QualityFlag] = frozenset()


def _flags(text: str) -> frozenset[QualityFlag]:
    if text == "[]":
        return _NO_FLAGS
    return frozenset(_FLAGS[f] if f in _FLAGS else QualityFlag(f) for f in json.loads(text))


@lru_cache(maxsize=256)
def _device(
    address: str, name: str | None, manufacturer: str | None, model: str | None,
    serial: str | None, firmware: str | None, system_id: str | None,
) -> DeviceIdentity:
    """One object per device however many rows name it (the mapping's caches then find it by identity)."""
    return DeviceIdentity(
        address=address, name=name, manufacturer=manufacturer, model=model, serial=serial, firmware=firmware, system_id=system_id
    )


_ALL_NAMES = _NAMES + _SAMPLE_NAMES + _EVALUATION_NAMES
_WIDTH = len(_ALL_NAMES)
_NO_TAIL = (None,) * (_WIDTH - len(_NAMES))


def measurement_from_row(row: tuple | dict) -> Measurement:
    """A row of MEASUREMENT_COLUMNS, optionally followed by SAMPLE_COLUMNS (NULLs: no series) and
    then EVALUATION_COLUMNS (NULLs: not evaluated); or a dict of those names.

    On the delivery path for every queued row: read by position, the empty JSON lists most rows
    hold not parsed, enum values and devices looked up."""
    if isinstance(row, dict):
        row = tuple(row.get(name) for name in _ALL_NAMES)
    elif len(row) < _WIDTH:
        row = (*row, *_NO_TAIL[: _WIDTH - len(row)])
    (
        id_, kind, value, unit, absent, flags, provenance, address, name, manufacturer, model, serial, firmware,
        system_id, device_time, record_id, received_at, effective_time, natural_key_, components, body_site,
        context, device_user, clock_offset, boot_id, boottime, _time_pending, duration,
        samples_start, samples_period, samples_data, level, display, ranges, advice, decided,
    ) = row
    reading = Reading(
        kind=_KINDS[kind] if kind in _KINDS else MeasurementKind(kind),
        value=value,
        unit=unit,
        received_at=datetime.fromisoformat(received_at),
        absent_reason=AbsentReason(absent) if absent else None,
        device=None if address is None else _device(address, name, manufacturer, model, serial, firmware, system_id),
        device_time=datetime.fromisoformat(device_time) if device_time else None,
        flags=_NO_FLAGS if flags == "[]" else _flags(flags),
        record_id=record_id,
        components=() if components == "[]" else tuple(
            Component(MeasurementKind(k), v, u, AbsentReason(a) if a else None) for k, v, u, a in json.loads(components)
        ),
        body_site=body_site,
        context=() if context == "[]" else tuple((str(n), str(v)) for n, v in json.loads(context)),
        device_user=device_user,
        device_clock_offset=timedelta(seconds=clock_offset) if clock_offset is not None else None,
        samples=(
            None if samples_data is None
            else SampledSeries.stored(datetime.fromisoformat(samples_start), samples_period, samples_data)
        ),
        duration=timedelta(seconds=duration) if duration is not None else None,
    )
    return Measurement(
        id=TextUUID.of(id_),  # its text kept: the delivery path asks for it again and again
        reading=reading,
        provenance=_PROVENANCES[provenance] if provenance in _PROVENANCES else Provenance(provenance),
        effective_time=datetime.fromisoformat(effective_time),
        natural_key=natural_key_,
        received_anchor=MonotonicAnchor(boot_id, boottime) if boot_id is not None else None,
        evaluation=None if decided is None and level is None else _evaluation_from_row(decided, level, display, ranges, advice),
    )


def _measurement_of_row(row: tuple) -> Measurement:
    return measurement_from_row(row)


# -- the usual row, read short (issue 13) -----------------------------------------------------------
# Whether a measurement row (m, with its samples s and evaluation e) is of the usual shape — a
# device's number, nothing flagged, no words, series, duration nor plan's zone: what
# `outgoing_of_row` checks of a full row, decided by SQLite so that only such a row's short
# tuple (USUAL_COLUMNS) is made Python objects. Kept word for word beside `outgoing_of_row`'s
# test; tests/unit/test_usual_delivery.py holds both to the Measurement recorded.
USUAL_SHAPE = (
    "(m.absent_reason IS NULL AND typeof(m.value) = 'real' AND m.flags = '[]' AND m.provenance = 'device' "
    "AND m.device_address IS NOT NULL AND m.components = '[]' AND m.context = '[]' AND m.body_site IS NULL "
    "AND m.duration_s IS NULL AND s.measurement_id IS NULL AND e.measurement_id IS NULL "
    # finite reals only (JSON has no infinity: such a row is read in full)
    "AND abs(m.value) < 9e999 AND abs(coalesce(m.device_clock_offset_s, 0)) < 9e999 "
    "AND abs(coalesce(m.received_boottime, 0)) < 9e999)"
)
# The usual row: its id and what a destination needs (kind, number, unit, time, device — the
# device's seven fields as one JSON text, looked up, not made seven objects per row), then what
# its Measurement needs besides (built only if something asks): nothing is read a second time.
USUAL_COLUMNS = (
    "m.id, m.kind, m.value, m.unit, m.effective_time, json_array(m.device_address, m.device_name, "
    "m.device_manufacturer, m.device_model, m.device_serial, m.device_firmware, m.device_system_id), "
    "m.received_at, m.device_time, m.record_id, m.natural_key, m.device_user, m.device_clock_offset_s, "
    "m.received_boot_id, m.received_boottime"
)
USUAL_WIDTH = 14
# The same as one JSON array (due() reads a whole batch as one text): the device's fields as a
# string holding their JSON array (`|| ''` drops the JSON subtype that would nest it).
USUAL_JSON = (
    "json_array(m.id, m.kind, m.value, m.unit, m.effective_time, json_array(m.device_address, m.device_name, "
    "m.device_manufacturer, m.device_model, m.device_serial, m.device_firmware, m.device_system_id) || '', "
    "m.received_at, m.device_time, m.record_id, m.natural_key, m.device_user, m.device_clock_offset_s, "
    "m.received_boot_id, m.received_boottime)"
)
# Doubles that need all 17 digits, the smallest and largest, a subnormal: SQLite before 3.43 (or so)
# wrote JSON reals with 15 digits, which would not read back as the number stored.
_HARD_REALS = (0.1 + 0.2, 98.60000000000001, 1 / 3, 2.2250738585072014e-308, 5e-324, 1.7976931348623157e308, -123456789.12345679)


def json_reals_exact(conn: Any) -> bool:
    """Whether this connection's SQLite writes a real into JSON as text that reads back as the
    same double (then due() may read a batch as JSON)."""
    try:
        text = conn.execute(f"SELECT json_array({', '.join('?' * len(_HARD_REALS))})", _HARD_REALS).fetchone()[0]
        return tuple(json.loads(text)) == _HARD_REALS
    except Exception:  # no JSON functions at all: row by row
        return False
_DEVICES_BY_TEXT: dict[str, DeviceIdentity] = {}
_usual_value = tuple.__new__  # UsualValue(...) without its generated __new__'s Python frame


def _device_of_text(text: str) -> DeviceIdentity:
    """The device of USUAL_COLUMNS' JSON text: one object per device, as `_device` gives."""
    device = _DEVICES_BY_TEXT.get(text)
    if device is None:
        if len(_DEVICES_BY_TEXT) > 256:
            _DEVICES_BY_TEXT.clear()
        device = _DEVICES_BY_TEXT[text] = _device(*json.loads(text))
    return device


def usual_outgoing_of_row(row: tuple) -> Outgoing | None:
    """The UsualOutgoing of a row that starts with USUAL_COLUMNS and whose USUAL_SHAPE held;
    None for a kind this Heima does not know (then it is read in full)."""
    kind = _KINDS.get(row[1])
    if kind is None:
        return None
    uid = TextUUID.of(row[0])
    # its canonical text as TextUUID.of kept it (the slot itself: str() is a Python-level call)
    usual = _usual_value(UsualValue, (uid._text, kind, row[2], row[3], row[4], _device_of_text(row[5])))
    return UsualOutgoing.of(uid, usual, row, _measurement_of_usual_row)


def _measurement_of_usual_row(row: tuple) -> Measurement:
    """The Measurement of a usual row read short: the full row it stands for (what the usual
    shape leaves out is empty or absent, the device's fields are its device's), built as every
    row is."""
    (
        id_, kind, value, unit, effective_time, device_text, received_at, device_time, record_id, natural_key_,
        device_user, clock_offset, boot_id, boottime,
    ) = row[:USUAL_WIDTH]
    d = _device_of_text(device_text)
    return measurement_from_row((
        id_, kind, value, unit, None, "[]", "device", d.address, d.name, d.manufacturer, d.model, d.serial,
        d.firmware, d.system_id, device_time, record_id, received_at, effective_time, natural_key_, "[]", None,
        "[]", device_user, clock_offset, boot_id, boottime, 0, None,
    ))


def outgoing_of_row(row: tuple) -> Outgoing:
    """The outgoing measurement of a full row (MEASUREMENT_COLUMNS, SAMPLE_COLUMNS,
    EVALUATION_COLUMNS), as the delivery path reads it: the usual shape (one number from a
    device, nothing flagged, no words, series nor zone) as a UsualOutgoing whose Measurement is
    built only if asked for; any other as the Measurement, built now."""
    (
        id_, kind, value, unit, absent, flags, provenance, address, name, manufacturer, model, serial, firmware,
        system_id, _device_time, _record_id, _received_at, effective_time, _natural_key, components, body_site,
        context, _device_user, _clock_offset, _boot_id, _boottime, _time_pending, duration,
        _samples_start, _samples_period, samples_data, level, _display, _ranges, _advice, decided,
    ) = row
    if (
        type(value) is float
        and absent is None
        and flags == "[]"
        and provenance == "device"
        and address is not None
        and components == "[]"
        and context == "[]"
        and body_site is None
        and duration is None
        and samples_data is None
        and level is None
        and decided is None
        and kind in _KINDS
    ):
        uid = TextUUID.of(id_)
        device = _device(address, name, manufacturer, model, serial, firmware, system_id)
        usual = UsualValue(str(uid), _KINDS[kind], value, unit, effective_time, device)
        return UsualOutgoing.of(uid, usual, row, _measurement_of_row)
    return of_measurement(measurement_from_row(row))


# -- outgoing resources other than measurements: their payload as JSON, per kind -------------------

_DEVICE_FIELDS = ("address", "name", "manufacturer", "model", "serial", "firmware", "system_id")


def _device_to_json(device: DeviceIdentity) -> str:
    return json.dumps({f: getattr(device, f) for f in _DEVICE_FIELDS}, sort_keys=True)


def _device_from_json(text: str) -> DeviceIdentity:
    data = json.loads(text)
    return DeviceIdentity(**{f: data.get(f) for f in _DEVICE_FIELDS})


def _codings(codes: tuple[Coding, ...]) -> list[list[str | None]]:
    return [[c.code, c.system, c.display] for c in codes]


def _score_fields(s: ScoreResult) -> dict[str, Any]:
    return {
        "id": str(s.id), "response_id": str(s.response_id), "questionnaire": s.questionnaire,
        "authored": s.authored.isoformat(), "value": str(s.value), "link_id": s.link_id,
        "code": _codings(s.code), "text": s.text,
    }


def _score_from(d: dict[str, Any]) -> ScoreResult:
    from hub.domain.questionnaire import Coding, ScoreResult

    return ScoreResult(
        id=uuid.UUID(d["id"]), response_id=uuid.UUID(d["response_id"]), questionnaire=d["questionnaire"],
        authored=datetime.fromisoformat(d["authored"]), value=Decimal(d["value"]), link_id=d["link_id"],
        code=tuple(Coding(c, s, disp) for c, s, disp in d["code"]), text=d["text"],
    )


def _score_to_json(s: ScoreResult) -> str:
    return json.dumps(_score_fields(s), sort_keys=True, ensure_ascii=False)


def _score_from_json(text: str) -> ScoreResult:
    return _score_from(json.loads(text))


def _submission_to_json(s: Submission) -> str:
    """The response's items stay the FHIR JSON the engine emitted (exact decimals as written)."""
    return json.dumps(
        {
            "id": str(s.id), "questionnaire": s.questionnaire, "authored": s.authored.isoformat(),
            "items": list(s.items), "scores": [_score_fields(x) for x in s.scores],
            "answered_by": s.answered_by, "title": s.title,
        },
        sort_keys=True, ensure_ascii=False, default=_exact,
    )


def _submission_from_json(text: str) -> Submission:
    from hub.domain.questionnaire import Submission

    d = json.loads(text)
    return Submission(
        id=uuid.UUID(d["id"]), questionnaire=d["questionnaire"], authored=datetime.fromisoformat(d["authored"]),
        items=tuple(d["items"]), scores=tuple(_score_from(x) for x in d["scores"]),
        answered_by=d["answered_by"], title=d["title"],
    )


def _exact(value: Any) -> Any:
    """A Decimal answer is written as the number it is (never through a float); json has no
    Decimal, so it goes as a float only when that is exact, else as its text."""
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# A new kind adds its codec here (and its mapper in sync.fhir.resources); nothing else in the store changes.
PAYLOAD_CODECS: dict[OutgoingKind, tuple[Callable[[Any], str], Callable[[str], Any]]] = {
    OutgoingKind.DEVICE: (_device_to_json, _device_from_json),
    OutgoingKind.QUESTIONNAIRE_RESPONSE: (_submission_to_json, _submission_from_json),
    OutgoingKind.SCORE: (_score_to_json, _score_from_json),
    OutgoingKind.ZONE_ALERT: (lambda a: json.dumps(a.to_dict(), sort_keys=True), lambda text: ZoneAlert.from_dict(json.loads(text))),
    OutgoingKind.MISSED_TASK: (lambda t: json.dumps(t.to_dict(), sort_keys=True), lambda text: MissedTask.from_dict(json.loads(text))),
}


def payload_to_json(item: Outgoing) -> str:
    encode, _ = PAYLOAD_CODECS[item.kind]
    return encode(item.payload)


def outgoing_from_payload(id: str, kind: str, payload: str) -> Outgoing:
    kind_ = OutgoingKind(kind)
    _, decode = PAYLOAD_CODECS[kind_]
    return Outgoing(kind_, TextUUID.of(id), decode(payload))
