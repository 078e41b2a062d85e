"""Issue 15's screen number: a cuff's indication → the plan's advice on the result screen,
offline (target p95 <= 1 s).

The real stack, as tests/ui/test_e2e_careplan.py runs it: an emulated blood pressure monitor on
the Bumble virtual radio (real ATT/GATT), `start_hub` as `heima` composes it with the
heart-failure example plan in force, SQLite, no destination, the touch app offscreen. Each value
is one session as the patient makes it (Start → the cuff connects → it measures), the zones
alternating (green, high yellow, low yellow) so the advice on screen changes every time; the
patient ends each session with Mål på nytt (the link's quiet gap is long, so a busy machine cannot
end a session before the cuff measures). The first value of each arm is a warm-up, not counted.

The clock starts in the emulator, right before the Bumble device sends the indication (the cuff's
send hook), and stops in a Kivy Clock callback run every frame, on the first frame whose result
screen holds the expected advice text in its widgets.

Baseline, same run: the same path with no plan in force, stopped on the first frame showing the
value alone, so the plan's share (evaluation, advice in words) is the difference.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from drivers.emulator import VirtualRadio
from drivers.emulator.blood_pressure_monitor import EmulatedBloodPressureMonitor
from hub.api import Pairing
from hub.app import start_hub
from hub.config import HubConfig
from hub.services.events import EventBus
from drivers.link import LinkManager
from hub.app import hub_registry, publish_device_events
from tests.emulated import FAST_LINK
from tests.ui.conftest import find, tap, wait_for
from ui.app import HeimaApp, drive
from ui.scenes import settle
from ui.speech import RecordingSpeaker

pytestmark = pytest.mark.bench
EXAMPLES = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "careplans"
VALUES = 20  # timed values per arm (after one warm-up value each)
TARGET_S = 1.0

# (systolic, diastolic) → the heart-failure plan's advice in Bokmål, as the zones give it;
# the value as the result card writes it (the baseline's mark).
READINGS = [
    ((124, 78), "Verdien er innenfor planen din. Fortsett som før.", "124/78"),
    ((168, 92), "Blodtrykket er høyt. Ta medisinene som vanlig, hvil, og mål igjen i kveld.", "168/92"),
    ((96, 62), "Blodtrykket er lavt. Reis deg langsomt og drikk et glass vann. Mål igjen i kveld.", "96/62"),
]


def hub_link(config: HubConfig, radio: VirtualRadio, events: EventBus, pairing: Pairing) -> LinkManager:
    """As tests/ui/test_e2e_devices.py wires it, but a session stays open until the patient
    leaves the result (a 0.2 s quiet gap could end it before the cuff measures on a busy machine)."""
    publish = publish_device_events(events)
    return LinkManager(
        hub_registry(config, on_event=publish),
        scanner_backend=radio.scanner_backend,
        client_backend=radio.client_backend,
        passkey_provider=pairing,
        on_event=publish,
        **(FAST_LINK | {"settle": 5.0}),
    )


class StampedCuff(EmulatedBloodPressureMonitor):
    """The emulated cuff, noting the time right before each indication goes to the radio, and
    whether the hub listens for its measurement."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.sent_at: list[float] = []
        self.listening = False

    def on_subscription(self, connection, characteristic, notify: bool, indicate: bool) -> None:
        super().on_subscription(connection, characteristic, notify, indicate)
        if characteristic is self._characteristics.get(self.default_characteristic):
            self.listening = indicate

    def on_disconnected(self, connection, reason: int) -> None:
        super().on_disconnected(connection, reason)
        self.listening = False

    def configure_gatt(self, device) -> None:
        super().configure_gatt(device)
        send = device.indicate_subscriber

        async def stamped(*args: Any, **kwargs: Any) -> None:
            self.sent_at.append(time.perf_counter())  # the cuff indicates only its measurement
            await send(*args, **kwargs)

        device.indicate_subscriber = stamped


class FirstFrameShowing:
    """A Kivy Clock callback every frame: when the measure screen's result panel holds `text`,
    the time is noted and the waiter woken."""

    def __init__(self, app: HeimaApp) -> None:
        from kivy.clock import Clock

        self.app = app
        self.screen = app.root.get_screen("measure")
        self.text: str | None = None
        self.seen_at = 0.0
        self.seen = asyncio.Event()
        self.event = Clock.schedule_interval(self.check, 0)

    def expect(self, text: str) -> None:
        self.text, self.seen_at = text, 0.0
        self.seen.clear()

    def check(self, _dt: float) -> None:
        if self.text is None or self.app.root.current != "measure" or self.screen.ids.panels.current != "result":
            return
        shown = (str(getattr(w, "text", "")) for w in self.screen.ids.results.walk(restrict=True) if getattr(w, "opacity", 1) > 0)
        if any(self.text in t.replace("\u00a0", " ") for t in shown):
            self.seen_at, self.text = time.perf_counter(), None
            self.seen.set()

    def stop(self) -> None:
        self.event.cancel()


