"""The hub's event feed: services and devices publish typed events, the UI and the remote channel
listen.

One frozen dataclass per kind of event, so a listener matches on the type and its fields are
checked, not read out of a dict. Events carry ids, kinds, states and counts — a live value as a
number for the screen, never a measured value in text — so a listener that logs them cannot leak
patient data.

Publishing is safe from any thread: the bus belongs to one asyncio loop (the one running where it
was made or first used), and an event published on another thread (the MQTT network thread, a
BlueZ callback) is handed to that loop with `call_soon_threadsafe`, so listeners always run on the
loop's thread, as the UI and the services expect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from hub.domain.devices import DeviceFamily
from hub.domain.readings import MeasurementKind

if TYPE_CHECKING:  # annotations only: the call machine is imported by the call's own service (hub.services.video)
    from hub.domain.video import CallState, EndReason

log = logging.getLogger(__name__)


# --- what the hub itself tells -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeasurementRecorded:
    """A measurement is committed (or was already: `created` False for a record sent again)."""

    NAME: ClassVar[str] = "measurement-recorded"
    measurement_id: str
    kind: MeasurementKind
    created: bool = True


@dataclass(frozen=True, slots=True)
class DeliveryChanged:
    """Something was delivered, retried or set aside: send states may have changed."""

    NAME: ClassVar[str] = "delivery-changed"


@dataclass(frozen=True, slots=True)
class MeasuringStarted:
    """The patient started measuring; `family`: the one the screen shows (None: any)."""

    NAME: ClassVar[str] = "measuring-started"
    family: DeviceFamily | None = None


@dataclass(frozen=True, slots=True)
class MeasuringEnded:
    NAME: ClassVar[str] = "measuring-ended"
    outcome: str  # "done", "no-device" or "failed"


@dataclass(frozen=True, slots=True)
class ConsentChanged:
    NAME: ClassVar[str] = "consent-changed"
    destination: str
    consent: str  # hub.services.consent.ConsentState's value
    set_aside: int  # rows kept back (withdrawn) by this change


@dataclass(frozen=True, slots=True)
class ReadingOfAnotherUser:
    """A shared scale's weighing of another person: ignored, never stored."""

    NAME: ClassVar[str] = "reading-of-another-user"
    kind: MeasurementKind


@dataclass(frozen=True, slots=True)
class OximetryRecording:
    NAME: ClassVar[str] = "oximetry-recording"
    state: str  # "started", "chunk" or "ended"
    chunks: int | None = None  # chunks recorded so far ("chunk")
    summary: bool | None = None  # a summary was stored ("ended")


# --- what the video call service tells (hub/services/video.py) ---------------------------------


@dataclass(frozen=True, slots=True)
class CallChanged:
    """A video check-in's state changed (never an SDP or a value in it)."""

    NAME: ClassVar[str] = "call-changed"
    call_id: str
    state: CallState
    reason: EndReason | None = None
    muted: bool = False


@dataclass(frozen=True, slots=True)
class CallMissed:
    """Nobody answered before the ring timed out (for the centre: a missed-call event)."""

    NAME: ClassVar[str] = "call-missed"
    call_id: str


@dataclass(frozen=True, slots=True)
class MeasurementAsked:
    """The nurse asked, in the call, for a measurement of this family now."""

    NAME: ClassVar[str] = "measurement-asked"
    call_id: str
    family: DeviceFamily


# --- what the Bluetooth link and the drivers tell ----------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceFound:
    NAME: ClassVar[str] = "device-found"
    address: str
    device_name: str | None = None
    driver: str | None = None
    family: DeviceFamily | None = None  # what its driver declares it reads (Driver.family)


