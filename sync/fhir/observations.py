"""Measurement -> FHIR R4 Observation (plain JSON), after the PHD IG and the VKP profiles.

Rules that matter for patient safety:
- a reading without a value, or one the device marked invalid/unavailable, or a non-finite
  number, becomes `dataAbsentReason` — never a number; the same holds for every component;
- a panel (blood pressure) never has a value of its own: one Observation, coded as the panel,
  with one `component` per value, each with its own `valueQuantity` or `dataAbsentReason`;
  systolic and diastolic are always there (absent when the cuff did not give them);
- every number travels in its kind's UCUM unit: a kPa cuff's values are converted to mm[Hg], a
  height in m to cm, ...; a unit the code table cannot convert is refused (`UnsupportedUnit`),
  never sent under the wrong unit;
- doubt travels with the value: early estimates are `preliminary`, and questionable values,
  questionable times, ongoing measurements etc. carry a measurement-status `interpretation`;
  device status flags (cuff loose, body movement, strip error, ...) keep the number and add the
  `questionable` interpretation and a note in bokmål for the nurse — never a changed number;
- a result the device could not measure (glucose "HI"/"LO") keeps the device's number only if it
  sent one, as a limit: `valueQuantity.comparator` `>`/`<`, interpretation "Off scale high/low"
  (v3 ObservationInterpretation) and a note; a device that sent no number gives the usual
  `dataAbsentReason`;
- test and demo data are labelled HTEST in `meta.security`;
- a manually entered value has a `note` saying so and no `device`;
- a control-solution result checks the meter, it is not the patient's: `observation_for` refuses
  it (`NotForDestination`); the hub keeps it locally, marked, and never queues it;
- a chunk of a continuous recording is one Observation with `valueSampledData` (origin 0 in the
  kind's unit, the period in ms, one value per slot, "E" where no valid value came) over an
  `effectivePeriod`; never thousands of Observations, never an empty slot filled in. It is coded
  by MDC and text only, with no vital-signs category, so no R4 vital-signs profile claims it;
- data about a synthetic test person (the demo's patient) is test data: HTEST as well.
"""

from __future__ import annotations

import math
import re
import sys
from array import array
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from hub.domain.measurements import Measurement
from hub.domain.oximetry import SampledSeries, stored_codes, value_of_code
from hub.domain.readings import AbsentReason, Component, DeviceIdentity, MeasurementKind, Provenance, QualityFlag, Reading
from hub.domain.usual import UsualValue
from sync.fhir.codes import (
    CONVERSIONS,
    MappingError,
    ABSENT_ERROR,
    ABSENT_UNKNOWN,
    CALIBRATION_ONGOING,
    CONTROL_SOLUTION_WORDS,
    DATA_ABSENT,
    EARLY_INDICATION,
    GATEWAY_DEVICE_EXTENSION,
    GLUCOSE_SITE_SYNONYMS,
    GLUCOSE_SITES,
    GLUCOSE_SPECIMENS,
    HTEST,
    MDC,
    MEAL_CONTEXT,
    MEAL_CONTEXT_TEXT,
    MEAL_SYNONYMS,
    MEALS,
    MEASUREMENT_ONGOING,
    NO_SITE_WORDS,
    OFF_SCALE_HIGH,
    OFF_SCALE_LOW,
    PANEL_COMPONENTS,
    PANEL_REQUIRED,
    PHD_CATEGORY,
    QUESTIONABLE,
    SPECIMEN_SYNONYMS,
    TEMPERATURE_SITE_SYNONYMS,
    TEMPERATURE_SITES,
    UCUM,
    URI_IDENTIFIER,
    VALIDATED,
    Coding,
    Term,
    category,
    codes_for,
    lookup,
    normalise,
    to_canonical,
)
from sync.fhir.context import FhirContext
from sync.fhir.devices import device_reference as logical_device_reference
from sync.fhir.devices import hub_reference
from sync.fhir.zones import apply_evaluation

MANUAL_NOTE = "Manuelt registrert (ikke overført fra måleapparat)."
TIME_QUESTIONABLE_NOTE = "Usikkert tidspunkt: målingen kunne ikke plasseres sikkert i tid (apparatets klokke)."
SENSOR_PROBLEM_NOTE = "Måleapparatet meldte feil ved sensoren under målingen."

