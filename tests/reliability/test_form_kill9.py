"""kill -9 in the middle of a questionnaire: a real hub process (tests/reliability/form_process.py)
walks the KOLS check-in at random and is killed with SIGKILL at a random moment (seeded), again
and again on the same data folder. Each restart resumes the same form on the same item with the
same answers as the last state it showed — a step saved before it was shown — or, when the kill
fell between the COMMIT and the line, the state it was about to show. Now and then the patient
sends the form and starts the next: every form whose submit returned is in the outbox once, its
response with its score."""

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


def run_until_killed(data_dir: Path, rng: random.Random, cycle: int) -> tuple[str, list[dict], set[str]]:
    """Start the process, let it answer for a random number of steps, SIGKILL it mid-step."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.form_process", "--data-dir", str(data_dir), "--seed", str(cycle)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline().split()
    assert ready[:1] == ["READY"], proc.stderr.read() if proc.stderr else ""
    states: list[dict] = []
    submitted: set[str] = set()
    steps = rng.randint(1, 60)
    while len(states) < steps:
        line = proc.stdout.readline()
        if line.startswith("SUBMITTED "):
            submitted.add(line.split()[1])
            continue
        assert line.startswith("SHOWN "), line + (proc.stderr.read() if proc.stderr else "")
        states.append(json.loads(line[6:]))
    os.kill(proc.pid, signal.SIGKILL)  # mid-way through the next step: its save may or may not be committed
    rest = proc.stdout.read()  # what it said before it died (whole lines: one write(2) each)
    proc.wait()
    states += [json.loads(line[6:]) for line in rest.splitlines() if line.startswith("SHOWN ")]
    submitted |= {line.split()[1] for line in rest.splitlines() if line.startswith("SUBMITTED ")}
    assert proc.returncode == -signal.SIGKILL
    return ready[1], states, submitted


async def resumed(data_dir: Path) -> tuple[dict, dict[str, int]]:
    hub = await start_hub(HubConfig(data_dir=data_dir, serial="HUB-FORM-KILL9"), deliver=False)
    try:
        step = await hub.api.start_form(KOLS)
        kinds = dict(hub.store.db.execute("SELECT kind, count(*) FROM outgoing GROUP BY kind").fetchall())
        responses = {r[0] for r in hub.store.db.execute("SELECT id FROM outgoing WHERE kind = 'questionnaire-response'")}
        return await shown(hub.api, step), {"responses": responses, **kinds}
    finally:
        await hub.stop()


async def test_kill_9_in_the_middle_of_a_form_resumes_on_the_same_item_with_the_same_answers(tmp_path):
    rng = random.Random(seed())
    data_dir = tmp_path / "data"
    form_id = None
    submitted: set[str] = set()
    for cycle in range(scaled(8, minimum=3)):
        started, states, sent = run_until_killed(data_dir, rng, cycle)
        assert form_id is None or started == form_id  # the form in progress, resumed by the process itself
        submitted |= sent
        state, outbox = await resumed(data_dir)
        # The last state shown was committed before it was shown; a step whose COMMIT the kill
        # did not stop is one more. Nothing older, nothing else.
        assert state == states[-1] or _one_step_on(states[-1], state), (states[-1], state)
        assert submitted <= outbox["responses"]  # every form whose submit returned is in the outbox...
        assert outbox.get("score", 0) == outbox.get("questionnaire-response", 0)  # ...each with its score, once
        form_id = state["form"]
    assert submitted, "no form was sent in this run: raise the scale"


def _one_step_on(before: dict, after: dict) -> bool:
    """After differs from before by one step of the walk: one item's answer, the step on screen,
    or — from the review — the form sent and the next one begun."""
    if before["form"] != after["form"]:
        return before["step"] == "review"
    if before["answers"] == after["answers"]:
        return before["step"] != after["step"]
    changed = {k for k in before["answers"].keys() | after["answers"].keys()
               if before["answers"].get(k) != after["answers"].get(k)}
    return after["step"] == before["step"] and len(changed) >= 1
