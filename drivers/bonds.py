"""The hub's bonds file (bonds.json: a Bumble JSON keystore, {hub address: {peer[/type]: keys}}):
which peers it lists, and removing one peer when a technician unpairs it.

The emulator's radio keeps its bonds there (drivers.emulator.keystore); on a Raspberry Pi the
bonds are BlueZ's (/var/lib/bluetooth) and `LinkManager.unpair` removes them through bleak. The
file is rewritten whole, 0600, fsynced and renamed (as the keystore writes it), so a power cut
leaves the old file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from hub.domain.nearby import norm_address


def bonded_peers(path: Path) -> list[str]:
    """The peers the file holds keys for (addresses, one spelling); [] when there is no file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    peers: list[str] = []
    for namespace in data.values() if isinstance(data, dict) else []:
        if isinstance(namespace, dict):
            peers += [norm_address(str(peer)) for peer in namespace]
    return list(dict.fromkeys(peers))


def forget_bond(path: Path, address: str) -> bool:
    """Remove every key the file holds for `address` (in every namespace). True when one was
    removed; a missing or unreadable file is left as it is (nothing to forget)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    wanted = norm_address(address)
    removed = False
    for namespace in data.values():
        if not isinstance(namespace, dict):
            continue
        for peer in [p for p in namespace if norm_address(str(p)) == wanted]:
            del namespace[peer]
            removed = True
    if removed:
        _write_private(path, json.dumps(data, sort_keys=True, indent=4).encode("utf-8"))
    return removed


def _write_private(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)


__all__ = ["bonded_peers", "forget_bond"]
