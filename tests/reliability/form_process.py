"""A hub process answering a questionnaire for the kill -9 test: Heima's real hub (start_hub, the
embedded example check-ins) with the patient walking the KOLS check-in at random — answering the
item on screen, going on, going back — until something kills it.

    python -m tests.reliability.form_process --data-dir DIR --seed N

Stdout, one line per write(2):
    READY <form id>       the form is started or resumed
    SHOWN <state json>    what the screens show now, once the step that led here is saved
                          (committed): {"form": id, "step": linkId or "review", "answers": {linkId: [values]}}
    SUBMITTED <id>        the form was sent (its response and score committed to the outbox);
                          the next SHOWN is a new form of the same check-in
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
from pathlib import Path
from typing import Any

from hub.api import Coding, HubApi, StepView
from hub.app import start_hub
from hub.config import HubConfig

KOLS = "https://oppfolging.example.no/fhir/Questionnaire/kols-daglig"


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def text(value: Any) -> str:
    return value.code if isinstance(value, Coding) else str(value)


async def shown(api: HubApi, step: StepView) -> dict[str, Any]:
    """What the patient sees: the item on screen and every answer the review lists."""
    review = await api.review_form(step.form_id)
    return {
        "form": step.form_id,
        "step": "review" if step.at_review else step.item.link_id,
        "answers": {i.link_id: [text(v) for v in i.answers] for i in review.items if i.answers},
    }


def a_value(step: StepView, rng: random.Random) -> Any:
    item = step.item
    if item.options:
        return rng.choice(item.options).value
    if item.type == "integer":
        return rng.randint(0, 9)
    return f"tekst {rng.randint(0, 999)}"


async def main(args: argparse.Namespace) -> None:
    hub = await start_hub(HubConfig(data_dir=Path(args.data_dir), serial="HUB-FORM-KILL9"), deliver=False)
    api = hub.api
    rng = random.Random(args.seed)
    step = await api.start_form(KOLS)
    say(f"READY {step.form_id}")
    while True:
        roll = rng.random()
        if step.at_review and roll < 0.5 and (await api.review_form(step.form_id)).can_submit:
            sent = await api.submit_form(step.form_id)
            say(f"SUBMITTED {sent.response_id}")
            step = await api.start_form(KOLS)
        elif step.at_review or step.item is None:
            step = await api.previous_item(step.form_id)
        elif roll < 0.5 and not step.item.read_only and step.item.type != "display":
            step = await api.answer(step.form_id, step.item.path, a_value(step, rng))
        elif roll < 0.85:
            step = await api.next_item(step.form_id)
        else:
            step = await api.previous_item(step.form_id)
        say("SHOWN " + json.dumps(await shown(api, step), sort_keys=True))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
