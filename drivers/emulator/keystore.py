"""The hub's Bluetooth bonds (link keys: whoever has them can pose as the hub to a paired device,
or read what it sends) in a JSON file only the hub's user can read.

Bumble's JsonKeyStore writes with the process umask (0o644 from a shell) and no fsync; this one
writes a 0600 temporary file, fsyncs it and renames it over the old one, so the file is private
and whole at every moment, whatever the umask.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from bumble.keys import JsonKeyStore

PRIVATE_FILE = 0o600


class PrivateJsonKeyStore(JsonKeyStore):
    async def save(self, db: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.directory_name.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = json.dumps(db, sort_keys=True, indent=4).encode("utf-8")
        temp = self.filename.with_name(self.filename.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()  # a leftover from a crash may have a wider mode; O_CREAT would keep it
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        try:
            os.fchmod(fd, PRIVATE_FILE)  # open's mode is cut by the umask, never widened; be exact
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.filename)
