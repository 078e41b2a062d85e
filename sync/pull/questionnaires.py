"""The questionnaires a centre has assigned to this patient, from its FHIR server.

1. The patient's Tasks still to do: `Task?subject:identifier=system|value&status=requested` (the
   logical identity, for servers that search references by identifier) and, for the Patient
   resources the centre keeps for that identifier (`Patient?identifier=…`), `Task?subject=
   Patient/<id>&status=requested` and `Task?owner=Patient/<id>&status=requested`.
2. Each Task names its form: an `input` with `valueCanonical` (url|version) or a `valueReference`
   to a Questionnaire, or `focus` referring to one (`Questionnaire/<id>` or `Questionnaire?url=…
   &version=…`).
3. Each form: `Questionnaire?url=…&version=…` (or read by id); the newest version when the Task
   names none.

The Questionnaires are handed back as JSON: the hub's engine checks each before it is offered
(hub.services.questionnaires). The identifier is in the URL only, so the hub's own log lines for
HTTP requests carry no query string (sync.server_text.ServerTextFilter); messages here name no
patient data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

log = logging.getLogger(__name__)

FHIR_JSON = {"Accept": "application/fhir+json"}
MAX_PAGES = 20  # a patient has a handful of tasks; a server paging for ever is cut off


class FormPullError(RuntimeError):
    """The centre could not be asked, or answered with something that is not FHIR."""


@dataclass(frozen=True, slots=True)
class FormRef:
    """How a Task names its form: a canonical (url, version or None), or a Questionnaire's id."""

    url: str | None = None
    version: str | None = None
    id: str | None = None


@dataclass(slots=True)
class Pulled:
    questionnaires: list[dict[str, Any]] = field(default_factory=list)
    missing: list[FormRef] = field(default_factory=list)  # a Task names a form the centre does not have


def form_refs(task: Any) -> list[FormRef]:
    """The forms a Task asks the patient to answer (none when it names none)."""
    if not isinstance(task, dict) or task.get("resourceType") != "Task":
        return []
    refs: list[FormRef] = []
    inputs = task.get("input")
    for inp in inputs if isinstance(inputs, list) else []:  # a wrong JSON type names no form
        if not isinstance(inp, dict):
            continue
        if isinstance(inp.get("valueCanonical"), str):
            ref = canonical_ref(inp["valueCanonical"])
            if ref is not None:
                refs.append(ref)
        elif isinstance(inp.get("valueReference"), dict):
            ref = reference_ref(inp["valueReference"])
            if ref is not None:
                refs.append(ref)
    focus = task.get("focus")
    if isinstance(focus, dict):
        ref = reference_ref(focus)
        if ref is not None:
            refs.append(ref)
    return list(dict.fromkeys(refs))


def canonical_ref(canonical: str) -> FormRef | None:
    url, _, version = canonical.partition("|")
    if not url:
        return None
    return FormRef(url=url, version=version or None)


def reference_ref(reference: dict[str, Any]) -> FormRef | None:
    text = reference.get("reference")
    if not isinstance(text, str):
        return None
    if text.startswith("Questionnaire/"):
        id = text.split("/")[1]
        return FormRef(id=id) if id else None
    if text.startswith("Questionnaire?"):
        query = parse_qs(urlsplit(text).query)
        url = (query.get("url") or [None])[0]
        if url:
            return FormRef(url=url, version=(query.get("version") or [None])[0])
    return None


