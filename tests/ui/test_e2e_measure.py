"""The whole walk with the touch app: an emulated oximeter over the virtual radio → tap
"Measure" → the value on screen → an Observation at the reference FHIR server → "Sendt ✓"; and the
same walk while the hub's network is gone, until it returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from hub.app import publish_device_events, start_hub
from hub.config import DestinationConfig, HubConfig
from hub.services.events import EventBus
from tests.emulated import emulated_oximeter
from ui.app import HeimaApp, drive
from ui.scenes import settle
from ui.speech import RecordingSpeaker

from .conftest import find, tap, texts, wait_for


@asynccontextmanager
async def hub_with_an_oximeter(tmp_path, serial: str, centre_url: str) -> AsyncIterator[tuple[Any, Any]]:
    """The hub as `heima` composes it, one FHIR destination (the centre), an emulated oximeter on
    the virtual radio: yields (hub, rig)."""
    config = HubConfig(
        data_dir=tmp_path / "hub",
        serial=serial,
        destinations=(DestinationConfig(name="centre", kind="fhir", url=centre_url, timeout=5.0),),
    )
    events = EventBus()
    async with emulated_oximeter() as rig:
        link = rig.link_manager(on_event=publish_device_events(events))
        hub = await start_hub(config, link=link, events=events)
        try:
            yield hub, rig
        finally:
            await hub.stop()


async def finger_in_the_clip(rig, spo2: int, pulse: int) -> None:
    """The patient puts a finger in once the hub has connected: the oximeter measures."""
    await rig.oximeter.wait_until(lambda: rig.oximeter.is_connected, timeout=20)
    await asyncio.sleep(0.2)
    await rig.oximeter.take_live_spot_check(spo2, pulse)


async def test_measure_with_the_oximeter_and_see_it_sent(tmp_path, fhir_server):
    async with hub_with_an_oximeter(tmp_path, "HUB-UI-E2E", fhir_server.base_url) as (hub, rig):

        async def work(app):
            await settle(app)
            assert "Ikke gjort ennå i dag" in texts(app.root)
            await tap(find(app.root, action="measure-pulse-oximeter"), app)  # "Mål"
            assert "Sett en finger i klypa, med neglen opp." in texts(app.root)
            finger = asyncio.ensure_future(finger_in_the_clip(rig, 96, 71))
            await tap(find(app.root, action="start"), app)  # "Start målingen"
            await wait_for(lambda: len(app.measure_model.results) == 2, timeout=20)
            await settle(app)
            assert "96 %" in texts(app.root) and "71 /min" in texts(app.root)
            await wait_for(lambda: app.measure_model.send_text == "Sendt ✓", timeout=20)
            await settle(app)
            assert "Sendt ✓" in texts(app.root)
            await finger

        await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
    observations = fhir_server.observations()
    assert sorted(o["valueQuantity"]["value"] for o in observations) == [71, 96]


class Network:
    """The hub's way to the centre: a TCP relay to the reference server that can be pulled out
    (the port then refuses connections, as when the hub's network is gone) and put back."""

    def __init__(self, target: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port)
        self.path = parts.path
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            finally:
                w.close()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w), return_exceptions=True)


async def test_without_network_the_values_are_kept_and_sent_when_it_returns(tmp_path, fhir_server):
    """The hub's network is gone while the patient measures: the value is on the screen, Today says
    there is no connection to the centre and that the values are kept; when the network returns, they
    are sent once and Today says everything is sent."""
    network = Network(fhir_server.base_url)
    await network.up()
    await network.down()  # its port now refuses connections
    try:
        async with hub_with_an_oximeter(tmp_path, "HUB-UI-OFFLINE", network.url) as (hub, rig):

            async def work(app):
                await settle(app)
                await tap(find(app.root, action="measure-pulse-oximeter"), app)
                finger = asyncio.ensure_future(finger_in_the_clip(rig, 95, 68))
                await tap(find(app.root, action="start"), app)
                await wait_for(lambda: len(app.measure_model.results) == 2, timeout=20)
                await finger
                await settle(app)
                assert "Venter på å bli sendt" in texts(app.root)
                await tap(find(app.root, action="done"), app)  # "Ferdig": back to Today
                await wait_for(lambda: app.today_model.connection_text != "", timeout=20)
                await settle(app)
                shown = texts(app.root)
                assert "Det er ikke kontakt med senteret akkurat nå. Målingene dine er trygt lagret her og sendes senere." in shown
                assert "2 målinger venter på å bli sendt" in shown
                assert "Alt er sendt" not in shown
                await network.up()  # the network is back: the outbox's next try gets through
                await wait_for(lambda: app.today_model.send_text == "Alt er sendt ✓", timeout=30)
                await settle(app)
                shown = texts(app.root)
                assert "Alt er sendt ✓" in shown and "ikke kontakt med senteret" not in shown

            await drive(HeimaApp(hub.api, speaker=RecordingSpeaker()), work)
    finally:
        await network.down()
    observations = fhir_server.observations()
    assert sorted(o["valueQuantity"]["value"] for o in observations) == [68, 95]  # each once
