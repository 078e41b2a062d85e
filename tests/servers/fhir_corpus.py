"""Every kind of resource Heima emits, made by the real mappers (sync/fhir) from the example
measurements the end-to-end tests read from the emulated devices (tests/e2e): every device family,
every absent reason and quality flag, a manual entry, continuous-oximetry chunks and a summary,
the sensor and hub Devices, and the three bundles (transaction and batch for a FHIR server or the
folder, batch for NHN PMD). Used by tests/integration/test_fhir_conformance.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hub.domain.careplan.due import MissedTask
from hub.domain.evaluation import ZoneAlert
from hub.domain.kit import NEVER_SHARED
from hub.domain.measurements import Measurement
from hub.domain.outgoing import Outgoing, OutgoingKind, of_missed_task, of_zone_alert
from hub.domain.oximetry import OximetryPoint, OximetryRecorder, SampledSeries, series_readings, summary_reading
from hub.domain.readings import (
    AbsentReason,
    Component,
    DeviceIdentity,
    MeasurementKind,
    Provenance,
    QualityFlag,
    Reading,
)
from sync.fhir.bundles import batch_bundle, transaction_bundle
from sync.fhir.codes import CODES
from sync.fhir.context import FhirContext, HubIdentity, OrganisationRef, PatientRef
from sync.fhir.devices import device_for, hub_device_for
from sync.fhir.observations import observation_for
from sync.fhir.pmd import pmd_bundle
from sync.fhir.resources import mapper_for

K = MeasurementKind
OSLO = timezone(timedelta(hours=1))
TAKEN = datetime(2026, 11, 20, 8, 30, tzinfo=OSLO)

CTX = FhirContext(
    patient=PatientRef(identifier="13116900216", display="Kari Nordmann (test)"),
    hub=HubIdentity(
        serial="HEIMA-TEST-0001",
        name="Heima test hub",
        system_id="0123456789abcdef",
        manufacturer="Heima",
        model="Heima hub",
        software_version="1.0",
    ),
    organisation=OrganisationRef(identifier="974633574", display="Oppfølgingssenteret (test)"),
)
KOMMUNENUMMER = "0301"

# The emulated devices of tests/e2e, as the drivers identify them.
PLX = DeviceIdentity("F0:11:22:33:44:01", "Heima PLX 1", "Heima Test Devices", "PLX-1", "PLX1-000001", "1.0", "74e8fffeff051c00")
NONIN = DeviceIdentity("00:1c:05:ff:e8:74", "Nonin3230_501900083", "Nonin Medical, Inc.", "3230", "501900083", "r2.1")
JUMPER = DeviceIdentity("F0:11:22:33:77:01", "My Oximeter")  # a streaming oximeter tells its name only
CUFF = DeviceIdentity("F0:11:22:33:55:01", "Heima BPM 1", "Heima Test Devices", "BPM-1", "BPM1-000001", "1.0")
SCALE = DeviceIdentity("F0:11:22:33:66:01", "Heima WS 1", "Heima Test Devices", "WS-1", "WS1-000001")
BODY_COMPOSITION = DeviceIdentity("F0:11:22:33:66:02", "Heima BCS 1", "Heima Test Devices", "BCS-1", "BCS1-000001")
MI_SCALE = DeviceIdentity("C8:47:8C:00:00:01", "MIBFS", model="Mi Body Composition Scale 2")
THERMOMETER = DeviceIdentity("F0:11:22:33:88:01", "Heima HT 1", "Heima Test Devices", "HT-1", "HT1-000001")
GLUCOSE_METER = DeviceIdentity("F0:11:22:33:99:01", "Heima GL 1", "Heima Test Devices", "GL-1", "GL1-000001")
MAC_LESS = DeviceIdentity("6B1C2F0A-3C55-4E62-9A3B-0D5C1E2F3A4B", "Contour")  # CoreBluetooth gives no MAC


def reading(
    kind: MeasurementKind,
    value: float | None,
    unit: str | None = None,
    *,
    device: DeviceIdentity | None,
    absent: AbsentReason | None = None,
    **fields: Any,
) -> Reading:
    return Reading(
        kind=kind,
        value=None if absent is not None else value,
        unit=unit or CODES[kind].ucum or "",
        received_at=TAKEN,
        absent_reason=absent,
        device=device,
        **fields,
    )


def bp_panel(
    systolic: float | AbsentReason, diastolic: float | AbsentReason, mean: float | AbsentReason | None, unit: str = "mm[Hg]", **fields: Any
) -> Reading:
    parts = [(K.SYSTOLIC_PRESSURE, systolic), (K.DIASTOLIC_PRESSURE, diastolic), (K.MEAN_ARTERIAL_PRESSURE, mean)]
    components = tuple(
        Component(kind, None, unit, value) if isinstance(value, AbsentReason) else Component(kind, value, unit)
        for kind, value in parts
        if value is not None
    )
    return Reading(K.BLOOD_PRESSURE, None, unit, TAKEN, device=CUFF, components=components, **fields)


def night() -> list[Reading]:
    """A recording's chunks (SpO2 and pulse, with an empty slot) and its summary."""
    spo2 = SampledSeries(TAKEN, 1.0, (97.0, 96.5, None, 88.0))
    pulse = SampledSeries(TAKEN, 1.0, (61.0, 62.0, None, 70.0))
    chunks = list(series_readings(spo2, pulse, device=PLX))
    recorder = OximetryRecorder(period=1.0, chunk=600.0)
    for i in range(1200):
        recorder.add(OximetryPoint(TAKEN + timedelta(seconds=i), 85.0 if i < 120 else 95.0, 60.0, PLX))
    _, summary = recorder.close()
    empty = SampledSeries(TAKEN, 1.0, (None, None))
    return [*chunks, *series_readings(empty, empty, device=PLX), summary_reading(summary, device=PLX)]