# What the device said about the measurement, as the nurse reads it (bokmål), in this order.
# Every one of these keeps the number (unless the device sent none) — the patient may be asked to
# measure again, but the value itself is never altered or hidden.
STATUS_NOTES: tuple[tuple[QualityFlag, str], ...] = (
    (QualityFlag.TIME_QUESTIONABLE, TIME_QUESTIONABLE_NOTE),
    (QualityFlag.HUB_CLOCK_UNTRUSTED, "Usikkert tidspunkt: Heima-enhetens klokke var ikke bekreftet da målingen kom inn."),
    (QualityFlag.DEVICE_TIME_FAULT, "Måleapparatets klokke meldte feil: tidspunktet kan være usikkert."),
    (QualityFlag.SENSOR_PROBLEM, SENSOR_PROBLEM_NOTE),
    (QualityFlag.BODY_MOVEMENT, "Bevegelse under målingen."),
    (QualityFlag.CUFF_LOOSE, "Mansjetten satt løst."),
    (QualityFlag.IRREGULAR_PULSE, "Uregelmessig puls under målingen."),
    (QualityFlag.PULSE_RATE_OUT_OF_RANGE, "Pulsen var utenfor apparatets grenser."),
    (QualityFlag.IMPROPER_POSITION, "Feil målestilling (mansjetten var ikke riktig plassert)."),
    (QualityFlag.SAMPLE_TOO_SMALL, "For lite blod i prøven."),
    (QualityFlag.STRIP_ERROR, "Feil med teststrimmelen (feil satt inn eller feil type)."),
    (QualityFlag.RESULT_TOO_HIGH, "Høyere enn apparatet kan måle (HI): den virkelige verdien kan være høyere."),
    (QualityFlag.RESULT_TOO_LOW, "Lavere enn apparatet kan måle (LO): den virkelige verdien kan være lavere."),
    (QualityFlag.TEMPERATURE_OUT_OF_RANGE, "Temperaturen rundt apparatet var utenfor det som gir en gyldig måling."),
    (QualityFlag.READ_INTERRUPTED, "Målingen ble avbrutt (teststrimmelen ble tatt ut for tidlig)."),
    (QualityFlag.DEVICE_FAULT, "Måleapparatet meldte feil under målingen."),
    (QualityFlag.BATTERY_LOW, "Lavt batteri i måleapparatet."),
)

_PRELIMINARY = {QualityFlag.EARLY_ESTIMATE, QualityFlag.MEASUREMENT_ONGOING}
_TEST_DATA = {QualityFlag.DEMO_DATA, QualityFlag.TESTING_DATA}
# Flags that make the value (or its time) questionable. Battery low is only noted; a result
# off the device's scale has its own interpretation and comparator.
_QUESTIONABLE = frozenset(
    {
        QualityFlag.QUESTIONABLE,
        QualityFlag.TIME_QUESTIONABLE,
        QualityFlag.HUB_CLOCK_UNTRUSTED,
        QualityFlag.DEVICE_TIME_FAULT,
        QualityFlag.SENSOR_PROBLEM,
        QualityFlag.BODY_MOVEMENT,
        QualityFlag.CUFF_LOOSE,
        QualityFlag.IRREGULAR_PULSE,
        QualityFlag.PULSE_RATE_OUT_OF_RANGE,
        QualityFlag.IMPROPER_POSITION,
        QualityFlag.SAMPLE_TOO_SMALL,
        QualityFlag.STRIP_ERROR,
        QualityFlag.TEMPERATURE_OUT_OF_RANGE,
        QualityFlag.READ_INTERRUPTED,
        QualityFlag.DEVICE_FAULT,
    }
)

_SPECIMEN_KEYS = ("specimen", "sample-type", "type")
_SITE_KEYS = ("site", "sample-location", "location")


class NotForDestination(MappingError):
    """This measurement must never leave the hub as the patient's data (e.g. a control-solution
    result: it checks the meter). The hub keeps it locally, marked; filter it before queuing."""


class PanelShapeError(MappingError):
    """A reading whose components do not fit its kind: a panel with a value of its own, a
    component the panel does not hold (or twice), components on a kind that is no panel."""


