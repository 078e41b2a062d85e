"""Medplum's FHIR validator (`validateResource` from @medplum/core), run once over many resources.

`validate(items)` writes one job file, runs tests/servers/fhir/validate.mjs on it with the Node that
`make test` installs beside the reference server, and returns its report: one result per
(resource, profile), R4 base ("base") always included.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.fhir_profiles import applicable, profiles

HERE = Path(__file__).resolve().parent / "fhir"
NODE = HERE / "node_modules" / ".bin" / "node"
SCRIPT = HERE / "validate.mjs"


class ValidatorUnavailable(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    resource: dict[str, Any]
    profiles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    profile: str  # "base" or a profile url
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def items_for(name: str, resource: dict[str, Any]) -> list[Item]:
    """The resource with the profiles that apply to it, and, for a Bundle, every entry's resource
    the same way (an entry is validated as what it is, not only as part of the Bundle)."""
    found = [Item(name, resource, tuple(applicable(resource)))]
    if resource.get("resourceType") == "Bundle":
        for i, entry in enumerate(resource.get("entry", [])):
            inner = entry["resource"]
            found.append(Item(f"{name}#{i}/{inner['resourceType']}", inner, tuple(applicable(inner))))
    return found


def validate(items: Iterable[Item], *, timeout: float = 120.0) -> list[Result]:
    if not NODE.exists() or not (HERE / "node_modules" / "@medplum" / "core").exists():
        raise ValidatorUnavailable(f"Medplum is not installed in {HERE / 'node_modules'}: run make test (it installs it)")
    items = list(items)
    needed = {url for item in items for url in item.profiles}
    known = profiles()
    job = {
        "profiles": [known[url] for url in sorted(needed)],
        "items": [{"name": i.name, "resource": i.resource, "profiles": list(i.profiles)} for i in items],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="heima-validate-", encoding="utf-8") as f:
        json.dump(job, f)
        f.flush()
        done = subprocess.run(
            [str(NODE), str(SCRIPT), f.name], cwd=HERE, capture_output=True, text=True, timeout=timeout, check=False
        )
    if done.returncode != 0:
        raise ValidatorUnavailable(f"validate.mjs failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return [
        Result(
            r["name"],
            r["profile"],
            tuple(f"{i['path']}: {i['message']}" for i in r["errors"]),
            tuple(f"{i['path']}: {i['message']}" for i in r["warnings"]),
        )
        for r in json.loads(done.stdout)["results"]
    ]
