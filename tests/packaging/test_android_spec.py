"""The Android tablet's build description stays in step with the hub it packages.

Nothing here builds an APK (buildozer needs Google's SDK and NDK, out of this machine's reach:
docs/android.md). What can be checked here is what goes stale silently: a dependency added to
pyproject.toml that the tablet neither packages nor explicitly does without, a version that
drifts, a permission the entry point asks for that the manifest never declares, an entry point
whose arguments the CLI no longer takes.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
import tomllib
from pathlib import Path

import bleak

from hub.cli import build_parser

TOP = Path(__file__).resolve().parents[2]
SPEC = TOP / "packaging" / "android" / "buildozer.spec"
EXCLUDES = re.compile(r"^#\s*heima-android-excludes\s*=\s*(.+)$", re.MULTILINE)


def normalised(requirement: str) -> str:
    """PEP 503 name of a requirement line: `kivy[base]>=2.3` -> kivy, `fhir.resources` -> fhir-resources."""
    name = re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def spec() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(SPEC, encoding="utf-8")
    return parser


def pyproject() -> dict:
    return tomllib.loads((TOP / "pyproject.toml").read_text(encoding="utf-8"))


def packaged() -> set[str]:
    return {normalised(r) for r in spec()["app"]["requirements"].split(",")}


def done_without() -> set[str]:
    found = EXCLUDES.search(SPEC.read_text(encoding="utf-8"))
    assert found, "buildozer.spec lost its `# heima-android-excludes = ...` line"
    return {normalised(r) for r in found.group(1).split(",")}


def entry_point():
    location = TOP / "packaging" / "android" / "main.py"
    module_spec = importlib.util.spec_from_file_location("heima_android_main", location)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_the_tablet_app_carries_the_hubs_version():
    assert spec()["app"]["version"] == pyproject()["project"]["version"]


def test_every_runtime_dependency_is_packaged_for_the_tablet_or_done_without_on_purpose():
    runtime = {normalised(r) for r in pyproject()["project"]["dependencies"]}
    undecided = runtime - packaged() - done_without()
    assert not undecided, f"decide for the tablet (buildozer.spec requirements or excludes): {sorted(undecided)}"
    assert not packaged() & done_without(), "a dependency is both packaged and done without"


def test_every_dependency_the_tablet_does_without_is_explained_in_the_docs():
    doc = (TOP / "docs" / "android.md").read_text(encoding="utf-8")
    named = {normalised(word) for word in re.findall(r"^- `([^`]+)`:", doc, re.MULTILINE)}
    unexplained = sorted(done_without() - named)
    assert not unexplained, f"docs/android.md does not say why the tablet does without {unexplained}"


def test_the_manifest_declares_every_permission_the_entry_point_asks_for():
    declared = {p.strip() for p in spec()["app"]["android.permissions"].split(",")}
    assert set(entry_point().BLUETOOTH_PERMISSIONS) <= declared
    assert {"BLUETOOTH_SCAN", "BLUETOOTH_CONNECT"} <= declared  # Android 12+: no scan, no connect without them


def test_the_entry_point_starts_the_touch_app_on_the_apps_private_storage(tmp_path):
    args = build_parser().parse_args(entry_point().arguments(tmp_path))
    assert args.command == "run" and not args.headless
    assert args.config == tmp_path / "heima.toml"
    assert args.data_dir == tmp_path / "data"


def test_bleaks_own_android_recipe_is_where_prepare_copies_it_from():
    recipe = Path(bleak.__file__).parent / "backends" / "p4android" / "recipes" / "bleak" / "__init__.py"
    assert recipe.is_file(), "bleak no longer ships its p4a recipe: packaging/android/prepare.sh must change"
    assert "./recipes" == spec()["app"]["p4a.local_recipes"]
