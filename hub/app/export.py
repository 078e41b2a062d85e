"""`heima export`: every stored measurement and every other resource the hub sends — each
submitted questionnaire (its QuestionnaireResponse and its scores), zone alert (DetectedIssue),
missed task (Observation not performed) and device inventory entry (Device) — as FHIR
transaction bundles in a folder, for a USB stick or a hand-over, without configuring a
destination and without touching the outbox.

One file a day (the hub's local day: a questionnaire's day is the day it was submitted, an
alert's the day of the value that raised it, a missed task's the day its window closed, a
device entry's the day it was queued): `heima-<hub serial>-<YYYY-MM-DD>.fhir.json`, built by the
directory destination's bundle builder and written with its atomic writer (temporary file, fsync,
rename): 0600, in a folder created 0700. Bundles are deterministic, so exporting the same data
again gives the same files byte for byte; a file whose bytes are already there is left alone.
Readings held until the hub's clock is set are not exported yet: their day is not known.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from hub.config import HubConfig
from hub.domain.careplan.due import MissedTask
from hub.domain.evaluation import ZoneAlert
from hub.domain.measurements import Measurement
from hub.domain.questionnaire.submission import ScoreResult, Submission
from hub.domain.outgoing import Outgoing, OutgoingKind
from hub.store import Store
from hub.store.rows import outgoing_from_payload
from sync.destinations.directory import PRIVATE_DIR, PRIVATE_FILE, DirectoryDestination, write_atomically
from sync.fhir.codes import MappingError


@dataclass(frozen=True, slots=True)
class ExportedFile:
    path: Path
    day: date
    measurements: int
    written: bool  # False: the same bytes were there already
    forms: int = 0  # submitted questionnaires (QuestionnaireResponses)
    scores: int = 0  # their scores (Observations)
    alerts: int = 0  # zone alerts (DetectedIssues)
    missed: int = 0  # missed tasks (Observations not performed)
    devices: int = 0  # the device inventory (Devices)


@dataclass(slots=True)
class ExportResult:
    files: list[ExportedFile] = field(default_factory=list)
    held: int = 0  # held until the hub's clock is set: not exported yet
    not_expressible: list[str] = field(default_factory=list)  # measurement ids FHIR cannot express

    @property
    def measurements(self) -> int:
        return sum(f.measurements for f in self.files)

    @property
    def forms(self) -> int:
        return sum(f.forms for f in self.files)

    @property
    def scores(self) -> int:
        return sum(f.scores for f in self.files)

    @property
    def alerts(self) -> int:
        return sum(f.alerts for f in self.files)

    @property
    def missed(self) -> int:
        return sum(f.missed for f in self.files)

    @property
    def devices(self) -> int:
        return sum(f.devices for f in self.files)

    def by_kind(self) -> dict[OutgoingKind, int]:
        """How many of each outgoing kind the files hold (what `heima return` checks)."""
        return {
            OutgoingKind.MEASUREMENT: self.measurements,
            OutgoingKind.QUESTIONNAIRE_RESPONSE: self.forms,
            OutgoingKind.SCORE: self.scores,
            OutgoingKind.ZONE_ALERT: self.alerts,
            OutgoingKind.MISSED_TASK: self.missed,
            OutgoingKind.DEVICE: self.devices,
        }


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def file_name(serial: str, day: date, destination: str | None) -> str:
    middle = f"{_safe(serial)}-{_safe(destination)}" if destination else _safe(serial)
    return f"heima-{middle}-{day.isoformat()}.fhir.json"


def _private_folder(path: Path) -> None:
    """The folder itself is created (0700, whatever the umask), never its parents: a missing
    parent is a USB stick not mounted. A folder that exists keeps its mode (it may be the stick)."""
    if path.is_dir():
        return
    path.mkdir(mode=PRIVATE_DIR)
    with contextlib.suppress(PermissionError, NotImplementedError):
        os.chmod(path, PRIVATE_DIR)


def _unchanged(path: Path, data: bytes) -> bool:
    try:
        return stat.S_IMODE(path.stat().st_mode) == PRIVATE_FILE and path.read_bytes() == data
    except OSError:
        return False


def _bundle_bytes(
    folder: DirectoryDestination, measurements: list[Measurement], skipped: list[str], forms: list[Outgoing] = ()  # type: ignore[assignment]
) -> bytes | None:
    if not measurements:
        bundle = folder.bundle(list(forms))
        return json.dumps(bundle, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
    try:
        bundle = folder.bundle([*measurements, *forms])
    except MappingError:  # one that FHIR cannot express: leave it out, say which, export the rest
        keep = []
        for m in measurements:
            try:
                folder.bundle([m])
                keep.append(m)
            except MappingError:
                skipped.append(str(m.id))
        if not keep and not forms:
            return None
        bundle = folder.bundle([*keep, *forms])
    return json.dumps(bundle, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


async def export(config: HubConfig, to: Path, *, since: date | None = None, destination: str | None = None) -> ExportResult:
    """Write the bundles into `to`. `since`: only days from then on (the hub's local days);
    `destination`: only what that destination has not taken (waiting for it or set aside by it)."""
    from hub.app.destinations import fhir_context  # the patient and the hub's identity, as every destination has them

    result = ExportResult()
    if not config.database_path.exists():
        return result
    store = await Store.open(config.database_path)  # a reader: nothing in the outbox changes
    try:
        days: dict[date, list[str]] = defaultdict(list)
        for mid, effective, held in await store.measurement_times(destination=destination):
            if held:
                result.held += 1
                continue
            day = effective.astimezone(config.zone).date()
            if since is None or day >= since:
                days[day].append(mid)
        form_days = await _resources_by_day(store, config, since, destination)
        if not days and not form_days:
            return result
        _private_folder(to)
        folder = DirectoryDestination("export", to, ctx=fhir_context(config))
        for day in sorted(days.keys() | form_days.keys()):
            measurements = sorted(await store.measurements_by_id(days.get(day, [])), key=lambda m: (m.effective_time, str(m.id)))
            forms = form_days.get(day, [])
            data = _bundle_bytes(folder, measurements, result.not_expressible, forms)
            if data is None:
                continue
            path = to / file_name(config.serial, day, destination)
            written = not _unchanged(path, data)
            if written:
                write_atomically(path, data)
            count = len(measurements) - sum(1 for m in measurements if str(m.id) in result.not_expressible)
            result.files.append(ExportedFile(
                path, day, count, written,
                forms=sum(f.kind is OutgoingKind.QUESTIONNAIRE_RESPONSE for f in forms),
                scores=sum(f.kind is OutgoingKind.SCORE for f in forms),
                alerts=sum(f.kind is OutgoingKind.ZONE_ALERT for f in forms),
                missed=sum(f.kind is OutgoingKind.MISSED_TASK for f in forms),
                devices=sum(f.kind is OutgoingKind.DEVICE for f in forms),
            ))
    finally:
        await store.close()
    return result


async def _resources_by_day(
    store: Store, config: HubConfig, since: date | None, destination: str | None
) -> dict[date, list[Outgoing]]:
    """Every resource that carries its own payload (all but measurements), by its local day
    (`_day`), oldest first; with `destination`, those it has not taken (waiting for it or set
    aside by it)."""
    sql = "SELECT g.id, g.kind, g.payload, g.created_at FROM outgoing g WHERE g.payload IS NOT NULL"
    params: list[str] = []
    if destination is not None:
        sql += (
            " AND EXISTS (SELECT 1 FROM outbox o WHERE o.resource_id = g.id AND o.destination = ? "
            "AND o.state IN ('pending', 'dead'))"
        )
        params.append(destination)
    sql += " ORDER BY g.created_at, g.rowid"

    def query() -> list[tuple[Outgoing, datetime]]:
        rows = store.db.execute(sql, params).fetchall()
        return [(outgoing_from_payload(r[0], r[1], r[2]), datetime.fromisoformat(r[3])) for r in rows]

    days: dict[date, list[Outgoing]] = defaultdict(list)
    for item, created in await store._run(query):
        day = _day(item, created).astimezone(config.zone).date()
        if since is None or day >= since:
            days[day].append(item)
    return days


def _day(item: Outgoing, created: datetime) -> datetime:
    """When a resource happened: a questionnaire (and its scores) when submitted, an alert when
    its value was measured, a missed task when its window closed, a device entry when queued."""
    payload = item.payload
    if isinstance(payload, Submission | ScoreResult):
        return payload.authored
    if isinstance(payload, ZoneAlert):
        return payload.at
    if isinstance(payload, MissedTask):
        return payload.closes
    return created
