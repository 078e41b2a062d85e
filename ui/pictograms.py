"""Simple pictograms drawn with Kivy graphics: no text inside, so they need no translation.

Each pictogram is a list of shapes in a unit square (x, y from 0 to 1, y up), scaled to the
widget. Shapes: ("rect"|"ellipse", x, y, w, h, colour), ("rrect", x, y, w, h, radius, colour),
("line", [x0, y0, x1, y1, ...], width, colour), ("triangle", [x0, y0, x1, y1, x2, y2], colour).
"""

from __future__ import annotations

from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle, Triangle
from kivy.properties import StringProperty
from kivy.uix.widget import Widget

from ui import theme

COLOURS = {
    "ink": theme.INK,
    "accent": theme.ACCENT,
    "skin": theme.SKIN,
    "surface": theme.SURFACE,
    "primary": theme.PRIMARY,
    "water": "#6FA8DC",
    "blood": "#A01818",
    "fail": theme.FAIL,
}

_PERSON_SITTING = [
    ("rect", 0.58, 0.10, 0.06, 0.62, "ink"),  # chair back
    ("rect", 0.30, 0.38, 0.34, 0.06, "ink"),  # seat
    ("rect", 0.32, 0.10, 0.05, 0.28, "ink"),  # chair legs
    ("rect", 0.58, 0.10, 0.05, 0.28, "ink"),
    ("ellipse", 0.40, 0.74, 0.16, 0.16, "skin"),  # head
    ("line", [0.49, 0.74, 0.52, 0.46], 0.07, "primary"),  # body
    ("line", [0.52, 0.46, 0.30, 0.46, 0.28, 0.14], 0.06, "primary"),  # legs
    ("line", [0.50, 0.64, 0.36, 0.52], 0.05, "skin"),  # arm resting
]