def readings() -> Iterator[tuple[str, Reading]]:
    """(name, reading) for every kind of Observation Heima sends."""
    # pulse oximeters (tests/e2e: standard PLX, Nonin 3230, Jumper, BerryMed)
    for name, device, spo2, pulse in (("plx", PLX, 97, 64), ("nonin", NONIN, 96, 72), ("jumper", JUMPER, 98, 66)):
        yield f"{name}-spo2", reading(K.OXYGEN_SATURATION, spo2, device=device)
        yield f"{name}-pulse", reading(K.PULSE_RATE, pulse, device=device)
    # blood pressure monitors (standard, A&D UA-651, Omron): the panel and the cuff's pulse
    yield "bp-panel", bp_panel(128, 82, 97)
    yield "bp-panel-kpa", bp_panel(17.1, 10.9, 12.9, "kPa")
    yield "bp-panel-no-mean", bp_panel(121, 79, None)
    yield "bp-pulse", reading(K.CUFF_PULSE_RATE, 67, device=CUFF)
    # scales (weight, weight + BMI + height, body composition, Mi scale)
    yield "weight", reading(K.BODY_WEIGHT, 81.4, device=SCALE)
    yield "weight-lb", reading(K.BODY_WEIGHT, 179.45, "[lb_av]", device=SCALE)
    yield "bmi", reading(K.BODY_MASS_INDEX, 25.1, device=SCALE)
    yield "height", reading(K.BODY_HEIGHT, 1.80, "m", device=BODY_COMPOSITION)
    yield "body-fat", reading(K.BODY_FAT, 23.5, device=BODY_COMPOSITION)
    yield "weight-mi", reading(K.BODY_WEIGHT, 62.35, device=MI_SCALE)
    # thermometer: every site a GATT thermometer names
    for site in ("mouth", "ear", "armpit", "rectum", "tympanum", "finger", "toe", "body", "gastro-intestinal", None):
        yield f"temperature-{site or 'no-site'}", reading(K.BODY_TEMPERATURE, 37.2, device=THERMOMETER, body_site=site)
    yield "temperature-degF", reading(K.BODY_TEMPERATURE, 99.0, "[degF]", device=THERMOMETER, body_site="mouth")
    # glucose meters: every specimen, meal and sample site; an mg/dL meter
    for specimen in ("capillary-whole-blood", "capillary-plasma", "venous-plasma", "interstitial-fluid", None):
        for meal in ("preprandial", "postprandial", "fasting", "casual", "bedtime"):
            context = tuple((k, v) for k, v in (("specimen", specimen), ("meal", meal)) if v)
            yield f"glucose-{specimen}-{meal}", reading(K.BLOOD_GLUCOSE, 5.8, device=GLUCOSE_METER, context=context, body_site="finger")
    for site in ("alternate-site", "earlobe", None):
        yield f"glucose-site-{site}", reading(K.BLOOD_GLUCOSE, 7.4, device=GLUCOSE_METER, body_site=site)
    yield "glucose-mg-dl", reading(K.BLOOD_GLUCOSE, 110, "mg/dL", device=MAC_LESS)
    # continuous oximetry
    for i, r in enumerate(night()):
        yield f"night-{i}-{r.kind.value}", r
    # every absent reason, on a single value and on a panel's values
    for reason in AbsentReason:
        yield f"absent-{reason.value}", reading(K.OXYGEN_SATURATION, None, device=PLX, absent=reason)
        yield f"bp-systolic-absent-{reason.value}", bp_panel(reason, 80, 93)
        yield f"bp-all-absent-{reason.value}", bp_panel(reason, reason, reason)
        # a cuff that failed altogether: no component at all, the reading's reason is the panel's
        yield f"bp-failed-{reason.value}", Reading(K.BLOOD_PRESSURE, None, "mm[Hg]", TAKEN, device=CUFF, absent_reason=reason)
    yield "bp-failed-invalid", Reading(
        K.BLOOD_PRESSURE, None, "mm[Hg]", TAKEN, device=CUFF, absent_reason=AbsentReason.ERROR, flags=frozenset({QualityFlag.INVALID})
    )
    # every quality flag a value can carry (control solution is never sent)
    for flag in QualityFlag:
        if flag in NEVER_SHARED:  # a meter check, a technician's test: never sent
            continue
        yield f"flag-{flag.value}", reading(K.BLOOD_GLUCOSE, 5.8, device=GLUCOSE_METER, flags=frozenset({flag}))
        yield f"bp-flag-{flag.value}", bp_panel(128, 82, 97, flags=frozenset({flag}))
    yield "glucose-hi", reading(K.BLOOD_GLUCOSE, 33.3, device=GLUCOSE_METER, flags=frozenset({QualityFlag.RESULT_TOO_HIGH}))
    yield "glucose-lo", reading(K.BLOOD_GLUCOSE, 0.6, device=GLUCOSE_METER, flags=frozenset({QualityFlag.RESULT_TOO_LOW}))


