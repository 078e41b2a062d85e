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

from hub.api import DeviceFamily, DeviceFound, HubEvent, PairingNeeded, device_label
from ui import kinds
from ui.i18n import N_, tr
from ui.widgets import Dialog, RulesWhenMade, typed


class DigitSlot(Label):
    current = BooleanProperty(False)  # the next digit goes here


class PasskeyDialog(RulesWhenMade, Dialog):
    rules_of = __file__  # passkey.kv with the first dialog (made on the first question)
    mode = StringProperty("passkey")  # passkey | confirm | consent
    user = StringProperty("")  # consent: the patient's user number on the scale
    device = StringProperty(kinds.THE_DEVICE)  # msgid: what the patient calls the device asking
    device_name = StringProperty("")  # its own name, shown small only when its family is not known
    digits = StringProperty("")
    number = StringProperty("")
    waiting = BooleanProperty(False)

    def __init__(self, families: dict[str, DeviceFamily] | None = None, **kw) -> None:
        super().__init__(**kw)
        self._answer: asyncio.Future | None = None
        # The family of each device the hub found, as its driver declares it (followed by
        # PairingPrompt from start): the device that asks, not the family being measured,
        # which another device in range may not be.
        self.families: dict[str, DeviceFamily] = {} if families is None else families
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
        # Said by its family word, never its advertised name ("Heima BP 1" inside a sentence);
        # only a user code is always the scale's (a shared scale's User Data Service).
        address = getattr(device, "address", device)
        known = DeviceFamily.WEIGHT if mode == "consent" else self.families.get(address) if isinstance(address, str) else None
        self.device = kinds.FAMILY_DEVICE[known] if known is not None else kinds.THE_DEVICE
        self.device_name = "" if known is not None else device_label(device)
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
        return question(self.mode, self.device, self.user)

    def spoken(self) -> str:
        return self.question + (" " + " ".join(self.number.replace(" ", "")) if self.mode == "confirm" else "")


class PairingPrompt:
    """The app's answer to a device that asks to pair (hub.api.PasskeyPrompt): it follows which
    family each device the hub finds belongs to, and makes the dialog when a device first asks.
    The dialog is ~35 widgets (a number pad, six digit boxes, its texts): 1.5–2 MB held from start
    for a question most days never bring — a kit's devices are paired when it is handed out
    (docs/performance.md, part M9)."""

    def __init__(self) -> None:
        self.families: dict[str, DeviceFamily] = {}
        self._dialog: PasskeyDialog | None = None

    @property
    def made(self) -> bool:
        return self._dialog is not None

    def dialog(self) -> PasskeyDialog:
        if self._dialog is None:
            self._dialog = PasskeyDialog(families=self.families)
        return self._dialog

    @property
    def waiting(self) -> bool:
        """A device's question is on screen, waiting for the patient."""
        return self._dialog is not None and self._dialog.waiting

    def spoken(self) -> str:
        return self._dialog.spoken() if self._dialog is not None else ""

    def follow(self, event: HubEvent) -> None:
        """Listen to the hub's events (hub.api.HubApi.subscribe): remember each found device's family."""
        if isinstance(event, DeviceFound | PairingNeeded) and event.family is not None:
            self.families[event.address] = event.family

    async def passkey_for(self, device) -> int | None:
        return await self.dialog().passkey_for(device)

    async def confirm_numeric(self, device, number: int) -> bool:
        return await self.dialog().confirm_numeric(device, number)

    async def consent_code_for(self, device, user_index: int) -> int | None:
        return await self.dialog().consent_code_for(device, user_index)


def question(mode: str, device: str, user: str) -> str:
    """The dialog's question; `device` is the msgid of what the patient calls the device."""
    word = tr._(device)
    if mode == "confirm":
        return tr.f(N_("Does {device} show this number?"), device=word)
    if mode == "consent":
        return tr.f(N_("Type the 4-number code for user {user} on {device}."), device=word, user=user)
    return tr.f(N_("Type the 6 numbers that {device} shows."), device=word)