PICTOGRAMS: dict[str, list[tuple]] = {
    "sit": _PERSON_SITTING,
    "finger-clip": [
        ("rrect", 0.10, 0.40, 0.62, 0.20, 0.10, "skin"),  # finger
        ("ellipse", 0.62, 0.50, 0.10, 0.08, "surface"),  # nail
        ("rrect", 0.40, 0.30, 0.44, 0.40, 0.08, "primary"),  # clip
        ("rect", 0.48, 0.62, 0.28, 0.05, "accent"),  # its little screen
    ],
    "keep-still": [  # an hourglass
        ("rect", 0.26, 0.84, 0.48, 0.06, "ink"),
        ("rect", 0.26, 0.10, 0.48, 0.06, "ink"),
        ("triangle", [0.30, 0.84, 0.70, 0.84, 0.50, 0.50], "accent"),
        ("triangle", [0.30, 0.16, 0.70, 0.16, 0.50, 0.50], "primary"),
        ("line", [0.30, 0.84, 0.50, 0.50, 0.30, 0.16], 0.02, "ink"),
        ("line", [0.70, 0.84, 0.50, 0.50, 0.70, 0.16], 0.02, "ink"),
    ],
    "cuff": [
        ("line", [0.20, 0.88, 0.30, 0.50, 0.74, 0.40], 0.12, "skin"),  # upper arm, forearm
        ("rrect", 0.15, 0.58, 0.22, 0.22, 0.04, "primary"),  # cuff on the upper arm
        ("line", [0.30, 0.62, 0.60, 0.70, 0.80, 0.78], 0.015, "ink"),  # tube
        ("rrect", 0.72, 0.72, 0.20, 0.16, 0.03, "ink"),  # monitor
        ("rect", 0.75, 0.78, 0.14, 0.06, "accent"),
    ],
    "no-shoes": [
        ("rrect", 0.18, 0.30, 0.60, 0.20, 0.08, "ink"),  # a shoe
        ("rrect", 0.18, 0.30, 0.30, 0.36, 0.08, "ink"),
        ("line", [0.12, 0.12, 0.88, 0.84], 0.05, "fail"),  # crossed out
    ],
    "scale": [
        ("rrect", 0.12, 0.10, 0.76, 0.24, 0.05, "primary"),  # platform
        ("rect", 0.40, 0.24, 0.20, 0.06, "accent"),  # display
        ("ellipse", 0.28, 0.34, 0.16, 0.46, "skin"),  # two bare feet
        ("ellipse", 0.56, 0.34, 0.16, 0.46, "skin"),
    ],
    "wash-hands": [
        ("line", [0.40, 0.92, 0.40, 0.82, 0.56, 0.82], 0.05, "ink"),  # tap
        ("ellipse", 0.50, 0.66, 0.05, 0.08, "water"),  # drops
        ("ellipse", 0.56, 0.54, 0.05, 0.08, "water"),
        ("ellipse", 0.20, 0.14, 0.34, 0.34, "skin"),  # hands
        ("ellipse", 0.46, 0.14, 0.34, 0.34, "skin"),
    ],
    "strip": [
        ("rrect", 0.30, 0.10, 0.40, 0.56, 0.06, "primary"),  # meter
        ("rect", 0.36, 0.38, 0.28, 0.20, "accent"),  # display
        ("rect", 0.44, 0.66, 0.12, 0.26, "surface"),  # strip going in
        ("line", [0.44, 0.66, 0.44, 0.92, 0.56, 0.92, 0.56, 0.66], 0.012, "ink"),
    ],
    "prick": [
        ("rrect", 0.10, 0.30, 0.56, 0.20, 0.10, "skin"),  # finger
        ("ellipse", 0.56, 0.30, 0.10, 0.20, "skin"),  # its tip
        ("line", [0.84, 0.86, 0.66, 0.52], 0.09, "primary"),  # the lancet pen, aimed at the side
        ("line", [0.66, 0.52, 0.63, 0.47], 0.02, "ink"),  # its needle
        ("ellipse", 0.60, 0.46, 0.05, 0.05, "blood"),  # the little prick
    ],
    "drop": [
        ("rrect", 0.10, 0.20, 0.56, 0.20, 0.10, "skin"),  # finger
        ("triangle", [0.56, 0.74, 0.66, 0.54, 0.46, 0.54], "blood"),  # drop
        ("ellipse", 0.46, 0.44, 0.20, 0.18, "blood"),
        ("rect", 0.60, 0.08, 0.30, 0.08, "ink"),  # strip end
    ],
    "thermometer": [
        ("ellipse", 0.12, 0.18, 0.56, 0.64, "skin"),  # head
        ("ellipse", 0.60, 0.42, 0.10, 0.18, "skin"),  # ear
        ("rrect", 0.62, 0.46, 0.32, 0.10, 0.04, "primary"),  # thermometer at the ear
    ],
    "device": [  # waiting for a device: a device sending waves
        ("rrect", 0.12, 0.25, 0.30, 0.50, 0.05, "primary"),
        ("rect", 0.17, 0.50, 0.20, 0.16, "accent"),
        ("line", [0.55, 0.35, 0.62, 0.50, 0.55, 0.65], 0.03, "ink"),
        ("line", [0.67, 0.25, 0.78, 0.50, 0.67, 0.75], 0.03, "ink"),
    ],
}


class Pictogram(Widget):
    name = StringProperty("")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fbind("pos", self._redraw)
        self.fbind("size", self._redraw)
        self.fbind("name", self._redraw)
        self._redraw()

    def _redraw(self, *_args) -> None:
        self.canvas.clear()
        shapes = PICTOGRAMS.get(self.name)
        if not shapes:
            return
        side = min(self.width, self.height)
        ox = self.x + (self.width - side) / 2
        oy = self.y + (self.height - side) / 2

        def pt(x: float, y: float) -> tuple[float, float]:
            return ox + x * side, oy + y * side

        with self.canvas:
            for shape in shapes:
                kind = shape[0]
                Color(*theme.rgba(COLOURS[shape[-1]]))
                if kind in ("rect", "ellipse"):
                    _, x, y, w, h, _c = shape
                    cls = Rectangle if kind == "rect" else Ellipse
                    cls(pos=pt(x, y), size=(w * side, h * side))
                elif kind == "rrect":
                    _, x, y, w, h, r, _c = shape
                    RoundedRectangle(pos=pt(x, y), size=(w * side, h * side), radius=[r * side])
                elif kind == "line":
                    _, points, width, _c = shape
                    flat = [c for i in range(0, len(points), 2) for c in pt(points[i], points[i + 1])]
                    Line(points=flat, width=max(1.0, width * side / 2), cap="round", joint="round")
                elif kind == "triangle":
                    _, points, _c = shape
                    flat = [c for i in range(0, len(points), 2) for c in pt(points[i], points[i + 1])]
                    Triangle(points=flat)
