"""Technician mode and first-boot enrolment on the touch app, through real Kivy, the real
enrolment, PIN, kit and return services (hub.api.TechnicianDesk) and a real store."""

from __future__ import annotations

from kivy.core.window import Window
from kivy.metrics import Metrics

from ui.audit import audit, presses_do_nothing, waiting_timers
from ui.scenes import LANGUAGES, TECHNICIAN_SCENES, TEXT_SIZES, leave, set_look, settle


async def test_the_technician_scenes_pass_the_audit_in_every_language_and_text_size(run_app):
    problems: list[str] = []
    walked = 0

    async def work(app):
        nonlocal walked
        ctx = dict(app.example_ids)
        for language in LANGUAGES:
            for size in TEXT_SIZES:
                await set_look(app, language, size)
                for scene in TECHNICIAN_SCENES:
                    await scene.enter(app, ctx)
                    await settle(app, frames=2)
                    where = f"{scene.name}/{language}/{size}"
                    widgets = list(Window.children)
                    problems.extend(f"{where}: {p}" for p in audit(widgets))
                    problems.extend(f"{where}: {p}" for p in waiting_timers())
                    if size == "larger":
                        problems.extend(f"{where}: {p}" for p in presses_do_nothing(widgets, lambda: (app.root.current, len(app.actions))))
                    walked += 1
                    await leave(app, ctx)

    await run_app(work, timeout=240)
    Metrics.fontscale = 1.0
    assert walked == len(TECHNICIAN_SCENES) * len(LANGUAGES) * len(TEXT_SIZES)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:60])
