"""The audit walks every screen state × language × text size (ui/audit.py says what it checks)."""

from __future__ import annotations

from kivy.metrics import Metrics

from tests.ui.audit_walk import AuditWalk
from ui.scenes import LANGUAGES, SCENES, TEXT_SIZES


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
    walk = AuditWalk()

    async def work(app):
        await walk.through(app, SCENES, dict(app.example_ids), lambda: snapshot(app))

    await run_app(work, timeout=240)
    Metrics.fontscale = 1.0
    assert walk.walked == len(SCENES) * len(LANGUAGES) * len(TEXT_SIZES)
    assert not walk.problems, f"{len(walk.problems)} problem(s):\n" + "\n".join(walk.problems[:60])


async def test_the_self_care_plan_scenes_pass_the_audit_in_every_language_and_text_size(tmp_path):
    """Zones, advice, the countdown, Today by the plan, a reminder and History's zone bands, on a
    hub with the gallery's plan in force (hub.app.example_hub(plan=True))."""
    from hub.app import GALLERY_NOW, example_hub
    from ui.app import HeimaApp, drive
    from ui.scenes import PLAN_SCENES
    from ui.speech import RecordingSpeaker

    hub, ids = await example_hub(tmp_path / "hub", GALLERY_NOW, plan=True)
    walk = AuditWalk()

    async def work(app):
        await walk.through(app, PLAN_SCENES, dict(ids), lambda: snapshot(app))

    try:
        await drive(HeimaApp(hub.api, speaker=RecordingSpeaker(), sounds_dir=tmp_path), work)
    finally:
        await hub.stop()
    Metrics.fontscale = 1.0
    assert walk.walked == len(PLAN_SCENES) * len(LANGUAGES) * len(TEXT_SIZES)
    assert not walk.problems, f"{len(walk.problems)} problem(s):\n" + "\n".join(walk.problems[:60])