async def latencies(tmp_path: Path, *, plan: bool, n: int) -> list[float]:
    """Seconds from the cuff's indication to the first frame showing the advice (plan) or the
    value (no plan), for one warm-up value and then `n` timed ones."""
    config = HubConfig(data_dir=tmp_path / ("plan" if plan else "none"), serial="HUB-BENCH-ADVICE", timezone="Europe/Oslo")
    if plan:
        (config.data_dir / "careplans").mkdir(parents=True)
        shutil.copyfile(EXAMPLES / "heart-failure.json", config.data_dir / "careplans" / "plan.json")
    events, pairing = EventBus(), Pairing()
    cuff = StampedCuff(serial="BP-BENCH-ADVICE")
    out: list[float] = []
    async with VirtualRadio() as radio:
        await radio.add(cuff)
        hub = await start_hub(config, link=hub_link(config, radio, events, pairing), pairing=pairing, events=events)
        try:
            assert (hub.api.plan() is not None) is plan
            assert not config.destinations  # offline: nothing is sent anywhere

            async def one_value(app: HeimaApp, watch: FirstFrameShowing, i: int) -> float:
                """The patient measures once; seconds from the indication to the frame showing it."""
                (systolic, diastolic), advice, value = READINGS[i % len(READINGS)]
                if i:  # the patient taps Mål på nytt; the cuff is switched off and on again
                    await tap(find(app.root, action="measure-again"), app)
                    await wait_for(lambda: not app.measure_model.measuring and not cuff.is_connected, timeout=20)
                    await cuff.detach()
                    await radio.add(cuff)
                await tap(find(app.root, action="start"), app)
                await cuff.wait_until(lambda: cuff.listening, timeout=20)
                watch.expect(advice if plan else value)
                sent = len(cuff.sent_at)
                await cuff.measure(systolic, diastolic, pulse_rate=72, timestamp=False)
                await watch.seen.wait()
                assert len(cuff.sent_at) == sent + 1, "one indication per value"
                return watch.seen_at - cuff.sent_at[sent]

            async def work(app: HeimaApp) -> None:
                await settle(app)
                app.measure("blood-pressure")
                await settle(app)
                watch = FirstFrameShowing(app)
                try:
                    for i in range(n + 1):
                        try:
                            async with asyncio.timeout(30):
                                latency = await one_value(app, watch, i)
                        except TimeoutError:
                            arm = "plan" if plan else "no plan"
                            raise AssertionError(f"value {i + 1} ({arm}): not on the result screen within 30 s") from None
                        if i:  # the first value after start carries one-time costs, not the path's
                            out.append(latency)
                finally:
                    watch.stop()

            await drive(HeimaApp(hub.api, speaker=RecordingSpeaker(), sounds_dir=tmp_path), work)
        finally:
            await hub.stop()
    return out


def median_p95_ms(values: list[float]) -> tuple[float, float]:
    return statistics.median(values) * 1000, statistics.quantiles(values, n=20)[-1] * 1000


async def test_indication_to_the_plans_advice_on_the_result_screen(tmp_path, report):
    baseline = await latencies(tmp_path, plan=False, n=VALUES)
    ours = await latencies(tmp_path, plan=True, n=VALUES)
    med, p95 = median_p95_ms(ours)
    base_med, base_p95 = median_p95_ms(baseline)
    met = p95 <= TARGET_S * 1000
    report(
        "indication → plan's advice on screen",
        f"p50 {med:.0f} ms, p95 {p95:.0f} ms",
        f"p95 <= {TARGET_S * 1000:.0f} ms",
        met,
        f"baseline (no plan, value alone) p50 {base_med:.0f} ms, p95 {base_p95:.0f} ms; plan's share p50 {med - base_med:+.0f} ms; "
        f"{VALUES} values per arm, zones alternating, offline, offscreen",
    )
    assert met, f"p95 {p95:.0f} ms > {TARGET_S * 1000:.0f} ms"
