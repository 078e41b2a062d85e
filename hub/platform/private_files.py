"""Folders and files that hold patient data or keys are the hub user's alone, whatever the
umask of whoever started the hub (a shell's 0o022 gives everyone read access; a service may
run with 0o000).

Modes are set explicitly after creating (mkdir's and open's modes are cut by the umask, never
widened, and a folder that already exists keeps its old mode), so the result is the same for
every caller.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class SharedFolderError(OSError):
    """The data folder is a folder others share (sticky, like /tmp): the hub will not take it."""


def private_folder(path: Path) -> Path:
    """Create `path` (with its parents) if needed and make it 0700, owned by this user."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    mode = path.stat().st_mode
    if mode & stat.S_ISVTX:
        # A shared folder such as /tmp: narrowing it would lock everyone else out of it.
        raise SharedFolderError(f"the data folder {path} is a shared folder; give the hub a folder of its own")
    if stat.S_IMODE(mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return path
