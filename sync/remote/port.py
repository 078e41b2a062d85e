"""What the channel needs of the hub: a small port the composition root fills from hub.api.

Methods raise `CommandRefused` (nothing was started, nothing changed) or `CommandFailed` (it
started and did not succeed), each with a coded reason; any other exception is answered as
failed/internal. Results are plain JSON objects that the dispatcher checks against the
protocol's result schemas before they leave the hub.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from hub.domain.devices import DeviceFamily

from sync.remote.protocol import Reason


class CommandRefused(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class CommandFailed(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class RemoteCommands(Protocol):
    async def start_video(self, call_id: str, ring_seconds: int | None) -> None:
        """Start ringing for a nurse's call (for `ring_seconds`, None: the hub's own ring time);
        returns once the hub rings. CommandRefused(VIDEO_NOT_AVAILABLE) on a hub without video."""
        ...

    def measure_now(self, family: DeviceFamily, timeout: float) -> Awaitable[dict[str, Any]]:
        """Start measuring with `family` (raises CommandRefused at once when it cannot: no link,
        already measuring); the awaitable ends with {"recorded": n, "kinds": [...]}."""
        ...

    def sync_now(self) -> Awaitable[dict[str, Any]]:
        """Send what is waiting now; ends with {"waiting": n, "failed": n} across destinations."""
        ...

    async def refresh_plan(self) -> None:
        """Fetch the care plan and forms again (CommandRefused(NOT_AVAILABLE) until they exist)."""
        ...

    async def diagnostics(self) -> dict[str, Any]:
        """The hub's health (schemas.DIAGNOSTICS): no patient data, no identifiers."""
        ...

    async def change_setting(self, name: str, value: Any) -> str:
        """Keep an allowed setting (already checked); returns when it applies: now | next-start."""
        ...
