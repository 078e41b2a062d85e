"""Technician mode's pairing screen model: scan for the supported devices nearby, pair or unpair
one, then offer the test measurement. Everything goes through `hub.api.TechnicianDesk` (which
audits); the passkey or consent code a device asks for is typed in the app's pairing dialog.

Texts are made here in the chosen language (`render()` again when it changes). A sentence says a
device by its kind in the glossary's words ("Paringen med fingerklypa virket ikke"), never by the
name it advertises (that stays on its card's own line). A pairing that failed shows a headline and
what to do, both in the screen's language: the hub's reason code (hub.api.refusals) worded by
ui/models/refusals.py, never the link's English advice (that is for the command line)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kivy.event import EventDispatcher
from kivy.properties import ListProperty, OptionProperty, StringProperty

from hub.api import MAX_BARS, DeviceFamily, NearbyDevice, ScanReport
from ui.i18n import N_, Translator
from ui.kinds import device_word
from ui.models.loop import spawn
from ui.models.refusals import pairing_text

if TYPE_CHECKING:  # hub.api imports technician mode's names when first named (part M7)
    from hub.api import PairOutcome, TechnicianDesk

SCAN_SECONDS = 8.0
PAIR_TIMEOUT = 60.0

# The signal in words, by bars (hub.domain.nearby.signal_bars): 4 next to the hub, 0 too weak.
SIGNAL_WORDS = (
    N_("Very weak signal: bring it closer"),
    N_("Weak signal: bring it closer"),
    N_("Fair signal"),
    N_("Good signal"),
    N_("Very good signal"),
)
assert len(SIGNAL_WORDS) == MAX_BARS + 1

FAMILY_WORDS = {
    "pulse-oximeter": N_("Pulse oximeter"),
    "blood-pressure": N_("Blood pressure monitor"),
    "weight": N_("Scale"),
    "thermometer": N_("Thermometer"),
    "glucose": N_("Blood sugar meter"),
}


def sentence(text: str) -> str:
    """A sentence that begins with a device's word begins with a capital ("Vekta er paret.")."""
    return text[:1].upper() + text[1:]


def bars_text(bars: int) -> str:
    """The bars drawn with characters every font here has: filled, then empty."""
    return "■" * bars + "□" * (MAX_BARS - bars)


