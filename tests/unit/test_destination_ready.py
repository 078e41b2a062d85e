"""A FHIR destination is ready to send once made (issue 13, part D3): what httpx's first request
imports (anyio's asyncio backend, ~30 modules, ~30 ms) is imported at the hub's start, not inside
its first delivery, where it cost 3 us per Observation of a first 10,000."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from sync.destinations import FhirServerDestination
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
before = "anyio._backends._asyncio" in sys.modules
FhirServerDestination("centre", "http://127.0.0.1:1", ctx=FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-1")))
print(before, "anyio._backends._asyncio" in sys.modules)
"""


def test_a_destination_made_has_what_its_first_request_imports():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
