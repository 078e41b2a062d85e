"""heima return: everything delivered (or exported with the technician's yes) before anything is
wiped; refused while anything is unsent and not exported; after the wipe the store, bonds, keys,
forms and configuration are gone, a wipe record without patient data is left, `heima` says the
hub is not enrolled, and a fresh enrolment for the next patient works."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from hub.cli import main
from hub.config import load_config

from .hubs import PIN, leftovers, make_hub, observation_ids
from .profiles import HUB_ID, OTHER_PATIENT, PATIENT


def run(monkeypatch, argv: list[str], stdin: str = PIN + "\n") -> int:  # noqa: ANN001
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(argv)


def test_return_delivers_everything_then_wipes_and_the_hub_is_ready_for_the_next_patient(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    hub = make_hub(tmp_path)
    assert not hub.inbox.exists() or observation_ids(hub.inbox) == set()  # nothing sent yet
    assert run(monkeypatch, hub.cli("return")) == 0
    out = capsys.readouterr().out
    assert "Stored on the hub: 6 measurement(s)" in out and "centre-inbox: delivered now 6, not delivered 0" in out
    assert observation_ids(hub.inbox) == set(hub.ids)  # delivered before the wipe
    assert leftovers(hub) == []
    record = json.loads((hub.data / "wipe-record.json").read_text())
    assert record["measurements_stored"] == 6 and record["delivered_now"] == {"centre-inbox": 6}
    assert record["hub_id"] == HUB_ID and "heima.db" in record["wiped"] and "bonds.json" in record["wiped"]
    text = (hub.data / "wipe-record.json").read_text() + out
    assert PATIENT not in text and "Kari" not in text
    assert not (hub.data / "return-journal.json").exists()
    audit = (hub.data / "technician" / "audit.log").read_text()  # the kit's history stays
    assert '"action": "return"' in audit and PATIENT not in audit

    assert run(monkeypatch, ["--config", str(hub.config), "status"]) == 2
    assert "not enrolled" in capsys.readouterr().err

    # The next patient: a fresh enrolment works on the returned hub.
    from .profiles import payload, signed

    data = payload(tmp_path / "inbox-2", patient=OTHER_PATIENT)
    import datetime as dt

    now = dt.datetime.now(dt.UTC)  # the CLI checks the profile against the wall clock
    data.update(issued_at=(now - dt.timedelta(hours=1)).isoformat(), expires_at=(now + dt.timedelta(days=1)).isoformat())
    profile = tmp_path / "next.json"
    profile.write_bytes(signed(data, hub.key))
    assert run(monkeypatch, hub.cli("enrol", str(profile))) == 0
    assert load_config(hub.config).patient.identifier == OTHER_PATIENT


def test_return_refuses_while_anything_is_unsent_unless_exported_with_a_yes(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    hub = make_hub(tmp_path, unreachable=True)
    assert run(monkeypatch, hub.cli("return")) == 1
    err = capsys.readouterr().err
    assert "hospital: 6 measurement(s) not delivered" in err and "NOT wiped" in err and "--export DIR --yes" in err
    assert {"heima.db", "bonds.json", "forms", "secrets", "ui-settings.json", "config"} <= set(leftovers(hub))
    stick = tmp_path / "stick"
    stick.mkdir()
    export = stick / "hub-0042"
    assert run(monkeypatch, hub.cli("return", "--export", str(export))) == 1
    assert "add --yes" in capsys.readouterr().err
    assert "heima.db" in leftovers(hub)
    assert observation_ids(export) == set()  # nothing exported without the yes

    assert run(monkeypatch, hub.cli("return", "--export", str(export), "--yes")) == 0
    out = capsys.readouterr().out
    assert "hospital: exported 6 measurement(s)" in out
    assert observation_ids(export) == set(hub.ids)
    assert observation_ids(hub.inbox) == set(hub.ids)
    assert leftovers(hub) == []
    record = json.loads((hub.data / "wipe-record.json").read_text())
    assert record["exported"] == {"hospital": 6}


def test_a_wrong_pin_wipes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    hub = make_hub(tmp_path, measurements=1)
    assert run(monkeypatch, hub.cli("return"), stdin="000001\n") == 1
    assert "wrong PIN" in capsys.readouterr().err
    assert "heima.db" in leftovers(hub) and "config" in leftovers(hub)


def test_the_kit_command_asks_for_the_pin_and_audits(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    hub = make_hub(tmp_path, measurements=2)
    assert run(monkeypatch, hub.cli("technician", "--technician", "tone", "kit", "--fhir", str(tmp_path / "kit.json"))) == 0
    out = capsys.readouterr().out
    assert "F0:11:22:33:44:01" in out and "PLX1-0001" in out and "paired: yes" in out
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(json.loads((tmp_path / "kit.json").read_text()))
    assert run(monkeypatch, hub.cli("technician", "audit")) == 0
    out = capsys.readouterr().out
    assert "tone" in out and "kit: listed" in out and "enrol: ok" in out
    assert run(monkeypatch, hub.cli("technician", "kit"), stdin="000001\n") == 1
    assert "wrong PIN" in capsys.readouterr().err

    # --send: the inventory queued as Device resources, then delivered with everything else.
    assert run(monkeypatch, hub.cli("technician", "kit", "--send")) == 0
    assert "1 Device resource(s) queued" in capsys.readouterr().out
    assert run(monkeypatch, hub.cli("sync")) == 0
    devices = [p for p in hub.inbox.rglob("*.json") if '"resourceType": "Device"' in p.read_text()]
    assert any("PLX1-0001" in p.read_text() for p in devices)


def test_an_interrupted_wipe_is_finished_without_the_configuration(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """The configuration was wiped, the journal was not yet removed: --data-dir finds the journal."""
    hub = make_hub(tmp_path, measurements=1)
    journal = {
        "phase": "wiping", "hub_id": HUB_ID, "profile_id": "p", "started_at": "2026-03-02T09:00:00+00:00",
        "measurements_stored": 1, "delivered_now": {"centre-inbox": 1}, "exported": {}, "export_dir": None,
        "not_sent_device_inventory": 0, "targets": [str(hub.data / "heima.db"), str(hub.config)],
    }  # fmt: skip
    (hub.data / "return-journal.json").write_text(json.dumps(journal))
    hub.config.unlink()
    assert run(monkeypatch, hub.cli("return"), stdin="") == 0
    assert not (hub.data / "heima.db").exists() and (hub.data / "wipe-record.json").exists()


def test_a_hand_configured_hub_keeping_its_bundles_on_itself_exports_them_before_the_wipe(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    """No destination configured: the bundles go to a folder inside the data folder — on the hub,
    so not delivered anywhere. Return refuses until they are exported; no PIN was ever set."""
    import asyncio

    from .hubs import EnrolledHub, _record

    config = tmp_path / "heima.toml"
    config.write_text(f'[hub]\ndata_dir = "{tmp_path / "data"}"\n')
    hub = EnrolledHub(tmp_path, config, tmp_path / "data", tmp_path / "data" / "bundles", None, [])
    hub.ids = asyncio.run(_record(hub, 3))
    assert run(monkeypatch, hub.cli("sync"), stdin="") == 0
    assert observation_ids(hub.data / "bundles") == set(hub.ids)  # "delivered", but onto the hub itself
    assert run(monkeypatch, hub.cli("return"), stdin="") == 1
    captured = capsys.readouterr()
    assert "no technician PIN" in captured.out and "in a folder on the hub itself" in captured.err
    export = tmp_path / "stick"
    assert run(monkeypatch, hub.cli("return", "--export", str(export), "--yes"), stdin="") == 0
    assert observation_ids(export) == set(hub.ids)
    assert not (hub.data / "bundles").exists() and not (hub.data / "heima.db").exists() and not config.exists()


def _queue_every_other_kind(hub, destination: str) -> dict[str, str]:  # noqa: ANN001
    """A submitted questionnaire (response + score), a zone alert, a missed task and a device
    entry, stored and queued for `destination` through the real store: {kind: identifier}."""
    import asyncio
    import uuid
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from hub.domain.careplan.due import MissedTask
    from hub.domain.evaluation import ZoneAlert
    from hub.domain.outgoing import of_device, of_missed_task, of_submission, of_zone_alert
    from hub.domain.questionnaire.submission import ScoreResult, Submission
    from hub.store import Store

    from .hubs import OXIMETER

    at = datetime.now(UTC) - timedelta(hours=2)
    response_id = uuid.uuid4()
    score = ScoreResult(uuid.uuid4(), response_id, "https://heima.no/q/cat|1", at, Decimal(12), None, text="CAT")
    submission = Submission(response_id, "https://heima.no/q/cat|1", at, ({"linkId": "1", "answer": [{"valueInteger": 3}]},), (score,))
    alert = ZoneAlert("CarePlan/kols", "spo2", "red", "low", "59408-5", (hub.ids[-1],), at)
    missed = MissedTask("CarePlan/kols", "spo2", at - timedelta(hours=4), at - timedelta(hours=1), at - timedelta(hours=2), code="59408-5")
    items = [*of_submission(submission), of_zone_alert(alert), of_missed_task(missed), of_device(OXIMETER)]

    async def queue() -> None:
        store = await Store.open(hub.data / "heima.db")
        try:
            for item in items:
                assert await store.enqueue(item, [destination])
        finally:
            await store.close()

    asyncio.run(queue())
    return {item.kind.value: str(item.id) for item in items}


def _exported_resources(folder: Path) -> dict[str, set[str]]:
    """{resourceType: identifiers} of every resource in the bundle files under `folder`; each file
    a valid FHIR R4 Bundle."""
    from fhir.resources.R4B.bundle import Bundle

    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.json"):
        bundle = json.loads(path.read_text())
        Bundle.model_validate(bundle)
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            idents = resource.get("identifier", [])
            idents = [idents] if isinstance(idents, dict) else idents
            found.setdefault(resource["resourceType"], set()).update(str(i.get("value", "")).removeprefix("urn:uuid:") for i in idents)
    return found


def test_every_kind_waiting_is_exported_and_counted_before_the_return_wipes(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    """Questionnaire answers, scores, zone alerts, missed tasks and the device inventory waiting for
    an unreachable centre are written into the export as FHIR bundles with the measurements, each
    kind checked to be all there, and only then is the hub wiped."""
    hub = make_hub(tmp_path, unreachable=True, measurements=2)
    ids = _queue_every_other_kind(hub, "hospital")
    assert run(monkeypatch, hub.cli("return")) == 1
    err = capsys.readouterr().err
    for words in ("2 measurement(s)", "1 questionnaire answer(s)", "1 score(s)", "1 zone alert(s)", "1 missed task(s)"):
        assert f"hospital: {words} not delivered" in err
    assert "heima.db" in leftovers(hub)

    export = tmp_path / "stick"
    assert run(monkeypatch, hub.cli("return", "--export", str(export), "--yes")) == 0
    out = capsys.readouterr().out
    assert "hospital: exported" in out and "1 zone alert(s)" in out
    found = _exported_resources(export)
    assert ids["questionnaire-response"] in found["QuestionnaireResponse"]
    assert {ids["score"], ids["missed-task"], *hub.ids} <= found["Observation"]
    assert ids["zone-alert"] in found["DetectedIssue"]
    assert "Device" in found
    assert leftovers(hub) == []
    record = json.loads((hub.data / "wipe-record.json").read_text())
    assert record["exported_kinds"]["hospital"] == {
        "measurement": 2, "questionnaire-response": 1, "score": 1, "zone-alert": 1, "missed-task": 1, "device": 1,
    }
    assert PATIENT not in (hub.data / "wipe-record.json").read_text()


def test_an_export_missing_a_kind_refuses_the_wipe(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    """The completeness check counts every kind: an export that leaves out the zone alerts (as
    one that wrote measurements only would) wipes nothing."""
    from hub.app import export as export_module

    hub = make_hub(tmp_path, unreachable=True, measurements=2)
    _queue_every_other_kind(hub, "hospital")
    real = export_module.export

    async def without_alerts(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        result = await real(*args, **kwargs)
        result.files = [dataclasses.replace(f, alerts=0) for f in result.files]
        return result

    import dataclasses

    monkeypatch.setattr(export_module, "export", without_alerts)
    assert run(monkeypatch, hub.cli("return", "--export", str(tmp_path / "stick"), "--yes")) == 1
    err = capsys.readouterr().err
    assert "0 of 1 zone alert(s)" in err and "nothing was wiped" in err
    assert {"heima.db", "secrets", "config"} <= set(leftovers(hub))
