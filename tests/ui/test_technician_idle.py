"""Technician mode locks itself: a technician who walks away without leaving it does not leave
the patient in it. Real Kivy offscreen on the example hub with its real desk and audit log; the
idle timer's clock is injected and moved by the test (Kivy's Clock still asks it every second)."""

from __future__ import annotations

from tests.ui.conftest import Finger, wait_for
from tests.ui.test_pin_lockout import RIGHT_PIN
from tests.ui.test_technician_screens import type_pin
from ui.models.technician_idle import IDLE_SECONDS, IdleTimer
from ui.scenes import next_frame
from ui.widgets import Title


def test_the_idle_timer_runs_out_only_after_the_idle_time_without_a_touch():
    now = [1000.0]
    idle = IdleTimer(now=lambda: now[0])
    assert not idle.expired()  # not started: technician mode is closed
    idle.start()
    now[0] += IDLE_SECONDS - 1
    assert not idle.expired()
    idle.touch()
    now[0] += IDLE_SECONDS - 1
    assert not idle.expired() and idle.remaining() == 1
    now[0] += 1
    assert idle.expired()
    idle.stop()
    assert not idle.expired()


def left_idle(app) -> list[dict]:
    return [e for e in app.api.technician.guard.audit.entries() if e["action"] == "technician-mode" and e["outcome"] == "left"]


async def test_technician_mode_left_alone_goes_back_to_the_patients_today_and_is_audited(run_app):
    async def work(app):
        now = [5000.0]
        app.technician_idle.now = lambda: now[0]  # the injected clock
        app.open_technician_door()
        await next_frame(2)
        await type_pin(app, RIGHT_PIN, "pin-ok")
        await wait_for(lambda: app.root.current == "technician")

        now[0] += IDLE_SECONDS - 10
        title = next(w for w in app.root.current_screen.walk(restrict=True) if isinstance(w, Title))
        finger = Finger(title)  # a touch on the screen's title (no button) before the time is up
        await finger.down()
        await finger.up()
        now[0] += IDLE_SECONDS - 10  # long after entering, not long after the touch
        await wait_for(lambda: app.technician_idle.checked == now[0], timeout=5)  # Kivy's Clock looked
        await next_frame(2)
        assert app.root.current == "technician" and app.technician.unlocked
        assert left_idle(app) == []

        now[0] += 10  # the idle time since the last touch
        await wait_for(lambda: app.root.current == "today", timeout=5)
        assert not app.technician.unlocked
        return left_idle(app)

    left = await run_app(work)
    assert [(e["who"], e["details"]) for e in left] == [("touch screen", {"why": "idle"})]


async def test_leaving_by_the_button_is_audited_too(run_app):
    async def work(app):
        app.open_technician_door()
        await next_frame(2)
        await type_pin(app, RIGHT_PIN, "pin-ok")
        await wait_for(lambda: app.root.current == "technician")
        app.leave_technician()
        await next_frame(2)
        assert app.root.current == "today"
        return left_idle(app)

    left = await run_app(work)
    assert [e["details"] for e in left] == [{"why": "button"}]