def fhir_datetime(moment: datetime) -> str:
    """An R4 dateTime with its offset; milliseconds only when there are any."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an Observation time must be timezone-aware")
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


def fhir_decimal(value: float) -> int | float:
    """The number as JSON will carry it: integral values without a trailing `.0`."""
    return int(value) if float(value).is_integer() else value


class _SampleWords(dict):
    """A sample's word in `data`, per value, for one kind and unit: worked out once per distinct
    value (a stored sample is a tenth, so a night holds a few hundred distinct values among
    tens of thousands of samples), then looked up."""

    def __init__(self, kind: MeasurementKind, unit: str) -> None:
        super().__init__({None: "E"})
        self.kind, self.unit = kind, unit

    def __missing__(self, value: float) -> str:
        if len(self) > 70_000:  # more than every stored tenth: values not read back from the store
            self.clear()
            self[None] = "E"
        number = round(to_canonical(self.kind, value, self.unit), 2)
        if not math.isfinite(number):
            word = "E"
        else:
            word = f"{number:g}" if number == round(number, 1) else str(number)
        self[value] = word
        return word


class _CodeWords(dict):
    """A sample's word in `data` per stored code (hub.domain.oximetry: tenths, 0xFFFF for an
    empty slot), for one kind and unit: the word of the value the code decodes to, worked out
    once per code. A stored chunk's `data` is then written from its codes, no floats made."""

    def __init__(self, words: _SampleWords) -> None:
        super().__init__()
        self.words = words

    def __missing__(self, code: int) -> str:
        word = self[code] = self.words[value_of_code(code)]
        return word


class _PairWords(dict):
    """Two neighbouring samples' words ("93 94"), per pair of stored codes read as one 32-bit
    number (the first code in the low half, as a little-endian blob gives them): half the
    look-ups and half the pieces to join. A night holds few distinct neighbours (SpO2 and pulse
    move slowly); bounded like `_SampleWords` for one that does not."""

    def __init__(self, codes: _CodeWords) -> None:
        super().__init__()
        self.codes = codes

    def __missing__(self, pair: int) -> str:
        if len(self) > 100_000:
            self.clear()
        words = self[pair] = f"{self.codes[pair & 0xFFFF]} {self.codes[pair >> 16]}"
        return words


_SAMPLE_WORDS: dict[tuple[MeasurementKind, str], tuple[_SampleWords, _CodeWords, _PairWords]] = {}
_PAIRS = sys.byteorder == "little" and array("I").itemsize == 4  # a blob read as pairs of codes


def _sample_words(kind: MeasurementKind, unit: str) -> tuple[_SampleWords, _CodeWords, _PairWords]:
    found = _SAMPLE_WORDS.get((kind, unit))
    if found is None:
        words = _SampleWords(kind, unit)
        codes = _CodeWords(words)
        found = _SAMPLE_WORDS[(kind, unit)] = (words, codes, _PairWords(codes))
    return found


def _stored_data(stored: bytes, codes: _CodeWords, pairs: _PairWords) -> str:
    """`data` of a stored blob: its codes' words, two at a time where the platform reads the
    blob as pairs (tests/unit/test_sampled_data_stored.py holds it to the plain words)."""
    if not _PAIRS:  # pragma: no cover - every platform Heima runs on is little-endian
        return " ".join(map(codes.__getitem__, stored_codes(stored)))
    whole = len(stored) & ~3
    two = array("I")
    two.frombytes(stored[:whole])
    text = " ".join(map(pairs.__getitem__, two))
    if whole == len(stored):
        return text
    last = codes[stored[whole] | stored[whole + 1] << 8]  # an odd count: the last code alone
    return f"{text} {last}" if text else last


def sampled_data(kind: MeasurementKind, series: SampledSeries, unit: str) -> dict[str, Any]:
    """`{"valueSampledData": ...}` for one chunk: values in the kind's UCUM unit, "E" for an
    empty slot (FHIR's "error" marker: no valid value there)."""
    codes = codes_for(kind)
    words, code_words, pair_words = _sample_words(kind, unit)
    stored = series.stored_form
    if stored is not None:  # read back from the store: the words of its codes
        data = _stored_data(stored, code_words, pair_words)
    else:
        data = " ".join(map(words.__getitem__, series.values))
    return {
        "valueSampledData": {
            "origin": {"value": 0, "unit": codes.unit, "system": UCUM, "code": codes.ucum},
            "period": fhir_decimal(round(series.period * 1000, 3)),
            "dimensions": 1,
            "data": data,
        }
    }


