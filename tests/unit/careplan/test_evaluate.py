"""Evaluation: every rule kind, re-measure before alarm, confirmed alerts, stored as plain data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.careplan import Evaluation, Observed, PlanEvaluator, evaluate, parse_plan
from hub.domain.measurements import Measurement
from hub.domain.readings import Component, MeasurementKind, Provenance, QualityFlag, Reading
from tests.unit.careplan.plans import example, measurement, plan, spo2_plan, timing, zone

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SPO2 = MeasurementKind.OXYGEN_SATURATION
WEIGHT = MeasurementKind.BODY_WEIGHT


def obs(kind, value, at, *, flags=(), unit=None, n=None):
    units = {SPO2: "%", WEIGHT: "kg", MeasurementKind.BLOOD_GLUCOSE: "mmol/L"}
    return Observed(kind=kind, time=at, value=value, unit=unit or units.get(kind, ""), flags=frozenset(flags), id=n)


def bp(sys, dia, at, flags=()):
    return Observed(
        kind=MeasurementKind.BLOOD_PRESSURE, time=at,
        components=((MeasurementKind.SYSTOLIC_PRESSURE, sys, "mm[Hg]"), (MeasurementKind.DIASTOLIC_PRESSURE, dia, "mm[Hg]")),
        flags=frozenset(flags),
    )


@pytest.mark.parametrize(("value", "zone_", "rule"), [(87.9, "red", "red"), (88, "yellow", "yellow"), (91.9, "yellow", "yellow"), (92, "green", "green"), (99, "green", "green")])
def test_absolute_limits_are_half_open(value, zone_, rule):
    e = evaluate(parse_plan(spo2_plan()), obs(SPO2, value, T0))
    assert (e.zone, e.rule, e.rule_kind) == (zone_, rule, "limits")
    assert e.advice == f"råd {rule}" and e.language == "nb"


def test_relative_limits_follow_the_baseline():
    zones = [zone("red", "red", high=-6, relative=True), zone("yellow", "yellow", low=-6, high=-2, relative=True), zone("green", "green", low=-2, relative=True)]
    p = parse_plan(plan(measurement("spo2", "2708-6", zones, baseline=(94, "%"))))
    assert [evaluate(p, obs(SPO2, v, T0)).zone for v in (87, 88, 91, 92, 97)] == ["red", "yellow", "yellow", "green", "green"]
    ranges = {r.zone: (r.low, r.high, r.type.code) for r in evaluate(p, obs(SPO2, 95, T0)).reference_ranges}
    assert ranges == {"red": (None, 88, "LL"), "yellow": (88, 92, "L"), "green": (92, None, "N")}


def test_blood_pressure_worst_component_decides():
    p = parse_plan(example("heart-failure"))
    e = evaluate(p, bp(150, 112, T0))
    assert (e.zone, e.rule) == ("red", "dia-red")
    e = evaluate(p, bp(171, 99, T0))
    assert (e.zone, e.rule) == ("yellow", "sys-high-yellow")
    kinds = {(r.component, r.zone) for r in e.reference_ranges}
    assert ("8480-6", "sys-high-red") in kinds and ("8462-4", "dia-green") in kinds
    types = {r.zone: r.type.code for r in e.reference_ranges}
    assert types["sys-low-red"] == "LL" and types["sys-low-yellow"] == "L" and types["sys-high-yellow"] == "H" and types["sys-high-red"] == "HH"


def test_weight_up_2kg_within_3_days_is_red_and_confirmed_by_a_second_weighing():
    p = parse_plan(example("heart-failure"))
    day3 = T0 + timedelta(days=2, hours=20)  # 68 h after the first weighing
    history = [obs(WEIGHT, 80.0, T0), obs(WEIGHT, 80.6, T0 + timedelta(days=1))]
    first = evaluate(p, obs(WEIGHT, 82.0, day3), history)
    assert (first.zone, first.rule, first.rule_kind) == ("red", "weight-up-2kg-3days", "rule")
    assert first.remeasure and first.remeasure_reason == "confirm" and first.remeasure_after_s == 120 and not first.alert
    history.append(obs(WEIGHT, 82.0, day3, n="w3"))
    second = evaluate(p, obs(WEIGHT, 82.1, day3 + timedelta(minutes=3)), history)
    assert second.zone == "red" and second.alert and not second.remeasure
    assert second.implicated == ("w3",)  # the alert names the value it confirmed


def test_weight_gain_spread_over_more_than_3_days_is_not_red():
    p = parse_plan(example("heart-failure"))
    history = [obs(WEIGHT, 80.0, T0), obs(WEIGHT, 80.5, T0 + timedelta(days=1)), obs(WEIGHT, 81.2, T0 + timedelta(days=3))]
    e = evaluate(p, obs(WEIGHT, 82.0, T0 + timedelta(days=3, hours=2)), history)
    assert (e.zone, e.rule) == ("green", "default")  # 80.0 is 74 h back; up 1.5 in 50 h, 0.8 since yesterday


def test_spo2_4_points_under_baseline_twice_in_a_row():
    p = parse_plan(example("copd"))  # baseline 94: 90 is yellow by limits
    once = evaluate(p, obs(SPO2, 90, T0), [obs(SPO2, 95, T0 - timedelta(days=1))])
    assert (once.zone, once.rule) == ("yellow", "spo2-yellow")
    twice = evaluate(p, obs(SPO2, 90, T0), [obs(SPO2, 95, T0 - timedelta(days=2)), obs(SPO2, 89, T0 - timedelta(days=1))])
    assert (twice.zone, twice.rule, twice.rule_kind) == ("red", "spo2-under-baseline-twice", "rule")
    assert twice.alert and not twice.remeasure  # the rule is its own confirmation (confirmations 1)
    # A doubtful earlier value is no evidence.
    flagged = evaluate(p, obs(SPO2, 90, T0), [obs(SPO2, 89, T0 - timedelta(days=1), flags=["questionable"])])
    assert flagged.zone == "yellow"


def test_a_flagged_red_value_asks_to_measure_again_and_alarms_nothing():
    p = parse_plan(example("heart-failure"))
    e = evaluate(p, bp(190, 90, T0, flags=[QualityFlag.CUFF_LOOSE.value]))
    assert e.zone == "red" and e.remeasure and e.remeasure_reason == "flagged" and e.remeasure_after_s == 300 and not e.alert
    # The flagged one neither counts nor breaks the run: the next clean red is the first.
    after = evaluate(p, bp(188, 90, T0 + timedelta(minutes=6)), [bp(190, 90, T0, flags=["cuff-loose"])])
    assert after.remeasure and not after.alert


def test_red_alerts_once_on_the_confirming_value():
    p = parse_plan(example("heart-failure"))
    values = [bp(185, 90, T0 + timedelta(minutes=6 * i)) for i in range(4)]
    results = [evaluate(p, v, values[:i]) for i, v in enumerate(values)]
    assert [(r.remeasure, r.alert) for r in results] == [(True, False), (False, True), (False, False), (False, False)]
    assert [r.confirmations_seen for r in results] == [1, 2, 3, 4] and results[1].confirmations_needed == 2


def test_an_earlier_red_outside_the_confirmation_window_does_not_confirm():
    p = parse_plan(example("heart-failure"))  # confirm-within: the default hour
    e = evaluate(p, bp(185, 90, T0 + timedelta(hours=2)), [bp(185, 90, T0)])
    assert e.remeasure and not e.alert


def test_a_green_value_between_two_reds_breaks_the_run():
    p = parse_plan(example("heart-failure"))
    h = [bp(185, 90, T0), bp(140, 80, T0 + timedelta(minutes=6))]
    e = evaluate(p, bp(185, 90, T0 + timedelta(minutes=12)), h)
    assert e.remeasure and not e.alert


def test_a_red_with_one_confirmation_alerts_at_once():
    p = parse_plan(example("diabetes"))
    e = evaluate(p, obs(MeasurementKind.BLOOD_GLUCOSE, 2.6, T0))
    assert (e.zone, e.rule, e.alert, e.remeasure) == ("red", "glucose-hypo", True, False)


def test_yellow_never_alerts_unless_the_plan_says_so():
    p = parse_plan(plan(measurement("spo2", "2708-6", [zone("y", "yellow", high=90, alert=True, confirmations=1), zone("g", "green", low=90)])))
    assert evaluate(p, obs(SPO2, 85, T0)).alert
    assert not evaluate(parse_plan(spo2_plan()), obs(SPO2, 90, T0)).alert


def test_a_reading_in_mg_dl_is_judged_in_mmol_l():
    p = parse_plan(example("diabetes"))
    e = evaluate(p, obs(MeasurementKind.BLOOD_GLUCOSE, 55, T0, unit="mg/dL"))  # 3.05 mmol/L
    assert e.rule == "glucose-low"
    assert evaluate(p, obs(MeasurementKind.BLOOD_GLUCOSE, 54, T0, unit="mg/dL")).rule == "glucose-hypo"  # 2.997


def test_no_plan_or_no_zone_for_the_kind_invents_no_advice():
    assert evaluate(None, obs(SPO2, 85, T0)) is None
    assert evaluate(parse_plan(example("heart-failure")), obs(SPO2, 85, T0)) is None
    assert evaluate(parse_plan(example("diabetes")), obs(WEIGHT, 85, T0)) is None  # weight scheduled, no zones


def test_advice_in_the_patients_language_with_a_fallback():
    p = parse_plan(spo2_plan())
    assert PlanEvaluator(p, language="nn").evaluate(obs(SPO2, 80, T0)).advice == "råd nn red"
    assert PlanEvaluator(p, language="en").evaluate(obs(SPO2, 80, T0)).advice == "advice red"
    only_nb = parse_plan(plan(measurement("spo2", "2708-6", [zone("g", "green", low=0, texts={"nb": "bra"}), zone("r", "red", high=0)])))
    e = PlanEvaluator(only_nb, language="nn").evaluate(obs(SPO2, 95, T0))
    assert (e.advice, e.language) == ("bra", "nb")


def test_interpretation_carries_zone_and_vkp_triage():
    e = evaluate(parse_plan(spo2_plan()), obs(SPO2, 80, T0))
    assert [(c.code, c.display) for c in e.interpretation] == [("LL", None), ("red", "rød"), ("R", "rød")]
    assert e.interpretation[0].system.endswith("v3-ObservationInterpretation") and e.observation_interpretation == "LL"
    assert e.interpretation[2].system.endswith("vkp-triage-v090")


def test_evaluation_is_stored_as_plain_json_and_read_back():
    p = parse_plan(example("heart-failure"))
    e = evaluate(p, bp(185, 90, T0))
    d = json.loads(json.dumps(e.to_dict()))
    assert Evaluation.from_dict(d) == e and Evaluation.from_dict(d).advice_in("en").startswith("Your blood pressure")


def test_a_stored_measurement_is_evaluated_with_its_history():
    def m(value, at, flags=frozenset()):
        r = Reading(kind=SPO2, value=value, unit="%", received_at=at, flags=flags)
        return Measurement(id=uuid.uuid4(), reading=r, provenance=Provenance.DEVICE, effective_time=at, natural_key=None)

    p = parse_plan(spo2_plan())
    first = m(80, T0)
    second = m(81, T0 + timedelta(minutes=3))
    # The history as stored may already hold the value itself: it is not its own confirmation.
    e1 = PlanEvaluator(p).evaluate(first, [first])
    assert e1.remeasure and not e1.alert
    e2 = PlanEvaluator(p).evaluate(second, [first, second])
    assert e2.alert


def test_a_blood_pressure_measurement_reads_its_components():
    r = Reading(
        kind=MeasurementKind.BLOOD_PRESSURE, value=None, unit="mm[Hg]", received_at=T0,
        components=(Component(MeasurementKind.SYSTOLIC_PRESSURE, 185, "mm[Hg]"), Component(MeasurementKind.DIASTOLIC_PRESSURE, 90, "mm[Hg]")),
    )
    m = Measurement(id=uuid.uuid4(), reading=r, provenance=Provenance.DEVICE, effective_time=T0, natural_key=None)
    assert evaluate(parse_plan(example("heart-failure")), m).rule == "sys-high-red"


def test_a_pulse_from_the_cuff_is_judged_by_the_plans_pulse():
    p = parse_plan(plan(measurement("puls", "8867-4", [zone("g", "green", high=100, unit="/min"), zone("y", "yellow", low=100, unit="/min")], timing_=timing())))
    assert evaluate(p, Observed(kind=MeasurementKind.CUFF_PULSE_RATE, time=T0, value=120, unit="/min")).zone == "yellow"


def test_history_newest_first_as_a_store_query_gives_it_is_read_the_same():
    p = parse_plan(example("heart-failure"))
    history = [obs(WEIGHT, 80.0, T0), obs(WEIGHT, 80.6, T0 + timedelta(days=1)), obs(WEIGHT, 82.0, T0 + timedelta(days=2))]
    now = obs(WEIGHT, 82.1, T0 + timedelta(days=2, minutes=3))
    oldest_first = evaluate(p, now, history)
    newest_first = evaluate(p, now, list(reversed(history)))
    assert oldest_first == newest_first and oldest_first.alert
    assert PlanEvaluator(p).history_limit >= 50


def test_the_decided_zones_observation_interpretation_code():
    p = parse_plan(example("heart-failure"))
    assert evaluate(p, bp(185, 90, T0)).observation_interpretation == "HH"
    assert evaluate(p, bp(95, 70, T0)).observation_interpretation == "L"
    assert evaluate(p, obs(WEIGHT, 80, T0)).observation_interpretation == "N"  # the default level
    red_rule = evaluate(p, obs(WEIGHT, 83, T0), [obs(WEIGHT, 80, T0 - timedelta(days=1))])
    assert red_rule.observation_interpretation == "AA"
