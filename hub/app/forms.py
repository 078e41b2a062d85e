"""Where the hub's questionnaires come from, wired: each centre's FHIR server (the forms assigned
to the patient, sync.pull.questionnaires) or — without a centre — a folder of Questionnaire JSON
files (the embedded default: the example check-ins in packaging/examples/questionnaires).

Forms are kept in the store and used from there, so they work offline; a pull that fails changes
nothing the hub keeps. Every form is checked by the engine before it is offered
(hub.services.questionnaires.import_forms): a refused one is logged with the reason naming the
item, and the version in use stays in use.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.config import DestinationConfig, HubConfig
from hub.services.consent import ConsentService
from hub.services.events import DeliveryChanged, EventBus, HubEvent
from hub.services.questionnaires import FOLDER, ImportReport, QuestionnaireService, Refused
from hub.store import Store
from hub.store.forms import FormStore

log = logging.getLogger(__name__)

# The example check-ins shipped with Heima: what a hub without a centre offers.
EMBEDDED_FORMS = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "questionnaires"
PULL_EVERY = 3600.0  # seconds between asking the centres again (and at every start)


def launch_patient(config: HubConfig) -> dict[str, Any] | None:
    """The Patient a form's initialExpression may read (%patient): who the hub is for."""
    p = config.patient
    if not p.identifier:
        return None
    patient: dict[str, Any] = {"resourceType": "Patient", "identifier": [{"system": p.identifier_system, "value": p.identifier}]}
    if p.display:
        patient["name"] = [{"text": p.display}]
    return patient


def build_questionnaires(
    config: HubConfig, store: Store, consent: ConsentService, events: EventBus,
    *, clock: Callable[[], datetime], on_queued: Callable[[], None],
) -> QuestionnaireService:
    return QuestionnaireService(
        FormStore(store),
        destinations_for=consent.destinations_for_resource,
        clock=clock,
        events=events,
        on_queued=on_queued,
        patient=launch_patient(config),
    )


def centres(config: HubConfig) -> list[DestinationConfig]:
    """The destinations forms are pulled from: standard FHIR servers (not Pasientens måledata,
    which takes Observations only, nor a folder)."""
    return [d for d in config.effective_destinations() if d.kind == "fhir" and d.url]


def read_folder(folder: Path) -> tuple[list[dict[str, Any]], list[Refused]]:
    """Every *.json in the folder (sorted); a file that is not JSON is refused by its name."""
    forms: list[dict[str, Any]] = []
    refused: list[Refused] = []
    for path in sorted(folder.glob("*.json")):
        try:
            forms.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            refused.append(Refused(FOLDER, None, None, f"{path.name}: not a JSON file ({type(exc).__name__})"))
            log.warning("questionnaire file %s cannot be read (%s)", path.name, type(exc).__name__)
    return forms, refused


async def load_folder(service: QuestionnaireService, folder: Path = EMBEDDED_FORMS) -> ImportReport:
    """The folder's forms become what the hub offers from `folder` (checked one by one)."""
    forms, unreadable = read_folder(folder) if folder.is_dir() else ([], [])
    report = await service.import_forms(FOLDER, forms)
    report.refused[:0] = unreadable
    return report


async def pull_centre(service: QuestionnaireService, config: HubConfig, dest: DestinationConfig) -> ImportReport:
    """The forms assigned to the patient at one centre, kept and offered. Raises FormPullError
    when the centre could not be asked (nothing kept changes then)."""
    import httpx

    from hub.app.destinations import build_auth
    from sync.auth import tls_context
    from sync.pull.questionnaires import pull_assigned_forms

    assert dest.url is not None and config.patient.identifier is not None
    verify = tls_context(ca_file=dest.tls.ca_file, client_cert=dest.tls.client_cert, client_key=dest.tls.client_key)
    async with httpx.AsyncClient(timeout=httpx.Timeout(dest.timeout, connect=min(10.0, dest.timeout)), verify=verify) as client:
        pulled = await pull_assigned_forms(
            client, dest.url, subject_system=config.patient.identifier_system,
            subject_identifier=config.patient.identifier, auth=build_auth(dest.auth),
        )
    for ref in pulled.missing:
        log.warning("a task at %s names a form the centre does not have", dest.name)
    return await service.import_forms(dest.name, pulled.questionnaires)


async def refresh_forms(
    service: QuestionnaireService, config: HubConfig, *, folder: Path = EMBEDDED_FORMS, pull: bool = True
) -> dict[str, ImportReport | str]:
    """Once: from each centre, or — with none (or no patient to ask for) — from the folder.
    Per source, its report or why it could not be asked. `pull=False`: no network (the forms
    kept are used as they are when there are centres)."""
    found = centres(config) if config.patient.identifier else []
    if not found:
        return {FOLDER: await load_folder(service, folder)}
    if not pull:
        return {}
    # httpx only in a hub that pulls (the touch app's memory: docs/performance.md, part M1)
    from sync.pull.questionnaires import FormPullError

    out: dict[str, ImportReport | str] = {FOLDER: await service.import_forms(FOLDER, [])}  # a centre's forms instead
    for dest in found:
        try:
            out[dest.name] = await pull_centre(service, config, dest)
        except (FormPullError, OSError) as exc:  # offline, or the centre is down: the cache stays in use
            log.warning("forms could not be pulled from %s: %s", dest.name, exc)
            out[dest.name] = str(exc)
    return out


async def keep_forms_fresh(service: QuestionnaireService, config: HubConfig, *, every: float = PULL_EVERY) -> None:
    """Ask the centres now and then again every `every` seconds, until cancelled."""
    while True:
        try:
            await refresh_forms(service, config)
        except Exception:  # noqa: BLE001 - a form source failing must not stop the hub
            log.exception("refreshing the questionnaires failed; the forms kept stay in use")
        await asyncio.sleep(every)


def announce_sent(service: QuestionnaireService, pending: set[asyncio.Task[Any]] | None = None) -> Callable[[HubEvent], None]:
    """A listener for the hub's feed: after a delivery, a submitted form that reached every
    destination is told (FormSent). `pending`: the checks under way, which the hub ends before
    it closes the store (Hub.stop)."""
    pending = set() if pending is None else pending

    def on_event(event: HubEvent) -> None:
        if isinstance(event, DeliveryChanged):
            task = asyncio.get_running_loop().create_task(service.check_sent())
            pending.add(task)
            task.add_done_callback(pending.discard)

    return on_event
