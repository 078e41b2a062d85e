"""Stopping is orderly: once the app has stopped and the hub closed its store, nothing reads the
store any more — a screen's refresh still under way when the app stops (the gallery's last scene)
is ended with the app, so nothing logs "today could not be read" after the close."""

from __future__ import annotations

import asyncio
import logging

from hub.app import GALLERY_NOW, example_hub
from ui.app import HeimaApp, drive
from ui.scenes import settle
from ui.speech import RecordingSpeaker


async def test_a_refresh_under_way_when_the_app_stops_reads_nothing_after_the_store_is_closed(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    hub, _ = await example_hub(tmp_path / "hub", GALLERY_NOW)
    let_go = asyncio.Event()
    today = hub.api.today

    async def today_once_let_go():  # the read waits until the store is closed: the race made certain
        await let_go.wait()
        return await today()

    async def work(app):
        await settle(app)
        hub.api.today = today_once_let_go
        app.today_model.refresh()  # under way when the app stops

    try:
        await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
    finally:
        await hub.stop()
    let_go.set()
    await asyncio.gather(*(t for t in asyncio.all_tasks() if t.get_name().startswith("ui-")), return_exceptions=True)
    assert "could not be read" not in caplog.text
    assert "ui task" not in caplog.text
