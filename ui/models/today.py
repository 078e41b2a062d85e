"""The Today screen's model: each family done today or not, where sending stands, the
connection, devices whose battery is low."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, StringProperty

from hub.api import Connected, Connection, DeliveryChanged, DeviceFamily, Disconnected, HubApi, HubEvent, MeasurementRecorded, MeasuringEnded, SendState
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

    def __init__(self, api: HubApi, tr: Translator, **kw) -> None:
        super().__init__(**kw)
        self.api = api
        self.tr = tr
        self.refresh = Refresher(self._refresh, "today")
        self._view = None

    async def _refresh(self) -> None:
        try:
            self._view = await self.api.today()
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
        self.items = rows
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

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, MeasurementRecorded | DeliveryChanged):
            self.refresh()
        elif isinstance(event, Connected):
            self.link_text = self.tr._(N_("A device is connected."))
        elif isinstance(event, Disconnected | MeasuringEnded):
            self.link_text = ""


__all__ = ["TodayModel", "battery_texts", "send_text"]
