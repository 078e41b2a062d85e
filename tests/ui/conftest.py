"""Fixtures for the touch app: a hub with example values, the app running on the test's loop,
and fingers (touches through Kivy's real input path)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from hub.app import GALLERY_NOW, example_hub
from ui.app import HeimaApp, drive
from ui.scenes import next_frame, settle
from ui.speech import RecordingSpeaker


@pytest.fixture
async def example(tmp_path):
    hub, ids = await example_hub(tmp_path / "hub", GALLERY_NOW)
    yield hub, ids
    await hub.stop()


@pytest.fixture
def run_app(example):
    """`await run_app(work)`: the app on the example hub; `work(app)` runs once it is drawn."""
    hub, ids = example

    async def run(work, *, api=None, speaker=None, settings_path=None, timeout: float = 60.0):
        app = HeimaApp(api or hub.api, speaker=speaker or RecordingSpeaker(), settings_path=settings_path)
        app.example_ids = ids

        async def bounded(a):
            async with asyncio.timeout(timeout):  # a stuck UI test fails; it never hangs the suite
                return await work(a)

        return await drive(app, bounded)

    return run


def measuring_with(hub, measure):
    """The example hub's api, with `measure` in place of the Bluetooth link's measure command:
    for what a device does that the emulated ones are not made to do on cue."""
    from hub.api import HubApi

    families = [f.family for f in hub.api.families()]
    return HubApi(
        measurements=hub.service, queries=hub.store, events=hub.events, measure=measure,
        families=families, device_families=families, local_zone=hub.api.local_zone, clock=hub.api.clock,
    )


class HeldSession:
    """A measure command whose device stays connected until the test lets it go: `started` is
    set when the patient has tapped Start, `release` ends the session (without a value)."""

    def __init__(self) -> None:
        self.started, self.release = asyncio.Event(), asyncio.Event()

    async def measure(self, timeout: float, **_: object) -> None:
        self.started.set()
        await self.release.wait()


def find(root, *, action: str | None = None, text: str | None = None):
    """The visible widget with this action name (buttons) or containing this text."""
    from kivy.uix.widget import Widget

    found = []
    for w in root.walk(restrict=True):
        if not isinstance(w, Widget) or w.opacity == 0 or w.disabled:
            continue
        if action is not None and getattr(w, "action", None) == action:
            found.append(w)
        elif text is not None and text in str(getattr(w, "text", "")):
            found.append(w)
    if not found:
        raise LookupError(f"nothing visible with action={action!r} text={text!r}")
    return found[0]


def texts(root) -> str:
    """Everything a patient can read on the screen now, as one string."""
    shown = (str(w.text) for w in root.walk(restrict=True) if getattr(w, "text", "") and getattr(w, "opacity", 1) > 0)
    return " | ".join(shown).replace("\u00a0", " ")


class Finger:
    """Touches through Kivy's input queue, as a hand would: down, (maybe move), up."""

    def __init__(self, widget) -> None:
        from kivy.tests.common import UnitTestTouch

        x, y = widget.to_window(*widget.center)
        self.touch = UnitTestTouch(x, y)

    async def down(self) -> None:
        self.touch.touch_down()
        await next_frame(2)

    async def move_to(self, x: float, y: float) -> None:
        self.touch.touch_move(x, y)
        await next_frame(2)

    async def up(self) -> None:
        self.touch.touch_up()
        await next_frame(2)


async def tap(widget, app=None) -> None:
    """Scroll the widget into view if it is in a scrolling list (as the patient would), then tap."""
    from kivy.uix.scrollview import ScrollView

    parent = widget.parent
    for _ in range(100):  # the window is its own parent: stop there
        if parent is None or isinstance(parent, ScrollView) or parent.parent is parent:
            break
        parent = parent.parent
    if not isinstance(parent, ScrollView):
        parent = None
    if parent is not None:
        parent.scroll_to(widget, padding=10, animate=False)
        await next_frame(3)
    finger = Finger(widget)
    await finger.down()
    await finger.up()
    if parent is not None:  # a scroll view hands a short tap to its content after scroll_timeout
        await asyncio.sleep(parent.scroll_timeout / 1000 + 0.05)
        await next_frame(2)
    if app is not None:
        await settle(app)


async def wait_for(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await next_frame(1)


__all__ = ["Finger", "find", "settle", "tap", "texts", "wait_for", "next_frame", "datetime", "UTC"]


async def start_measuring(app, family: str) -> None:
    """What the patient does to measure: the family's button on Today, then Start."""
    await tap(find(app.root, action=f"measure-{family}"), app)
    await tap(find(app.root, action="start"), app)