def _context(reading: Reading, keys: tuple[str, ...]) -> str | None:
    found = {normalise(name): value for name, value in reading.context}
    for key in keys:
        if key in found:
            return found[key]
    return None


def not_for_destination(measurement: Measurement) -> str | None:
    """Why this measurement must never be sent as the patient's, or None when it may be.

    The outbox should not even queue such a measurement; `observation_for` refuses it anyway.
    """
    reading = measurement.reading
    if QualityFlag.CONTROL_SOLUTION in reading.flags:
        return "a control-solution result checks the meter; it is not the patient's value"
    if QualityFlag.TECHNICIAN_TEST in reading.flags:
        return "a technician's test measurement checks the kit; it is not the patient's value"
    if not reading.context and reading.body_site is None:  # no words that could say so
        return None
    words = {normalise(_context(reading, _SPECIMEN_KEYS)), normalise(_context(reading, _SITE_KEYS)), normalise(reading.body_site)}
    if words & CONTROL_SOLUTION_WORDS:
        return "a control-solution sample checks the meter; it is not the patient's value"
    return None


def _missing(value: float | None, reason: AbsentReason | None, flags: frozenset[QualityFlag]) -> Coding | None:
    """Why a value (of a reading or a component) carries no number, or None when it carries one."""
    if reason is not None:
        return DATA_ABSENT[reason]
    if QualityFlag.INVALID in flags:
        return ABSENT_ERROR
    if QualityFlag.UNAVAILABLE in flags:
        return ABSENT_UNKNOWN
    if value is None:  # pragma: no cover - a Reading and a Component forbid it
        return ABSENT_ERROR
    if math.isnan(value):
        return DATA_ABSENT[AbsentReason.NOT_A_NUMBER]
    if math.isinf(value):
        return DATA_ABSENT[AbsentReason.POSITIVE_INFINITY if value > 0 else AbsentReason.NEGATIVE_INFINITY]
    return None


def absent_reason(measurement: Measurement) -> Coding | None:
    """Why this measurement carries no number, or None when it carries one (panels: see
    `observation_for`, their components carry the numbers)."""
    reading = measurement.reading
    return _missing(reading.value, reading.absent_reason, reading.flags)


def _off_scale(flags: frozenset[QualityFlag]) -> str | None:
    """`>` / `<` when the device said the result lies beyond what it can measure."""
    high, low = QualityFlag.RESULT_TOO_HIGH in flags, QualityFlag.RESULT_TOO_LOW in flags
    if high and not low:
        return ">"
    if low and not high:
        return "<"
    return None


def _value(
    kind: MeasurementKind, value: float | None, unit: str, reason: AbsentReason | None, flags: frozenset[QualityFlag], *, limit: bool
) -> dict[str, Any]:
    """`{"valueQuantity": ...}` in the kind's UCUM unit, or `{"dataAbsentReason": ...}`."""
    missing = _missing(value, reason, flags)
    if missing is None:
        assert value is not None
        number = to_canonical(kind, value, unit)
        if not math.isfinite(number):  # a finite value beyond any scale once converted
            missing = ABSENT_ERROR
    if missing is not None:
        return {"dataAbsentReason": {"coding": [missing.to_fhir()]}}
    codes = codes_for(kind)
    quantity: dict[str, Any] = {"value": fhir_decimal(number)}
    comparator = _off_scale(flags) if limit else None
    if comparator:
        quantity["comparator"] = comparator
    quantity.update({"unit": codes.unit, "system": UCUM, "code": codes.ucum})
    return {"valueQuantity": quantity}


def interpretations(measurement: Measurement) -> list[Coding]:
    flags = measurement.reading.flags
    found: list[Coding] = []
    if flags & _QUESTIONABLE:
        found.append(QUESTIONABLE)
    if QualityFlag.EARLY_ESTIMATE in flags:
        found.append(EARLY_INDICATION)
    if QualityFlag.MEASUREMENT_ONGOING in flags:
        found.append(MEASUREMENT_ONGOING)
    if QualityFlag.CALIBRATION_ONGOING in flags:
        found.append(CALIBRATION_ONGOING)
    if QualityFlag.VALIDATED in flags and not flags & _QUESTIONABLE:
        found.append(VALIDATED)
    if QualityFlag.RESULT_TOO_HIGH in flags:
        found.append(OFF_SCALE_HIGH)
    if QualityFlag.RESULT_TOO_LOW in flags:
        found.append(OFF_SCALE_LOW)
    return found


