"""`heima plan check|simulate|show` through the real command line (hub.cli.main): the same code the
hub runs, exit 2 with the reason for a plan Heima cannot use, and `show` the plan in force (what
the centre configured, never the patient's identity)."""

from __future__ import annotations

import json
from pathlib import Path

from hub.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "careplans"
VALUES = [
    {"time": "2026-03-03T08:01:00+01:00", "kind": "blood-pressure", "systolic": 186, "diastolic": 98},
    {"time": "2026-03-03T08:07:00+01:00", "kind": "blood-pressure", "systolic": 184, "diastolic": 97},
]


def test_check_and_simulate(tmp_path, capsys):
    assert main(["plan", "check", str(EXAMPLES / "diabetes.json")]) == 0
    assert json.loads(capsys.readouterr().out)["title"]
    bad = json.loads((EXAMPLES / "heart-failure.json").read_text())
    bad["status"] = "draft"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(["plan", "check", str(tmp_path / "bad.json")]) == 2
    assert "not active" in capsys.readouterr().err

    (tmp_path / "values.json").write_text(json.dumps(VALUES))
    assert main(["plan", "simulate", str(EXAMPLES / "heart-failure.json"), str(tmp_path / "values.json")]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (first["zone"], first["remeasure"], first["remeasure_after_s"], first["alert"]) == ("red", True, 300, False)
    assert (second["zone"], second["remeasure"], second["alert"]) == ("red", False, True)
    assert second["rule"] == "sys-high-red" and second["advice"].startswith("Blodtrykket er svært høyt")


def test_show_the_plan_in_force(tmp_path, capsys):
    assert main(["plan", "show", "--data-dir", str(tmp_path)]) == 0
    assert "No self-care plan" in capsys.readouterr().out
    folder = tmp_path / "careplans"
    folder.mkdir()
    plan = json.loads((EXAMPLES / "diabetes.json").read_text())
    plan["subject"] = {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "13116900216"}}
    (folder / "plan.json").write_text(json.dumps(plan))
    assert main(["sync", "--data-dir", str(tmp_path)]) == 0  # the hub started (here for one sync) applies the folder's plan
    capsys.readouterr()
    assert main(["plan", "show", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["title"] == plan["title"] and shown["source"] == "folder plan.json" and shown["activities"]
    assert "13116900216" not in out
