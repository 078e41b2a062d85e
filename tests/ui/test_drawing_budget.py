"""What each main screen draws on every frame stays within a stated budget (issue 13, part M2).

Under Mesa's llvmpipe — the software renderer the benchmark measures with, and a Pi without its
GPU — every vertex instruction is a draw call with GL buffers of its own, and every change of
drawing state (a texture, a stencil setting) a new rasteriser state llvmpipe stores in a 64 KiB
block for the frame; each stencil setting is also a shader variant of its own, compiled by LLVM
(docs/performance.md, part M2). A wide line that is not opaque is drawn through the stencil on
every frame (push, the line, a rectangle, the line again, pop); a scroll view clips with the
scissor, not the stencil. Nothing invisible is drawn but ScrollView's bar while nothing scrolls;
the counts may not grow back past the budgets below without someone deciding they should
(raise a budget with the reason).
"""

from __future__ import annotations

import pytest

from ui.drawing import census
from ui.scenes import settle

# Vertex instructions per screen on the example hub (a month of values), at the normal text size,
# measured when part M2 was done (69, 18, 96, 39), with ~15 % room for a new label or button.
# History: 93 since part M8 (its chart draws on the window's canvas: no Fbo rectangle, the grid
# one mesh, a line and a points instruction per series), so 107.
BUDGETS = {"today": 80, "measure": 21, "history": 107, "settings": 45}
# The scroll bar's rectangle while nothing scrolls: the only invisible instruction allowed.
INVISIBLE = 1
# Stencil clips: none. History's chart clipped its plot with one (kivy_garden.graph's StencilView,
# in its Fbo) until part M8; it draws every value inside its fitted scale, and the list around it
# clips with the scissor.
STENCILS = {"today": 0, "measure": 0, "history": 0, "settings": 0}


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
        assert drawn.stencils <= STENCILS[screen], f"{screen} clips with the stencil {drawn.stencils} times"
        assert drawn.stencil_lines == 0 and whole.stencil_lines == 0, "a wide line that is not opaque: drawn through the stencil on every frame"
        assert drawn.invisible <= INVISIBLE, "vertex instructions under a transparent colour: drawn on every frame, show nothing"
        assert drawn.vertex <= BUDGETS[screen], f"{screen} draws {drawn.vertex} vertex instructions, budget {BUDGETS[screen]}"

    await run_app(work)
