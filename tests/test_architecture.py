"""The arrows of docs/architecture.md, enforced: the import-linter contracts in pyproject.toml
(`lint-imports`), and what they cannot say — the composition root is imported by the command
alone, every hub module is placed by a contract, and the UI uses only what hub.api publishes."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

import hub.api

ROOT = Path(__file__).resolve().parents[1]

# Every top-level part of hub/, each named in the contracts. A new one must be placed there too.
HUB_PARTS = {
    "hub.api", "hub.app", "hub.cli", "hub.config", "hub.demo", "hub.domain", "hub.examples", "hub.platform",
    "hub.questionnaire_cli", "hub.services", "hub.store",
}


def test_the_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("hub", "drivers", "sync", "ui")


def test_the_composition_root_is_imported_by_the_command_alone():
    graph = _graph()
    root = {"hub.app"} | graph.find_descendants("hub.app")
    importers = set()
    for module in root:
        importers |= graph.find_modules_that_directly_import(module)
    assert importers - root == {"hub.cli"}


def test_every_part_of_the_hub_is_placed_by_a_contract():
    graph = _graph()
    unplaced = graph.find_children("hub") - HUB_PARTS
    assert not unplaced, "a new part of hub/: name it in pyproject.toml's import contracts and here"


def test_the_ui_imports_only_what_hub_api_publishes():
    published = set(hub.api.__all__)
    assert all(hasattr(hub.api, name) for name in published)
    used: dict[str, set[str]] = {}
    for path in (ROOT / "ui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "hub.api":
                used.setdefault(str(path.relative_to(ROOT)), set()).update(a.name for a in node.names)
    assert used, "the UI names nothing from hub.api?"
    unpublished = {file: names - published for file, names in used.items() if names - published}
    assert not unpublished
