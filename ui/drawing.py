"""Canvas instructions drawn only where they show.

Under Mesa's llvmpipe (the software renderer of the benchmark and of any Pi without its GPU) a
drawn instruction is not free even when nothing of it shows: a `Line` wider than one pixel in a
colour that is not opaque — a transparent one included — is drawn through the stencil buffer
(Kivy's `Line.apply`: stencil push, the line, a rectangle, the line again, pop) on every frame,
and each of those steps changes llvmpipe's rasteriser state, which it stores for the frame in a
64 KiB block of its own (docs/performance.md, part M2). So what is invisible is not drawn at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from kivy.graphics import Color, InstructionGroup, Line
from kivy.graphics.instructions import VertexInstruction
from kivy.metrics import dp
from kivy.uix.widget import Widget

from ui import theme


class Outline:
    """A rounded outline on `widget`'s `canvas.before`, after what its kv rule drew there, present
    only while `shown(widget)` is true (added and removed as the properties it reads change)."""

    def __init__(self, widget: Widget, *, radius: float, width: float, colour, shown, watch: tuple[str, ...]) -> None:
        self._widget = widget
        self._radius = radius
        self._shown = shown
        self._line = Line(width=width)
        self._group = InstructionGroup()
        self._group.add(Color(rgba=colour))
        self._group.add(self._line)
        self._on = False
        widget.fbind("pos", self._place)
        widget.fbind("size", self._place)
        for name in watch:
            widget.fbind(name, self.update)
        self.update()

    def _place(self, *_args) -> None:
        if self._on:
            w = self._widget
            self._line.rounded_rectangle = (w.x, w.y, w.width, w.height, self._radius)

    def update(self, *_args) -> None:
        on = bool(self._shown(self._widget))
        if on != self._on:
            self._on = on
            before = self._widget.canvas.before
            if on:
                before.add(self._group)
                self._place()
            else:
                before.remove(self._group)


def secondary_border(button: Widget) -> Outline:
    """A secondary button's grey border (1.5 dp, 14 dp corners: the same line the kv rule drew
    for every button, transparent on the others); none on primary and selected buttons."""
    return Outline(
        button,
        radius=dp(14),
        width=dp(1.5),
        colour=theme.rgba(theme.BORDER),
        shown=lambda b: b.role == "secondary",
        watch=("role",),
    )


@dataclass(frozen=True)
class Census:
    """What a widget tree draws on every frame: its vertex instructions (each a draw call with
    buffers of its own), those that can show nothing (under a transparent colour), and the lines
    Kivy draws through the stencil buffer (wider than one pixel, not opaque)."""

    vertex: int
    invisible: int
    stencil_lines: int


def census(widget: Widget) -> Census:
    """Walk `widget`'s canvas in drawing order, as Kivy applies it (a colour holds until the
    next, across widgets)."""
    counts = {"vertex": 0, "invisible": 0, "stencil_lines": 0}
    alpha = [1.0]

    def walk(group) -> None:
        for item in group.children:
            if isinstance(item, Color):
                alpha[0] = item.a
            elif isinstance(item, VertexInstruction):
                counts["vertex"] += 1
                if alpha[0] == 0:
                    counts["invisible"] += 1
                if isinstance(item, Line) and item.width != 1 and alpha[0] < 1:
                    counts["stencil_lines"] += 1
            if isinstance(item, InstructionGroup):
                walk(item)

    walk(widget.canvas)
    return Census(**counts)
