"""Example values for the gallery, the accessibility audit and the benchmarks: a month of
plausible values of every family and the states the screens show today. Beside the composition
root (which builds the example hub): it only records through the hub's own service and store."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from hub.domain.measurements import Measurement
from hub.domain.oximetry import OximetrySummary, summary_reading
from hub.domain.readings import Component, DeviceIdentity, MeasurementKind, Provenance, QualityFlag, Reading
from hub.services.measurements import MeasurementService

EXAMPLE_FORM = Path(__file__).with_name("examples_form.json")  # every item type, nb/nn/en, a picture and help

# The gallery's and the screen tests' "now": the examples are placed relative to it.
GALLERY_NOW = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _ExampleStore(Protocol):
    async def measurements(self, *, kind: str | None = None, limit: int = 1000) -> list[Measurement]: ...

    async def mark_delivered(self, destination: str, resource_ids: Sequence[str]) -> None: ...

    async def dead_letter(self, destination: str, resource_id: str, *, reason: str) -> None: ...


class ExampleHub(Protocol):
    """What seeding needs of a hub (hub.app's Hub has it)."""

    @property
    def service(self) -> MeasurementService: ...
    @property
    def store(self) -> _ExampleStore: ...
    @property
    def workers(self) -> Sequence[_Named]: ...


async def seed_examples(hub: ExampleHub, now: datetime) -> dict[str, list[tuple[str, str]]]:
    """A month of plausible values for every family, and today's states the screens show: an
    oximeter value sent, a blood pressure waiting with a loose cuff, a glucose value refused.
    Returns {name: [(measurement id, kind)]} for the scenes."""
    K = MeasurementKind
    rng = random.Random(5)
    ox = DeviceIdentity(address="F0:11:22:33:44:01", name="Heima PLX 1", serial="PLX1-EX")
    cuff = DeviceIdentity(address="F0:11:22:33:44:02", name="Heima BP 1", serial="BP1-EX")
    scale = DeviceIdentity(address="F0:11:22:33:44:03", name="Heima Scale 1", serial="SC1-EX")
    meter = DeviceIdentity(address="F0:11:22:33:44:04", name="Heima Glucose 1", serial="GL1-EX")
    ids: dict[str, list[tuple[str, str]]] = {}

    async def put(name: str | None, reading: Reading, provenance: Provenance = Provenance.DEVICE) -> str:
        outcome = await hub.service.record_reading(reading, provenance)
        assert outcome.measurement is not None
        mid = str(outcome.measurement.id)
        if name:
            ids.setdefault(name, []).append((mid, reading.kind.value))
        return mid

    def bp(at: datetime, s: float, d: float, flags: frozenset = frozenset()) -> Reading:
        return Reading(
            kind=K.BLOOD_PRESSURE, value=None, unit="mm[Hg]", received_at=at, device=cuff, flags=flags,
            components=(Component(K.SYSTOLIC_PRESSURE, s, "mm[Hg]"), Component(K.DIASTOLIC_PRESSURE, d, "mm[Hg]")),
        )

    for day in range(30, 0, -1):
        at = now - timedelta(days=day, hours=rng.uniform(-1, 1))
        await put(None, Reading(K.OXYGEN_SATURATION, rng.randint(92, 98), "%", at, device=ox))
        await put(None, Reading(K.PULSE_RATE, rng.randint(60, 84), "/min", at, device=ox))
        await put(None, bp(at, rng.randint(128, 152), rng.randint(78, 94)))
        await put(None, Reading(K.BODY_WEIGHT, round(78 + rng.uniform(-1.5, 1.5), 1), "kg", at, device=scale))
        await put(None, Reading(K.BLOOD_GLUCOSE, round(rng.uniform(5.5, 11.0), 1), "mmol/L", at, device=meter))
    for night in range(7, 0, -1):  # a week of overnight oximetry (the recordings' summaries)
        start = now.replace(hour=22, minute=0, second=0, microsecond=0) - timedelta(days=night)
        summary = OximetrySummary(
            start=start,
            end=start + timedelta(hours=8),
            spo2_lowest=float(rng.randint(84, 89)),
            spo2_mean=round(rng.uniform(91.0, 94.0), 1),
            minutes_below_limit=float(rng.randint(3, 40)),
            valid_minutes=float(rng.randint(430, 475)),
            pulse_rate_mean=float(rng.randint(62, 74)),
        )
        await put("overnight" if night == 1 else None, summary_reading(summary, device=ox))
    for dest in hub.workers:
        await hub.store.mark_delivered(dest.name, [str(m.id) for m in await hub.store.measurements(limit=10**6)])
    today = now - timedelta(hours=1)
    await put("oximeter", Reading(K.OXYGEN_SATURATION, 96, "%", today, device=ox))
    await put("oximeter", Reading(K.PULSE_RATE, 68, "/min", today, device=ox))
    for dest in hub.workers:
        await hub.store.mark_delivered(dest.name, [mid for mid, _ in ids["oximeter"]])
    await put("blood-pressure-loose", bp(now - timedelta(minutes=20), 171, 99, frozenset({QualityFlag.CUFF_LOOSE, QualityFlag.BATTERY_LOW})))
    await put("blood-pressure-loose", Reading(K.CUFF_PULSE_RATE, 74, "/min", now - timedelta(minutes=20), device=cuff))
    refused = await put("glucose", Reading(K.BLOOD_GLUCOSE, 7.8, "mmol/L", now - timedelta(minutes=40), device=meter))
    for dest in hub.workers:
        await hub.store.dead_letter(dest.name, refused, reason="example: refused by the centre")
    await put("temperature", Reading(K.BODY_TEMPERATURE, 37.5, "Cel", now - timedelta(minutes=5)), Provenance.MANUAL)
    forms = getattr(hub, "questionnaires", None)
    if forms is not None:  # a form with every kind of question, for the questionnaire screens' scenes
        await forms.import_forms("gallery", [json.loads(EXAMPLE_FORM.read_text(encoding="utf-8"))])
    return ids


def gallery_plan(examples: Path) -> dict[str, Any]:
    """The heart-failure example plan (weight 07:30, blood pressure 08:00 and 20:00) with the COPD
    example's oxygen saturation at 12:00: at GALLERY_NOW (11:30 in Oslo) one task of each state."""
    plan = json.loads((examples / "heart-failure.json").read_text(encoding="utf-8"))
    spo2 = json.loads((examples / "copd.json").read_text(encoding="utf-8"))["activity"][0]
    spo2["detail"]["scheduledTiming"]["repeat"]["timeOfDay"] = ["12:00:00"]
    plan["activity"].append(spo2)
    plan["id"], plan["title"] = "galleri-eksempel", "Egenbehandlingsplan"
    return plan


async def seed_plan_examples(hub: ExampleHub, now: datetime) -> dict[str, list[tuple[str, str]]]:
    """Values judged by gallery_plan (in force for a month before `now`): a month of oxygen
    saturation around the baseline (History's zone bands), today's blood pressure done at 08.10
    (green), a yellow one, and two red ones: the first asks to measure again after 5 minutes' rest,
    the second confirms. The weight of 07.30 is not measured (missed); oxygen at 12.00 is due."""
    K = MeasurementKind
    rng = random.Random(7)
    ox = DeviceIdentity(address="F0:11:22:33:44:01", name="Heima PLX 1", serial="PLX1-EX")
    cuff = DeviceIdentity(address="F0:11:22:33:44:02", name="Heima BP 1", serial="BP1-EX")
    ids: dict[str, list[tuple[str, str]]] = {}

    async def put(name: str | None, reading: Reading) -> None:
        outcome = await hub.service.record_reading(reading, Provenance.DEVICE)
        assert outcome.measurement is not None
        if name:
            ids.setdefault(name, []).append((str(outcome.measurement.id), reading.kind.value))

    def bp(at: datetime, s: float, d: float) -> Reading:
        return Reading(
            kind=K.BLOOD_PRESSURE, value=None, unit="mm[Hg]", received_at=at, device=cuff,
            components=(Component(K.SYSTOLIC_PRESSURE, s, "mm[Hg]"), Component(K.DIASTOLIC_PRESSURE, d, "mm[Hg]")),
        )

    for day in range(30, 0, -1):
        at = now - timedelta(days=day, hours=rng.uniform(-1, 1))
        await put(None, Reading(K.OXYGEN_SATURATION, rng.choice((90, 91, 92, 93, 94, 94, 95, 95, 96)), "%", at, device=ox))
    await put("plan-green", bp(now - timedelta(hours=3, minutes=20), 128, 82))
    await put("plan-yellow", bp(now - timedelta(minutes=40), 166, 94))
    await put("plan-red-first", bp(now - timedelta(minutes=2), 186, 98))
    await put("plan-red", bp(now - timedelta(minutes=1), 184, 97))
    return ids
