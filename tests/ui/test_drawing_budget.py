"""What each main screen draws on every frame stays within a stated budget (issue 13, part M2).

Under Mesa's llvmpipe — the software renderer the benchmark measures with, and a Pi without its
GPU — every vertex instruction is a draw call with GL buffers of its own, and a wide line that is
not opaque is drawn through the stencil buffer: push, the line, a rectangle, the line again, pop,
on every frame, each step a new rasteriser state llvmpipe stores in a 64 KiB block of its own
(docs/performance.md, part M2). Nothing invisible is drawn; the counts may not grow back past
the budgets below without someone deciding they should (raise a budget with the reason).
"""

from __future__ import annotations

import pytest

from ui.drawing import census
from ui.scenes import settle

# Vertex instructions per screen on the example hub (a month of values), at the normal text size,
# measured when part M2 was done, with ~15 % room for a new label or button.
BUDGETS = {"today": 85, "measure": 25, "history": 115, "settings": 55}
# Kivy's own ScrollView rule draws its two bars' rectangles whether they show or not (the
# horizontal one never does here): the only invisible instructions allowed.
INVISIBLE = 2


@pytest.mark.parametrize("screen", sorted(BUDGETS))
async def test_a_screen_draws_nothing_invisible_and_within_its_budget(run_app, screen):
    async def work(app):
        await settle(app)
        if screen == "measure":
            app.measure("blood-pressure")
            app.measure_model.as_if_measuring()  # the waiting panel, as in the benchmark
        else:
            app.go(screen)
        await settle(app)
        drawn = census(app.root.get_screen(screen))
        whole = census(app.root)  # the screen with what is drawn around it
        assert drawn.stencil_lines == 0 and whole.stencil_lines == 0, "a wide line that is not opaque: drawn through the stencil on every frame"
        assert drawn.invisible <= INVISIBLE, "vertex instructions under a transparent colour: drawn on every frame, show nothing"
        assert drawn.vertex <= BUDGETS[screen], f"{screen} draws {drawn.vertex} vertex instructions, budget {BUDGETS[screen]}"

    await run_app(work)