def measurements() -> list[tuple[str, Measurement]]:
    """Every reading as a stored measurement, plus manual entries of each family."""
    found = []
    for i, (name, r) in enumerate(readings()):
        found.append((name, Measurement(uuid.uuid5(uuid.NAMESPACE_URL, f"heima-corpus:{i}"), r, Provenance.DEVICE, TAKEN, None)))
    manual = [
        ("manual-weight", reading(K.BODY_WEIGHT, 80.0, device=None)),
        ("manual-bp", replace(bp_panel(130, 85, None), device=None)),
        ("manual-glucose", reading(K.BLOOD_GLUCOSE, 6.1, device=None, context=(("meal", "fasting"),))),
        ("manual-temperature", reading(K.BODY_TEMPERATURE, 37.9, device=None)),
    ]
    for i, (name, r) in enumerate(manual):
        found.append((name, Measurement(uuid.uuid5(uuid.NAMESPACE_URL, f"heima-corpus-manual:{i}"), r, Provenance.MANUAL, TAKEN, None)))
    return found


# The self-care plans the evaluated measurements were judged by (docs/care-plan-format.md examples).
PLANS = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "careplans"


def evaluated() -> list[tuple[str, Measurement]]:
    """Measurements with the evaluation the example plans decide (hub.domain.careplan): SpO2 in a
    baseline plan's zones, a red blood pressure confirmed (components' ranges), weight by a trend
    rule (no ranges), glucose in every level."""
    from hub.domain.careplan import evaluate, parse_plan

    copd = parse_plan(json.loads((PLANS / "copd.json").read_text()))
    heart = parse_plan(json.loads((PLANS / "heart-failure.json").read_text()))
    diabetes = parse_plan(json.loads((PLANS / "diabetes.json").read_text()))
    found: list[tuple[str, Measurement]] = []

    def add(name: str, plan: Any, r: Reading, history: list[Measurement], minutes: int = 0) -> Measurement:
        m = Measurement(uuid.uuid5(uuid.NAMESPACE_URL, f"heima-corpus-evaluated:{name}"), r, Provenance.DEVICE, TAKEN + timedelta(minutes=minutes), None)
        m = replace(m, evaluation=evaluate(plan, m, history))
        assert m.evaluation is not None, name
        found.append((f"evaluated-{name}", m))
        return m

    for n, v in enumerate((97, 91, 86)):
        add(f"spo2-{v}", copd, reading(K.OXYGEN_SATURATION, v, device=PLX), [], n)
    first = add("bp-red-first", heart, bp_panel(186, 98, 80), [])
    add("bp-red-confirmed", heart, bp_panel(184, 97, 78), [first], 6)
    w0 = add("weight-start", heart, reading(K.BODY_WEIGHT, 80.0, device=SCALE), [], -60 * 48)
    add("weight-up-2kg", heart, reading(K.BODY_WEIGHT, 82.4, device=SCALE), [w0], 1)
    for v in (3.2, 6.0, 14.5):
        add(f"glucose-{v}", diabetes, reading(K.BLOOD_GLUCOSE, v, device=GLUCOSE_METER), [], 2)
    return found


