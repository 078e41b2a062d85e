"""A folder of FHIR transaction bundles: the embedded default when no centre is configured, and a
way to hand data over by hand (a USB stick).

Each batch becomes one file, written atomically: a hidden temp file in the same folder, fsync,
rename over the final name, fsync of the folder. A reader therefore sees either the whole bundle
or nothing. The name is a hash of the batch's resource ids (order ignored), so sending the same
batch again overwrites its file instead of adding a duplicate; and since bundles are built
deterministically, the content is the same too. Each file can be POSTed to any FHIR server as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hub.domain.digests import sha256
from hub.domain.measurements import Measurement
from hub.domain.outgoing import Outgoing, as_outgoings
from sync.delivery import DeliveryError, EntryResult, Outcome

if TYPE_CHECKING:  # the FHIR mapper (sync.fhir.bundles and what it brings: ~1.2 MB) comes with the first batch
    from sync.fhir.context import FhirContext

PREFIX = "heima-"
SUFFIX = ".fhir.json"
PRIVATE_DIR = 0o700  # bundles hold patient data: the hub's user alone, whatever the umask
PRIVATE_FILE = 0o600
# A hub with no patient configured still writes its bundles (a folder needs none), but says so:
# whoever receives the file must not take its Observations for anyone's.
NO_PATIENT_TAG = {
    "system": "urn:heima:bundle-tag",
    "code": "no-patient",
    "display": "No patient configured on the hub: the Observations have no subject",
}


def bundle_file_name(items: Sequence[Outgoing | Measurement]) -> str:
    """The stable file name for a batch: the same ids, in any order, give the same name."""
    digest = sha256("\n".join(sorted(str(i.id) for i in items)).encode()).hexdigest()
    return f"{PREFIX}{digest[:32]}{SUFFIX}"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot sync a directory; the rename is still atomic
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that no reader ever sees a partial file."""
    folder = path.parent
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        try:
            _private(lambda: os.fchmod(fd, PRIVATE_FILE))  # mkstemp's 0600 already; say it, not rely on it
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


def _private(chmod: Callable[[], None]) -> None:
    """Narrow a mode; a file system without modes (a FAT USB stick) cannot, and need not."""
    try:
        chmod()
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EINVAL):
            raise


def _mark_without_patient(bundle: dict, ctx: FhirContext) -> dict:
    if not ctx.patient.identifier and not ctx.patient.reference:
        bundle.setdefault("meta", {}).setdefault("tag", []).append(NO_PATIENT_TAG)
    return bundle


class DirectoryDestination:
    kind = "directory"

    def __init__(self, name: str, path: Path | str, *, ctx: FhirContext) -> None:
        self.name = name
        self.path = Path(path)
        self.ctx = ctx

    def bundle(self, items: Sequence[Outgoing | Measurement]) -> dict:
        """The transaction bundle this folder gets for a batch (tagged when no patient is set)."""
        from sync.fhir.bundles import transaction_bundle

        return _mark_without_patient(transaction_bundle(items, self.ctx), self.ctx)

    def _write(self, items: Sequence[Outgoing]) -> Path:
        data = json.dumps(self.bundle(items), ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
        # Create the folder itself, never its parents: a missing parent is a missing USB stick.
        if not self.path.is_dir():
            self.path.mkdir(exist_ok=True, mode=PRIVATE_DIR)
            _private(lambda: self.path.chmod(PRIVATE_DIR))  # mkdir's mode is cut by the umask
        target = self.path / bundle_file_name(items)
        write_atomically(target, data)
        return target

    async def send(self, resources: Sequence[Outgoing | Measurement]) -> list[EntryResult]:
        from sync.fhir.resources import PROFILE_OF, not_taken

        refused, items = not_taken(PROFILE_OF[self.kind], as_outgoings(resources))
        if not items:
            return refused
        try:
            await asyncio.to_thread(self._write, items)
        except FileNotFoundError:
            raise DeliveryError(
                f"the folder above {self.path.name!r} does not exist (is the USB stick or disk mounted?); will retry"
            ) from None
        except OSError as exc:
            what = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
            raise DeliveryError(
                f"could not write the bundle file into folder {self.path.name!r} ({what}); will retry"
            ) from None
        return refused + [EntryResult(i.id, Outcome.DELIVERED) for i in items]

    async def aclose(self) -> None:
        return None
