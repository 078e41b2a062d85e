"""Every screen × language × text size as a PNG under build/gallery/ (`heima gallery`).

The hub behind it is composed by `hub.app.run_gallery` (a throw-away store with a month of
example values); this module only drives the app through its scenes and saves what it shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ui.scenes import LANGUAGES, SCENES, TEXT_SIZES, leave, set_look, settle


def png_name(scene: str, language: str, text_size: str) -> str:
    return f"{scene}-{language}-{text_size}.png"


async def render(app: Any, ctx: dict[str, Any], out: Path, *, scenes=SCENES, languages=LANGUAGES, sizes=TEXT_SIZES) -> list[Path]:
    from kivy.core.window import Window

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for language in languages:
        for size in sizes:
            await set_look(app, language, size)
            for scene in scenes:
                await scene.enter(app, ctx)
                await settle(app)
                path = out / png_name(scene.name, language, size)
                # The whole window, with a dialog over the screen when one is open.
                Window.screenshot(name=str(path))
                shot = _latest_screenshot(path)
                if shot is not None and shot != path:
                    shot.replace(path)
                written.append(path)
                await leave(app, ctx)
    return written


def _latest_screenshot(path: Path) -> Path | None:
    """Window.screenshot adds a counter to the name (name0001.png); find what it wrote."""
    candidates = sorted(path.parent.glob(path.stem + "*.png"), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None