def _code(reading: Reading) -> dict[str, Any]:
    """Observation.code: the table's codings, with the glucose specimen's or the temperature
    site's own MDC term."""
    codes = codes_for(reading.kind)
    if reading.kind is MeasurementKind.BLOOD_GLUCOSE:
        specimen = lookup(GLUCOSE_SPECIMENS, SPECIMEN_SYNONYMS, _context(reading, _SPECIMEN_KEYS))
        if specimen is None:
            return codes.code()
        if not specimen.blood:
            return codes.code((specimen.mdc,), specimen.text)
        return codes.code((*codes.codings, specimen.mdc))
    if reading.kind is MeasurementKind.BODY_TEMPERATURE:
        site = lookup(TEMPERATURE_SITES, TEMPERATURE_SITE_SYNONYMS, reading.body_site)
        if site is None:
            return codes.code()
        return codes.code(tuple(site.mdc if c.system == MDC else c for c in codes.codings))
    return _kind_code(reading.kind)


# What is the same for every Observation of a kind (or of a hub, a patient) is built once and
# shared between Observations: these dicts are only read (serialised), never changed.
@lru_cache(maxsize=None)
def _kind_code(kind: MeasurementKind) -> dict[str, Any]:
    return codes_for(kind).code()


@lru_cache(maxsize=None)
def _categories(kind: MeasurementKind) -> list[dict[str, Any]]:
    codes = codes_for(kind)
    return [category(codes.category), PHD_CATEGORY] if codes.category else [PHD_CATEGORY]


@lru_cache(maxsize=16)
def _subject(patient: Any) -> dict[str, Any] | None:
    return patient.to_reference()


@lru_cache(maxsize=16)
def _performer(organisation: Any) -> list[dict[str, Any]]:
    return [organisation.to_reference()]


_HTEST_META: dict[str, Any] = {"security": [HTEST.to_fhir()]}


def _body_site(reading: Reading) -> dict[str, Any] | None:
    """Observation.bodySite: coded where the table knows the site, the device's words otherwise."""
    if reading.body_site is None and not reading.context:
        return None
    if reading.kind is MeasurementKind.BLOOD_GLUCOSE:
        word = reading.body_site or _context(reading, _SITE_KEYS)
        if normalise(word) in NO_SITE_WORDS:
            return None
        term: Term | None = lookup(GLUCOSE_SITES, GLUCOSE_SITE_SYNONYMS, word)
        return term.concept() if term else {"text": str(word)}
    if normalise(reading.body_site) in NO_SITE_WORDS:
        return None
    if reading.kind is MeasurementKind.BODY_TEMPERATURE:
        site = lookup(TEMPERATURE_SITES, TEMPERATURE_SITE_SYNONYMS, reading.body_site)
        if site is not None:
            return site.body_site.concept() if site.body_site else None
    return {"text": str(reading.body_site)}


def _meal(reading: Reading) -> dict[str, Any] | None:
    """The PHD IG meal-context component of a glucose value."""
    if reading.kind is not MeasurementKind.BLOOD_GLUCOSE:
        return None
    word = _context(reading, ("meal",))
    if normalise(word) in NO_SITE_WORDS:
        return None
    term: Term | None = lookup(MEALS, MEAL_SYNONYMS, word)
    value = term.concept() if term else {"text": str(word)}
    return {"code": {"coding": [c.to_fhir() for c in MEAL_CONTEXT], "text": MEAL_CONTEXT_TEXT}, "valueCodeableConcept": value}


def _component(component: Component, flags: frozenset[QualityFlag]) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": codes_for(component.kind).code()}
    # A panel's off-scale flag cannot say which of its values is the limit: the comparator is
    # left to single values; the panel still carries the off-scale interpretation and note.
    entry.update(_value(component.kind, component.value, component.unit, component.absent_reason, flags, limit=False))
    return entry


