"""Technician mode's model: the PIN door, first-boot enrolment, the kit list, the test
measurement and the return. Everything goes through `hub.api.TechnicianDesk`; the desk audits.

Texts are made here in the chosen language (`render()` again when it changes). A refusal from
the hub's services is shown by its reason's code, in words of the chosen language
(ui/models/refusals.py), never in the service's English message."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, OptionProperty, StringProperty

from hub.api import refusals, KitEntry
from ui.i18n import N_, Translator
from ui.models.loop import spawn
from ui.models.refusals import refusal_text

if TYPE_CHECKING:  # technician mode's own names: hub.api imports them when first named (part M7)
    from hub.api import EnrolOutcome, ReturnDone, TechnicianDesk, UnlockOutcome, Unsent

PIN_MAX = 12


def wait_words(tr: Translator, wait: timedelta) -> str:
    """A wait in words, rounded up: "30 seconds", "2 minutes", "1 hour"."""
    seconds = max(1, int(wait.total_seconds() + 0.999))
    if seconds < 60:
        return tr.n("{count} second", "{count} seconds", seconds)
    minutes = (seconds + 59) // 60
    if minutes < 60:
        return tr.n("{count} minute", "{count} minutes", minutes)
    return tr.n("{count} hour", "{count} hours", (minutes + 59) // 60)


KIND_TEXT = {
    "measurement": N_("measurements"),
    "questionnaire-response": N_("form answers"),
    "score": N_("scores"),
    "zone-alert": N_("zone alerts"),
    "missed-task": N_("missed tasks"),
    "device": N_("device list entries"),
}
# The return's kinds (hub.api.KIND_WORDS) each have words here: tests/ui/test_technician_screens.py.


def _short(folder: str | None) -> str:
    """A folder as the technician knows it: the stick's name and the folder on it."""
    return "/".join(Path(folder).parts[-2:]) if folder else ""


