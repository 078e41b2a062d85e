"""The Today screen's model: each family done today or not, where sending stands, the
connection, devices whose battery is low; with a self-care plan, what the plan asks for today
(due now, later, done, missed — calmly) and only the plan's kinds as big buttons, the other
families behind "Other measurement"."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, StringProperty

from hub.api import (
    Connected,
    Connection,
    DeliveryChanged,
    DeviceFamily,
    Disconnected,
    DueTask,
    FormSubmitted,
    HubApi,
    HubEvent,
    MeasurementRecorded,
    MeasuringEnded,
    PlanChanged,
    ReminderDue,
    SendState,
    TaskMissed,
    TaskState,
    family_of,
)
from ui import kinds
from ui.i18n import N_, Translator
from ui.models.loop import Refresher

log = logging.getLogger(__name__)


def send_text(tr: Translator, state: SendState | None, not_shared: tuple[str, ...] | list[str] = ()) -> tuple[str, str]:
    if state is None:
        return "", "body"
    if state is SendState.NOT_SHARED:
        return tr.f(kinds.SEND_TEXT[state], destination=", ".join(not_shared)), kinds.SEND_COLOUR[state]
    return tr._(kinds.SEND_TEXT[state]), kinds.SEND_COLOUR[state]


def battery_texts(tr: Translator, names: Sequence[str], families: Sequence[DeviceFamily | None]) -> tuple[str, str]:
    """What Today says about low batteries: a sentence per device the patient knows by its
    family word ("the scale"), and a small line of the devices' own names only when two of one
    family are low (the patient then needs the name to tell them apart)."""
    by_family: dict[DeviceFamily | None, list[str]] = {}
    for n, name in enumerate(names):
        by_family.setdefault(families[n] if n < len(families) else None, []).append(name)
    sentences = [
        tr.f(N_("The battery in {device} is low. Ask for a new one."), device=kinds.device_word(tr, family))
        for family in by_family
    ]
    twins = [name for group in by_family.values() if len(group) > 1 for name in group]
    return " ".join(sentences), ", ".join(twins)


TASK_TEXT = {
    TaskState.DUE_NOW: N_("It is time to measure now."),
    TaskState.LATER: N_("Later today, at {time}."),
    TaskState.DONE: N_("Done at {time}."),
}
FORM_TASK_TEXT = {
    TaskState.DUE_NOW: N_("It is time to answer now."),
    TaskState.LATER: N_("Later today, at {time}."),
    TaskState.DONE: N_("Answered at {time}."),
}
# Missed, said calmly: not a failure, an offer.
MISSED = N_("We see that you did not measure {when}. You can measure now if you like.")
MISSED_FORM = N_("We see that you did not answer {when}. You can answer now if you like.")
PART_OF_DAY = ((12, N_("this morning")), (17, N_("this afternoon")), (24, N_("this evening")))


def part_of_day(tr: Translator, local: datetime) -> str:
    """'this morning' / 'this afternoon' / 'this evening' for a local time (the missed task's)."""
    return tr._(next(text for hour, text in PART_OF_DAY if local.hour < hour))


def task_family(task: DueTask) -> DeviceFamily | None:
    return next((f for k in sorted(task.kinds) if (f := family_of(k)) is not None), None)


class TodayModel(EventDispatcher):
    date_text = StringProperty("")
    items = ListProperty([])  # dicts for the Today rows
    send_text = StringProperty("")
    send_role = StringProperty("body")
    connection_text = StringProperty("")
    battery_text = StringProperty("")
    battery_detail = StringProperty("")  # the devices' own names, only to tell two of a kind apart
    link_text = StringProperty("")
    loaded = BooleanProperty(False)
    planned = BooleanProperty(False)  # a self-care plan is in force: Today follows it
    tasks = ListProperty([])  # dicts for the plan's task rows (what is due, later, done, missed)
    others = ListProperty([])  # with a plan: rows of the families it does not ask for
    show_others = BooleanProperty(False)  # "Other measurement" opened

    def __init__(self, api: HubApi, tr: Translator, **kw) -> None:
        super().__init__(**kw)
        self.api = api
        self.tr = tr
        self.refresh = Refresher(self._refresh, "today")
        self._view = None
        self._tasks: list[DueTask] = []

    async def _refresh(self) -> None:
        try:
            self._view = await self.api.today()
            self._tasks = await self.api.due_today() if self.api.plan() is not None else []
        except Exception as exc:  # the store is busy or gone: say so, keep the screen
            log.error("today could not be read: %s", type(exc).__name__)
            self.connection_text = self.tr._(N_("Your values cannot be shown just now. Try again in a moment."))
            return
        self.render()

    def render(self, *_args) -> None:
        view, tr = self._view, self.tr
        if view is None:
            return
        self.date_text = tr.day(view.day).capitalize() if tr.lang != "en" else tr.day(view.day)
        rows = []
        for item in view.items:
            values = " · ".join(kinds.value_text(tr, v) for v in item.latest)
            when = tr.time(item.latest[0].taken_at.astimezone(self.api.local_zone)) if item.latest else ""
            marks = [kinds.provenance_text(tr, v) for v in item.latest if kinds.provenance_text(tr, v)]
            s_text, s_role = send_text(tr, item.send_state, item.not_shared)
            rows.append(
                {
                    "family": item.family.value,
                    "title": tr._(kinds.FAMILY_TITLE[item.family]),
                    "done": item.done,
                    "status": tr.f(N_("Done at {time}: {values}"), time=when, values=values) if item.done else tr._(N_("Not done yet today")),
                    "note": marks[0] if marks else "",
                    "send_text": s_text,
                    "send_role": s_role if s_role != "body" else "card",
                }
            )
        self._render_plan(rows)
        withheld = sorted({name for item in view.items for name in item.not_shared})
        if view.send_state is None:
            self.send_text, self.send_role = tr._(N_("Nothing to send yet")), "body"
        elif view.send_state in (SendState.SENT, SendState.NOT_SHARED) and withheld:
            # Never "everything is sent" beside a value the patient's withdrawal kept back.
            self.send_text, self.send_role = send_text(tr, SendState.NOT_SHARED, withheld)[0], "body"
        elif view.send_state in (SendState.SENT, SendState.NOT_SHARED):
            self.send_text, self.send_role = tr._(N_("Everything is sent ✓")), "ok-bg"
        elif view.send_state is SendState.WAITING:
            self.send_text = tr.n("{count} value is waiting to send", "{count} values are waiting to send", view.waiting)
            self.send_role = "wait-bg"
        else:
            # Calm, not alarm red: the patient can do nothing about it, and is told so.
            self.send_text = tr._(N_("Some values could not be sent. Your nurse knows, and you need not do anything."))
            self.send_role = "body"
        self.connection_text = (
            tr._(N_("There is no connection to the centre just now. Your values are kept safe here and sent later."))
            if view.connection is Connection.TRYING
            else ""
        )
        self.battery_text, self.battery_detail = battery_texts(tr, view.battery_low, view.battery_low_families)
        self.loaded = True

    def _render_plan(self, rows: list[dict]) -> None:
        """Without a plan every family is a row, as always. With one: the plan's tasks first, then
        the plan's families that have no task today; the rest behind "Other measurement"."""
        tr = self.tr
        kinds_asked = self.api.plan_kinds()
        self.planned = bool(kinds_asked)
        if not self.planned:
            self.items, self.tasks, self.others = rows, [], []
            return
        can_open_forms = self._forms_openable()
        tasks, tasked = [], set()
        for task in self._tasks:
            family = task_family(task)
            if family is None and not (task.questionnaire and can_open_forms):
                continue  # a form the app cannot open yet is not offered
            if family is not None:
                tasked.add(family.value)
            tasks.append(self._task_row(task, family))
        planned = {f.value for k in kinds_asked if (f := family_of(k)) is not None}
        self.tasks = tasks
        self.items = [r for r in rows if r["family"] in planned and r["family"] not in tasked]
        self.others = [r for r in rows if r["family"] not in planned]

    def _task_row(self, task: DueTask, family: DeviceFamily | None) -> dict:
        tr, zone = self.tr, self.api.local_zone
        form = family is None
        local_due = task.due.astimezone(zone)
        texts = FORM_TASK_TEXT if form else TASK_TEXT
        if task.state is TaskState.MISSED:
            status = tr.f(MISSED_FORM if form else MISSED, when=part_of_day(tr, local_due))
        elif task.state is TaskState.DONE:
            status = tr.f(texts[TaskState.DONE], time=tr.time((task.done_at or task.due).astimezone(zone)))
        else:
            status = tr.f(texts[task.state], time=tr.time(local_due))
        return {
            "task_action": f"task-{task.activity}-{local_due:%H%M}",
            "title": task.title if form else tr._(kinds.FAMILY_TITLE[family]),
            "state": task.state.value,
            "status": status,
            "family": family.value if family else "",
            "form": task.questionnaire or "",
            "button": "" if task.state is TaskState.DONE else tr._(N_("Answer") if form else N_("Measure")),
            "status_role": "ok" if task.state is TaskState.DONE else "card",
        }

    @staticmethod
    def _forms_openable() -> bool:
        from kivy.app import App

        return hasattr(App.get_running_app(), "open_form")

    def task(self, activity: str, due: datetime) -> DueTask | None:
        """Today's task of `activity` due at `due`, as last read (a reminder asks whether it is done)."""
        return next((t for t in self._tasks if t.activity == activity and t.due == due), None)

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, MeasurementRecorded | DeliveryChanged | PlanChanged | TaskMissed | ReminderDue | FormSubmitted):
            self.refresh()
        elif isinstance(event, Connected):
            self.link_text = self.tr._(N_("A device is connected."))
        elif isinstance(event, Disconnected | MeasuringEnded):
            self.link_text = ""


__all__ = ["TodayModel", "battery_texts", "part_of_day", "send_text", "task_family"]
