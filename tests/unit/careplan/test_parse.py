"""Bad plans are refused at import, with a reason naming the activity and what to change."""

from __future__ import annotations

import pytest

from hub.domain.careplan import FormActivity, PlanError, check_plan, parse_plan
from tests.unit.careplan.plans import example, form, measurement, plan, spo2_zones, timing, zone


def refused(doc) -> PlanError:
    with pytest.raises(PlanError) as caught:
        parse_plan(doc)
    return caught.value


def spo2(zones, **kw):
    return plan(measurement("spo2", "2708-6", zones, timing_=kw.pop("timing_", timing()), **kw))


def test_overlapping_zones():
    e = refused(spo2([zone("red", "red", high=89), zone("yellow", "yellow", low=88, high=92), zone("green", "green", low=92)]))
    assert e.activity == "spo2" and "'red' and 'yellow' overlap" in str(e)


def test_a_gap_no_level_covers():
    e = refused(spo2([zone("red", "red", high=87), zone("yellow", "yellow", low=88, high=92), zone("green", "green", low=92)]))
    assert "between zones 'red' and 'yellow'" in e.reason and e.activity == "spo2"


def test_values_above_or_below_every_zone():
    assert "above zone 'yellow'" in refused(spo2([zone("red", "red", high=88), zone("yellow", "yellow", low=88, high=92)])).reason
    assert "below zone 'yellow'" in refused(spo2([zone("yellow", "yellow", low=88, high=92), zone("green", "green", low=92)])).reason


def test_a_default_level_fills_the_gaps():
    p = parse_plan(spo2([zone("red", "red", high=85)], default="green"))
    assert p.activities[0].default_level.value == "green"


def test_only_rules_and_no_default_leave_values_in_no_zone():
    e = refused(plan(measurement("vekt", "29463-7", [zone("up", "red", rule="%history.exists(%value - value >= 2)")])))
    assert "no limits cover any value" in e.reason


@pytest.mark.parametrize("unit", ["kPa", "mg", "mmol/L"])
def test_limits_in_a_unit_that_does_not_match(unit):
    e = refused(plan(measurement("vekt", "29463-7", [zone("g", "green", high=90, unit=unit), zone("r", "red", low=90, unit="kg")])))
    assert e.activity == "vekt" and f"is in {unit}" in e.reason and "write it in kg" in e.reason


def test_exact_conversions_are_made():
    p = parse_plan(plan(measurement("vekt", "29463-7", [zone("g", "green", high=90000, unit="g"), zone("r", "red", low=90, unit="kg")])))
    assert p.activities[0].zones[0].high == 90
    glucose = [zone("lo", "red", high=72.064, unit="mg/dL"), zone("ok", "green", low=4, high=10, unit="mmol/L"), zone("hi", "yellow", low=180.16, unit="mg/dL")]
    zones = parse_plan(plan(measurement("bs", "15074-8", glucose))).activities[0].zones
    assert [(z.low, z.high) for z in zones] == [(None, 4.0), (4.0, 10.0), (10.0, None)]


def test_blood_pressure_in_kpa_is_refused():
    zones = [zone("g", "green", high=21, unit="kPa", component="8480-6"), zone("r", "red", low=160, unit="mm[Hg]", component="8480-6")]
    assert "not exactly convertible" in refused(plan(measurement("bt", "85354-9", zones))).reason


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("%value >>> 2", "not valid FHIRPath"),
        ("%value < < 2", "not valid FHIRPath"),  # fhirpathpy alone runs this (true)
        ("(%value > 2", "not valid FHIRPath"),
        ("%value > 2 xx", "not valid FHIRPath"),
        ("%value.nosuchfunction()", "fails when run"),
        ("%weight > 2", "fails when run"),
        ("%value + 1", "true or false"),
    ],
)
def test_invalid_fhirpath(rule, says):
    e = refused(spo2([zone("r", "red", rule=rule), *spo2_zones()]))
    assert says in e.reason and "zone 'r'" in e.reason and e.activity == "spo2"


def test_a_rule_over_the_baseline_needs_one():
    e = refused(spo2([zone("r", "red", rule="%value < %baseline - 4"), *spo2_zones()]))
    assert "baseline" in e.reason


def test_a_relative_zone_needs_a_baseline():
    assert "baseline" in refused(spo2([zone("g", "green", low=-2, relative=True), zone("r", "red", high=-2, relative=True)])).reason


