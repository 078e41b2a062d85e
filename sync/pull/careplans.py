"""The patient's active self-care plan from the centre's FHIR server:
`CarePlan?subject:identifier=…&category=…|2&status=active`, with the destination's auth and TLS.

The subject is the patient's logical identity (fødselsnummer/D-number) as a token search on the
reference (`subject:identifier=system|value`). It is in the URL, so the hub's own log lines for
HTTP requests carry no query string (sync.server_text.ServerTextFilter). The answer is
read strictly: a searchset Bundle; the newest active self-care plan in it (meta.lastUpdated), or
None when the centre has none. The plan itself is checked by the hub (hub.domain.careplan) before
it is used; a failure here says what went wrong without any patient data.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from hub.domain.careplan.codes import SELF_CARE_PLAN, VKP_CAREPLAN_CATEGORY

log = logging.getLogger(__name__)


class PullError(RuntimeError):
    """The centre could not be asked, or answered with something that is not a searchset."""


def search_form(subject_system: str, subject_identifier: str) -> dict[str, str]:
    return {
        "subject:identifier": f"{subject_system}|{subject_identifier}",
        "category": f"{VKP_CAREPLAN_CATEGORY}|{SELF_CARE_PLAN}",
        "status": "active",
    }


def _is_self_care_plan(resource: Any) -> bool:
    if not isinstance(resource, dict) or resource.get("resourceType") != "CarePlan" or resource.get("status") != "active":
        return False
    codings = [c for cat in resource.get("category") or [] if isinstance(cat, dict) for c in cat.get("coding") or []]
    return any(isinstance(c, dict) and c.get("system") == VKP_CAREPLAN_CATEGORY and c.get("code") == SELF_CARE_PLAN for c in codings)


def newest_plan(bundle: Any) -> dict[str, Any] | None:
    """The newest active self-care plan in a searchset, or None."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
        raise PullError("the centre's answer to the care-plan search is not a FHIR searchset Bundle")
    plans = [e.get("resource") for e in bundle.get("entry") or [] if isinstance(e, dict)]
    plans = [p for p in plans if _is_self_care_plan(p)]
    if not plans:
        return None
    return max(plans, key=lambda p: str((p.get("meta") or {}).get("lastUpdated") or ""))


async def pull_active_plan(
    client: httpx.AsyncClient,
    base_url: str,
    *,
    subject_system: str,
    subject_identifier: str,
    auth: httpx.Auth | None = None,
) -> dict[str, Any] | None:
    """The patient's active self-care plan at the centre (None: there is none). Raises PullError."""
    url = base_url.rstrip("/") + "/CarePlan"
    extra: dict[str, Any] = {"auth": auth} if auth is not None else {}
    try:
        reply = await client.get(
            url, params=search_form(subject_system, subject_identifier), headers={"Accept": "application/fhir+json"}, **extra
        )
    except httpx.HTTPError as exc:
        raise PullError(f"the centre could not be reached for the care plan ({type(exc).__name__})") from None
    if reply.status_code != 200:
        raise PullError(f"the centre answered the care-plan search with HTTP {reply.status_code}")
    try:
        bundle = reply.json()
    except ValueError:
        raise PullError("the centre's answer to the care-plan search is not JSON") from None
    return newest_plan(bundle)


__all__ = ["PullError", "newest_plan", "pull_active_plan", "search_form"]