@dataclass(frozen=True, slots=True)
class Connected:
    NAME: ClassVar[str] = "connected"
    address: str
    device_name: str | None = None
    driver: str | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    NAME: ClassVar[str] = "disconnected"
    address: str
    ended_by: str | None = None  # "hub" or "device"
    readings: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class PairingNeeded:
    NAME: ClassVar[str] = "pairing-needed"
    address: str
    method: str  # "passkey", "numeric-comparison" or "consent-code" (a shared scale's user code)
    user_index: int | None = None
    family: DeviceFamily | None = None  # the asking device's, as its driver declares it (None: not known)


@dataclass(frozen=True, slots=True)
class PairingFailed:
    NAME: ClassVar[str] = "pairing-failed"
    address: str
    device_name: str | None = None
    advice: str | None = None  # English, for the log and the command line
    reason: str | None = None  # the same as a code (hub.domain.refusals): what a screen words


@dataclass(frozen=True, slots=True)
class ConsentFailed:
    """A shared scale refused the patient's user code (or it was cancelled)."""

    NAME: ClassVar[str] = "consent-failed"
    address: str
    device_name: str | None = None
    user_index: int | None = None
    advice: str | None = None  # English, for the log and the command line
    reason: str | None = None  # the same as a code (hub.domain.refusals): what a screen words


@dataclass(frozen=True, slots=True)
class ReadingReceived:
    """The link passed a device's reading on to be recorded (not yet committed)."""

    NAME: ClassVar[str] = "reading"
    address: str
    kind: str


@dataclass(frozen=True, slots=True)
class CuffPressure:
    NAME: ClassVar[str] = "cuff-pressure"
    address: str | None
    pressure: float
    unit: str = "mm[Hg]"


@dataclass(frozen=True, slots=True)
class LiveReading:
    """A streaming oximeter's live value, for the screen only: never stored, never logged."""

    NAME: ClassVar[str] = "live-reading"
    address: str | None
    kind: MeasurementKind
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """A meter's memory download: `done` of `total` records."""

    NAME: ClassVar[str] = "download-progress"
    address: str | None
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class FormSaved:
    """A questionnaire's answers are saved (after every answer): ids and a count, never an answer."""

    NAME: ClassVar[str] = "form-saved"
    form_id: str
    answered: int


@dataclass(frozen=True, slots=True)
class FormSubmitted:
    """A questionnaire was submitted: its response and scores are in the outbox."""

    NAME: ClassVar[str] = "form-submitted"
    form_id: str
    response_id: str
    scores: int


@dataclass(frozen=True, slots=True)
class FormSent:
    """A submitted questionnaire's response and scores have reached every destination."""

    NAME: ClassVar[str] = "form-sent"
    response_id: str


@dataclass(frozen=True, slots=True)
class PlanChanged:
    """A new version of the patient's self-care plan is in force (for values measured from now)."""

    NAME: ClassVar[str] = "plan-changed"
    plan: str  # CarePlan reference with its version
    title: str


@dataclass(frozen=True, slots=True)
class ReminderDue:
    """Remind the patient of a task of the plan now (again every few minutes until it is done or
    its window closes; never in the quiet hours)."""

    NAME: ClassVar[str] = "reminder-due"
    activity: str  # the plan's activity id
    title: str
    due: datetime
    closes: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class TaskMissed:
    """A task's window closed undone: recorded as missed and queued for the centre."""

    NAME: ClassVar[str] = "task-missed"
    activity: str
    due: datetime
    closes: datetime


HubEvent = (
    MeasurementRecorded
    | DeliveryChanged
    | MeasuringStarted
    | MeasuringEnded
    | ConsentChanged
    | ReadingOfAnotherUser
    | OximetryRecording
    | CallChanged
    | CallMissed
    | MeasurementAsked
    | DeviceFound
    | Connected
    | Disconnected
    | PairingNeeded
    | PairingFailed
    | ConsentFailed
    | ReadingReceived
    | CuffPressure
    | LiveReading
    | DownloadProgress
    | FormSaved
    | FormSubmitted
    | FormSent
    | PlanChanged
    | ReminderDue
    | TaskMissed
)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _family(value: Any) -> DeviceFamily | None:
    try:
        return DeviceFamily(value) if isinstance(value, str) else None
    except ValueError:  # a family this hub does not know: the dialog says "the device"
        return None


