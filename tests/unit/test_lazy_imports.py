"""The app's process imports at start only what every hub uses (issue 13, the touch app's
memory): FHIRPath (fhirpathpy, antlr4 and its R4 model, ~8 MB) comes with the first care-plan
rule or form expression, jsonschema (~4 MB) with the first command from a centre."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAZY = ("fhirpathpy", "antlr4", "jsonschema")


def imported_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(','.join(m for m in {LAZY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    return [m for m in out.stdout.strip().split(",") if m]


def test_the_hub_and_its_facade_start_without_fhirpath_or_jsonschema():
    assert imported_after("import hub.app, hub.api, hub.app.remote, hub.domain.careplan, hub.domain.questionnaire") == []


def test_a_form_expression_and_a_plan_rule_still_work_and_bring_fhirpath_then():
    code = """
from datetime import datetime, UTC
from hub.domain.questionnaire.expressions import compile_expression, evaluate
expr = compile_expression("%value > 2", None, "rule")
assert evaluate(expr, {}, {"value": 3}, datetime(2026, 1, 1, tzinfo=UTC)) == [True]
try:
    compile_expression("%value < < 2", None, "rule")
except Exception as e:
    assert "not valid FHIRPath" in str(e)
else:
    raise AssertionError("a bad expression was accepted")
"""
    assert set(imported_after(code)) == {"fhirpathpy", "antlr4"}


def test_a_centres_command_is_still_checked_against_its_schema():
    code = """
from sync.remote.protocol import reply_is_valid
assert not reply_is_valid({"nonsense": True})
"""
    assert imported_after(code) == ["jsonschema"]
