"""Technician mode's pairing screen: the supported devices nearby, strongest signal first, the
signal in words and bars, known or new; Pair and Unpair; the passkey typed in the app's pairing
dialog when a device asks; progress, and a failure in words (the device said by its kind, what to
do in the screen's language); then the test measurement.

Reached from the kit screen (technician mode, behind the PIN). Built on first use like every
screen (`attach_pairing` registers a factory); the model follows the language."""

from __future__ import annotations

from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty

from ui.i18n import tr
from ui.widgets import Card, HeimaScreen, RulesWhenMade, fill

NAME = "technician-pairing"


class TechnicianPairingScreen(RulesWhenMade, HeimaScreen):
    rules_of = __file__  # its .kv (and PairingRow's) with the screen
    model = ObjectProperty(None, allownone=True, rebind=True)

    def on_model(self, *_args) -> None:
        self.model.fbind("rows", self.update)
        self.update()

    def update(self, *_args) -> None:
        fill(self.ids.rows, list(self.model.rows), PairingRow)

    def spoken(self) -> str:
        # The message only: devices' advertised names are not read aloud (they could pass for a sentence).
        return f"{self.title}. {self.model.message}" if self.model else self.title


class PairingRow(Card):
    """One device of the list (its values set by `fill`): name, signal, known or new, buttons."""

    index = NumericProperty(0)
    address = StringProperty("")
    title = StringProperty("")
    signal = StringProperty("")
    details = StringProperty("")
    known = BooleanProperty(False)


def attach_pairing(app) -> None:
    """The pairing screen in technician mode: its model, its lazily built screen, the language."""
    from ui.models.technician_pairing import PairingModel

    model = app.technician_pairing = PairingModel(getattr(app.api, "technician", None), tr)

    def made() -> TechnicianPairingScreen:
        screen = TechnicianPairingScreen()
        screen.model = model
        return screen

    app.root.register(NAME, made)

    def relang(*_args) -> None:
        model.render()
        screen = app.root.built(NAME)
        if screen is not None:
            screen.update()

    app.session.fbind("language", relang)
    model.render()


def open_pairing(app) -> None:
    """The kit screen's "Pair devices": the list, searching at once."""
    app.actions.append("technician-pairing")
    app.root.current = NAME
    app.technician_pairing.scan()
    app.session.say(app.screen.spoken())


def back_to_kit(app) -> None:
    app.open_technician()


def test_measurement(app) -> None:
    """The offer after pairing: the kit screen, taking a test measurement (already built there)."""
    app.open_technician()
    app.technician.test_measurement()


# --- the gallery's and the audit's scenes (ui/scenes.py adds them to SCENES) ---------------------


def _undo(app, ctx) -> None:
    def undo() -> None:
        m = app.technician_pairing
        m.step, m._why, m._devices, m._unsupported, m._unpaired = "idle", "", (), 0, None
        m.render()
        app.root.current = "today"

    ctx.setdefault("undo", []).append(undo)


async def _listed(app, ctx) -> None:
    _undo(app, ctx)
    app.root.current = NAME
    report = await app.technician_pairing.desk.scan(0)  # the example hub's ports: an instant answer
    app.technician_pairing.show_report(report)


async def pairing_scanning(app, ctx):
    _undo(app, ctx)
    app.root.current = NAME
    app.technician_pairing.step = "scanning"
    app.technician_pairing.render()


async def pairing_list(app, ctx):
    await _listed(app, ctx)


async def pairing_passkey(app, ctx):
    import asyncio

    from ui.models.loop import next_frame

    await _listed(app, ctx)
    first = app.technician_pairing.rows[0]
    app.technician_pairing.show_pairing(first["address"])
    ctx["pending"] = asyncio.ensure_future(app.passkey.passkey_for(first["title"]))
    await next_frame(2)
    for key in "482":
        app.passkey.key(key)


async def pairing_error(app, ctx):
    from hub.api import PairOutcome, refusals

    await _listed(app, ctx)
    first = app.technician_pairing.rows[0]["address"]
    advice = "Pairing was cancelled before the passkey was entered. Try again and enter the number the device shows."
    app.technician_pairing.show_outcome(PairOutcome(False, first, advice, why=refusals.PAIR_CANCELLED))


async def pairing_done(app, ctx):
    from hub.api import PairOutcome

    await _listed(app, ctx)
    first = app.technician_pairing.rows[1]["address"]
    app.technician_pairing.show_outcome(PairOutcome(True, first))
    app.technician_pairing._mark(first, known=True)


def pairing_scenes():
    from ui.scenes import Scene

    return tuple(
        Scene(name.replace("_", "-"), fn)
        for name, fn in [
            ("pairing_scanning", pairing_scanning),
            ("pairing_list", pairing_list),
            ("pairing_passkey", pairing_passkey),
            ("pairing_error", pairing_error),
            ("pairing_done", pairing_done),
        ]
    )
