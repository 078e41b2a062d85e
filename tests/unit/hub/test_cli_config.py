"""What the technician sees when `heima` cannot use its configuration: one line naming the
setting, exit code 2, no traceback, nothing of the patient's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def heima(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def _one_clear_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("heima: configuration: "), result.stderr
    return lines[0]


def test_config_pointing_at_a_folder_is_one_clear_line(tmp_path):
    line = _one_clear_line(heima("--config", str(tmp_path), "status", "--data-dir", str(tmp_path)))
    assert "is a folder" in line


def test_a_centre_in_clear_text_to_another_machine_is_refused(tmp_path):
    url = "http://127.0.0.1:@fhir.kommune.example/R4"
    line = _one_clear_line(heima("sync", "--data-dir", str(tmp_path / "d"), "--centre", url))
    assert "--centre" in line and "kommune.example" not in line
    assert not (tmp_path / "d").exists()


def test_a_centre_without_the_patient_is_refused(tmp_path):
    line = _one_clear_line(heima("sync", "--data-dir", str(tmp_path / "d"), "--centre", "https://fhir.kommune.example/R4"))
    assert "--centre" in line and "[patient]" in line


def test_a_misspelt_patient_key_stops_the_hub_before_anything_is_sent(tmp_path):
    config = tmp_path / "heima.toml"
    config.write_text(
        '[patient]\nidentifer = "13116900216"\n'
        '[[destinations]]\nname = "kommune"\nkind = "fhir"\nurl = "https://fhir.kommune.example/R4"\n'
    )
    line = _one_clear_line(heima("--config", str(config), "sync", "--data-dir", str(tmp_path / "d")))
    assert "identifer" in line and "13116900216" not in line