class FhirReader:
    """GET searches and reads on one FHIR server, strictly: a searchset Bundle or a resource."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, *, auth: httpx.Auth | None = None) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.auth = auth

    async def _get(self, url: str, params: dict[str, str] | None, what: str) -> Any:
        extra: dict[str, Any] = {"auth": self.auth} if self.auth is not None else {}
        try:
            reply = await self.client.get(url, params=params, headers=FHIR_JSON, **extra)
        except httpx.HTTPError as exc:
            raise FormPullError(f"the centre could not be reached for {what} ({type(exc).__name__})") from None
        if reply.status_code == 404:
            return None
        if reply.status_code != 200:
            raise FormPullError(f"the centre answered the search for {what} with HTTP {reply.status_code}")
        try:
            return reply.json()
        except ValueError:
            raise FormPullError(f"the centre's answer for {what} is not JSON") from None

    async def search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every matching resource of that type, following `next` pages (bounded)."""
        found: list[dict[str, Any]] = []
        url: str | None = f"{self.base_url}/{resource_type}"
        query: dict[str, str] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                break
            bundle = await self._get(url, query, f"{resource_type} resources")
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
                raise FormPullError(f"the centre's answer to the {resource_type} search is not a FHIR searchset Bundle")
            entries, links = bundle.get("entry"), bundle.get("link")
            for entry in entries if isinstance(entries, list) else []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and resource.get("resourceType") == resource_type:
                    found.append(resource)
            url = next((link["url"] for link in (links if isinstance(links, list) else [])
                        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str)), None)
            query = None  # the next link carries its own query
        return found

    async def read(self, resource_type: str, id: str) -> dict[str, Any] | None:
        resource = await self._get(f"{self.base_url}/{resource_type}/{id}", None, f"a {resource_type}")
        if resource is None:
            return None
        if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
            raise FormPullError(f"the centre's answer for a {resource_type} is not one")
        return resource


async def assigned_tasks(reader: FhirReader, *, subject_system: str, subject_identifier: str) -> list[dict[str, Any]]:
    """The patient's Tasks still to do (status requested), each once."""
    token = f"{subject_system}|{subject_identifier}"
    try:
        tasks = await reader.search("Task", {"subject:identifier": token, "status": "requested"})
    except FormPullError as exc:  # a server that does not search references by identifier: by Patient below
        log.info("task search by the patient's identifier not answered (%s); searching by Patient", exc)
        tasks = []
    for patient in await reader.search("Patient", {"identifier": token}):
        if isinstance(patient.get("id"), str):
            ref = f"Patient/{patient['id']}"
            tasks += await reader.search("Task", {"subject": ref, "status": "requested"})
            tasks += await reader.search("Task", {"owner": ref, "status": "requested"})
    seen: dict[str, dict[str, Any]] = {}
    for t in tasks:
        if t.get("status") == "requested":
            seen.setdefault(str(t.get("id")), t)
    return list(seen.values())


async def fetch_form(reader: FhirReader, ref: FormRef) -> dict[str, Any] | None:
    """The Questionnaire a reference names (the newest version when it names none), or None."""
    if ref.id is not None:
        return await reader.read("Questionnaire", ref.id)
    assert ref.url is not None
    params = {"url": ref.url}
    if ref.version:
        params["version"] = ref.version
    found = [q for q in await reader.search("Questionnaire", params) if q.get("url") == ref.url]
    if ref.version:
        found = [q for q in found if q.get("version") == ref.version]
    if not found:
        return None
    return max(found, key=lambda q: _version_key(q.get("version")))


def _version_key(version: Any) -> tuple:
    parts = str(version or "").split(".")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


async def pull_assigned_forms(
    client: httpx.AsyncClient,
    base_url: str,
    *,
    subject_system: str,
    subject_identifier: str,
    auth: httpx.Auth | None = None,
) -> Pulled:
    """The Questionnaires assigned to the patient at this centre, as JSON (unchecked). Raises
    FormPullError when the centre cannot be asked; then nothing the hub keeps changes."""
    reader = FhirReader(client, base_url, auth=auth)
    tasks = await assigned_tasks(reader, subject_system=subject_system, subject_identifier=subject_identifier)
    refs: list[FormRef] = list(dict.fromkeys(r for t in tasks for r in form_refs(t)))
    pulled = Pulled()
    seen: set[tuple[Any, Any]] = set()
    for ref in refs:
        q = await fetch_form(reader, ref)
        if q is None:
            pulled.missing.append(ref)
            continue
        key = (q.get("url"), q.get("version")) if q.get("url") else (None, q.get("id"))
        if key not in seen:
            seen.add(key)
            pulled.questionnaires.append(q)
    log.info("%d task(s) at the centre name %d form(s); %d found", len(tasks), len(refs), len(pulled.questionnaires))
    return pulled


def canonicals(questionnaires: Iterable[dict[str, Any]]) -> list[str]:
    return [f"{q.get('url')}|{q.get('version')}" for q in questionnaires]


__all__ = [
    "FhirReader", "FormPullError", "FormRef", "Pulled", "assigned_tasks", "canonical_ref", "fetch_form", "form_refs",
    "pull_assigned_forms",
]
