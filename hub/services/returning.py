"""Returning a hub: deliver everything (or export what cannot be delivered), then wipe it, so the
next patient gets a hub with nothing of the last one's — and nothing was lost on the way.

The walk, and why it survives a kill -9 anywhere:

1. Deliver everything due to every destination (the composition root's sync: exactly once).
2. Count what is still not sent, per destination and outgoing kind (measurements, questionnaire
   responses, scores, zone alerts, missed tasks, the device inventory). Anything of the
   patient's left and no export folder: refused, nothing changed. With an export folder and the
   technician's confirmation, what is left is written there as FHIR bundles (the operator
   export: atomic, fsynced files) and checked, kind by kind, to be all of it.
   Up to here a kill leaves the hub as it was (delivery and export can be run again).
3. The return journal (`<data>/return-journal.json`, fsynced) is written: the counts and the
   list of what is to be wiped. From now on the hub is being wiped: `heima return` run again
   finishes the wipe without asking again (the store may already be gone).
4. Wipe. First the store's key (kept apart from the data folder, hub/store/keys.py): overwritten,
   fsynced, unlinked, its folder fsynced — from then on the store's bytes, wherever the card kept
   them, cannot be read. Then one target at a time (each removal idempotent): the store, forms,
   bonds, secrets, settings, logs, and the configuration file last.
5. The wipe record (`<data>/wipe-record.json`: counts and times, no patient data), then the
   journal is removed. A returned hub has no configuration: it boots to enrolment.

What a wipe can and cannot guarantee on an SD card: docs/technician.md, docs/data-safety.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from hub.domain import refusals
from hub.services.technician import fsync_dir, wall_clock, write_private

JOURNAL = "return-journal.json"
RECORD = "wipe-record.json"
RECORD_FORMAT = "heima-wipe-record/1"


class ReturnRefused(Exception):
    """The hub cannot be wiped yet; the message says what waits and what to do. No patient data.
    `reason` (hub.domain.refusals) is what the touch app says, in the patient's language."""

    def __init__(self, message: str, reason: str = refusals.UNSENT) -> None:
        super().__init__(message)
        self.reason = reason


# The outgoing kinds, as the outbox names them (hub.domain.outgoing.OutgoingKind's values).
MEASUREMENT, DEVICE = "measurement", "device"
KIND_WORDS = {
    "measurement": "measurement(s)",
    "questionnaire-response": "questionnaire answer(s)",
    "score": "score(s)",
    "zone-alert": "zone alert(s)",
    "missed-task": "missed task(s)",
    "device": "device inventory entr(y/ies)",
}


@dataclass(frozen=True, slots=True)
class Unsent:
    """What is not delivered (waiting or set aside), per destination and outgoing kind, and of
    the measurements those held for the hub's clock. Every kind can be exported; the device
    inventory alone (no patient data) does not keep a hub from being wiped."""

    waiting: dict[str, dict[str, int]] = field(default_factory=dict)  # {destination: {kind: count}}
    held: int = 0
    on_hub_folders: dict[str, int] = field(default_factory=dict)  # directory destinations inside the data folder: files
    forms_in_progress: int = 0  # half-answered forms: never submitted, so never to be sent; wiped

    @property
    def measurements(self) -> dict[str, int]:
        return {d: k[MEASUREMENT] for d, k in self.waiting.items() if k.get(MEASUREMENT)}

    @property
    def devices(self) -> int:
        return sum(k.get(DEVICE, 0) for k in self.waiting.values())

    @property
    def patients(self) -> int:
        """What is the patient's: every kind but the device inventory, and on-hub folders' files."""
        return sum(n for k in self.waiting.values() for kind, n in k.items() if kind != DEVICE) + sum(self.on_hub_folders.values())

    @property
    def total(self) -> int:
        return self.patients + self.devices


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export of one destination's undelivered resources wrote, per outgoing kind."""

    kinds: dict[str, int]
    files: int
    held: int = 0
    not_expressible: int = 0

    @property
    def measurements(self) -> int:
        return self.kinds.get(MEASUREMENT, 0)


