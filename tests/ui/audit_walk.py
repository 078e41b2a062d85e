"""The audit walk the accessibility tests share: every scene × language × text size, checked by
ui/audit.py on the live widget tree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kivy.core.window import Window

from ui.audit import audit, presses_do_nothing, waiting_timers
from ui.scenes import LANGUAGES, TEXT_SIZES, leave, set_look, settle


@dataclass
class AuditWalk:
    """What one walk found: the problems, each led by scene/language/size, and how many states it saw."""

    problems: list[str] = field(default_factory=list)
    walked: int = 0

    async def through(self, app: Any, scenes: Sequence[Any], ctx: dict[str, Any], state: Callable[[], object]) -> None:
        """Enters each scene in every language and text size and audits what is on screen.
        `state` is what a press must not change (pressing acts on release only)."""
        for language in LANGUAGES:
            for size in TEXT_SIZES:
                await set_look(app, language, size)
                for scene in scenes:
                    await scene.enter(app, ctx)
                    await settle(app, frames=2)
                    where = f"{scene.name}/{language}/{size}"
                    widgets = list(Window.children)
                    self.problems.extend(f"{where}: {p}" for p in audit(widgets))
                    self.problems.extend(f"{where}: {p}" for p in waiting_timers())
                    if size == TEXT_SIZES[-1]:  # pressing is the same at every size; once per language
                        self.problems.extend(f"{where}: {p}" for p in presses_do_nothing(widgets, state))
                    self.walked += 1
                    await leave(app, ctx)
