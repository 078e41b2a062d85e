"""Power cuts in the middle of a questionnaire: Heima's own store code and questionnaire service
(hub.store.forms, hub.services.questionnaires) on apsw over the VFS that keeps only synced bytes
(tests/reliability/powercut.py). The patient walks the KOLS check-in at random — answering,
going on, going back, and now and then sending it and starting the next — and the power is cut at
a random write or sync (seeded). After each cut the next boot resumes the form on the item last
shown with the answers last shown (each step is saved before it is shown), or one step on when
the cut fell after that step's COMMIT; a form whose submit returned is in the outbox, response
and score, exactly once.

Control, same run: `synchronous = NORMAL` must lose acknowledged steps, or this test could not fail.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apsw

from hub.domain.outgoing import OutgoingKind
from hub.services.questionnaires import FOLDER, QuestionnaireService
from hub.store import Store
from hub.store.forms import FormStore
from tests.reliability.form_process import KOLS, a_value
from tests.reliability.powercut import PowerCutVFS, check_image, close_everything, discard_database, heima_on_apsw, power_on
from tests.reliability.support import scaled, seed

EXAMPLES = Path(__file__).resolve().parents[2] / "packaging" / "examples" / "questionnaires"
MAX_CUT_AT = 400


def text(value: Any) -> str:
    return getattr(value, "code", None) or str(value)


async def shown(service: QuestionnaireService, step: Any) -> dict[str, Any]:
    review = await service.review(step.form_id)
    return {
        "form": step.form_id,
        "step": "review" if step.at_review else step.item.link_id,
        "answers": {i.link_id: [text(v) for v in i.answers] for i in review.items if i.answers},
    }


def service_on(store: Store) -> QuestionnaireService:
    return QuestionnaireService(FormStore(store), destinations_for=lambda kind: ("centre",), clock=lambda: datetime.now(UTC))


@dataclass
class Boot:
    vfs: PowerCutVFS
    rng: random.Random
    last: dict[str, Any] | None = None  # the last state shown (its step committed)
    submitted: list[str] | None = None  # response ids whose submit returned
    pending: tuple[str, str | None] = ("none", None)  # the step under way at the cut: (what, linkId)

    async def run(self, path: Path) -> None:
        self.submitted = []
        # the power going shows as apsw's I/O error, or the store's own error about it
        await power_on(path, self.vfs, self._walk, cut_errors=(apsw.Error, RuntimeError))

    async def _walk(self, store: Store) -> None:
        """The patient walks the form at random until the power goes."""
        service = service_on(store)
        if not await service.available():
            forms = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]
            await service.import_forms(FOLDER, forms)
        step = await service.start(KOLS)
        self.last = await shown(service, step)
        while not self.vfs.cut:
            roll = self.rng.random()
            if step.at_review:
                review = await service.review(step.form_id)
                if review.can_submit and roll < 0.5:
                    self.pending = ("submit", None)
                    sent = await service.submit(step.form_id)
                    if self.vfs.cut:
                        return
                    self.submitted.append(sent.response_id)
                    step = await service.start(KOLS)
                else:
                    self.pending = ("move", None)
                    step = await service.back(step.form_id)
            elif roll < 0.5 and not step.item.read_only and step.item.type != "display":
                self.pending = ("answer", step.item.link_id)
                step = await service.answer(step.form_id, step.item.path, a_value(step, self.rng))
            else:
                self.pending = ("move", None)
                step = await service.next(step.form_id) if roll < 0.9 else await service.back(step.form_id)
            state = await shown(service, step)
            if self.vfs.cut:
                return
            self.last = state


@dataclass
class Series:
    synchronous: str
    cuts: int = 0
    steps_lost: int = 0
    submits_lost: int = 0
    corrupt: int = 0


async def resumed_state(path: Path) -> tuple[dict[str, Any] | None, set[str], dict[str, int]]:
    store = await Store.open(path)
    try:
        service = service_on(store)
        kinds = dict(store.db.execute("SELECT kind, count(*) FROM outgoing GROUP BY kind").fetchall())
        responses = {r[0] for r in store.db.execute("SELECT id FROM outgoing WHERE kind = ?", [OutgoingKind.QUESTIONNAIRE_RESPONSE.value])}
        if not await service.available():
            return None, responses, kinds
        return await shown(service, await service.start(KOLS)), responses, kinds
    finally:
        await store.close()
        close_everything()


def one_step_on(before: dict[str, Any], after: dict[str, Any], pending: tuple[str, str | None]) -> bool:
    """`after` is what the step under way at the cut leads to from `before` (its COMMIT landed)."""
    what, link_id = pending
    if what == "submit":  # the submit committed: the next form is begun
        return before["form"] != after["form"] and before["step"] == "review"
    if before["form"] != after["form"]:
        return False
    if what == "move":
        return before["answers"] == after["answers"] and before["step"] != after["step"]
    if what == "answer":  # that item's answer changed (and what depends on it), on the same item
        return before["step"] == after["step"] and before["answers"].get(link_id) != after["answers"].get(link_id)
    return False


async def run_series(directory: Path, vfs: PowerCutVFS, series: Series, cuts: int, rng: random.Random) -> None:
    directory.mkdir()
    path = directory / "heima.db"
    submitted: set[str] = set()
    for _ in range(cuts):
        vfs.arm(cut_at=rng.randint(1, MAX_CUT_AT))
        boot = Boot(vfs, rng)
        await asyncio.wait_for(boot.run(path), timeout=60)
        if not vfs.cut:
            continue
        series.cuts += 1
        submitted |= set(boot.submitted or [])
        close_everything()
        vfs.restore()
        vfs.arm(cut_at=None)
        integrity, _, _ = check_image(str(path))
        if integrity != "ok":
            series.corrupt += 1
            discard_database(path)
            submitted.clear()
            continue
        state, responses, kinds = await resumed_state(path)
        series.submits_lost += len(submitted - responses)
        submitted &= responses
        if boot.last is not None and (state is None or not (state == boot.last or one_step_on(boot.last, state, boot.pending))):
            series.steps_lost += 1
        assert kinds.get("score", 0) == kinds.get("questionnaire-response", 0)  # each response with its score, in one transaction


async def test_power_cuts_in_the_middle_of_a_form_lose_no_saved_step_and_no_submitted_form(tmp_path, monkeypatch, vfs, record_result):
    rng = random.Random(seed())
    full = Series("FULL")
    heima_on_apsw(monkeypatch, vfs, "FULL")
    await run_series(tmp_path / "full", vfs, full, scaled(40, minimum=10), rng)
    normal = Series("NORMAL")
    heima_on_apsw(monkeypatch, vfs, "NORMAL")
    await run_series(tmp_path / "normal", vfs, normal, scaled(40, minimum=10), rng)
    met = full.steps_lost == 0 and full.submits_lost == 0 and full.corrupt == 0 and normal.steps_lost + normal.submits_lost > 0
    record_result(
        "power cut in the middle of a questionnaire",
        target="0 saved steps or submitted forms lost, 0 corrupt; control NORMAL must lose",
        result=f"FULL: {full.cuts} cuts, {full.steps_lost} steps and {full.submits_lost} submits lost, {full.corrupt} corrupt; "
        f"NORMAL: {normal.steps_lost} steps and {normal.submits_lost} submits lost in {normal.cuts} cuts",
        met=met,
    )
    assert full.cuts >= 10 and full.corrupt == 0
    assert full.steps_lost == 0 and full.submits_lost == 0
    assert normal.steps_lost + normal.submits_lost > 0, "the control lost nothing: this test could not fail"
