"""A small in-process event bus: services publish, the UI and the remote channel listen.

Events carry ids, kinds and states — never measured values in text form — so that a listener
that logs them cannot leak patient data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    name: str  # e.g. "measurement-recorded", "delivery-changed", "device-found"
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Listen to every event; returns a function that stops listening."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, name: str, /, **data: Any) -> None:
        """`name` is positional-only: link events carry a device's `name` in their data."""
        event = Event(name, data)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one broken listener must not stop the others, nor the hub
                log.exception("event listener failed on %s", name)
