"""The pairing dialog: the hub's passkey provider asks the patient (hub.api.PasskeyPrompt).

`passkey_for` shows a number pad for the 6 digits the device displays; `confirm_numeric` shows
the hub's number large and asks whether the device shows the same; `consent_code_for` asks for
the 4-digit code of the patient's user on a scale several people share (User Data Service). All
wait for the patient (no time-out here: the Bluetooth stack and the scale have their own) and
answer None/False on Cancel/No. What is typed is never logged.
"""

from __future__ import annotations

import asyncio

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.label import Label

from hub.api import device_label
from ui.i18n import N_, tr
from ui.widgets import Dialog, load_kv, typed


class DigitSlot(Label):
    current = BooleanProperty(False)  # the next digit goes here


class PasskeyDialog(Dialog):
    mode = StringProperty("passkey")  # passkey | confirm | consent
    user = StringProperty("")  # consent: the patient's user number on the scale
    device = StringProperty("")
    digits = StringProperty("")
    number = StringProperty("")
    waiting = BooleanProperty(False)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._answer: asyncio.Future | None = None
        self.fbind("digits", self._fill_slots)
        self.fbind("mode", self._fill_slots)
        self._fill_slots()

    def _fill_slots(self, *_args) -> None:
        """A box per digit wanted (none when comparing a number), filled as the patient types."""
        box = self.ids.slots
        wanted = 0 if self.mode == "confirm" else self.length
        while len(box.children) < wanted:
            box.add_widget(DigitSlot())
        while len(box.children) > wanted:
            box.remove_widget(box.children[0])
        for n, slot in enumerate(self.slots()):
            slot.text = self.digits[n] if n < len(self.digits) else ""
            slot.current = n == len(self.digits)

    def slots(self) -> list[DigitSlot]:
        return list(reversed(self.ids.slots.children))

    def _ask(self, mode: str, device) -> asyncio.Future:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(None)  # a new question replaces an unanswered one
        self.mode = mode
        self.device = device_label(device)
        self.digits = ""
        self._answer = asyncio.get_running_loop().create_future()
        self.waiting = True
        self.open(animation=False)  # no fade: a new question right after an answer must show at once
        return self._answer

    async def passkey_for(self, device) -> int | None:
        answer = await self._ask("passkey", device)
        return answer if isinstance(answer, int) else None

    async def confirm_numeric(self, device, number: int) -> bool:
        self.number = f"{number:06d}"[:3] + " " + f"{number:06d}"[3:]
        answer = await self._ask("confirm", device)
        return answer is True

    async def consent_code_for(self, device, user_index: int) -> int | None:
        self.user = str(user_index)
        answer = await self._ask("consent", device)
        return answer if isinstance(answer, int) else None

    @property
    def length(self) -> int:
        """How many digits the question wants."""
        return 4 if self.mode == "consent" else 6

    def key(self, key: str) -> None:
        if key != "decimal":
            self.digits = typed(self.digits, key, max_len=self.length)

    def finish(self, answer) -> None:
        self.waiting = False
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(answer)
        self.dismiss(animation=False)

    def ok(self) -> None:
        if len(self.digits) == self.length:
            self.finish(int(self.digits))

    @property
    def question(self) -> str:
        if self.mode == "confirm":
            return tr.f(N_("Does {device} show this number?"), device=self.device)
        if self.mode == "consent":
            return consent_question(self.device, self.user)
        return tr.f(N_("Type the 6 numbers that {device} shows."), device=self.device)

    def spoken(self) -> str:
        return self.question + (" " + " ".join(self.number.replace(" ", "")) if self.mode == "confirm" else "")


def consent_question(device: str, user: str) -> str:
    return tr.f(N_("Type the 4-number code for user {user} on {device}."), device=device, user=user)


load_kv(__file__)
