"""A technician's pairing: what the desk needs beyond the link's scan, pair and unpair.

- `PairingRefused`: a pairing that did not complete, with what to do in words (the composition
  root turns the link's failure into it; the services import no driver).
- `ForgottenDevices`: the devices a technician unpaired, so the kit list forgets them while every
  reading they gave stays stored (<data>/technician/forgotten-devices.json, 0600: addresses and
  times, no patient data). A device paired again, or one that measures again, is back in the kit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from hub.domain import refusals
from hub.domain.nearby import norm_address
from hub.services.technician import TechnicianError, write_private

FORGOTTEN = "forgotten-devices.json"


class PairingRefused(TechnicianError):
    """Pairing did not complete; the message is the technician's advice in English (the command
    line, the log; no patient data), `reason` the same as a code (hub.domain.refusals) the touch
    screen words in its language."""

    def __init__(self, message: str, reason: str = refusals.PAIR_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


class ForgottenDevices:
    def __init__(self, folder: Path, clock: Callable[[], datetime]) -> None:
        self.path = folder / FORGOTTEN
        self.clock = clock

    def load(self) -> dict[str, datetime]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none forgotten (a damaged file only shows a forgotten device again)
        forgotten: dict[str, datetime] = {}
        for address, when in (data.items() if isinstance(data, dict) else ()):
            try:
                forgotten[norm_address(str(address))] = datetime.fromisoformat(str(when))
            except ValueError:
                continue
        return forgotten

    def _save(self, forgotten: dict[str, datetime]) -> None:
        write_private(self.path, json.dumps({a: t.isoformat() for a, t in sorted(forgotten.items())}).encode())

    def forget(self, address: str) -> None:
        forgotten = self.load()
        forgotten[norm_address(address)] = self.clock()
        self._save(forgotten)

    def remember(self, address: str) -> None:
        """Paired again: the device belongs to the kit again."""
        forgotten = self.load()
        if forgotten.pop(norm_address(address), None) is not None:
            self._save(forgotten)


__all__ = ["FORGOTTEN", "ForgottenDevices", "PairingRefused"]
