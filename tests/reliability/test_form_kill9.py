"""kill -9 in the middle of a questionnaire: a real hub process (tests/reliability/form_process.py)
walks the KOLS check-in at random and is killed with SIGKILL at a random moment (seeded), again
and again on the same data folder. Each restart resumes the same form on the same item with the
same answers as the last state it showed — a step saved before it was shown — or, when the kill
fell between the COMMIT and the line, the state it was about to show."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from hub.app import start_hub
from hub.config import HubConfig
from tests.reliability.form_process import KOLS, shown
from tests.reliability.support import scaled, seed

ROOT = Path(__file__).resolve().parents[2]


def run_until_killed(data_dir: Path, rng: random.Random, cycle: int) -> tuple[str, list[dict]]:
    """Start the process, let it answer for a random number of steps, SIGKILL it mid-step."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.form_process", "--data-dir", str(data_dir), "--seed", str(cycle)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline().split()
    assert ready[:1] == ["READY"], proc.stderr.read() if proc.stderr else ""
    states: list[dict] = []
    steps = rng.randint(1, 40)
    while len(states) < steps:
        line = proc.stdout.readline()
        assert line.startswith("SHOWN "), line
        states.append(json.loads(line[6:]))
    os.kill(proc.pid, signal.SIGKILL)  # mid-way through the next step: its save may or may not be committed
    rest = proc.stdout.read()  # what it said before it died (whole lines: one write(2) each)
    proc.wait()
    states += [json.loads(line[6:]) for line in rest.splitlines() if line.startswith("SHOWN ")]
    assert proc.returncode == -signal.SIGKILL
    return ready[1], states


async def resumed(data_dir: Path) -> tuple[str, dict]:
    hub = await start_hub(HubConfig(data_dir=data_dir, serial="HUB-FORM-KILL9"), deliver=False)
    try:
        step = await hub.api.start_form(KOLS)
        return step.form_id, await shown(hub.api, step)
    finally:
        await hub.stop()


async def test_kill_9_in_the_middle_of_a_form_resumes_on_the_same_item_with_the_same_answers(tmp_path):
    rng = random.Random(seed())
    data_dir = tmp_path / "data"
    form_id = None
    for cycle in range(scaled(6, minimum=3)):
        started, states = run_until_killed(data_dir, rng, cycle)
        form_id = form_id or started
        assert started == form_id  # the same form, resumed by the process itself
        again, state = await resumed(data_dir)
        assert again == form_id
        # The last state shown was committed before it was shown; a step whose COMMIT the kill
        # did not stop is one more. Nothing older, nothing else.
        assert state == states[-1] or _one_step_on(states[-1], state), (states[-1], state)


def _one_step_on(before: dict, after: dict) -> bool:
    """After differs from before by one step of the walk: one item's answer, or the step on screen."""
    if before["answers"] == after["answers"]:
        return before["step"] != after["step"]
    changed = {k for k in before["answers"].keys() | after["answers"].keys()
               if before["answers"].get(k) != after["answers"].get(k)}
    return after["step"] == before["step"] and len(changed) >= 1
