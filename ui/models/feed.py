"""Hub events -> the Kivy Clock -> the models: the hub publishes on its loop, the models change
Kivy properties on the Clock."""

from __future__ import annotations

import logging
from typing import Any

from kivy.clock import Clock

from hub.api import HubApi, HubEvent

log = logging.getLogger(__name__)


class HubFeed:
    """Hub events -> the Kivy Clock -> the models."""

    def __init__(self, api: HubApi, *models: Any) -> None:
        self.models = models
        self._stop = api.subscribe(self._on_event)
        self.received = 0

    def _on_event(self, event: HubEvent) -> None:
        Clock.schedule_once(lambda _dt: self._deliver(event), 0)

    def _deliver(self, event: HubEvent) -> None:
        self.received += 1
        for model in self.models:
            try:
                model.on_event(event)
            except Exception as exc:  # one model's bug must not stop the others
                log.error("a screen could not handle the %s event: %s", type(event).__name__, type(exc).__name__)

    def close(self) -> None:
        self._stop()


__all__ = ["HubFeed"]
