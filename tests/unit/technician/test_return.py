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


def test_undelivered_questionnaire_answers_or_alerts_refuse_the_return_even_with_an_export(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    """The operator export writes measurements only: a questionnaire answer still waiting for a
    destination (here one removed from the configuration, its rows kept) keeps the hub from being
    wiped until it is delivered (or moved to a configured destination and delivered)."""
    import sqlite3
    import uuid

    hub = make_hub(tmp_path, unreachable=True, measurements=2)
    db = sqlite3.connect(hub.data / "heima.db")
    alert = str(uuid.uuid4())
    with db:
        db.execute("INSERT INTO outgoing (id, kind, payload, created_at) VALUES (?, 'questionnaire-response', '{}', '2026-03-02T09:00:00+00:00')", [alert])
        db.execute("INSERT INTO outbox (resource_id, destination, next_attempt_at) VALUES (?, 'old-centre', '2026-03-02T09:00:00+00:00')", [alert])
    db.close()
    export = tmp_path / "stick"
    assert run(monkeypatch, hub.cli("return", "--export", str(export), "--yes")) == 1
    err = capsys.readouterr().err
    assert "old-centre: 1 questionnaire answer(s), score(s), alert(s)" in err and "NOT wiped" in err
    assert {"heima.db", "secrets", "config"} <= set(leftovers(hub))
