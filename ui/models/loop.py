"""The models' work on the asyncio loop the app shares with the hub: tasks that log a failure by
name, waiting for the Kivy Clock, and a refresh that never runs twice at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from kivy.clock import Clock

log = logging.getLogger(__name__)

_tasks: set[asyncio.Task] = set()


def spawn(coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task:
    """Run a coroutine on the shared loop; a failure is logged by name, never with data."""
    task = asyncio.get_running_loop().create_task(coro, name=f"ui-{what}")
    _tasks.add(task)

    def done(t: asyncio.Task) -> None:
        _tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("ui task %s failed: %s", what, type(t.exception()).__name__)

    task.add_done_callback(done)
    return task


async def finish_spawned() -> None:
    """End the models' tasks still under way (a refresh reading the store), once the app has
    stopped and before the hub closes its store: nothing is read after the close."""
    running = [t for t in _tasks if not t.done()]
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


async def next_frame(count: int = 1, *, timeout: float = 5.0) -> None:
    """Wait until the Kivy Clock has ticked `count` times (the app runs on this loop); a Clock
    that does not tick within `timeout` seconds (the app is gone) raises TimeoutError."""
    loop = asyncio.get_running_loop()
    for _ in range(count):
        fut = loop.create_future()
        Clock.schedule_once(lambda _dt, f=fut: f.done() or f.set_result(None), 0)
        async with asyncio.timeout(timeout):
            await fut


async def events_delivered() -> None:
    """Return once the hub events published so far have reached the models: HubFeed hands them
    to the Clock, whose callbacks of one frame all run before any scheduled during it."""
    try:
        await next_frame(2, timeout=1.0)
    except TimeoutError:  # no Clock running (the app is closing): nothing more will come
        pass


class Refresher:
    """Runs `refresh()` again when asked while it runs, never twice at once."""

    def __init__(self, refresh, what: str) -> None:
        self._refresh = refresh
        self._what = what
        self._task: asyncio.Task | None = None
        self._again = False

    def __call__(self, *_args) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = spawn(self._run(), self._what)

    async def _run(self) -> None:
        while True:
            self._again = False
            await self._refresh()
            if not self._again:
                return

    async def wait(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)


async def settle(app: Any, frames: int = 3) -> None:
    """Let pending hub queries and layout finish (tests, the gallery, benchmarks: here, not in the
    gallery's ui.scenes, so that what drives the app loads no more than run_app does)."""
    for _ in range(50):
        await next_frame(1)
        busy = [r for r in (app.today_model.refresh, app.history_model.refresh, app.measure_model.refresh_send) if r._task and not r._task.done()]
        forms = getattr(app, "form_model_made", None)  # not made by settling: made when the forms are opened
        if not busy and not (forms is not None and forms._pending):
            break
        await asyncio.gather(*(r.wait() for r in busy))
        if forms is not None:
            await forms.idle()
    await next_frame(frames)


__all__ = ["Refresher", "events_delivered", "finish_spawned", "next_frame", "settle", "spawn"]