def plan_resources(ms: list[tuple[str, Measurement]]) -> list[tuple[str, Outgoing]]:
    """The plan's own outgoing resources: the alert a confirmed red raised (a DetectedIssue) and
    missed tasks (a measurement's and a form's)."""
    confirmed = dict(ms)["evaluated-bp-red-confirmed"]
    e = confirmed.evaluation
    alert = ZoneAlert(e.plan, e.activity, e.zone, e.rule, "85354-9", (*e.implicated, str(confirmed.id)), confirmed.effective_time)
    opens = TAKEN - timedelta(minutes=30)
    missed = [
        MissedTask("CarePlan/hjertesvikt-eksempel/_history/1", "vekt", opens, TAKEN + timedelta(hours=2), TAKEN, code="29463-7"),
        MissedTask("CarePlan/hjertesvikt-eksempel/_history/1", "blodtrykk", opens, TAKEN + timedelta(hours=2), TAKEN, code="85354-9"),
        MissedTask("CarePlan/kols-eksempel/_history/1", "cat", opens, TAKEN + timedelta(hours=2), TAKEN, questionnaire="http://example.org/Questionnaire/cat|1"),
    ]
    return [("zone-alert", of_zone_alert(alert))] + [(f"missed-{t.activity}", of_missed_task(t)) for t in missed]


def resources() -> list[tuple[str, dict[str, Any]]]:
    """(name, resource) for every resource Heima emits: each Observation alone, every Device,
    and the three bundles holding them all."""
    found: list[tuple[str, dict[str, Any]]] = []
    ms = measurements() + evaluated()
    for name, m in ms:
        found.append((f"Observation/{name}", observation_for(m, CTX)))
    extra = plan_resources(ms)
    for name, item in extra:
        mapped = mapper_for("fhir", item.kind).map(item, CTX, transaction=False)
        found.append((f"{mapped.resource['resourceType']}/{name}", mapped.resource))
    devices = {d for _, m in ms if (d := m.reading.device) is not None}
    for d in sorted(devices, key=lambda d: d.address):
        found.append((f"Device/{d.name or d.address}", device_for(d)))
    found.append(("Device/hub", hub_device_for(CTX.hub)))
    found.append(("Device/hub-minimal", hub_device_for(HubIdentity(serial="HEIMA-DEV-0001"))))
    everything: list[Any] = [m for _, m in ms] + [item for _, item in extra]
    found.append(("Bundle/transaction", transaction_bundle(everything, CTX)))
    found.append(("Bundle/batch", batch_bundle(everything, CTX)))
    pmd_takes = [i for i in everything if not isinstance(i, Outgoing) or i.kind is not OutgoingKind.ZONE_ALERT]
    found.append(("Bundle/nhn-pmd", pmd_bundle(pmd_takes, CTX, kommunenummer=KOMMUNENUMMER)))
    return found
