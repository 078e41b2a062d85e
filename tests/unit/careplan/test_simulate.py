"""`heima plan simulate` logic on the example plans, as docs/care-plan-format.md shows it."""

from __future__ import annotations

import json

import pytest

from hub.domain.careplan import ValuesError, simulate
from tests.unit.careplan.plans import example


def test_blood_pressure_red_measure_again_then_alert_once():
    values = [
        {"time": "2026-03-03T08:01:00+01:00", "kind": "blood-pressure", "systolic": 186, "diastolic": 98},
        {"time": "2026-03-03T08:07:00+01:00", "kind": "blood-pressure", "systolic": 184, "diastolic": 97},
        {"time": "2026-03-03T08:14:00+01:00", "kind": "blood-pressure", "systolic": 181, "diastolic": 95},
    ]
    lines = list(simulate(example("heart-failure"), values, language="en"))
    assert [(x["zone"], x["rule"], x["remeasure"], x["remeasure_after_s"], x["alert"]) for x in lines] == [
        ("red", "sys-high-red", True, 300, False),
        ("red", "sys-high-red", False, None, True),
        ("red", "sys-high-red", False, None, False),
    ]
    assert lines[0]["advice"].startswith("Your blood pressure is very high")
    assert all(json.loads(json.dumps(x)) == x for x in lines)


def test_copd_flagged_value_and_the_twice_under_baseline_rule():
    values = [
        {"time": "2026-03-02T08:00:00+01:00", "kind": "oxygen-saturation", "value": 95},
        {"time": "2026-03-03T08:00:00+01:00", "kind": "oxygen-saturation", "value": 90, "flags": ["questionable"]},
        {"time": "2026-03-03T08:02:00+01:00", "kind": "oxygen-saturation", "value": 90},
        {"time": "2026-03-04T08:00:00+01:00", "kind": "oxygen-saturation", "value": 89},
    ]
    lines = list(simulate(example("copd"), values))
    assert [(x["zone"], x["rule"], x["remeasure"], x["alert"]) for x in lines] == [
        ("green", "spo2-green", False, False),
        ("yellow", "spo2-yellow", True, False),  # flagged: measure again
        ("yellow", "spo2-yellow", False, False),  # the flagged one is no evidence
        ("red", "spo2-under-baseline-twice", False, True),
    ]


def test_diabetes_hypo_alerts_at_once_and_an_unplanned_kind_gets_no_advice():
    values = [
        {"time": "2026-03-03T07:55:00+01:00", "code": "15074-8", "value": 2.7},
        {"time": "2026-03-03T08:15:00+01:00", "kind": "blood-glucose", "value": 99, "unit": "mg/dL"},
        {"time": "2026-03-03T08:20:00+01:00", "kind": "oxygen-saturation", "value": 80},
    ]
    lines = list(simulate(example("diabetes"), values))
    assert [(x["zone"], x["rule"], x["alert"]) for x in lines] == [("red", "glucose-hypo", True), ("green", "glucose-green", False), (None, None, False)]
    assert lines[2]["advice"] is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ([{"time": "2026-03-03T08:00:00", "kind": "body-weight", "value": 80}], "offset"),
        ([{"time": "2026-03-03T08:00:00+01:00", "kind": "weight", "value": 80}], "unknown kind"),
        ([{"time": "2026-03-03T08:00:00+01:00", "kind": "body-weight"}], "give 'value'"),
        ([{"time": "2026-03-03T09:00:00+01:00", "kind": "body-weight", "value": 80},
          {"time": "2026-03-03T08:00:00+01:00", "kind": "body-weight", "value": 80}], "time order"),
    ],
)
def test_bad_values_are_refused_by_position(values, says):
    with pytest.raises(ValuesError, match=says) as caught:
        list(simulate(example("heart-failure"), values))
    assert "80" not in str(caught.value)


def test_the_documented_simulation_is_what_simulate_says():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "care-plan-format.md").read_text()
    section = doc.split("## Example: `heima plan simulate`")[1]
    blocks = [b.split("```", 1)[0] for b in section.split("```json\n")[1:3]]
    values, expected = json.loads(blocks[0]), [json.loads(line) for line in blocks[1].strip().splitlines()]
    assert list(simulate(example("heart-failure"), values)) == expected
