"""The self-care plan in the running hub: where plans come from, and the clock that closes task
windows and gives reminders.

- From the centre: every `fhir` destination is asked for the patient's active self-care plan
  (sync.pull.careplans, with that destination's auth and TLS), every `pull_every` seconds.
- Without a centre (or beside it): the data folder's `careplans/` folder; the newest JSON file in
  it is offered when the folder changes. `heima demo` puts the COPD example there for the
  synthetic test patient.
- Each plan is checked by hub.services.careplan before it is used: a bad one is refused with the
  reason in the log and the last good one stays in force; a new version applies to values measured
  from then on, without a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.config import DestinationConfig, HubConfig
from hub.services.careplan import CarePlanClock, CarePlanService, PlanOutcome

log = logging.getLogger(__name__)

FOLDER = "careplans"
# The example plans a centre can start from (docs/care-plan-format.md), shipped with the source.
EXAMPLES = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "careplans"
DEMO_PLAN = "copd.json"  # SpO2, temperature and the KOLS check-in: what the demo's devices and forms show


def plan_folder(config: HubConfig) -> Path:
    return Path(config.data_dir) / FOLDER


def install_demo_plan(config: HubConfig) -> Path | None:
    """The demo's plan for the synthetic test patient: the COPD example, unless the
    folder holds a plan already (the operator's own is never replaced)."""
    folder = plan_folder(config)
    if any(folder.glob("*.json")) or not (EXAMPLES / DEMO_PLAN).exists():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / DEMO_PLAN
    shutil.copyfile(EXAMPLES / DEMO_PLAN, target)
    return target


class FolderPlans:
    """The newest plan file in a folder, offered again only when the folder changed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._seen: tuple[tuple[str, int, int], ...] | None = None

    def changed(self) -> tuple[str, Any] | None:
        """(source, document) when the folder changed since the last look, else None. A file
        that is not JSON is refused here, with its name only."""
        try:
            files = sorted(self.folder.glob("*.json"))
            signature = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        except OSError:
            return None
        if not files or signature == self._seen:
            return None
        self._seen = signature
        newest = max(files, key=lambda f: (f.stat().st_mtime_ns, f.name))
        source = f"folder {newest.name}"
        try:
            return source, json.loads(newest.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return source, None  # refused by the service: "not a FHIR CarePlan"


async def pull_from_centre(config: HubConfig, dest: DestinationConfig) -> dict[str, Any] | None:
    """The patient's active plan at one `fhir` destination (None: it has none). Raises PullError."""
    import httpx

    from hub.app.destinations import build_auth
    from sync.auth import tls_context
    from sync.pull.careplans import pull_active_plan

    assert dest.url is not None and config.patient.identifier
    verify = tls_context(ca_file=dest.tls.ca_file, client_cert=dest.tls.client_cert, client_key=dest.tls.client_key)
    async with httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(dest.timeout, connect=min(10.0, dest.timeout))) as client:
        return await pull_active_plan(
            client,
            dest.url,
            subject_system=config.patient.identifier_system,
            subject_identifier=config.patient.identifier,
            auth=build_auth(dest.auth),
        )


def centres(config: HubConfig) -> list[DestinationConfig]:
    """The destinations a plan is pulled from: FHIR servers, when the patient is configured."""
    if not config.patient.identifier:
        return []
    return [d for d in config.effective_destinations() if d.kind == "fhir" and d.url]


async def refresh_plans(
    config: HubConfig,
    service: CarePlanService,
    folder: FolderPlans,
    *,
    pull: bool,
    pull_one: Callable[[HubConfig, DestinationConfig], Any] = pull_from_centre,
) -> list[PlanOutcome]:
    """Offer what the sources hold now: the folder when it changed, the centres when `pull`."""
    outcomes: list[PlanOutcome] = []
    found = folder.changed()
    if found is not None:
        outcomes.append(await service.offer(found[1], source=found[0]))
    sources = centres(config) if pull else []
    if sources:  # httpx only in a hub that pulls (the touch app's memory: docs/performance.md)
        from sync.pull.careplans import PullError
    for dest in sources:
        try:
            document = await pull_one(config, dest)
        except PullError as exc:
            log.warning("care plan not fetched from %s: %s; the plan in force stays", dest.name, exc)
            continue
        except Exception as exc:  # keys, TLS: the reason's type only (its text may quote a server)
            log.warning("care plan not fetched from %s (%s); the plan in force stays", dest.name, type(exc).__name__)
            continue
        if document is not None:
            outcomes.append(await service.offer(document, source=dest.name))
    return outcomes


async def careplan_loop(
    config: HubConfig,
    service: CarePlanService,
    clock: CarePlanClock,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    every: float = 30.0,
    pull_every: float = 900.0,
) -> None:
    """Runs on the hub's loop until cancelled: plans refreshed (the folder each round, the centre
    every `pull_every` s), windows closed and reminders given every `every` s."""
    folder = FolderPlans(plan_folder(config))
    last_pull: float | None = None
    loop = asyncio.get_running_loop()
    while True:
        try:
            due = last_pull is None or loop.time() - last_pull >= pull_every
            await refresh_plans(config, service, folder, pull=due)
            if due:
                last_pull = loop.time()
            await clock.tick(now())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad round never stops the plan's clock (the type only: no data)
            log.error("the care plan's round failed (%s); trying again in %.0f s", type(exc).__name__, every)
        await asyncio.sleep(every)


__all__ = ["FolderPlans", "careplan_loop", "centres", "install_demo_plan", "plan_folder", "pull_from_centre", "refresh_plans"]
