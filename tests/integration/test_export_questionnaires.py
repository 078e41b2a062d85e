"""`heima export` writes submitted questionnaires too: the QuestionnaireResponse and its score in
the day's bundle (the day it was submitted), the same files again on a second export, and with
--destination only what that destination has not taken."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hub.api import Coding
from hub.app import export, start_hub
from hub.config import HubConfig

CS = "https://oppfolging.example.no/fhir/CodeSystem/heima-innsjekk"
KOLS = "https://oppfolging.example.no/fhir/Questionnaire/kols-daglig"
DAY = [("pust", "som-vanlig"), ("hoste", "nei"), ("slim", "nei"), ("anfallsmedisin", "nei"), ("sovn", "ja")]
NOW = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)


async def submit_a_check_in(config: HubConfig) -> str:
    hub = await start_hub(config, deliver=False, clock=lambda: NOW)  # no centre: the example check-ins
    try:
        step = await hub.api.start_form(KOLS)
        for link_id, code in DAY:
            await hub.api.answer(step.form_id, link_id, Coding(code, CS))
        return (await hub.api.submit_form(step.form_id)).response_id
    finally:
        await hub.stop()


def resources(folder: Path) -> list[dict]:
    return [e["resource"] for f in sorted(folder.iterdir()) for e in json.loads(f.read_text(encoding="utf-8"))["entry"]]


async def test_export_writes_the_submitted_response_and_its_score(tmp_path):
    config = HubConfig(data_dir=tmp_path / "data", serial="HUB-EXPORT-1")
    response_id = await submit_a_check_in(config)
    result = await export.export(config, tmp_path / "usb")
    assert [(f.path.name, f.forms, f.scores, f.measurements) for f in result.files] == [
        ("heima-HUB-EXPORT-1-2026-03-02.fhir.json", 1, 1, 0)
    ]
    found = resources(tmp_path / "usb")
    [qr] = [r for r in found if r["resourceType"] == "QuestionnaireResponse"]
    [score] = [r for r in found if r["resourceType"] == "Observation"]
    assert qr["identifier"]["value"] == f"urn:uuid:{response_id}" and qr["questionnaire"] == f"{KOLS}|1.0"
    assert score["derivedFrom"][0]["identifier"]["value"] == f"urn:uuid:{response_id}" and score["valueQuantity"]["value"] == 1
    again = await export.export(config, tmp_path / "usb")
    assert [f.written for f in again.files] == [False]  # the same bytes: left alone

    waiting = await export.export(config, tmp_path / "waiting", destination="local-folder")
    assert waiting.forms == 1  # not delivered to the folder destination yet
