"""The audit walks every screen state × language × text size (ui/audit.py says what it checks)."""

from __future__ import annotations

from kivy.core.window import Window
from kivy.metrics import Metrics

from ui.audit import audit, presses_do_nothing, waiting_timers
from ui.scenes import LANGUAGES, SCENES, TEXT_SIZES, leave, set_look, settle


def snapshot(app):
    return (
        app.root.current,
        len(app.actions),
        app.measure_model.state,
        app.session.language,
        app.session.text_size,
        app.session.read_aloud,
        app.history_model.kind,
        app.history_model.days,
    )


async def test_every_screen_in_every_language_and_text_size_passes_the_audit(run_app):
    problems: list[str] = []
    walked = 0

    async def work(app):
        nonlocal walked
        ctx = dict(app.example_ids)
        for language in LANGUAGES:
            for size in TEXT_SIZES:
                await set_look(app, language, size)
                for scene in SCENES:
                    await scene.enter(app, ctx)
                    await settle(app, frames=2)
                    where = f"{scene.name}/{language}/{size}"
                    widgets = list(Window.children)
                    problems.extend(f"{where}: {p}" for p in audit(widgets))
                    problems.extend(f"{where}: {p}" for p in waiting_timers())
                    if size == "larger":  # pressing is the same at every size; once per language
                        problems.extend(f"{where}: {p}" for p in presses_do_nothing(widgets, lambda: snapshot(app)))
                    walked += 1
                    await leave(app, ctx)

    await run_app(work, timeout=240)
    Metrics.fontscale = 1.0
    assert walked == len(SCENES) * len(LANGUAGES) * len(TEXT_SIZES)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:60])


async def test_the_self_care_plan_scenes_pass_the_audit_in_every_language_and_text_size(tmp_path):
    """Zones, advice, the countdown, Today by the plan, a reminder and History's zone bands, on a
    hub with the gallery's plan in force (hub.app.example_hub(plan=True))."""
    from hub.app import GALLERY_NOW, example_hub
    from ui.app import HeimaApp, drive
    from ui.scenes import PLAN_SCENES
    from ui.speech import RecordingSpeaker

    hub, ids = await example_hub(tmp_path / "hub", GALLERY_NOW, plan=True)
    problems: list[str] = []
    walked = 0

    async def work(app):
        nonlocal walked
        ctx = dict(ids)
        for language in LANGUAGES:
            for size in TEXT_SIZES:
                await set_look(app, language, size)
                for scene in PLAN_SCENES:
                    await scene.enter(app, ctx)
                    await settle(app, frames=2)
                    where = f"{scene.name}/{language}/{size}"
                    widgets = list(Window.children)
                    problems.extend(f"{where}: {p}" for p in audit(widgets))
                    problems.extend(f"{where}: {p}" for p in waiting_timers())
                    if size == "larger":
                        problems.extend(f"{where}: {p}" for p in presses_do_nothing(widgets, lambda: snapshot(app)))
                    walked += 1
                    await leave(app, ctx)

    try:
        await drive(HeimaApp(hub.api, speaker=RecordingSpeaker(), sounds_dir=tmp_path), work)
    finally:
        await hub.stop()
    Metrics.fontscale = 1.0
    assert walked == len(PLAN_SCENES) * len(LANGUAGES) * len(TEXT_SIZES)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:60])