class ReturnPorts(Protocol):
    async def deliver(self) -> dict[str, int]:
        """Deliver what is due to every destination; {destination: delivered now}."""

    async def unsent(self) -> Unsent: ...

    async def stored(self) -> int:
        """How many measurements the store holds."""

    async def export(self, to: Path, destination: str) -> Exported:
        """Write every resource of every kind `destination` has not taken into `to`."""


@dataclass(frozen=True, slots=True)
class ReturnPlan:
    data_dir: Path
    config_path: Path | None
    targets: tuple[Path, ...]  # what the wipe removes, in order (the configuration last)
    on_hub_folders: dict[str, Path] = field(default_factory=dict)  # copied into the export first
    export_dir: Path | None = None
    confirmed: bool = False  # the technician said yes to exporting (--yes)
    hub_id: str | None = None
    profile_id: str | None = None
    store_key: Path | None = None  # the store's key file: destroyed first, the store unreadable from then on


@dataclass(frozen=True, slots=True)
class ReturnResult:
    record: dict[str, Any]
    resumed: bool  # a return interrupted earlier was finished


def wipe_targets(data_dir: Path, config_path: Path | None, on_hub_folders: Sequence[Path] = ()) -> tuple[Path, ...]:
    """Everything of the patient's in the data folder, the configuration file last. Kept: the
    technician's audit log and lockout (no patient data), the wipe record, the folder lock."""
    names = [
        "heima.db", "heima.db-wal", "heima.db-shm", "forms", "bonds.json", "secrets", "ui-settings.json",
        "ui.json", "enrolment.json", "logs", "bundles",
        "heima.db.encrypting", "heima.db.plaintext",  # an encryption of an old plaintext store cut short
    ]  # fmt: skip
    targets = [data_dir / n for n in names]
    with contextlib.suppress(OSError):
        targets += sorted(p for p in data_dir.iterdir() if p.suffix == ".log" or p.name.endswith(".tmp"))
    targets += [p for p in on_hub_folders if p not in targets]
    if config_path is not None:
        targets.append(config_path)
    return tuple(targets)


def _journal_path(data_dir: Path) -> Path:
    return data_dir / JOURNAL