def device_event(name: str, details: Mapping[str, Any]) -> HubEvent | None:
    """A driver's or the link's `on_event(name, details)` as a typed event; None for an event the
    hub does not know or whose details do not fit (drivers import hub.domain only, so they speak
    in names and dicts; the composition root turns them into events here)."""
    d = details
    address = _text(d.get("address"))
    if name == "device-found" and address:
        return DeviceFound(address, _text(d.get("name")), _text(d.get("driver")), _family(d.get("family")))
    if name == "connected" and address:
        return Connected(address, _text(d.get("name")), _text(d.get("driver")))
    if name == "disconnected" and address:
        return Disconnected(address, _text(d.get("ended_by")), _count(d.get("readings")) or 0, _count(d.get("skipped")) or 0)
    if name == "pairing-needed" and address and _text(d.get("method")):
        return PairingNeeded(address, d["method"], _count(d.get("user_index")), _family(d.get("family")))
    if name == "pairing-failed" and address:
        return PairingFailed(address, _text(d.get("name")), _text(d.get("advice")), _text(d.get("reason")))
    if name == "consent-failed" and address:
        return ConsentFailed(address, _text(d.get("name")), _count(d.get("user_index")), _text(d.get("advice")), _text(d.get("reason")))
    if name == "reading" and address and _text(d.get("kind")):
        return ReadingReceived(address, d["kind"])
    if name == "cuff-pressure":
        pressure = _number(d.get("pressure", d.get("value")))
        return None if pressure is None else CuffPressure(address, pressure, _text(d.get("unit")) or "mm[Hg]")
    if name == "live-reading":
        value = _number(d.get("value"))
        try:
            kind = MeasurementKind(d.get("kind"))
        except ValueError:
            return None
        return None if value is None else LiveReading(address, kind, value, _text(d.get("unit")) or "")
    if name == "download-progress":
        done, total = _count(d.get("done")), _count(d.get("total"))
        return None if done is None or total is None else DownloadProgress(address, done, total)
    log.debug("a device event the hub does not know was ignored: %s", name)
    return None


Listener = Callable[[HubEvent], None]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class EventBus:
    """One feed of typed events. Listeners run on the bus's loop thread, in publishing order per
    thread; a listener that raises is logged (by event type) and the others still get the event."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._listeners: list[Listener] = []
        self._loop = loop or _running_loop()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Listen to every event; returns a function that stops listening."""
        self._loop = self._loop or _running_loop()
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, event: HubEvent) -> None:
        """Tell every listener, now when called on the bus's loop (or with no loop yet), else
        soon, on the loop's thread (safe from any thread)."""
        here = _running_loop()
        loop = self._loop = self._loop or here
        if loop is None or loop is here:
            self._deliver(event)
        elif loop.is_closed():
            log.warning("a %s event came after the hub's loop closed; dropped", type(event).__name__)
        else:
            loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: HubEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one broken listener must not stop the others, nor the hub
                log.exception("event listener failed on %s", type(event).__name__)


__all__ = [
    "CallChanged",
    "CallMissed",
    "ConsentChanged",
    "ConsentFailed",
    "Connected",
    "CuffPressure",
    "DeliveryChanged",
    "DeviceFound",
    "Disconnected",
    "DownloadProgress",
    "EventBus",
    "HubEvent",
    "Listener",
    "LiveReading",
    "MeasurementAsked",
    "MeasurementRecorded",
    "MeasuringEnded",
    "MeasuringStarted",
    "OximetryRecording",
    "PairingFailed",
    "PairingNeeded",
    "ReadingOfAnotherUser",
    "ReadingReceived",
    "device_event",
]
