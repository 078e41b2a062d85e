"""The `heima` command as a technician uses it: the real entry point (hub.cli.main), a real
SQLite store in a temporary folder, the emulated oximeter for the demo, a closed port for a
centre that cannot be reached."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import socket
import stat
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from hub import cli
from hub.store import Store
from tests.servers.samples import batch

PATIENT = '[patient]\nidentifier = "13116900216"\n'


def heima(capsys, *args: str) -> tuple[int, str]:
    """Run `heima ARGS`; (exit status, what it printed)."""
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


def record(data_dir: Path, measurements, destinations) -> None:
    async def go() -> None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = await Store.open(data_dir / "heima.db")
        try:
            for m in measurements:
                await store.record(m, destinations)
        finally:
            await store.close()

    asyncio.run(go())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "heima.toml"
    path.write_text(text)
    return path


# --- where the data lives ---------------------------------------------------------------------


def test_status_after_the_demo_from_the_same_folder_finds_the_demos_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, demo = heima(capsys, "demo", "--headless")
    assert code == 0, demo
    assert f"data in {tmp_path / 'heima-data'}" in demo

    for command in (["status"], ["sync"], ["outbox"], ["export", "--to", tmp_path / "usb"]):
        code, out = heima(capsys, *command)
        assert out.splitlines()[0] == f"data in {tmp_path / 'heima-data'}", (command, out)
    code, status = heima(capsys, "status")
    assert "2 measurement(s)" in status and "local-folder: sent 2, waiting 0" in status


def test_the_config_files_data_dir_is_used_and_data_dir_overrides_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    etc = tmp_path / "etc"
    etc.mkdir()
    config = config_file(etc, '[hub]\ndata_dir = "store"\n')  # relative to the file, like every path in it
    _, out = heima(capsys, "status", "--config", config)
    assert out.splitlines()[0] == f"data in {etc / 'store'}"
    _, out = heima(capsys, "--config", config, "status", "--data-dir", "elsewhere")
    assert out.splitlines()[0] == f"data in {tmp_path / 'elsewhere'}"
    _, out = heima(capsys, "status", "--config", config_file(etc, PATIENT))  # no data_dir: the default
    assert out.splitlines()[0] == f"data in {tmp_path / 'heima-data'}"


def test_the_demo_never_stores_its_test_person_in_a_configured_patients_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = config_file(tmp_path, PATIENT)
    code, out = heima(capsys, "--config", config, "demo", "--headless")
    assert code == 2 and "--data-dir" in out
    assert not (tmp_path / "heima-data").exists()


# --- options ------------------------------------------------------------------------------------


def test_global_options_are_taken_after_the_command_too(tmp_path, capsys):
    config = config_file(tmp_path, f'[hub]\ndata_dir = "{tmp_path / "d"}"\n')
    for args in (["--config", config, "status"], ["status", "--config", config], ["status", "-v", "--config", config]):
        code, out = heima(capsys, *args)
        assert code == 0 and out.splitlines()[0] == f"data in {tmp_path / 'd'}", (args, out)


def test_version_is_the_installed_packages(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"heima {version('heima')}"


def test_sync_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["sync", "--help"])
    text = capsys.readouterr().out
    options = text[text.index("options:") :]
    for flag in ("--config", "--data-dir", "--centre", "--verbose"):
        line = next(x for x in options.splitlines() if flag in x)
        after = line.split(flag, 1)[1].split()  # [METAVAR] and the description's first words
        assert len(after) >= 2, (flag, line)
    assert "FHIR server" in options and "data_dir" in options


# --- sync: what waits, why, and when --------------------------------------------------------------


def test_sync_against_an_unreachable_centre_says_what_waits_why_and_when_and_exits_non_zero(tmp_path, capsys):
    data = tmp_path / "d"
    config = config_file(
        tmp_path,
        PATIENT + f'[[destinations]]\nname = "kommune"\nkind = "fhir"\nurl = "http://127.0.0.1:{closed_port()}/R4"\n',
    )
    record(data, batch(2), ["kommune"])

    for attempt in ("first try", "while backing off"):
        code, out = heima(capsys, "--config", config, "sync", "--data-dir", data)
        assert code == 1, (attempt, out)
        assert "kommune: delivered 0, could not be sent 0, waiting 2" in out, (attempt, out)
        assert "why: could not connect to the FHIR server" in out, (attempt, out)
        assert re.search(r"next try: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(Europe/Oslo\), in \d+ s|due now)", out), out
        assert "retry later" not in out

    code, status = heima(capsys, "--config", config, "status", "--data-dir", data)
    assert "kommune: sent 0, waiting 2" in status and "could not connect to the FHIR server" in status


def test_sync_exits_zero_only_when_nothing_waits(tmp_path, capsys):
    data = tmp_path / "d"
    record(data, batch(2), ["local-folder"])
    code, out = heima(capsys, "sync", "--data-dir", data)
    assert code == 0 and "local-folder: delivered 2, could not be sent 0, waiting 0" in out


# --- export ---------------------------------------------------------------------------------------


def test_export_writes_every_measurement_as_private_fhir_bundles_and_again_the_same_files(tmp_path, capsys):
    data, usb = tmp_path / "d", tmp_path / "usb"
    day_one = batch(3)
    day_two = [dataclasses.replace(m, effective_time=m.effective_time + timedelta(days=1)) for m in batch(2)]
    record(data, day_one + day_two, ["kommune"])
    before = os.umask(0o022)  # a shell's umask: files and the folder must still be the user's alone
    try:
        code, out = heima(capsys, "export", "--to", usb, "--data-dir", data)
    finally:
        os.umask(before)
    assert code == 0, out
    assert "Exported 5 measurement(s)" in out

    files = sorted(usb.iterdir())
    assert [f.name for f in files] == ["heima-HEIMA-DEV-0001-2025-03-01.fhir.json", "heima-HEIMA-DEV-0001-2025-03-02.fhir.json"]
    assert stat.S_IMODE(usb.stat().st_mode) == 0o700
    ids = set()
    for f in files:
        assert f.name in out
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        bundle = Bundle.model_validate_json(f.read_text())
        observations = [e.resource for e in bundle.entry if e.resource.__resource_type__ == "Observation"]
        ids |= {o.identifier[0].value for o in observations}
    assert ids == {f"urn:uuid:{m.id}" for m in day_one + day_two}

    first = {f.name: f.read_bytes() for f in files}
    code, again = heima(capsys, "export", "--to", usb, "--data-dir", data)
    assert code == 0 and "2 file(s), 0 written, 2 unchanged" in again
    assert {f.name: f.read_bytes() for f in usb.iterdir()} == first

    _, status = heima(capsys, "status", "--data-dir", data)
    assert "kommune: not in the configuration — sent 0, waiting 5" in status  # the outbox is untouched

    code, since = heima(capsys, "export", "--to", tmp_path / "later", "--since", "2025-03-02", "--data-dir", data)
    assert code == 0 and [f.name for f in (tmp_path / "later").iterdir()] == ["heima-HEIMA-DEV-0001-2025-03-02.fhir.json"]


def test_export_says_so_when_the_usb_stick_is_not_there(tmp_path, capsys):
    record(tmp_path / "d", batch(1), ["kommune"])
    code, out = heima(capsys, "export", "--to", tmp_path / "media" / "usb", "--data-dir", tmp_path / "d")
    assert code == 2 and "does not exist" in out
    assert not (tmp_path / "media").exists()


# --- a destination no longer configured --------------------------------------------------------------


def test_rows_of_a_removed_destination_are_listed_exported_and_moved_once(tmp_path, capsys):
    data, usb = tmp_path / "d", tmp_path / "usb"
    ms = batch(3)
    record(data, ms, ["centre"])  # queued by an earlier `--centre`, which is no longer given
    config = config_file(tmp_path, f'[[destinations]]\nname = "usb"\nkind = "directory"\npath = "{usb}"\n')

    code, out = heima(capsys, "--config", config, "sync", "--data-dir", data)
    assert code == 1 and "centre: not in the configuration — sent 0, waiting 3" in out

    code, listing = heima(capsys, "outbox", "--config", config, "--data-dir", data)
    assert code == 0 and "centre: sent 0, waiting 3" in listing
    assert "heima outbox move --from centre --to usb" in listing and "heima export --destination centre" in listing

    code, out = heima(capsys, "export", "--destination", "centre", "--to", tmp_path / "hand-over", "--data-dir", data)
    assert code == 0 and "Exported 3 measurement(s) that 'centre' has not taken" in out

    code, out = heima(capsys, "outbox", "move", "--from", "centre", "--to", "usb", "--config", config, "--data-dir", data)
    assert code == 0 and "Queued 3 measurement(s) for usb" in out
    code, out = heima(capsys, "outbox", "move", "--from", "centre", "--to", "usb", "--config", config, "--data-dir", data)
    assert code == 2 and "no rows for a destination named 'centre'" in out  # nothing left; nothing queued twice

    code, out = heima(capsys, "--config", config, "sync", "--data-dir", data)
    assert code == 0 and "usb: delivered 3, could not be sent 0, waiting 0" in out
    sent = [json.loads(f.read_text()) for f in usb.iterdir()]
    observations = [e for b in sent for e in b["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == 3
    _, listing = heima(capsys, "outbox", "--config", config, "--data-dir", data)
    assert "No rows for destinations not in the configuration." in listing


def test_move_refuses_a_configured_source_and_an_unknown_target(tmp_path, capsys):
    data = tmp_path / "d"
    record(data, batch(1), ["centre", "local-folder"])
    code, out = heima(capsys, "outbox", "move", "--from", "local-folder", "--to", "centre", "--data-dir", data)
    assert code == 2 and "'local-folder' is configured" in out
    code, out = heima(capsys, "outbox", "move", "--from", "centre", "--to", "kommune", "--data-dir", data)
    assert code == 2 and "'kommune' is not a configured destination" in out


def test_move_is_refused_while_a_running_hub_owns_the_folder(tmp_path, capsys):
    from hub.store.lock import DataFolderLock

    data = tmp_path / "d"
    record(data, batch(2), ["centre"])
    running_hub = DataFolderLock.acquire(data)  # what `heima run` holds while it runs
    try:
        code, out = heima(capsys, "outbox", "move", "--from", "centre", "--to", "local-folder", "--data-dir", data)
    finally:
        running_hub.release()
    assert code == 3 and "Traceback" not in out
    _, status = heima(capsys, "status", "--data-dir", data)
    assert "centre: not in the configuration — sent 0, waiting 2" in status  # nothing moved


def test_export_that_cannot_write_is_one_clear_line(tmp_path, capsys):
    record(tmp_path / "d", batch(1), ["kommune"])
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "heima").write_text("a file where the folder should be")
    code, out = heima(capsys, "export", "--to", stick / "heima", "--data-dir", tmp_path / "d")
    assert code == 2 and "could not write into" in out and "Traceback" not in out


def test_data_in_the_earlier_default_folder_is_pointed_to_not_taken_for_lost(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    record(home / ".local" / "share" / "heima", batch(1), ["local-folder"])
    code, out = heima(capsys, "status")
    assert code == 0 and f"--data-dir {home / '.local' / 'share' / 'heima'}" in out