@pytest.mark.parametrize(
    "t",
    [
        timing(count=0),
        timing(start="2026-05-01", end="2026-04-01"),
        timing(days=["mon"], unit="d", start="2026-06-02", end="2026-06-05"),  # Tue..Fri: no Monday
        timing(events=["2026-03-01T10:00:00+01:00"], start=None) | {"repeat": {"boundsPeriod": {"start": "2026-04-01"}}},
    ],
)
def test_a_timing_that_never_fires(t):
    e = refused(spo2(spo2_zones(), timing_=t))
    assert "never fires" in e.reason and e.activity == "spo2"


def test_a_timing_with_no_time_zone():
    e = refused(spo2(spo2_zones(), timing_=timing(tz=None)))
    assert "no time zone" in e.reason and e.activity == "spo2"
    # The plan's own tz-code serves every activity.
    doc = spo2(spo2_zones(), timing_=timing(tz=None))
    doc["extension"] = [{"url": "http://hl7.org/fhir/StructureDefinition/tz-code", "valueCode": "Europe/Oslo"}]
    assert parse_plan(doc).activities[0].timing.zone == "Europe/Oslo"


def test_an_unknown_time_zone():
    assert "IANA" in refused(spo2(spo2_zones(), timing_=timing(tz="Europe/Bergen"))).reason


@pytest.mark.parametrize(
    ("t", "says"),
    [
        (timing(unit="h", period=8), "timeOfDay/when go with periods of days"),
        (timing(days=["mon"], unit="d", period=2), "dayOfWeek goes with"),
        (timing(times=(), unit="wk", frequency=3), "needs dayOfWeek or timeOfDay"),
        (timing(period=2, start=None), "needs boundsPeriod.start"),
        (timing(when=["BRUNCH"]), "when 'BRUNCH'"),
        (timing(times=("8 o'clock",)), "HH:MM:SS"),
    ],
)
def test_timings_heima_cannot_schedule(t, says):
    assert says in refused(spo2(spo2_zones(), timing_=t)).reason


def test_an_action_text_missing_in_every_language():
    e = refused(spo2([zone("red", "red", high=88, texts={}), zone("green", "green", low=88)]))
    assert e.activity == "spo2" and "zone 'red' has no action text in any language" in e.reason


def test_blood_pressure_zones_name_their_component():
    e = refused(plan(measurement("bt", "85354-9", [zone("g", "green", high=140, unit="mm[Hg]")])))
    assert "must name its component" in e.reason


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (plan(measurement("spo2", "2708-6", spo2_zones()), status="draft"), "not active"),
        (plan(measurement("spo2", "2708-6", spo2_zones()), category="1"), "not a self-care plan"),
        ({"resourceType": "Patient"}, "not a FHIR CarePlan"),
        (plan(measurement("x", "1234-5", spo2_zones())), "no LOINC code Heima measures"),
        (plan(measurement("a", "2708-6", spo2_zones()), measurement("b", "59408-5", spo2_zones())), "measure the same thing"),
    ],
)
def test_plans_heima_cannot_use(doc, says):
    assert says in str(refused(doc))


def test_reasons_carry_no_patient_numbers():
    zones = [zone("g", "green", low=-2, relative=True), zone("y", "yellow", low=-7, high=-3, relative=True), zone("r", "red", high=-7, relative=True)]
    e = refused(plan(measurement("spo2", "2708-6", zones, baseline=(93.7, "%"))))
    assert "93" not in str(e) and "90" not in str(e) and "'y' and 'g'" in str(e)


def test_finished_activities_are_left_out_and_on_hold_is_paused():
    p = parse_plan(plan(measurement("a", "2708-6", spo2_zones(), status="cancelled", timing_=timing()),
                        measurement("b", "29463-7", [], default="green", status="on-hold", timing_=timing()),
                        form("f", "https://example.no/Questionnaire/q|1", timing())))
    assert [a.id for a in p.activities] == ["b", "f"] and p.activities[0].paused
    assert isinstance(p.activities[1], FormActivity) and p.activities[1].questionnaire == "https://example.no/Questionnaire/q|1"


@pytest.mark.parametrize("name", ["copd", "heart-failure", "diabetes"])
def test_the_example_plans_load(name):
    summary = check_plan(example(name))
    assert summary["ok"] and summary["activities"]
    assert parse_plan(example(name)).version == "1"
