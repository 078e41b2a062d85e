"""The enrolment screen's camera scan: the camera's picture while the technician holds the
profile's QR code up, what was seen in words, and "no camera found" when there is none.

The scan itself is the desk's (hub.api.TechnicianDesk.scan_qr, in a thread of its own); this
model starts and stops it and turns what it saw into words in the chosen language. A profile's
code found goes on as the hand scanner's typed text does (`found(text)`: the new PIN, then the
same checks: signature, expiry, this hub, another patient's data)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kivy.event import EventDispatcher
from kivy.properties import OptionProperty, StringProperty

from hub.api import CAMERA_FAILED, CAMERA_LOST, DAMAGED_CODE, FOUND, NO_CAMERA, OTHER_CODE, Frame, ScanView
from ui.i18n import N_, Translator
from ui.models.loop import spawn

if TYPE_CHECKING:  # hub.api imports technician mode's names when first named (part M7)
    from hub.api import TechnicianDesk

SEEN_WORDS = {
    OTHER_CODE: N_("This QR code is not a Heima profile. Show the code from the centre's profile."),
    DAMAGED_CODE: N_("The code could not be read whole. Hold it still, a little closer."),
}
CAMERA_HEADLINES = {
    NO_CAMERA: N_("No camera found"),
    CAMERA_FAILED: N_("The camera cannot be used"),
    CAMERA_LOST: N_("The camera stopped giving pictures"),
}
CAMERA_WORDS = {
    NO_CAMERA: N_("Connect the camera and try again, or use the USB stick or the hand scanner."),
    CAMERA_FAILED: N_("Use the USB stick or the hand scanner, or ask for help."),
    CAMERA_LOST: N_("Check its cable and try again, or use the USB stick or the hand scanner."),
}


class ScanModel(EventDispatcher):
    step = OptionProperty("idle", options=["idle", "scanning", "unavailable"])
    headline = StringProperty("")
    message = StringProperty("")

    def __init__(self, desk: TechnicianDesk | None, tr: Translator, found: Callable[[str], None], **kwargs) -> None:
        super().__init__(**kwargs)
        self.desk = desk
        self.tr = tr
        self.found = found  # a profile's code was read: its text goes on to the PIN and enrolment
        self.view: ScanView | None = None
        self._shown = 0  # the view's picture count last drawn
        self._seen: str | None = None
        self._reason = NO_CAMERA
        self._pending: set = set()

    async def idle(self) -> None:
        """Return once the scan asked for so far has ended (tests, scenes)."""
        import asyncio

        while self._pending:
            await asyncio.gather(self._pending.pop(), return_exceptions=True)

    def start(self) -> None:
        """Open the camera and look for the code (the scan view is shown)."""
        if self.step == "scanning":
            return
        self.view, self._shown, self._seen = ScanView(), 0, None
        if self.desk is None:
            self.show_unavailable(NO_CAMERA)
            return
        self.step = "scanning"
        self.render()
        self._pending.add(spawn(self._scan(self.view), "enrol-scan"))

    async def _scan(self, view: ScanView) -> None:
        assert self.desk is not None
        end = await self.desk.scan_qr(view)
        if view is not self.view:
            return  # cancelled: the screen has moved on
        self.view = None
        if end.how == FOUND:
            self.step = "idle"
            self.found(end.text)
        else:
            self.show_unavailable(end.reason or NO_CAMERA)

    def cancel(self) -> None:
        """Cancel, or the scan view left: the camera is closed (at its next picture)."""
        if self.view is not None:
            self.view.stop.set()
        self.view = None
        if self.step == "scanning":
            self.step = "idle"

    def show_unavailable(self, reason: str) -> None:
        self.view, self._reason, self.step = None, reason, "unavailable"
        self.render()

    def poll(self) -> Frame | None:
        """The screen's Clock while the scan view is shown: a new picture to draw, if one came;
        the words follow what the scan has seen."""
        view = self.view
        if view is None:
            return None
        if view.seen != self._seen:
            self._seen = view.seen
            self.render()
        if view.pictures == self._shown or view.frame is None:
            return None
        self._shown = view.pictures
        return view.frame

    def render(self, *_args) -> None:
        tr = self.tr
        if self.step == "unavailable":
            reason = self._reason if self._reason in CAMERA_WORDS else CAMERA_FAILED
            self.headline, self.message = tr._(CAMERA_HEADLINES[reason]), tr._(CAMERA_WORDS[reason])
        else:
            self.headline = tr._("Hold the code in front of the camera")
            self.message = tr._(SEEN_WORDS[self._seen]) if self._seen in SEEN_WORDS else tr._("Hold it still, about a hand's width away.")


__all__ = ["CAMERA_HEADLINES", "CAMERA_WORDS", "SEEN_WORDS", "ScanModel"]
