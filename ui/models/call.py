"""The video call's view-model: what the ringing and in-call screens show, and the patient's
commands on the call (answer, decline, hang up, mute), for a call service the hub composes
(hub.services.video.CallService, or the gallery's still example call).

It hears the call's events on the hub's feed (`api.subscribe`) and matches them by name, so it
needs nothing of the hub beyond the facade."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, OptionProperty, StringProperty

log = logging.getLogger(__name__)

STATES = ["idle", "ringing", "connecting", "in-call", "ended"]


class Calls(Protocol):
    """What the screens need of the hub's call service."""

    def accept(self) -> None: ...

    def decline(self) -> None: ...

    def hang_up(self) -> None: ...

    def toggle_mute(self) -> None: ...

    def remote_frame(self) -> Any: ...  # hub.domain.video.VideoFrame (width, height, rgb, number) or None

    def local_frame(self) -> Any: ...


class CallModel(EventDispatcher):
    state = OptionProperty("idle", options=STATES)
    reason = StringProperty("")  # why it ended: declined, missed, cancelled, hung-up, nurse-hung-up, failed
    caller = StringProperty("")  # who calls, as the centre names itself
    muted = BooleanProperty(False)
    asked = StringProperty("")  # the family the nurse asked to be measured now ("" none)

    __events__ = ("on_measure_asked",)

    def __init__(self, calls: Calls, subscribe: Callable[[Callable[[Any], None]], Callable[[], None]], **kw: Any) -> None:
        super().__init__(**kw)
        self.calls = calls
        self._unsubscribe = subscribe(self.on_hub_event)

    def on_hub_event(self, event: Any) -> None:
        name = getattr(event, "NAME", "")
        if name == "call-changed":
            self.caller = getattr(self.calls, "caller", None) or ""
            self.reason = str(event.reason or "")
            self.muted = bool(event.muted)
            if str(event.state) != "in-call":
                self.asked = ""
            self.state = str(event.state)
        elif name == "measurement-asked" and self.state == "in-call":
            self.asked = str(getattr(event.family, "value", event.family))
            self.dispatch("on_measure_asked", self.asked)

    def on_measure_asked(self, family: str) -> None:
        pass

    # -- the patient's buttons -------------------------------------------------------------------

    def accept(self) -> None:
        self.calls.accept()

    def decline(self) -> None:
        self.calls.decline()

    def hang_up(self) -> None:
        self.calls.hang_up()

    def toggle_mute(self) -> None:
        self.calls.toggle_mute()

    def seen(self) -> None:
        """The patient has read how the call ended: nothing is shown of it any more."""
        self.state, self.reason = "idle", ""

    def close(self) -> None:
        self._unsubscribe()
