"""`heima demo` with a screen: the composition root's run_app with the emulated oximeter. The
demo device asks for pairing, so the patient types its passkey in the dialog, then measures."""

from __future__ import annotations

import asyncio

from hub.app import DEMO_PASSKEY, run_app
from hub.config import HubConfig
from ui.scenes import settle
from ui.speech import RecordingSpeaker

from .conftest import find, tap, texts, wait_for


async def test_the_demo_app_pairs_through_the_dialog_and_measures(tmp_path):
    outcome: dict = {}

    async def patient(app, hub):
        try:
            async with asyncio.timeout(60):
                await settle(app)
                # The demo's self-care plan (COPD) asks for oxygen saturation: Today offers it as a task.
                [task] = [t for t in app.today_model.tasks if t["family"] == "pulse-oximeter"]
                await tap(find(app.root, action=task["task_action"]), app)
                await tap(find(app.root, action="start"), app)
                await wait_for(lambda: app.passkey.waiting, timeout=20)
                await settle(app)  # the dialog laid out: a tap lands where its keys are drawn
                for key in f"{DEMO_PASSKEY:06d}":
                    await tap(find(app.passkey, action=f"key-{key}"), app)
                assert app.passkey.digits == f"{DEMO_PASSKEY:06d}"  # all six typed, as shown
                await tap(find(app.passkey, action="pairing-ok"), app)
                await wait_for(lambda: len(app.measure_model.results) == 2, timeout=30)
                await settle(app)
                outcome["shown"] = texts(app.root)
        except BaseException as exc:  # noqa: BLE001  (reported after the app has stopped)
            outcome["error"] = exc
        finally:
            app.stop()

    lines: list[str] = []
    status = await asyncio.wait_for(
        run_app(
            HubConfig(data_dir=tmp_path / "demo"),
            emulated=True,
            speaker=RecordingSpeaker(),
            say=lines.append,
            ready=lambda app, hub: asyncio.ensure_future(patient(app, hub)),
        ),
        90,
    )
    if "error" in outcome:
        raise outcome["error"]
    assert status == 0
    assert "Oksygen" in outcome["shown"] and "Puls" in outcome["shown"] and "/min" in outcome["shown"]
    assert any(str(DEMO_PASSKEY) in line for line in lines)  # the terminal tells the demo's passkey