def _panel_components(reading: Reading, flags: frozenset[QualityFlag]) -> list[dict[str, Any]]:
    """A panel's components: each one the device sent, then each required one it did not send,
    absent for the panel's own reason when the whole measurement failed, else "unknown"."""
    entries = [_component(c, flags) for c in reading.components]
    sent = {c.kind for c in reading.components}
    if reading.components:
        missing = ABSENT_UNKNOWN
    else:
        missing = _missing(None, reading.absent_reason or AbsentReason.ERROR, flags) or ABSENT_ERROR
    for kind in PANEL_REQUIRED.get(reading.kind, ()):
        if kind not in sent:
            entries.append({"code": codes_for(kind).code(), "dataAbsentReason": {"coding": [missing.to_fhir()]}})
    return entries


def _duration(reading: Reading) -> timedelta | None:
    """How long a reading over a period lasted (a chunk: its slots; a summary: its recording)."""
    if reading.samples is not None:
        return reading.samples.end - reading.samples.start
    return reading.duration


def _check_shape(reading: Reading) -> None:
    allowed = PANEL_COMPONENTS.get(reading.kind)
    if allowed is None:
        if reading.components:
            raise PanelShapeError(f"{reading.kind.value} is not a panel; it cannot carry components")
        return
    if reading.value is not None:
        raise PanelShapeError(f"{reading.kind.value} is a panel: its values go in components, never in value")
    kinds = [c.kind for c in reading.components]
    if len(set(kinds)) != len(kinds) or not set(kinds) <= allowed:
        raise PanelShapeError(f"{reading.kind.value} holds each of {sorted(k.value for k in allowed)} at most once")