def read_journal(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_journal_path(data_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Written atomically, so never half-written; unreadable means someone changed it.
        raise ReturnRefused(f"the return journal {_journal_path(data_dir)} cannot be read; do not delete anything by hand — ask for help", refusals.JOURNAL) from None
    if not isinstance(data, dict) or data.get("phase") != "wiping":
        raise ReturnRefused(f"the return journal {_journal_path(data_dir)} is not one this Heima wrote", refusals.JOURNAL)
    return data


def _remove(path: Path) -> bool:
    """Remove a file (overwritten with zeros first, best effort) or a folder; False when gone."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
            return True
        _overwrite(path)
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def destroy_key(path: Path) -> bool:
    """The store's key made unrecoverable from the file system: random bytes over it, fsynced,
    unlinked, the folder fsynced (a power cut after this leaves no key). False when already gone.
    On an SD card the controller may keep the key's old blocks (docs/data-safety.md)."""
    path.with_name(f".{path.name}.tmp").unlink(missing_ok=True)  # a key creation cut short
    try:
        size = max(path.stat().st_size, 64)
    except FileNotFoundError:
        return False
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, os.urandom(size))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    fsync_dir(path.parent)
    return True


def _overwrite(path: Path) -> None:
    """Zeros over a file before it is unlinked. On a disk this clears the blocks; on an SD card
    the controller may write them elsewhere and keep the old ones (docs/technician.md)."""
    with contextlib.suppress(OSError):
        size = path.stat().st_size
        if not path.is_file() or size > 1 << 30:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            block = b"\0" * 65536
            done = 0
            while done < size:
                done += os.write(fd, block[: min(len(block), size - done)])
            os.fsync(fd)
        finally:
            os.close(fd)


def _refusal(unsent: Unsent) -> str:
    lines = ["Not everything is sent; the hub is NOT wiped:"]
    for dest, kinds in sorted(unsent.waiting.items()):
        for kind, n in sorted(kinds.items()):
            if n:
                lines.append(f"  {dest}: {n} {KIND_WORDS.get(kind, kind)} not delivered")
    for dest, n in sorted(unsent.on_hub_folders.items()):
        lines.append(f"  {dest}: {n} file(s) in a folder on the hub itself")
    lines.append(
        "Connect the hub to the network and run `heima return` again, or take the data with you: "
        "`heima return --export DIR --yes` (DIR on a USB stick)."
    )
    return "\n".join(lines)


Checkpoint = Callable[[str], None]


def _no_checkpoint(_name: str) -> None:
    return None


async def return_hub(
    plan: ReturnPlan,
    ports: ReturnPorts,
    *,
    clock: Callable[[], datetime] = wall_clock,
    checkpoint: Checkpoint = _no_checkpoint,
    say: Callable[[str], None] = print,
    audit: Callable[..., Any] | None = None,
    exclusive: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> ReturnResult:
    """Deliver or export, then wipe (see the module's walk). Raises ReturnRefused while anything
    is unsent and not exported. `checkpoint(name)` is called between steps (tests stop the
    process there). `exclusive()`: held while wiping, so no hub starts on a folder being wiped."""
    journal = read_journal(plan.data_dir)
    resumed = journal is not None
    if journal is None:
        journal = await _deliver_and_account(plan, ports, clock=clock, checkpoint=checkpoint, say=say)
    else:
        say("A return was interrupted while wiping; finishing it.")
    with exclusive():
        key = journal.get("store_key") or (str(plan.store_key) if plan.store_key else None)
        if key:
            destroy_key(Path(key))  # the step that makes the store unreadable
            checkpoint("key-destroyed")
        for i, raw in enumerate(journal["targets"]):
            _remove(Path(raw))
            checkpoint(f"wiped-{i}")
        fsync_dir(plan.data_dir)
    record = {
        "format": RECORD_FORMAT,
        "hub_id": journal.get("hub_id"),
        "profile_id": journal.get("profile_id"),
        "started_at": journal["started_at"],
        "wiped_at": clock().isoformat(timespec="seconds"),
        "measurements_stored": journal["measurements_stored"],
        "delivered_now": journal["delivered_now"],
        "exported": journal["exported"],
        "exported_kinds": journal.get("exported_kinds", {}),
        "not_sent_device_inventory": journal["not_sent_device_inventory"],
        "half_answered_forms_wiped": journal.get("half_answered_forms", 0),
        "wiped": [Path(t).name for t in journal["targets"]],
        "store_key_destroyed": bool(journal.get("store_key") or plan.store_key),
        "note": "the store's encryption key was destroyed, then files were deleted (and overwritten where the disk "
        "allows); on an SD card this is not erasure: see docs/technician.md",
    }
    write_private(plan.data_dir / RECORD, json.dumps(record, indent=1).encode())
    checkpoint("record-written")
    _journal_path(plan.data_dir).unlink(missing_ok=True)
    fsync_dir(plan.data_dir)
    if audit is not None:
        audit("return", "wiped", measurements=record["measurements_stored"], resumed=resumed)
    return ReturnResult(record, resumed)


async def _deliver_and_account(
    plan: ReturnPlan, ports: ReturnPorts, *, clock: Callable[[], datetime], checkpoint: Checkpoint, say: Callable[[str], None]
) -> dict[str, Any]:
    started = clock().isoformat(timespec="seconds")
    delivered = await ports.deliver()
    checkpoint("delivered")
    stored = await ports.stored()
    unsent = await ports.unsent()
    say(f"Stored on the hub: {stored} measurement(s)")
    for dest, n in sorted(delivered.items()):
        say(f"  {dest}: delivered now {n}, not delivered {unsent.measurements.get(dest, 0)}")
    exported: dict[str, int] = {}
    exported_kinds: dict[str, dict[str, int]] = {}
    if unsent.patients > 0:
        if plan.export_dir is None:
            raise ReturnRefused(_refusal(unsent))
        if unsent.held:
            raise ReturnRefused(
                f"{unsent.held} reading(s) wait for the hub's clock to be set (their day is not known, so they "
                "cannot be exported): connect the hub to the network so it gets the time, then run `heima return` again",
                refusals.CLOCK_NOT_SET,
            )
        if not plan.confirmed:
            raise ReturnRefused(_refusal(unsent) + f"\nTo export into {plan.export_dir} and then wipe, add --yes.")
        exported, exported_kinds = await _export(plan, ports, unsent, say)
        checkpoint("exported")
    journal = {
        "phase": "wiping",
        "hub_id": plan.hub_id,
        "profile_id": plan.profile_id,
        "started_at": started,
        "measurements_stored": stored,
        "delivered_now": delivered,
        "exported": exported,
        "exported_kinds": exported_kinds,
        "export_dir": str(plan.export_dir) if exported else None,
        "not_sent_device_inventory": 0 if exported else unsent.devices,
        "half_answered_forms": unsent.forms_in_progress,
        "targets": [str(t) for t in plan.targets],
        "store_key": str(plan.store_key) if plan.store_key else None,
    }
    write_private(_journal_path(plan.data_dir), json.dumps(journal, indent=1).encode())
    checkpoint("journal-written")
    return journal


async def _export(
    plan: ReturnPlan, ports: ReturnPorts, unsent: Unsent, say: Callable[[str], None]
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Export every destination's undelivered resources, and check per kind that the files hold
    every one of them: anything missing refuses the wipe. ({dest: resources}, {dest: {kind: n}})."""
    assert plan.export_dir is not None
    exported: dict[str, int] = {}
    kinds: dict[str, dict[str, int]] = {}
    for dest, expected in sorted(unsent.waiting.items()):
        expected = {k: n for k, n in expected.items() if n}
        if not expected:
            continue
        result = await ports.export(plan.export_dir, dest)
        got = {k: result.kinds.get(k, 0) for k in expected}
        if got != expected or result.held or result.not_expressible:
            short = ", ".join(f"{got[k]} of {n} {KIND_WORDS.get(k, k)}" for k, n in sorted(expected.items()))
            raise ReturnRefused(
                f"the export for {dest} holds {short} "
                f"({result.not_expressible} cannot be written as FHIR, {result.held} wait for the clock); "
                "nothing was wiped — ask for help before returning this hub",
                refusals.EXPORT_INCOMPLETE,
            )
        exported[dest] = sum(got.values())
        kinds[dest] = got
        what = ", ".join(f"{n} {KIND_WORDS.get(k, k)}" for k, n in sorted(got.items()))
        say(f"  {dest}: exported {what} into {plan.export_dir} ({result.files} file(s))")
    for dest, folder in sorted(plan.on_hub_folders.items()):
        if not unsent.on_hub_folders.get(dest):
            continue
        copied = _copy_folder(folder, plan.export_dir / f"folder-{dest}")
        exported[f"folder-{dest}"] = copied
        say(f"  {dest}: copied {copied} file(s) from the hub's own folder into {plan.export_dir}")
    return exported, kinds


def _copy_folder(source: Path, target: Path) -> int:
    """Copy the files of a folder destination on the hub, fsynced (a stick pulled out after the
    wipe must hold them)."""
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        to = target / path.relative_to(source)
        write_private(to, path.read_bytes())
        count += 1
    return count


def count_files(folder: Path) -> int:
    with contextlib.suppress(OSError):
        return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return 0


Deliver = Callable[[], Awaitable[dict[str, int]]]
