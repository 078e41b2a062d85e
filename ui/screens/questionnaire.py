"""One question of a form per screen: the question, its help and picture, big answer buttons (or
a number pad with the unit, a date choice, a Norwegian keyboard), "3 of 8", Back and Next.

The hub's engine holds the answers and decides what comes next; this screen draws the step the
model holds and sends what the patient taps. Typed answers (numbers, text, a time) are sent when
the patient taps Next, so a half-typed number is never saved; a tapped option is saved at once.
"""

from __future__ import annotations

import base64
import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty

from hub.api import Coding, ItemView, Quantity, Value
from ui.i18n import N_, tr
from ui.keyboard import make, typed_text
from ui.models.questionnaire import STAYS_ON, answer_text, problem_text
from ui.widgets import HeimaScreen, load_kv, typed

CHOICE = frozenset({"choice", "open-choice", "boolean"})
NUMBER = frozenset({"integer", "decimal", "quantity"})
TEXT = frozenset({"string", "text", "url"})


def kind_of(item: ItemView | None) -> str:
    """How the patient answers this item on screen: options, number, date, datetime, time, text,
    or none (a text to read, a worked-out value, one answered elsewhere)."""
    if item is None or item.type == "display" or item.read_only or not item.supported:
        return "none"
    if item.type in CHOICE:
        return "options"
    if item.type in NUMBER:
        return "number"
    if item.type == "date":
        return "date"
    if item.type == "dateTime":
        return "datetime"
    if item.type == "time":
        return "time"
    if item.type in TEXT:
        return "text"
    return "none"


def options_of(item: ItemView) -> list[tuple[Value, str]]:
    if item.type == "boolean":
        return [(True, tr._("Yes")), (False, tr._("No"))]
    return [(o.value, o.label) for o in item.options]


def chosen(item: ItemView, value: Value) -> bool:
    for a in item.answers:
        if isinstance(a, Coding) and isinstance(value, Coding):
            if a.matches(value):
                return True
        elif type(a) is type(value) and a == value:
            return True
    return False


def number_typed(value: Value | None) -> str:
    if isinstance(value, Quantity):
        value = value.value
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, Decimal)):
        return format(value, "f").replace(".", ",") if isinstance(value, Decimal) else str(value)
    return ""


def time_typed(value: Value | None) -> str:
    if isinstance(value, datetime):
        value = value.timetz()
    return f"{value.hour:02d}{value.minute:02d}" if isinstance(value, time) else ""


def time_of(digits: str) -> time | None:
    if len(digits) < 3:
        return None
    hour, minute = int(digits[:-2]), int(digits[-2:])
    return time(hour, minute) if hour < 24 and minute < 60 else None


def time_shown(digits: str) -> str:
    """Typed digits as a time: "930" → "9.30" (English "9:30")."""
    if not digits:
        return ""
    return f"{digits[:-2]}{':' if tr.lang == 'en' else '.'}{digits[-2:]}" if len(digits) > 2 else digits


def picture_texture(item: ItemView):
    """The form's picture (itemMedia with its data), as a texture; None without one."""
    media = item.media
    if media is None or not media.data or not (media.content_type or "").startswith("image/"):
        return None
    from kivy.core.image import Image as CoreImage

    ext = (media.content_type or "image/png").split("/")[-1].replace("jpeg", "jpg")
    try:
        return CoreImage(io.BytesIO(base64.b64decode(media.data)), ext=ext).texture
    except Exception:  # a picture the hub cannot draw: the question without it
        return None


class QuestionScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)  # QuestionnaireModel
    question = StringProperty("")
    section = StringProperty("")
    progress = StringProperty("")
    fraction = NumericProperty(0.0)
    help_text = StringProperty("")
    help_shown = BooleanProperty(False)
    picture_title = StringProperty("")
    answer_shown = StringProperty("")  # a worked-out value, or what was typed, as the patient reads it
    show_value = BooleanProperty(False)  # answer_shown in large type (not in the typing field)
    problem = StringProperty("")
    can_go_back = BooleanProperty(False)
    typed = StringProperty("")  # what the pad or keyboard holds, not sent yet
    other_open = BooleanProperty(False)  # open-choice: "Other" with the keyboard
    picked_date = ObjectProperty(None, allownone=True)  # date / dateTime: the day chosen
    picking = BooleanProperty(False)  # "Choose a date": the day-by-day picker open
    unit_index = NumericProperty(0)

    def on_model(self, _screen, model) -> None:
        if model is not None:
            model.fbind("step", self._step_changed)
            model.fbind("error", self.update)

    # -- drawing ---------------------------------------------------------------------------------

    def _step_changed(self, *_args) -> None:
        item = self.model.item if self.model else None
        key = (item.path, item.link_id) if item is not None else None
        if key != getattr(self, "_shown_key", None):  # a new item: fresh typing state
            self._shown_key = key
            self.help_shown = self.other_open = self.picking = False
            self.unit_index = 0
            self.picked_date = None
            self.typed = self._typed_from(item)
            if item is not None and self.manager is not None and self.manager.current == self.name:
                from kivy.app import App

                App.get_running_app().session.say(self.spoken())
        self.rebuild()

    def _typed_from(self, item: ItemView | None) -> str:
        if item is None or not item.answers:
            return ""
        k, a = kind_of(item), item.answers[0]
        if k == "number":
            if isinstance(a, Quantity) and item.unit_options:
                for n, u in enumerate(item.unit_options):
                    if u.code == a.code:
                        self.unit_index = n
            return number_typed(a)
        if k == "time" or k == "datetime":
            if isinstance(a, datetime):
                self.picked_date = a.date()
            return time_typed(a)
        if k == "text" or (k == "options" and isinstance(a, str)):
            self.other_open = isinstance(a, str) and item.type == "open-choice"
            return a if isinstance(a, str) else ""
        if k == "date" and isinstance(a, date):
            self.picked_date = a
        return ""

    def rebuild(self, *_args) -> None:
        step = self.model.step if self.model else None
        item = step.item if step else None
        self.title = (step.title or "") if step else ""
        self.progress = self.model.progress_text() if self.model else ""
        self.fraction = (step.number / step.total) if step and step.total else 0
        self.can_go_back = bool(step and step.can_go_back)
        self.section = (item.section or "") if item else ""
        self.question = ((item.prefix + " ") if item and item.prefix else "") + ((item.text or "") if item else "")
        self.help_text = "\n".join(item.help) if item else ""
        texture = picture_texture(item) if item else None
        pic = self.ids.picture
        pic.texture = texture
        pic.opacity = 1 if texture is not None else 0
        pic.height = min(texture.height, 320) if texture is not None else 0
        self.picture_title = (item.media.title or "") if item and item.media and item.media.title else ""
        self.update()
        self._build_answers(item)

    def update(self, *_args) -> None:
        item = self.model.item if self.model else None
        problems = [p for p in (item.problems if item else ()) if p.kind in STAYS_ON]
        self.problem = self.model.error if self.model and self.model.error else (problem_text(tr, problems[0]) if problems else "")
        k = kind_of(item)
        self.show_value = item is not None and (k in ("number", "time", "datetime", "date") or (k == "none" and item.type != "display"))
        if item is None:
            self.answer_shown = ""
        elif k == "none" and item.type != "display":
            if not item.supported:
                self.answer_shown = tr._("Answer this one with your care team.")
            else:
                self.answer_shown = ", ".join(answer_text(tr, item, a) for a in item.answers)
        elif k == "number":
            self.answer_shown = f"{self.typed or '…'} {self._unit(item)}".strip()
        elif k == "time":
            self.answer_shown = time_shown(self.typed) or "…"
        elif k == "datetime":
            day = tr.day(self.picked_date) if self.picked_date else "…"
            self.answer_shown = tr.f(N_("{day} at {time}"), day=day, time=time_shown(self.typed) or "…")
        elif k == "date":
            self.answer_shown = tr.day(self.picked_date) if self.picked_date else ", ".join(answer_text(tr, item, a) for a in item.answers)
        elif k == "text" or (k == "options" and self.other_open):
            self.answer_shown = self.typed + "|"
        else:
            self.answer_shown = ""
        field = getattr(self, "_typed_field", None)
        if field is not None:
            field.shown = self.answer_shown

    def _unit(self, item: ItemView) -> str:
        if item.unit_options and len(item.unit_options) > 1:
            u = item.unit_options[min(self.unit_index, len(item.unit_options) - 1)]
            return u.display or u.code or ""
        return item.unit or ""

    def _build_answers(self, item: ItemView | None) -> None:
        box = self.ids.answers
        box.clear_widgets()
        self._typed_field = None
        k = kind_of(item)
        if item is None or k == "none":
            return
        if k == "options":
            for n, (value, label) in enumerate(options_of(item)):
                b = make("FormOption", text=label, action=f"option-{n + 1}", chosen=chosen(item, value))
                b.bind(on_release=lambda _b, v=value: self.choose(v))
                box.add_widget(b)
            if item.open_choice:
                other = make("FormOption", text=tr._("Other"), action="option-other",
                                           chosen=self.other_open or any(isinstance(a, str) for a in item.answers))
                other.bind(on_release=lambda _b: self.open_other())
                box.add_widget(other)
                if self.other_open:
                    self._add_typing(box, make("Keyboard"))
        elif k == "number":
            row = make("NumberRow")
            row.ids.pad.decimal = item.type != "integer"
            row.ids.pad.bind(on_key=lambda _p, key: self.key(key))
            for n, u in enumerate(item.unit_options if len(item.unit_options) > 1 else ()):
                b = make("FormOption", text=u.display or u.code or "", action=f"unit-{n + 1}", chosen=n == self.unit_index)
                b.bind(on_release=lambda _b, i=n: self.choose_unit(i))
                row.ids.units.add_widget(b)
            box.add_widget(row)
        elif k in ("date", "datetime"):
            self._add_days(box, item)
            if k == "datetime":
                row = make("NumberRow")
                row.ids.pad.decimal = False
                row.ids.pad.bind(on_key=lambda _p, key: self.key(key))
                row.ids.units.add_widget(make("Text", text=tr._("Type the time, hours and minutes.")))
                box.add_widget(row)
        elif k == "time":
            row = make("NumberRow")
            row.ids.pad.decimal = False
            row.ids.pad.bind(on_key=lambda _p, key: self.key(key))
            row.ids.units.add_widget(make("Text", text=tr._("Type the time, hours and minutes.")))
            box.add_widget(row)
        elif k == "text":
            self._add_typing(box, make("Keyboard"))

    def _add_typing(self, box, keyboard) -> None:
        keyboard.bind(on_key=lambda _k, key: self.key(key))
        self._typed_field = make("TypedField", shown=self.answer_shown)
        box.add_widget(self._typed_field)
        box.add_widget(keyboard)

    def _add_days(self, box, item: ItemView) -> None:
        today = self.today()
        answered = next((a for a in item.answers if isinstance(a, date)), None)
        shown = self.picked_date or (answered.date() if isinstance(answered, datetime) else answered)
        for n, (label, day) in enumerate(((tr._("Today"), today), (tr._("Yesterday"), today - timedelta(days=1)))):
            b = make("FormOption", text=label, action=("date-today", "date-yesterday")[n], chosen=shown == day and not self.picking)
            b.bind(on_release=lambda _b, d=day: self.pick_day(d))
            box.add_widget(b)
        pick = make("FormOption", text=tr._("Choose a date"), action="date-pick", chosen=self.picking)
        pick.bind(on_release=lambda _b: self.open_picker())
        box.add_widget(pick)
        if self.picking:
            picker = make("DayPicker", day_text=tr.day(shown or today))
            picker.ids.before.bind(on_release=lambda _b: self.pick_day((shown or today) - timedelta(days=1)))
            picker.ids.after.bind(on_release=lambda _b: self.pick_day((shown or today) + timedelta(days=1)))
            box.add_widget(picker)

    # -- what the patient taps -------------------------------------------------------------------

    def today(self) -> date:
        api = self.model.api
        return api.clock().astimezone(api.local_zone).date()

    def choose(self, value: Value) -> None:
        item = self.model.item
        if item is None:
            return
        self.other_open = False
        if item.repeats:
            kept = [a for a in item.answers if not (isinstance(a, str) and item.open_choice)]
            if chosen(item, value):
                kept = [a for a in kept if not chosen_one(a, value)]
            else:
                kept.append(value)
            self.model.answer(kept or None)
        else:
            self.model.answer(value)

    def open_other(self) -> None:
        self.other_open = True
        self.rebuild()

    def choose_unit(self, index: int) -> None:
        self.unit_index = index
        self.rebuild()

    def open_picker(self) -> None:
        self.picking = True
        self.rebuild()

    def pick_day(self, day: date) -> None:
        item = self.model.item
        self.picked_date = day
        if item is not None and item.type == "date":
            self.model.answer(day)
        self.rebuild()

    def key(self, key: str) -> None:
        item = self.model.item
        if item is None:
            return
        k = kind_of(item)
        if k in ("number",):
            self.typed = typed(self.typed, key, max_len=8)
        elif k in ("time", "datetime"):
            self.typed = self.typed if key == "decimal" or (len(self.typed) >= 4 and key != "erase") else typed(self.typed, key, max_len=4)
        else:
            self.typed = typed_text(self.typed, key, max_length=item.max_length)
        self.model.error = ""
        self.update()

    def typed_value(self, item: ItemView) -> tuple[bool, Value | None]:
        """(ok, the value to send) for what is typed; (False, None) when it is no answer yet."""
        k = kind_of(item)
        text = self.typed.strip()
        if not text:
            return True, None
        if k == "number":
            try:
                number = Decimal(text.replace(",", "."))
            except InvalidOperation:
                return False, None
            if item.type == "integer":
                return (True, int(number)) if number == number.to_integral_value() else (False, None)
            if item.type == "quantity":
                unit = item.unit_options[min(self.unit_index, len(item.unit_options) - 1)] if item.unit_options else None
                if unit is not None:
                    return True, Quantity(number, unit.display or unit.code, unit.system, unit.code)
                return True, Quantity(number, item.unit)
            return True, number
        if k == "time":
            t = time_of(text)
            return (t is not None), t
        if k == "datetime":
            t = time_of(text)
            if t is None or self.picked_date is None:
                return False, None
            api = self.model.api
            return True, datetime.combine(self.picked_date, t, tzinfo=api.local_zone)
        return True, self.typed

    def next(self) -> None:
        item = self.model.item
        k = kind_of(item)
        if item is not None and (k in ("number", "time", "datetime", "text") or (k == "options" and self.other_open)):
            ok, value = self.typed_value(item)
            if not ok:
                self.model.error = tr._(what_to_type(k))
                return
            if value is None and not item.answers and not self.other_open:
                self.model.next()
                return
            if value is None and self.other_open:
                value = None
            if list(item.answers) != ([value] if value is not None else []):
                self.model.answer(value, then_next=True)
                return
        self.model.next()

    def back(self) -> None:
        self.model.back()

    def spoken(self) -> str:
        item = self.model.item if self.model else None
        parts = [self.progress, self.section, self.question]
        if item is not None and kind_of(item) == "options":
            parts.append(tr._("You can answer:") + " " + ", ".join(label for _v, label in options_of(item)) + ".")
        if self.help_shown and self.help_text:
            parts.append(self.help_text)
        if self.answer_shown and kind_of(item) in ("none", "number"):
            parts.append(self.answer_shown)
        parts.append(self.problem)
        return " ".join(p.strip() for p in parts if p and p.strip())


def chosen_one(a: Value, value: Value) -> bool:
    if isinstance(a, Coding) and isinstance(value, Coding):
        return a.matches(value)
    return type(a) is type(value) and a == value


def what_to_type(kind: str) -> str:
    return {
        "number": N_("Type a number."),
        "time": N_("Type the time, hours and minutes."),
        "datetime": N_("Choose the day, then type the time."),
    }.get(kind, N_("Type the answer."))


load_kv(__file__)
