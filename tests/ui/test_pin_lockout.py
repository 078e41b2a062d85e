"""The technician PIN door after repeated wrong PINs: locked, with the wait in words that counts
down on screen (the desk's clock, moved by the test), the pad back when the wait is over, the
wait doubled by the next wrong PIN, and the right PIN still opening technician mode."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.ui.conftest import find, texts, wait_for
from tests.ui.test_technician_screens import type_pin
from ui.scenes import next_frame

RIGHT_PIN = "258046"  # the example hub's (hub.app.technician_desk.attach_example)


async def test_a_locked_pin_door_counts_down_in_words_and_opens_again_when_the_wait_is_over(run_app, example):
    hub, _ids = example
    now = hub.example_now  # the desk's clock (the example hub's), moved by hand

    async def work(app):
        app.open_technician_door()
        await next_frame(2)
        for _ in range(4):  # three typing mistakes are forgiven; the fourth locks
            await type_pin(app, "111111", "pin-ok")
        assert "Prøv igjen om 30 sekunder." in texts(app.root)
        now[0] += timedelta(seconds=20)
        await wait_for(lambda: "Prøv igjen om 10 sekunder." in texts(app.root), timeout=5)
        with pytest.raises(LookupError):
            find(app.root, action="pin-ok")  # still no pad
        now[0] += timedelta(seconds=11)
        await wait_for(lambda: not app.technician.pin_locked, timeout=5)
        await next_frame(2)
        assert "Skriv teknikerens PIN-kode." in texts(app.root)
        find(app.root, action="pin-ok")  # the pad is back without leaving the screen
        await type_pin(app, "111111", "pin-ok")  # one more wrong PIN: the wait doubles
        assert "Prøv igjen om 1 minutt." in texts(app.root)
        now[0] += timedelta(minutes=1, seconds=1)
        await wait_for(lambda: not app.technician.pin_locked, timeout=5)
        await next_frame(2)
        await type_pin(app, RIGHT_PIN, "pin-ok")
        await wait_for(lambda: app.root.current == "technician")

    await run_app(work)
