"""The facade the UI and the centre's remote channel call: commands, queries and the typed event
feed. `__all__` is the whole of it: ui/ imports this module and nothing else of the hub.

Nothing outside `hub` needs to know how measurements are stored or sent; it asks here. The domain
tables live in hub.domain, the read models in hub.services.read_models, the pairing relay in
hub.services.pairing; they are named here so a caller has one place to look.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Protocol

from hub.domain.careplan import DueTask, TaskState
from hub.domain.devices import FAMILY_KINDS, MANUAL_FIELDS, DeviceFamily, ManualField, ManualValueError, family_of
from hub.domain.evaluation import Evaluation
from hub.domain.readings import AbsentReason, Component, MeasurementKind, Provenance, QualityFlag, Reading
from hub.services.events import (
    ConsentChanged,
    ConsentFailed,
    Connected,
    CuffPressure,
    DeliveryChanged,
    DeviceFound,
    Disconnected,
    DownloadProgress,
    EventBus,
    HubEvent,
    LiveReading,
    MeasurementRecorded,
    MeasuringEnded,
    MeasuringStarted,
    OximetryRecording,
    PairingFailed,
    PairingNeeded,
    ReadingOfAnotherUser,
    ReadingReceived,
    PlanChanged,
    ReminderDue,
    TaskMissed,
)
from hub.services.careplan import CarePlanService
from hub.domain.kit import KitEntry
from hub.domain import refusals  # why enrolment or a return was refused, as codes (ui/models/refusals.py words them)
from hub.domain.nearby import ScanReport  # a technician's pairing
from hub.services.qr_scan import DAMAGED_CODE, FOUND, OTHER_CODE, ScanEnd, ScanView  # a profile's QR code by camera
from hub.domain.camera import CAMERA_FAILED, CAMERA_LOST, NO_CAMERA, Frame
from hub.domain.nearby import MAX_BARS, NearbyDevice
from hub.services.measurements import MeasurementService
from hub.services.pairing import Pairing, PasskeyPrompt, device_label
from hub.services.events import FormSaved, FormSent, FormSubmitted
from hub.services.read_models import (
    ComponentView,
    Connection,
    CouldNotBeSent,
    DestinationStatus,
    MeasurementView,
    QueryPort,
    ReadModels,
    SendState,
    TodayItem,
    TodayView,
    send_state_of,
    view_of,
)

if TYPE_CHECKING:
    from hub.domain.questionnaire import AnswerError, Coding, Media, NotSubmittable, Path, Problem, Quantity, Value
    from hub.services.questionnaires import FormClosed, FormNotFound, QuestionnaireService
    from hub.services.questionnaires_views import FormSummary, ItemView, OptionView, ReviewView, StepView, SubmittedForm
    from hub.services.returning import ReturnRefused, Unsent
    from hub.services.technician_desk import DeskPorts, EnrolOutcome, KIND_WORDS, PairOutcome, ProfileFile, ReturnDone, TechnicianDesk, UnlockOutcome

log = logging.getLogger(__name__)

# Names imported when first named (`from hub.api import X` works as before). Technician mode's
# (technician mode entered, a return): the desk's service and the return's walk (bz2, lzma,
# shutil) are ~1.3 MB a patient's day never uses.
_ON_FIRST_USE = {
    **dict.fromkeys(("ReturnRefused", "Unsent"), "hub.services.returning"),
    **dict.fromkeys(("DeskPorts", "EnrolOutcome", "KIND_WORDS", "PairOutcome", "ProfileFile", "ReturnDone", "TechnicianDesk", "UnlockOutcome"), "hub.services.technician_desk"),
    # The questionnaire engine's names, imported when a form is first opened (or a submission
    # read): the engine is ~1.1 MB of modules and objects Today never uses (docs/performance.md, part M10).
    **dict.fromkeys(("FormClosed", "FormNotFound", "QuestionnaireService"), "hub.services.questionnaires"),
    **dict.fromkeys(("FormSummary", "ItemView", "OptionView", "ReviewView", "StepView", "SubmittedForm"), "hub.services.questionnaires_views"),
    **dict.fromkeys(("AnswerError", "Coding", "Media", "NotSubmittable", "Path", "Problem", "Quantity", "Value"), "hub.domain.questionnaire"),
}


def __getattr__(name: str) -> object:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: the next lookup finds it here
    return value
K = MeasurementKind


class Measure(Protocol):
    """One measuring session on the hub's Bluetooth link (the composition root makes it): look
    for a device (that family's first, when given) within `timeout` seconds, record what it sends.
    Raises TimeoutError when no device answered."""

    def __call__(self, timeout: float, *, family: DeviceFamily | None = None) -> Awaitable[object]: ...


@dataclass(frozen=True, slots=True)
class PlanView:
    """The self-care plan in force: what the centre (or the operator) configured, no patient data."""

    reference: str  # CarePlan/<id>/_history/<version>
    title: str
    since: datetime  # values measured from then on are judged by it
    source: str  # the centre's destination name, or the folder's file
    kinds: frozenset[MeasurementKind]  # what it asks to measure (Today offers these first)
    activities: tuple[str, ...]  # its activities' titles


@dataclass(frozen=True, slots=True)
class FamilyView:
    """A family the patient measures on this hub, with what the screen needs of it."""

    family: DeviceFamily
    kinds: tuple[MeasurementKind, ...]
    by_device: bool  # this hub has a driver for the family and a Bluetooth link
    manual: tuple[ManualField, ...]


class HubApi:
    # Technician mode's screens (enrolment, PIN, kit, return): set by the composition root
    # (hub.app.technician_desk) when the hub knows its configuration file; None: no technician mode.
    technician: TechnicianDesk | None = None

    def __init__(
        self,
        *,
        measurements: MeasurementService,
        queries: QueryPort,
        events: EventBus,
        measure: Measure | None = None,
        families: Iterable[DeviceFamily] | None = None,
        device_families: Iterable[DeviceFamily] = (),
        local_zone: tzinfo = UTC,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pairing: Pairing | None = None,
        questionnaires: QuestionnaireService | None = None,
        careplan: CarePlanService | None = None,
    ) -> None:
        self._measurements = measurements
        self._events = events
        self._measure = measure
        self._device_families = tuple(device_families) if measure is not None else ()
        self._families = tuple(families) if families is not None else (self._device_families or (DeviceFamily.PULSE_OXIMETER,))
        self.local_zone = local_zone
        self.clock = clock
        self.pairing = pairing or Pairing()
        self._forms = questionnaires
        self._careplan = careplan
        self._read = ReadModels(queries, families=self._families, local_zone=local_zone, clock=clock)

    # -- the feed ------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[HubEvent], None]) -> Callable[[], None]:
        """Every event the hub publishes (typed: see the event classes in `__all__`), on the
        hub's loop; returns a function that stops listening."""
        return self._events.subscribe(listener)

    # -- commands ------------------------------------------------------------------------------

    @property
    def can_measure(self) -> bool:
        return self._measure is not None

    def families(self) -> list[FamilyView]:
        """The device families the patient measures on this hub, in the order to show them."""
        return [FamilyView(f, FAMILY_KINDS[f], f in self._device_families, MANUAL_FIELDS[f]) for f in self._families]

    async def measure_now(self, *, timeout: float = 60.0, family: DeviceFamily | None = None) -> None:
        """Look for a device, take what it sends, record it. Results arrive as events.

        `family`: what the patient is about to measure with (told in MeasuringStarted). The hub
        looks for that family's devices first; a device of another family is still read when
        none of the chosen family answers (its values are shown as they are)."""
        if self._measure is None:
            raise RuntimeError("this hub has no Bluetooth link configured")
        self._events.publish(MeasuringStarted(family))
        outcome = "failed"
        try:
            await self._measure(timeout, family=family)
            outcome = "done"
        except TimeoutError:
            outcome = "no-device"
            raise
        finally:
            self._events.publish(MeasuringEnded(outcome))

    async def record_manual(self, kind: MeasurementKind, value: float, unit: str) -> MeasurementView:
        outcome = await self._measurements.record_manual(kind, value, unit)
        assert outcome.measurement is not None  # a manual value is always the patient's
        return view_of(outcome.measurement)

    async def record_manual_family(self, family: DeviceFamily, values: dict[MeasurementKind, float | None]) -> list[MeasurementView]:
        """What the patient typed for one family, checked against what a person can have, each
        stored marked manual. Blood pressure becomes one panel (+ its pulse). Nothing is stored
        when any value is out of range (ManualValueError names the field)."""
        fields = MANUAL_FIELDS[family]
        given = {f.kind: (f, float(v)) for f in fields if (v := values.get(f.kind)) is not None}
        for f, v in given.values():
            if not f.low <= v <= f.high:
                raise ManualValueError(f)
        if not given:
            raise ValueError("no value was given")
        now = self.clock()
        views: list[MeasurementView] = []
        if family is DeviceFamily.BLOOD_PRESSURE:
            sys_, dia = given.get(K.SYSTOLIC_PRESSURE), given.get(K.DIASTOLIC_PRESSURE)
            if sys_ is None or dia is None:
                raise ValueError("blood pressure needs both numbers")
            panel = Reading(
                kind=K.BLOOD_PRESSURE,
                value=None,
                unit="mm[Hg]",
                received_at=now,
                components=(Component(K.SYSTOLIC_PRESSURE, sys_[1], "mm[Hg]"), Component(K.DIASTOLIC_PRESSURE, dia[1], "mm[Hg]")),
            )
            outcome = await self._measurements.record_reading(panel, Provenance.MANUAL)
            assert outcome.measurement is not None
            views.append(view_of(outcome.measurement))
            given = {k: v for k, v in given.items() if k == K.CUFF_PULSE_RATE}
        for f, v in given.values():
            outcome = await self._measurements.record_manual(f.kind, v, f.unit, taken_at=now)
            assert outcome.measurement is not None
            views.append(view_of(outcome.measurement))
        return views

    # -- queries ---------------------------------------------------------------------------------

    async def recent(self, *, kind: MeasurementKind | None = None, limit: int = 50) -> list[MeasurementView]:
        return await self._read.recent(kind=kind, limit=limit)

    async def measurement(self, measurement_id: str, *, kind: MeasurementKind | None = None) -> MeasurementView | None:
        """One measurement by id, however old (the UI asks for the one an event named); None
        when there is none, or it is not of `kind`."""
        view = await self._read.measurement(measurement_id)
        return view if view is not None and (kind is None or view.kind == kind) else None

    async def history(self, kind: MeasurementKind, *, days: int, limit: int = 2000) -> list[MeasurementView]:
        """The patient's values of one kind over the last `days` days, oldest first."""
        return await self._read.history(kind, days=days, limit=limit)

    async def send_state(self, measurement_id: str) -> SendState:
        return await self._read.send_state(measurement_id)

    async def send_states(self, measurement_ids: Iterable[str]) -> SendState | None:
        """One state for several values: failed beats waiting beats not shared beats sent; None for
        no values."""
        return await self._read.send_states(measurement_ids)

    async def not_shared_with(self, measurement_ids: Iterable[str]) -> list[str]:
        """The destinations that will not get these values because the patient withdrew consent
        for them (their outbox rows are kept as `withdrawn`, never sent), by name."""
        return await self._read.not_shared_with(measurement_ids)

    async def destinations(self) -> list[DestinationStatus]:
        return await self._read.destinations()

    async def could_not_be_sent(self) -> list[CouldNotBeSent]:
        """Every measurement set aside at a destination, with the reason (oldest first)."""
        return await self._read.could_not_be_sent()

    # -- the self-care plan ------------------------------------------------------------------------

    def plan(self) -> PlanView | None:
        """The plan in force now, or None (then no advice is given and nothing is due)."""
        current = self._careplan.current if self._careplan is not None else None
        if current is None:
            return None
        p = current.plan
        return PlanView(p.reference, p.title, current.since, current.source, p.measurement_kinds, tuple(a.title for a in p.activities))

    def plan_kinds(self) -> frozenset[MeasurementKind]:
        """The measurement kinds the plan asks for (empty without a plan: offer every family)."""
        return self._careplan.kinds() if self._careplan is not None else frozenset()

    async def due_today(self) -> list[DueTask]:
        """Today's tasks in the patient's time zone, in time order, each due now, later, done or
        missed (TaskState); empty without a plan. A value of the task's kind in its window, from
        any path (device, typed in, the nurse), does it."""
        if self._careplan is None:
            return []
        return await self._careplan.due_today(self.clock())

    async def today(self) -> TodayView:
        """What the Today screen shows: each family, done today or not, and where sending stands."""
        return await self._read.today()

    # -- questionnaires: one item per screen, saved on every answer ------------------------------
    # `lang`: the patient's language (nb, nn, en): texts from the form's translations when it has them.

    def _questionnaires(self) -> QuestionnaireService:
        if self._forms is None:
            raise RuntimeError("this hub has no questionnaires")
        return self._forms

    async def forms_available(self, *, lang: str | None = None) -> list[FormSummary]:
        """The forms the patient can answer today, and the one begun of each (its form_id)."""
        return await self._questionnaires().available(lang=lang)

    async def start_form(self, url: str, version: str | None = None, *, answered_by: str | None = None,
                         lang: str | None = None) -> StepView:
        """Start the form (newest version offered, or `version`), or resume the one begun: the
        same item, the same answers. `answered_by`: who answers for the patient (None: the patient)."""
        return await self._questionnaires().start(url, version, answered_by=answered_by, lang=lang)

    async def form_step(self, form_id: str, *, lang: str | None = None) -> StepView:
        """The item on screen, its display data, and "number of total"."""
        return await self._questionnaires().step(form_id, lang=lang)

    async def answer(self, form_id: str, path: Path | str, value: Value | list[Value] | None,
                     *, lang: str | None = None) -> StepView:
        """Answer an item (None clears it); saved before this returns. AnswerError names the item."""
        return await self._questionnaires().answer(form_id, path, value, lang=lang)

    async def next_item(self, form_id: str, *, lang: str | None = None) -> StepView:
        return await self._questionnaires().next(form_id, lang=lang)

    async def previous_item(self, form_id: str, *, lang: str | None = None) -> StepView:
        return await self._questionnaires().back(form_id, lang=lang)

    async def go_to_item(self, form_id: str, path: Path | str, *, lang: str | None = None) -> StepView:
        return await self._questionnaires().go_to(form_id, path, lang=lang)

    async def add_group_instance(self, form_id: str, path: Path | str, *, lang: str | None = None) -> StepView:
        return await self._questionnaires().add_group(form_id, path, lang=lang)

    async def remove_group_instance(self, form_id: str, path: Path | str, *, lang: str | None = None) -> StepView:
        return await self._questionnaires().remove_group(form_id, path, lang=lang)

    async def review_form(self, form_id: str, *, lang: str | None = None) -> ReviewView:
        return await self._questionnaires().review(form_id, lang=lang)

    async def submit_form(self, form_id: str, *, answered_by: str | None = None) -> SubmittedForm:
        """Send it: the response and its scores queued once (NotSubmittable names what is missing)."""
        return await self._questionnaires().submit(form_id, answered_by=answered_by)

    async def discard_form(self, form_id: str) -> bool:
        return await self._questionnaires().discard(form_id)


__all__ = [
    # the facade
    "HubApi",
    "Measure",
    "FamilyView",
    # questionnaires
    "AnswerError",
    "Coding",
    "FormClosed",
    "FormNotFound",
    "FormSaved",
    "FormSent",
    "FormSubmitted",
    "FormSummary",
    "ItemView",
    "Media",
    "NotSubmittable",
    "OptionView",
    "Path",
    "Problem",
    "Quantity",
    "ReviewView",
    "StepView",
    "SubmittedForm",
    "Value",
    "PlanView",
    # the self-care plan
    "DueTask",
    "TaskState",
    # read models
    "ComponentView",
    "Connection",
    "CouldNotBeSent",
    "DestinationStatus",
    "MeasurementView",
    "QueryPort",
    "SendState",
    "TodayItem",
    "TodayView",
    "send_state_of",
    "view_of",
    # the domain's words the UI names things by
    "AbsentReason",
    "DeviceFamily",
    "Evaluation",
    "FAMILY_KINDS",
    "MANUAL_FIELDS",
    "ManualField",
    "ManualValueError",
    "MeasurementKind",
    "Provenance",
    "QualityFlag",
    "family_of",
    # technician mode (hub.services.technician_desk)
    "DeskPorts",
    "EnrolOutcome",
    "KIND_WORDS",
    "KitEntry",
    "ProfileFile",
    "ReturnDone",
    "ReturnRefused",
    "refusals",
    "TechnicianDesk",
    "UnlockOutcome",
    "MAX_BARS",
    "NearbyDevice",
    "PairOutcome",
    "ScanReport",
    "Unsent",
    # enrolment by camera (hub.services.qr_scan, hub.domain.camera)
    "CAMERA_FAILED",
    "CAMERA_LOST",
    "DAMAGED_CODE",
    "FOUND",
    "Frame",
    "NO_CAMERA",
    "OTHER_CODE",
    "ScanEnd",
    "ScanView",
    # pairing
    "Pairing",
    "PasskeyPrompt",
    "device_label",
    # the typed event feed
    "EventBus",
    "HubEvent",
    "ConsentChanged",
    "ConsentFailed",
    "Connected",
    "CuffPressure",
    "DeliveryChanged",
    "DeviceFound",
    "Disconnected",
    "DownloadProgress",
    "LiveReading",
    "MeasurementRecorded",
    "MeasuringEnded",
    "MeasuringStarted",
    "OximetryRecording",
    "PairingFailed",
    "PairingNeeded",
    "ReadingOfAnotherUser",
    "ReadingReceived",
    "PlanChanged",
    "ReminderDue",
    "TaskMissed",
]
