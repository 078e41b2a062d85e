"""Canvas instructions drawn only where they show.

Under Mesa's llvmpipe (the software renderer of the benchmark and of any Pi without its GPU) a
drawn instruction is not free even when nothing of it shows: a `Line` wider than one pixel in a
colour that is not opaque — a transparent one included — is drawn through the stencil buffer
(Kivy's `Line.apply`: stencil push, the line, a rectangle, the line again, pop) on every frame,
and each of those steps changes llvmpipe's rasteriser state, which it stores for the frame in a
64 KiB block of its own (docs/performance.md, part M2). So what is invisible is not drawn at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kivy.graphics import Color, InstructionGroup, Line, StencilPush
from kivy.graphics.instructions import VertexInstruction
from kivy.metrics import dp
from kivy.properties import ListProperty
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from ui import theme


class Outline:
    """A rounded outline on `widget`'s `canvas.before`, after what its kv rule drew there, present
    only while `shown(widget)` is true (added and removed as the properties it reads change)."""

    def __init__(self, widget: Widget, *, radius: float, width: float, colour, shown, watch: tuple[str, ...]) -> None:
        self._widget = widget
        self._radius = radius
        self._shown = shown
        # No joints: each of the outline's 88 points would get a fan of ten triangles (Kivy's round
        # joint), ten times the triangles of the line itself, for bends of 4 degrees whose joint
        # covers no pixel the segments do not; llvmpipe bins every triangle of every frame, and
        # keeps the binned frames' memory (docs/performance.md, part M9).
        self._line = Line(width=width, close=True, joint="none")
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
            self._line.points = rounded_outline(w.x, w.y, w.width, w.height, self._radius)

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


# Kivy's `Line(rounded_rectangle=…)` draws each corner's arc from 4° to 88° (its 45 steps a half
# turn), so each straight side runs from one corner's 88° point to the next corner's 4° point:
# 0.0085 px and 0.034 px in from where the side should be (at a 14 px radius). A 3 px wide side
# slanting by those few hundredths of a pixel breaks, wherever its edge crosses a row (or column)
# of pixel centres, into two halves a pixel apart — a notch along the bottom of a button at
# y = n.98 (as 68.03 px tall buttons stack), along the top of the navigation bar's. The same
# points with both ends of each side at one inset, the mean of those two, draw the same pixels
# wherever the side did not cross a centre, and a straight side where it did.
_ANGLES = tuple(k * math.pi / 45 for k in range(1, 23))  # Kivy's arc: 4°, 8°, … 88°
_ARC = tuple((math.cos(a), math.sin(a)) for a in _ANGLES)
_INSET = ((1 - _ARC[-1][1]) + (1 - _ARC[0][0])) / 2  # × the radius


def rounded_outline(x: float, y: float, w: float, h: float, radius: float) -> list[float]:
    """The points of Kivy's closed rounded rectangle (corners from the top left, clockwise), each
    straight side exactly horizontal or vertical."""
    if w <= 0 or h <= 0:
        return []  # nothing drawn, as Kivy's
    r = min(max(radius, 1.0), w / 2, h / 2)
    arcs = (  # Kivy's four arcs, each from the side before it to the side after it
        [(x + r - c * r, y + h - r + s * r) for c, s in _ARC],
        [(x + w - r + s * r, y + h - r + c * r) for c, s in _ARC],
        [(x + w - r + c * r, y + r - s * r) for c, s in _ARC],
        [(x + r - s * r, y + r - c * r) for c, s in _ARC],
    )
    d = _INSET * r
    left, top, right, bottom = x + d, y + h - d, x + w - d, y + d
    (tl, tr, br, bl) = arcs
    tl[0], tl[-1] = (left, tl[0][1]), (tl[-1][0], top)
    tr[0], tr[-1] = (tr[0][0], top), (right, tr[-1][1])
    br[0], br[-1] = (right, br[0][1]), (br[-1][0], bottom)
    bl[0], bl[-1] = (bl[0][0], bottom), (left, bl[-1][1])
    return [c for arc in arcs for point in arc for c in point]


class Scroller(ScrollView):
    """A vertical ScrollView clipped by the scissor rather than the stencil (its rule, `<-Scroller>`
    in widgets.kv, replaces ScrollView's and StencilView's). A scroll view's clip is an upright
    rectangle, which the scissor cuts exactly as the stencil did; the stencil cost, on every
    frame, a clear of the window's whole stencil buffer, the rectangle drawn into it twice, and
    a second rasteriser state (llvmpipe compiles one per stencil setting) for everything inside.

    The scissor takes window pixels: `window_box` follows this widget's place in the window,
    including the moves of the relative layouts (screens) it sits in."""

    window_box = ListProperty([0, 0, 0, 0])

    def __init__(self, **kwargs) -> None:
        self._watched: list[Widget] = []
        super().__init__(**kwargs)
        self.fbind("pos", self._place)
        self.fbind("size", self._place)
        self.fbind("parent", self._watch_ancestors)

    def _watch_ancestors(self, *_args) -> None:
        for widget in self._watched:
            widget.funbind("pos", self._place)
            widget.funbind("parent", self._watch_ancestors)
        self._watched = []
        node = self.parent
        while node is not None and node is not node.parent:
            node.fbind("pos", self._place)
            node.fbind("parent", self._watch_ancestors)
            self._watched.append(node)
            node = node.parent
        self._place()

    def _place(self, *_args) -> None:
        x, y = self.to_window(*self.pos)
        right, top = self.to_window(self.right, self.top)
        self.window_box = [round(x), round(y), round(right - x), round(top - y)]


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
    buffers of its own), those that can show nothing (under a transparent colour), the lines
    Kivy draws through the stencil buffer (wider than one pixel, not opaque) and the stencil
    clips (StencilPush: a clear of the window's whole stencil buffer at the outermost)."""

    vertex: int
    invisible: int
    stencil_lines: int
    stencils: int


def census(widget: Widget) -> Census:
    """Walk `widget`'s canvas in drawing order, as Kivy applies it (a colour holds until the
    next, across widgets)."""
    counts = {"vertex": 0, "invisible": 0, "stencil_lines": 0, "stencils": 0}
    alpha = [1.0]

    def walk(group) -> None:
        for item in group.children:
            if isinstance(item, Color):
                alpha[0] = item.a
            elif isinstance(item, StencilPush):
                counts["stencils"] += 1
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