class TechnicianModel(EventDispatcher):
    # the PIN door
    pin = StringProperty("")
    pin_message = StringProperty("")
    pin_locked = BooleanProperty(False)
    unlocked = BooleanProperty(False)
    # enrolment
    enrol_step = OptionProperty("start", options=["start", "choose", "pin", "repeat", "working", "done"])
    profiles = ListProperty()  # [(name, path)]
    enrol_message = StringProperty("")
    enrol_ok = BooleanProperty(False)
    # the kit
    kit_rows = ListProperty()  # [(title, details)]
    kit_message = StringProperty("")
    test_message = StringProperty("")
    # the return
    return_step = OptionProperty("counts", options=["counts", "confirm-export", "confirm-wipe", "working", "refused", "done"])
    return_counts = StringProperty("")
    return_message = StringProperty("")
    export_folders = ListProperty()  # [str]
    export_to = ObjectProperty(None, allownone=True)

    def __init__(self, desk: TechnicianDesk | None, tr: Translator, **kwargs) -> None:
        super().__init__(**kwargs)
        self.desk = desk
        self.tr = tr
        self._unlock: UnlockOutcome | None = None
        self._desk_said = False  # the outcome shown is the desk's (not a scene's): its lock runs out
        self._source: tuple[str, object] | None = None  # ("file", Path) or ("text", str)
        self._new_pin = ""
        self._enrolled: EnrolOutcome | None = None
        self._kit: list[KitEntry] = []
        self._unsent: Unsent | None = None
        self._refused = False
        self._refusal = refusals.UNSENT  # why the last return was refused
        self._done: ReturnDone | None = None
        self._tested: int | None = None
        self._pending: set = set()

    def _spawn(self, coro, what: str) -> None:
        self._pending.add(spawn(coro, what))

    async def idle(self) -> None:
        """Return once the desk's answers asked for so far have arrived (tests, scenes)."""
        import asyncio

        while self._pending:
            task = self._pending.pop()
            await asyncio.gather(task, return_exceptions=True)

    @property
    def available(self) -> bool:
        return self.desk is not None

    def render(self, *_args) -> None:
        self._render_pin()
        self._render_enrol()
        self._render_kit()
        self._render_return()

    # -- the PIN door ------------------------------------------------------------------------------

    def open_door(self) -> None:
        self.pin, self._unlock, self.unlocked = "", None, False
        self._render_pin()

    def key(self, key: str) -> None:
        """The number pad, for the PIN door and the new PIN at enrolment."""
        text = self.pin[:-1] if key == "erase" else (self.pin + key if key.isdigit() and len(self.pin) < PIN_MAX else self.pin)
        self.pin = text
        if self.enrol_step not in ("pin", "repeat"):
            self._render_pin()

    def submit_pin(self) -> None:
        if self.desk is None or not self.pin or self.pin_locked:
            return
        pin, self.pin = self.pin, ""
        self._spawn(self._try(pin), "technician-pin")

    async def _try(self, pin: str) -> None:
        assert self.desk is not None
        self.show_unlock(await self.desk.unlock(pin), from_desk=True)

    def show_unlock(self, outcome: UnlockOutcome, *, from_desk: bool = False) -> None:
        self._unlock, self._desk_said = outcome, from_desk
        self.unlocked = outcome.ok
        self._render_pin()

    def tick(self, *_args) -> None:
        """Once a second on the PIN door (ui/screens/technician.py): while locked, the wait counts
        down in words; when it is over, the pad comes back and the PIN is asked for again."""
        if not self.pin_locked or not self._desk_said:
            return  # a scene's outcome stays as it was set
        if self.desk is not None and self.desk.locked_for() <= timedelta(0):
            self._unlock = None
        self._render_pin()

    def _render_pin(self) -> None:
        tr, u = self.tr, self._unlock
        wait = self.desk.locked_for() if self.desk is not None and (u is None or not u.ok) and u is not None else timedelta(0)
        if u is not None and u.locked and wait <= timedelta(0):
            wait = u.wait  # a scene's outcome (no desk behind it)
        self.pin_locked = wait > timedelta(0)
        if u is None:
            self.pin_message = tr._("Type the technician PIN.")
        elif u.no_pin:
            self.pin_message = tr._("This box has no technician PIN. It is set when the box is set up.")
        elif self.pin_locked:
            self.pin_message = tr.f("Too many wrong PINs. Try again in {wait}.", wait=wait_words(tr, wait))
        elif not u.ok:
            self.pin_message = tr._("Wrong PIN. Try again.")
        else:
            self.pin_message = ""

    # -- enrolment ----------------------------------------------------------------------------------

    def start_enrol(self) -> None:
        self.enrol_step = "choose"
        self.profiles = [(p.name, str(p.path)) for p in self.desk.profiles()] if self.desk is not None else []
        self._render_enrol()

    def choose_file(self, path: str) -> None:
        self._source = ("file", Path(path))
        self._ask_new_pin()

    def use_text(self, text: str) -> None:
        if not text.strip():
            return
        self._source = ("text", text)
        self._ask_new_pin()

    def _ask_new_pin(self) -> None:
        self.pin, self._new_pin, self.enrol_step = "", "", "pin"
        self._render_enrol()

    def next_pin(self) -> None:
        """OK on the pad: the new PIN, then the same again, then enrol."""
        if self.enrol_step == "pin" and self.pin:
            self._new_pin, self.pin, self.enrol_step = self.pin, "", "repeat"
        elif self.enrol_step == "repeat" and self.pin:
            if self.pin != self._new_pin:
                self._ask_new_pin()
                self.enrol_message = self.tr._("The two PINs were not the same. Type a new PIN again.")
                return
            self.enrol_step = "working"
            self._spawn(self._enrol(self._new_pin), "enrol")
        self._render_enrol()

    async def _enrol(self, pin: str) -> None:
        assert self.desk is not None and self._source is not None
        how, what = self._source
        self.pin = ""
        outcome = await (self.desk.enrol_file(what, pin) if how == "file" else self.desk.enrol_text(str(what), pin))  # type: ignore[arg-type]
        self.show_enrolled(outcome)

    def show_enrolled(self, outcome: EnrolOutcome) -> None:
        self._enrolled = outcome
        self.enrol_step = "done"
        self._render_enrol()

    def back_to_start(self) -> None:
        self.enrol_step, self._enrolled, self.pin = "start", None, ""
        self._render_enrol()

    def _render_enrol(self) -> None:
        tr, step = self.tr, self.enrol_step
        o = self._enrolled
        self.enrol_ok = bool(o and o.ok)
        if step == "choose":
            self.enrol_message = tr._("Choose the profile on the USB stick, or scan its QR code.") if self.profiles else tr._(
                "No profile found on a USB stick. Put the stick in, or scan the QR code."
            )
        elif step == "pin":
            if not self.enrol_message.startswith(tr._("The two PINs were not the same.")):
                self.enrol_message = tr._("Choose a technician PIN: 6 to 12 digits.")
        elif step == "repeat":
            self.enrol_message = tr._("Type the same PIN again.")
        elif step == "working":
            self.enrol_message = tr._("Checking the profile …")
        elif step == "done" and o is not None:
            if o.ok:
                self.enrol_message = tr.f("The box is ready: {box}. It sends to: {destinations}.", box=o.hub_id, destinations=", ".join(o.destinations))
            else:
                why = refusal_text(tr, o.why, enrolment=True)
                clean = o.why != refusals.NOT_SAVED  # a failed write may have left part of it behind
                self.enrol_message = tr._("The profile was refused. Nothing was changed.") + "\n" + why if clean else why
        else:
            self.enrol_message = ""

    # -- the kit and the test measurement --------------------------------------------------------

    def load_kit(self) -> None:
        if self.desk is not None:
            self._spawn(self._load_kit(), "kit")

    async def _load_kit(self) -> None:
        assert self.desk is not None
        self.show_kit(await self.desk.kit())

    def show_kit(self, entries: list[KitEntry]) -> None:
        self._kit = list(entries)
        self._render_kit()

    def _render_kit(self) -> None:
        tr = self.tr
        rows = []
        for e in self._kit:
            d = e.identity
            name = (d.name or d.model) if d is not None and (d.name or d.model) else e.address
            seen = f"{e.last_seen.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if e.last_seen else tr._("never measured")
            offset = f"{e.clock_offset.total_seconds():+.0f} s" if e.clock_offset is not None else "–"
            paired = tr._("Paired") if e.paired else tr._("Not paired")
            serial, model, firmware = tr._("Serial"), tr._("Model"), tr._("Firmware")
            battery = tr._("low") if e.battery_low else tr._("not reported low")
            words = (tr._("Battery"), tr._("Last seen"), tr._("Clock offset"))
            details = "\n".join(
                (
                    f"{paired} · {e.address}",
                    f"{serial}: {(d and d.serial) or '–'} · {model}: {(d and d.model) or '–'} · {firmware}: {(d and d.firmware) or '–'}",
                    f"{words[0]}: {battery} · {words[1]}: {seen} · {words[2]}: {offset}",
                )
            )
            rows.append((name, details))
        self.kit_rows = rows
        self.kit_message = "" if rows else tr._("No devices: none is paired and none has measured.")
        if self._tested is None:
            self.test_message = ""
        elif self._tested:
            self.test_message = tr.n("{count} test value stored. It is marked as a test and never sent.",
                                     "{count} test values stored. They are marked as a test and never sent.", self._tested)  # fmt: skip
        else:
            self.test_message = tr._("No device answered. Switch it on near the box and measure, then try again.")

    def test_measurement(self) -> None:
        if self.desk is not None:
            self.test_message = self.tr._("Measure with the device now …")
            self._spawn(self._test(), "test-measurement")

    async def _test(self) -> None:
        assert self.desk is not None
        self._tested = await self.desk.test_measurement()
        self._kit = await self.desk.kit()
        self._render_kit()

    # -- the return ----------------------------------------------------------------------------------

    def load_return(self) -> None:
        self.return_step, self._refused, self._done, self.export_to = "counts", False, None, None
        if self.desk is not None:
            self.export_folders = [str(p) for p in self.desk.export_folders()]
            self._spawn(self._load_unsent(), "return-counts")
        self._render_return()

    async def _load_unsent(self) -> None:
        assert self.desk is not None
        self.show_unsent(await self.desk.unsent())

    def show_unsent(self, unsent: Unsent) -> None:
        self._unsent = unsent
        self._render_return()

    def deliver(self) -> None:
        if self.desk is not None:
            self.return_step = "working"
            self._spawn(self._deliver(), "deliver")

    async def _deliver(self) -> None:
        assert self.desk is not None
        await self.desk.deliver_now()
        self._unsent = await self.desk.unsent()
        self.return_step = "counts"
        self._render_return()

    def ask_export(self, folder: str) -> None:
        self.export_to = str(Path(folder) / "heima-export")  # a folder of its own on the stick
        self.return_step = "confirm-export"
        self._render_return()

    def ask_wipe(self) -> None:
        """The second confirmation (or the only one, with nothing to export)."""
        self.return_step = "confirm-wipe"
        self._render_return()

    def cancel_return(self) -> None:
        self.export_to, self.return_step = None, "counts"
        self._render_return()

    def wipe(self) -> None:
        if self.desk is None:
            return
        self.return_step = "working"
        self._render_return()
        self._spawn(self._wipe(), "return")

    async def _wipe(self) -> None:
        from hub.api import ReturnRefused

        assert self.desk is not None
        folder = Path(self.export_to) if self.export_to else None
        try:
            done = await self.desk.finish_return(folder, confirmed=folder is not None)
        except ReturnRefused as exc:
            self._refused, self._refusal = True, getattr(exc, "reason", refusals.UNSENT)
            self.return_step = "refused"
            try:
                self._unsent = await self.desk.unsent()
            except Exception:  # noqa: BLE001 - the store may be closed already: keep the last counts
                pass
            self._render_return()
            return
        self.show_done(done)

    def show_refused(self, reason: str = refusals.UNSENT) -> None:
        self._refused, self._refusal, self.return_step = True, reason, "refused"
        self._render_return()

    def show_done(self, done: ReturnDone) -> None:
        self._done = done
        self.return_step = "done"
        self._render_return()

    def _counts_text(self) -> str:
        tr, u = self.tr, self._unsent
        if u is None:
            return tr._("Counting what waits …")
        lines = []
        for dest, kinds in sorted(u.waiting.items()):
            parts = [f"{n} {tr._(KIND_TEXT.get(k, k))}" for k, n in sorted(kinds.items()) if n]
            if parts:
                lines.append(f"{dest}: " + ", ".join(parts))
        for dest, n in sorted(u.on_hub_folders.items()):
            lines.append(f"{dest}: " + tr.n("{count} file in a folder on the box", "{count} files in a folder on the box", n))
        return tr._("Waiting to be sent:") + "\n" + "\n".join(lines) if lines else tr._("Everything is sent.")

    def _render_return(self) -> None:
        tr, step = self.tr, self.return_step
        self.return_counts = self._counts_text()
        if step == "confirm-export":
            self.return_message = tr.f("Export everything that waits to {folder}?", folder=_short(self.export_to))
        elif step == "confirm-wipe":
            self.return_message = tr._("Wipe the box? Everything of the patient's is deleted. This cannot be undone.")
        elif step == "working":
            self.return_message = tr._("Working … the patient's part of the box is stopped.")
        elif step == "refused":
            self.return_message = refusal_text(tr, self._refusal, enrolment=False)
        elif step == "done" and self._done is not None:
            d = self._done
            exported = sum(d.exported.values())
            delivered = sum(d.delivered_now.values())
            self.return_counts = tr.f(
                "Stored: {stored}. Delivered now: {delivered}. Exported: {exported}.",
                stored=d.measurements_stored, delivered=delivered, exported=exported,
            )
            self.return_message = tr._("The box is wiped. It starts as not set up.")
        else:
            self.return_message = ""


__all__ = ["TechnicianModel", "wait_words"]
