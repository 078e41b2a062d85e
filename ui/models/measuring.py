"""The measuring screen's state machine, pure: `transition(state, event) -> (state, effects)`.

No Kivy, no asyncio, no hub calls: the Kivy model (ui/models/measure.py) feeds it the hub's typed
events and the patient's commands, applies the effects it returns (start or stop the session, read
a stored value, format a live value, refresh the send state) and copies the state onto the
properties the screen binds to. So every rule of the screen can be tested without a window, and
Hypothesis can walk any order of events (tests/ui/test_measuring.py).

The rules, in the patient's terms:
- a session shows waiting → found → pairing/user code → connected → live, as the device says;
- it ends once, in one of RESULT, NO_DEVICE, LOST, FAILED; a value stored during it is read
  first, so a stored value is never shown as "stopped before a value came";
- a cancelled session (the patient left the screen) shows the guide again, or its values;
- the family shown follows the values: a value of another family switches the screen to it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from hub.api import (
    FAMILY_KINDS,
    Connected,
    ConsentFailed,
    CuffPressure,
    DeliveryChanged,
    DeviceFamily,
    DeviceFound,
    DownloadProgress,
    LiveReading,
    MeasurementKind,
    MeasurementRecorded,
    PairingNeeded,
    family_of,
)


class Phase(StrEnum):
    """What the measuring screen shows (the values are the screen's state names)."""

    GUIDE = "guide"
    WAITING = "waiting"
    FOUND = "found"
    PAIRING = "pairing"
    USER_CODE = "user-code"
    CONNECTED = "connected"
    LIVE = "live"
    RESULT = "result"
    NO_DEVICE = "no-device"
    LOST = "lost"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"


# While a device session is under way (the screen waits for, or hears from, a device).
TALKING = frozenset({Phase.WAITING, Phase.FOUND, Phase.PAIRING, Phase.USER_CODE, Phase.CONNECTED, Phase.LIVE})
# How a session ends: exactly one of these, once.
ENDINGS = frozenset({Phase.RESULT, Phase.NO_DEVICE, Phase.LOST, Phase.FAILED})
# Endings without a value: never shown while a stored value is.
PROBLEMS = frozenset({Phase.NO_DEVICE, Phase.LOST, Phase.FAILED})


class Note(StrEnum):
    """What the screen says in words where there is no value (translated by the Kivy model)."""

    CODE_REFUSED = "code-refused"  # a shared scale refused the patient's user code
    NO_DEVICES = "no-devices"  # this hub cannot read devices: type the value in


@dataclass(frozen=True, slots=True)
class Measuring:
    phase: Phase = Phase.GUIDE
    family: DeviceFamily = DeviceFamily.PULSE_OXIMETER
    session: bool = False  # a device session runs (or has ended and its values are still read)
    run: int = 0  # which showing a read belongs to: a read from an earlier one is not shown
    shown: frozenset[MeasurementKind] = frozenset()  # stored values on the screen, by kind
    reading: int = 0  # stored values being read from the hub for this showing
    ended: Phase | None = None  # the session is over, with this outcome, once `reading` is 0
    progress: tuple[int, int] | None = None  # a meter's memory download: done, total
    note: Note | None = None

    @property
    def downloading(self) -> bool:
        """A meter's memory is coming in: the progress stays on screen until the last record."""
        return self.session and self.progress is not None and self.progress[0] < self.progress[1]


# --- what the screen and the session tell the machine (besides the hub's events) ----------------


@dataclass(frozen=True, slots=True)
class Open:
    """The patient chose a family: its guide, from a fresh start."""

    family: DeviceFamily


@dataclass(frozen=True, slots=True)
class Start:
    """The patient tapped Start; `can_measure`: this hub has a Bluetooth link to measure with."""

    can_measure: bool = True


@dataclass(frozen=True, slots=True)
class Cancel:
    """The patient left the screen (or the app stops): the session is stopped."""


@dataclass(frozen=True, slots=True)
class SessionOver:
    """The session's measure command returned (LOST: it ended without a value), timed out
    (NO_DEVICE) or failed (FAILED), and the hub's events published so far have been delivered."""

    outcome: Phase


@dataclass(frozen=True, slots=True)
class Show:
    """Show a stored measurement as this screen's result."""

    measurement_id: str
    kind: MeasurementKind


@dataclass(frozen=True, slots=True)
class ResultRead:
    """A value asked for by a `Read` effect is read and ready to show."""

    kind: MeasurementKind
    run: int


@dataclass(frozen=True, slots=True)
class ResultMissing:
    """A `Read` found nothing (or the store could not be read)."""

    run: int


@dataclass(frozen=True, slots=True)
class ManualSaved:
    """Values typed by hand are stored: they are the result."""

    kinds: tuple[MeasurementKind, ...]


ScreenEvent = Open | Start | Cancel | SessionOver | Show | ResultRead | ResultMissing | ManualSaved
# The hub's events the machine reacts to (any other event changes nothing).
HubSignal = DeviceFound | PairingNeeded | ConsentFailed | Connected | CuffPressure | LiveReading | DownloadProgress | MeasurementRecorded | DeliveryChanged


# --- what the Kivy model does for it ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BeginSession:
    family: DeviceFamily


@dataclass(frozen=True, slots=True)
class StopSession:
    pass


@dataclass(frozen=True, slots=True)
class Clear:
    """Forget what was shown: live values, results, the send state."""


@dataclass(frozen=True, slots=True)
class Read:
    """Read a stored measurement from the hub, then tell ResultRead or ResultMissing (with `run`)."""

    measurement_id: str
    kind: MeasurementKind
    run: int


@dataclass(frozen=True, slots=True)
class ShowResults:
    """Lay out the values shown (those of `shown`)."""


@dataclass(frozen=True, slots=True)
class RefreshSend:
    """Ask the hub where sending the values shown stands."""


@dataclass(frozen=True, slots=True)
class ShowCuff:
    pressure: float


@dataclass(frozen=True, slots=True)
class ShowLive:
    kind: MeasurementKind
    value: float
    unit: str


Effect = BeginSession | StopSession | Clear | Read | ShowResults | RefreshSend | ShowCuff | ShowLive
Step = tuple[Measuring, tuple[Effect, ...]]


def transition(state: Measuring, event: object) -> Step:
    """The next state and what to do, for one event; an event that does not apply changes nothing."""
    if isinstance(event, ScreenEvent):
        return _screen(state, event)
    if isinstance(event, DeliveryChanged):
        return state, ((RefreshSend(),) if state.shown else ())
    if isinstance(event, ConsentFailed):
        # Its event may come a frame after the session ended (as "lost"): still say why.
        if state.session or state.phase is Phase.LOST:
            return replace(state, note=Note.CODE_REFUSED), ()
        return state, ()
    if not state.session:
        return state, ()  # a device talking with no session on this screen: not this screen's
    return _device(state, event)


def _screen(s: Measuring, e: ScreenEvent) -> Step:
    if isinstance(e, Open):
        return Measuring(family=e.family, run=s.run + 1), (StopSession(), Clear())
    if isinstance(e, Start):
        fresh = Measuring(family=s.family, run=s.run + 1)
        if not e.can_measure:
            return replace(fresh, phase=Phase.UNAVAILABLE, note=Note.NO_DEVICES), (StopSession(), Clear())
        return replace(fresh, phase=Phase.WAITING, session=True), (StopSession(), Clear(), BeginSession(s.family))
    if isinstance(e, Cancel):
        if not s.session:
            return s, (StopSession(),)
        phase = Phase.RESULT if s.shown else (Phase.GUIDE if s.phase in TALKING else s.phase)
        return replace(s, session=False, ended=None, phase=phase), (StopSession(),)
    if isinstance(e, SessionOver):
        if not s.session or s.ended is not None or e.outcome not in PROBLEMS:
            return s, ()
        waiting = replace(s, ended=e.outcome)
        return (waiting, ()) if s.reading else (_end(waiting), ())
    if isinstance(e, Show):
        return replace(s, reading=s.reading + 1), (Read(e.measurement_id, e.kind, s.run),)
    if isinstance(e, ResultRead):
        if e.run != s.run:
            return s, ()  # read for a showing the patient has left
        return _shown(replace(s, reading=max(0, s.reading - 1)), e.kind), (ShowResults(), RefreshSend())
    if isinstance(e, ResultMissing):
        if e.run != s.run:
            return s, ()
        return _settle(replace(s, reading=max(0, s.reading - 1))), ()
    # ManualSaved
    fresh = Measuring(phase=Phase.RESULT, family=s.family, run=s.run + 1, shown=frozenset(e.kinds))
    return fresh, (StopSession(), Clear(), ShowResults(), RefreshSend())


def _shown(s: Measuring, kind: MeasurementKind) -> Measuring:
    family = family_of(kind)
    shown = s.shown
    if family is not None and family is not s.family:
        # The patient used another device than the screen showed: show what arrived.
        shown = frozenset(k for k in shown if k in FAMILY_KINDS[family])
        s = replace(s, family=family)
    s = replace(s, shown=shown | {kind})
    if not s.downloading:
        s = replace(s, phase=Phase.RESULT)
    return _settle(s)


def _settle(s: Measuring) -> Measuring:
    """A session that ended while values were read ends once the last is in."""
    return _end(s) if s.ended is not None and s.reading == 0 else s


def _end(s: Measuring) -> Measuring:
    outcome = Phase.RESULT if s.shown else s.ended or Phase.LOST
    return replace(s, phase=outcome, session=False, ended=None)


def _device(s: Measuring, e: object) -> Step:
    if isinstance(e, DeviceFound):
        return (replace(s, phase=Phase.FOUND) if s.phase is Phase.WAITING else s), ()
    if isinstance(e, PairingNeeded):
        # A shared scale asking for the patient's user code is not pairing: say what it asks.
        return replace(s, phase=Phase.USER_CODE if e.method == "consent-code" else Phase.PAIRING), ()
    if isinstance(e, Connected):
        early = (Phase.WAITING, Phase.FOUND, Phase.PAIRING, Phase.USER_CODE)
        return (replace(s, phase=Phase.CONNECTED) if s.phase in early else s), ()
    if isinstance(e, CuffPressure | LiveReading):
        effect = ShowCuff(e.pressure) if isinstance(e, CuffPressure) else ShowLive(e.kind, e.value, e.unit)
        return (s if s.phase is Phase.RESULT else replace(s, phase=Phase.LIVE)), (effect,)
    if isinstance(e, DownloadProgress):
        if e.total <= 0:
            return s, ()
        s = replace(s, progress=(min(e.done, e.total), e.total))
        if e.done >= e.total and s.shown:
            return replace(s, phase=Phase.RESULT), ()  # the last record is in: show the newest value
        if s.phase is not Phase.RESULT or s.downloading:
            return replace(s, phase=Phase.LIVE), ()
        return s, ()
    if isinstance(e, MeasurementRecorded):
        return replace(s, reading=s.reading + 1), (Read(e.measurement_id, e.kind, s.run),)
    return s, ()


__all__ = [
    "ENDINGS",
    "PROBLEMS",
    "TALKING",
    "BeginSession",
    "Cancel",
    "Clear",
    "Effect",
    "ManualSaved",
    "Measuring",
    "Note",
    "Open",
    "Phase",
    "Read",
    "RefreshSend",
    "ResultMissing",
    "ResultRead",
    "SessionOver",
    "Show",
    "ShowCuff",
    "ShowLive",
    "ShowResults",
    "Start",
    "StopSession",
    "transition",
]