class PairingModel(EventDispatcher):
    step = OptionProperty("idle", options=["idle", "scanning", "list", "pairing", "paired", "error"])
    rows = ListProperty()  # [{address, title, signal, details, known, index}]
    message = StringProperty("")
    advice = StringProperty("")  # a failed pairing: what to do, in the screen's language

    def __init__(self, desk: TechnicianDesk | None, tr: Translator, **kwargs) -> None:
        super().__init__(**kwargs)
        self.desk = desk
        self.tr = tr
        self._devices: tuple[NearbyDevice, ...] = ()
        self._unsupported = 0
        self._chosen: str | None = None
        self._unpaired: str | None = None
        self._why = ""  # the last failed pairing's reason code (hub.api.refusals)
        self._pending: set = set()

    def _spawn(self, coro, what: str) -> None:
        self._pending.add(spawn(coro, what))

    async def idle(self) -> None:
        """Return once the desk's answers asked for so far have arrived (tests, scenes)."""
        import asyncio

        while self._pending:
            await asyncio.gather(self._pending.pop(), return_exceptions=True)

    # -- commands (the screen's buttons) ---------------------------------------------------------

    def scan(self) -> None:
        if self.desk is None or self.step in ("scanning", "pairing"):
            return
        self.step, self._unpaired = "scanning", None
        self.render()
        self._spawn(self._scan(), "pairing-scan")

    async def _scan(self) -> None:
        assert self.desk is not None
        self.show_report(await self.desk.scan(SCAN_SECONDS))

    def pair(self, address: str) -> None:
        if self.desk is None or self.step in ("scanning", "pairing"):
            return
        self._chosen, self.step, self._why = address, "pairing", ""
        self.render()
        self._spawn(self._pair(address), "pairing-pair")

    async def _pair(self, address: str) -> None:
        assert self.desk is not None
        outcome = await self.desk.pair(address, PAIR_TIMEOUT)
        self.show_outcome(outcome)
        if outcome.ok:
            self._mark(address, known=True)

    def unpair(self, address: str) -> None:
        if self.desk is None or self.step in ("scanning", "pairing"):
            return
        self._spawn(self._unpair(address), "pairing-unpair")

    async def _unpair(self, address: str) -> None:
        assert self.desk is not None
        await self.desk.unpair(address)
        self._unpaired = address
        self._mark(address, known=False)
        self.step = "list"
        self.render()

    # -- what the desk answered (also the gallery's scenes) -------------------------------------------

    def show_report(self, report: ScanReport) -> None:
        self._devices, self._unsupported = tuple(report.devices), report.unsupported
        self.step = "list"
        self.render()

    def show_pairing(self, address: str) -> None:
        self._chosen, self.step, self._why = address, "pairing", ""
        self.render()

    def show_outcome(self, outcome: PairOutcome) -> None:
        self._chosen = outcome.address
        self.step = "paired" if outcome.ok else "error"
        self._why = "" if outcome.ok else outcome.why
        self.render()

    def _mark(self, address: str, *, known: bool) -> None:
        from dataclasses import replace

        self._devices = tuple(replace(d, known=known) if d.address == address else d for d in self._devices)
        self.render()

    # -- texts ------------------------------------------------------------------------------------------

    def _device(self, address: str | None) -> str:
        """The device in a sentence: its kind ("fingerklypa"), never its advertised name."""
        family = next((d.family for d in self._devices if d.address == address), None)
        try:
            known = DeviceFamily(family) if family else None
        except ValueError:
            known = None
        return device_word(self.tr, known)

    def render(self, *_args) -> None:
        tr = self.tr
        self.advice = pairing_text(tr, self._why) if self.step == "error" else ""
        rows = []
        for n, d in enumerate(self._devices):
            kind = tr._(FAMILY_WORDS.get(d.family or "", N_("Device")))
            state = tr._("Known to this box") if d.known else tr._("New")
            rows.append(
                {
                    "index": n,
                    "address": d.address,
                    "title": d.name or kind,
                    "signal": f"{bars_text(d.bars)}  {tr._(SIGNAL_WORDS[d.bars])}",
                    "details": f"{state} · {kind} · {d.address}",
                    "known": d.known,
                }
            )
        self.rows = rows
        step = self.step
        if step == "idle":
            self.message = tr._("Switch the devices on and put them in pairing mode, then search.")
        elif step == "scanning":
            self.message = tr._("Searching for devices nearby …")
        elif step == "pairing":
            self.message = tr.f("Pairing with {device} … If the box asks for a number, type the one the device shows.",
                                device=self._device(self._chosen))  # fmt: skip
        elif step == "paired":
            self.message = sentence(tr.f("{device} is paired. Take a test measurement to check it.", device=self._device(self._chosen)))
        elif step == "error":
            self.message = tr.f("Pairing with {device} did not work.", device=self._device(self._chosen))
        elif not rows:
            self.message = (
                tr._("No supported device found. Switch it on, put it in pairing mode and search again.")
                if not self._unsupported
                else tr.n("No supported device found ({count} other device nearby). Switch it on, put it in pairing mode and search again.",
                          "No supported device found ({count} other devices nearby). Switch it on, put it in pairing mode and search again.",
                          self._unsupported)  # fmt: skip
            )
        elif self._unpaired is not None:
            self.message = sentence(tr.f("{device} is unpaired. Its stored values are kept.", device=self._device(self._unpaired)))
        else:
            self.message = tr.n("{count} device found. Strongest signal first.", "{count} devices found. Strongest signal first.", len(rows))


__all__ = ["PairingModel", "SIGNAL_WORDS", "bars_text", "sentence"]