def observation_for(
    measurement: Measurement,
    ctx: FhirContext,
    *,
    device_reference: dict[str, Any] | None = None,
    gateway_reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Observation for one measurement.

    `device_reference` / `gateway_reference` replace the default logical references (by
    identifier) to the sensor and hub Devices, e.g. with `urn:uuid:` references inside a bundle.

    Raises `NotForDestination` for a measurement that must not be sent (see
    `not_for_destination`), `UnsupportedUnit` for a value in a unit that cannot be converted,
    `PanelShapeError` for components that do not fit the kind.
    """
    if device_reference is None and gateway_reference is None:
        fast = _device_value(measurement, ctx)
        if fast is not None:
            return fast
    refusal = not_for_destination(measurement)
    if refusal:
        raise NotForDestination(refusal)
    reading = measurement.reading
    _check_shape(reading)
    flags = reading.flags

    obs: dict[str, Any] = {"resourceType": "Observation"}
    if flags & _TEST_DATA or ctx.patient.synthetic:
        obs["meta"] = _HTEST_META
    obs["extension"] = [
        {"url": GATEWAY_DEVICE_EXTENSION, "valueReference": gateway_reference or hub_reference(ctx.hub)}
    ]
    obs["identifier"] = [{"system": URI_IDENTIFIER, "value": measurement.urn}]
    obs["status"] = "preliminary" if flags & _PRELIMINARY else "final"
    obs["category"] = _categories(reading.kind)
    obs["code"] = _code(reading)
    subject = _subject(ctx.patient)
    if subject:
        obs["subject"] = subject
    length = _duration(reading)
    if length is None:
        obs["effectiveDateTime"] = fhir_datetime(measurement.effective_time)
    else:
        obs["effectivePeriod"] = {
            "start": fhir_datetime(measurement.effective_time),
            "end": fhir_datetime(measurement.effective_time + length),
        }
    if ctx.organisation is not None:
        obs["performer"] = _performer(ctx.organisation)

    components: list[dict[str, Any]] = []
    if reading.kind in PANEL_COMPONENTS:
        # A panel never has a value of its own; with no components at all (the whole
        # measurement failed) the reading's absent reason is the panel's, and its required
        # components carry it too.
        components = _panel_components(reading, flags)
        if not reading.components:
            obs.update(_value(reading.kind, None, reading.unit, reading.absent_reason or AbsentReason.ERROR, flags, limit=False))
    elif reading.samples is not None:
        obs.update(sampled_data(reading.kind, reading.samples, reading.unit))
    else:
        obs.update(_value(reading.kind, reading.value, reading.unit, reading.absent_reason, flags, limit=True))
        meal = _meal(reading)
        if meal is not None:
            components.append(meal)

    found = interpretations(measurement) if flags else ()
    if found:
        obs["interpretation"] = [{"coding": [c.to_fhir()]} for c in found]

    notes = [MANUAL_NOTE] if measurement.provenance is Provenance.MANUAL else []
    if flags:
        notes += [text for flag, text in STATUS_NOTES if flag in flags]
    if notes:
        obs["note"] = [{"text": text} for text in notes]

    site = _body_site(reading)
    if site is not None:
        obs["bodySite"] = site
    if measurement.provenance is Provenance.DEVICE and reading.device is not None:
        obs["device"] = device_reference or logical_device_reference(reading.device)
    if components:
        obs["component"] = components
    if measurement.evaluation is not None:  # the plan's zone, decided when it was recorded
        apply_evaluation(obs, measurement.evaluation)
    return obs


# The usual Observation on the delivery path — one value from a device, nothing flagged, no
# words, no plan's zone — built from the parts its kind, unit and hub share with every other one
# (built once by the plain code above, the first time they are asked for), with only its own
# identifier, time and number filled in. tests/unit/test_fhir_fast_paths.py holds it to the
# plain code's output, byte for byte.
_OWN_CODE = frozenset({MeasurementKind.BLOOD_GLUCOSE, MeasurementKind.BODY_TEMPERATURE})  # site, specimen, meal


def _device_value(measurement: Measurement, ctx: FhirContext) -> dict[str, Any] | None:
    """The Observation, or None when it is not the usual kind (then the plain code builds it)."""
    reading = measurement.reading
    value = reading.value
    if (
        value is None
        or reading.flags
        or reading.components
        or reading.samples is not None
        or reading.duration is not None
        or reading.context
        or reading.body_site is not None
        or reading.device is None
        or measurement.evaluation is not None
        or measurement.provenance is not Provenance.DEVICE
        or reading.kind in _OWN_CODE
        or reading.kind in PANEL_COMPONENTS
        or type(value) is not float
        or value != value  # NaN, ±inf: the plain code says why there is no number
        or value in (_INF, -_INF)
    ):
        return None
    parts = _shared_parts(reading.kind, reading.unit, ctx)
    if parts is None:
        return None
    head, middle, tail, quantity, convert = parts
    number = value if convert is None else convert(value)
    if number != number or number in (_INF, -_INF):  # beyond any scale once converted: the plain code says so
        return None
    return {
        **head,
        "identifier": [{"system": URI_IDENTIFIER, "value": measurement.urn}],
        **middle,
        "effectiveDateTime": fhir_datetime(measurement.effective_time),
        **tail,
        "valueQuantity": {"value": int(number) if float(number).is_integer() else number, **quantity},
        "device": logical_device_reference(reading.device),
    }


def usual_observation(usual: UsualValue, ctx: FhirContext) -> dict[str, Any] | None:
    """`observation_for` the usual measurement (hub.domain.usual), from what was stored: the same
    Observation, byte for byte (tests/unit/test_fhir_fast_paths.py), without a Measurement; None
    when it is not one this shortcut writes (the plain code then builds it from the Measurement)."""
    found = usual_observation_parts(usual, ctx)
    if found is None:
        return None
    obs_template, quantity_template, number, when = found
    # Copies of the shared dicts with the keys in their places: its own values go where they are
    # (a copy keeps the key order, so the JSON is the plain mapper's, byte for byte).
    quantity = quantity_template.copy()
    quantity["value"] = number
    obs = obs_template.copy()
    obs["identifier"] = [{"system": URI_IDENTIFIER, "value": "urn:uuid:" + usual.id}]
    obs["effectiveDateTime"] = when
    obs["valueQuantity"] = quantity
    obs["device"] = _device_reference_of(usual.device)
    return obs


def usual_observation_parts(
    usual: UsualValue, ctx: FhirContext
) -> tuple[dict[str, Any], dict[str, Any], int | float, str] | None:
    """What `usual_observation` fills its templates with: the Observation's and valueQuantity's
    shared templates (keys in place), the number as written and the FHIR time; None when it is
    not one this shortcut writes."""
    kind, value = usual.kind, usual.value
    if kind in _OWN_CODE or kind in PANEL_COMPONENTS or value != value or value in (_INF, -_INF):
        return None
    when = _fhir_time_text(usual.effective_time)
    parts = _shared_parts(kind, usual.unit, ctx)
    if when is None or parts is None:
        return None
    obs_template, quantity_template, convert = _usual_templates(parts)
    number = value if convert is None else convert(value)
    if number != number or number in (_INF, -_INF):
        return None
    return obs_template, quantity_template, int(number) if float(number).is_integer() else number, when


def device_reference_of(device: DeviceIdentity) -> dict[str, Any]:
    """The Observation's device reference (logical_device_reference), found by the device object."""
    return _device_reference_of(device)


_TEMPLATES: dict[int, tuple[Any, tuple[dict[str, Any], dict[str, Any], Any]]] = {}


def _usual_templates(parts: Any) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """The usual Observation's dict and its valueQuantity's, every key in its place, for one
    kind, unit and context (`_shared_parts`), and the unit conversion."""
    found = _TEMPLATES.get(id(parts))
    if found is not None and found[0] is parts:
        return found[1]
    head, middle, tail, quantity, convert = parts
    obs = {**head, "identifier": None, **middle, "effectiveDateTime": None, **tail, "valueQuantity": None, "device": None}
    made = (obs, {"value": None, **quantity}, convert)
    if len(_TEMPLATES) > 256:
        _TEMPLATES.clear()
    _TEMPLATES[id(parts)] = (parts, made)
    return made


# What datetime.isoformat() writes for an aware time: seconds, or microseconds, then the offset.
_ISO_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?[+-]\d\d:\d\d").fullmatch


def _fhir_time_text(text: str) -> str | None:
    """fhir_datetime of the time `text` was written from by isoformat(), from the text itself
    (no parsing, no formatting): as it is without a fraction, the fraction cut to milliseconds
    (isoformat's own truncation); None for any other spelling (then it is parsed)."""
    if _ISO_TEXT(text) is None or text.endswith("-00:00"):
        return None
    return text if len(text) == 25 else text[:23] + text[26:]


_DEVICE_REFERENCES: dict[int, tuple[DeviceIdentity, dict[str, Any]]] = {}


def _device_reference_of(device: DeviceIdentity) -> dict[str, Any]:
    """logical_device_reference, found by the device object (rows read back share one per device)
    rather than by hashing its seven fields for every Observation."""
    found = _DEVICE_REFERENCES.get(id(device))
    if found is not None and found[0] is device:
        return found[1]
    if len(_DEVICE_REFERENCES) > 256:
        _DEVICE_REFERENCES.clear()
    reference = logical_device_reference(device)
    _DEVICE_REFERENCES[id(device)] = (device, reference)
    return reference


_INF = float("inf")
_PARTS: dict[tuple[MeasurementKind, str, int], tuple[FhirContext, Any]] = {}


def _shared_parts(kind: MeasurementKind, unit: str, ctx: FhirContext) -> Any:
    """What every usual Observation of this kind, unit and context holds, cut where its own
    fields go: (head, middle, tail, the quantity's unit fields, the unit conversion or None);
    None when such a value cannot be sent this way (a unit that does not convert)."""
    key = (kind, unit, id(ctx))
    found = _PARTS.get(key)
    if found is not None and found[0] is ctx:
        return found[1]
    codes = codes_for(kind)
    if codes.ucum is None or ctx.patient.synthetic:  # a panel; a test person's (meta: HTEST)
        parts = None
    else:
        conversion = None if unit == codes.ucum else CONVERSIONS.get(kind, {}).get(unit.strip())
        if unit != codes.ucum and conversion is None:
            parts = None
        else:
            head: dict[str, Any] = {"resourceType": "Observation"}
            head["extension"] = [{"url": GATEWAY_DEVICE_EXTENSION, "valueReference": hub_reference(ctx.hub)}]
            middle: dict[str, Any] = {"status": "final", "category": _categories(kind), "code": _kind_code(kind)}
            subject = _subject(ctx.patient)
            if subject:
                middle["subject"] = subject
            tail = {"performer": _performer(ctx.organisation)} if ctx.organisation is not None else {}
            quantity = {"unit": codes.unit, "system": UCUM, "code": codes.ucum}
            parts = (head, middle, tail, quantity, None if conversion is None else conversion.apply)
    if len(_PARTS) > 256:  # contexts come and go in tests; a hub has one
        _PARTS.clear()
    _PARTS[key] = (ctx, parts)
    return parts
