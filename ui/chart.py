"""A readable line chart drawn straight on its own canvas: thick lines, big round points, large
axis labels with the patient's decimal comma, placed so that every one of them lies inside the
chart at any text size, and a scale that fits the values.

- the y axis: about five ticks of 1, 2 or 5 × 10^n — whole numbers for kinds measured in whole
  numbers — with a little room above and below the values;
- the x axis: the period's first day at the left and "Today" at the right, under the plot;
- a chart with one value per line shows that value as text beside its point;
- the self-care plan's zones as pale bands behind the lines (History names them in words).

Plain instructions on the window's canvas, a handful per chart: no Fbo, shader or stencil of its
own (kivy_garden.graph's were ~5 MB of llvmpipe's memory after History was seen, and its Fbo
fought the scroll view's scissor: docs/performance.md, part M8). Nothing needs clipping: every
value lies inside the fitted scale, and the list around the chart clips with the scissor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kivy.clock import Clock
from kivy.graphics import Color, InstructionGroup, Line, Mesh, Point, PopMatrix, PushMatrix, Rectangle, Translate
from kivy.graphics.texture import Texture
from kivy.metrics import dp
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from ui import theme
from ui.i18n import tr

# Blue and brown: told apart with every kind of colour blindness; red is kept for "act now".
LINE_COLOURS = (theme.PRIMARY, theme.WAIT)


def nice_step(span: float, *, whole: bool = False, ticks: int = 5) -> float:
    """A tick step of 1, 2 or 5 × 10^n giving about `ticks` ticks over `span` (at least 1 if whole)."""
    if span <= 0:
        return 1.0
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw - 1e-12)
    return max(step, 1.0) if whole else step


def fitted_scale(lo: float, hi: float, *, whole: bool = False, max_ticks: int = 7) -> tuple[float, float, float]:
    """(ymin, ymax, step): the values with at least a quarter step of room on either side, in at
    most `max_ticks` labelled ticks (fewer when the chart is short and its labels large)."""
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    for target in range(5, 0, -1):
        step = nice_step(hi - lo, whole=whole, ticks=target)
        ymin = math.floor(lo / step) * step
        if lo - ymin < step / 4:
            ymin -= step
        ymax = math.ceil(hi / step) * step
        if ymax - hi < step / 4:
            ymax += step
        if lo >= 0:
            ymin = max(0.0, ymin)
        if round((ymax - ymin) / step) + 1 <= max(max_ticks, 2):
            break
    return ymin, ymax, step


def ticks(start: float, end: float, step: float) -> list[float]:
    """start, start + step, … up to end (a hair's room for the sum's rounding)."""
    if step <= 0 or end < start:
        return []
    return [start + k * step for k in range(int(math.floor((end - start) / step + 1e-9)) + 1)]


@dataclass(frozen=True)
class DrawnLine:
    """A series as drawn: its colour (RGBA) and its (day, value) points."""

    colour: tuple[float, float, float, float]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class DrawnBand:
    """A zone of the plan behind the lines, from `low` to `high` (None: the plot's edge)."""

    level: str
    low: float | None
    high: float | None


_DISCS: dict[int, Texture] = {}


def _disc_pixels(n: int) -> bytes:
    """A white disc n px across, its edge's alpha the share of each pixel it covers (4 × 4 samples)."""
    r, out = n / 2, bytearray()
    for y in range(n):
        for x in range(n):
            inside = sum(
                (x + (i + 0.5) / 4 - r) ** 2 + (y + (j + 0.5) / 4 - r) ** 2 <= r * r for i in range(4) for j in range(4)
            )
            out += bytes((255, 255, 255, round(255 * inside / 16)))
    return bytes(out)


def disc(n: int) -> Texture:
    """One small texture per size for every chart's points: each point is a square of two
    triangles showing a round dot (an Ellipse is dozens of triangles, a draw call each)."""
    texture = _DISCS.get(n)
    if texture is None:
        pixels = _disc_pixels(n)
        texture = Texture.create(size=(n, n), colorfmt="rgba")
        texture.blit_buffer(pixels, colorfmt="rgba", bufferfmt="ubyte")
        # a GL context lost and made again (Android's pause) empties textures: fill it again
        texture.add_reload_observer(lambda t: t.blit_buffer(pixels, colorfmt="rgba", bufferfmt="ubyte"))
        _DISCS[n] = texture
    return texture


class HistoryChart(Widget):
    start_text = StringProperty("")  # under the left end of the plot: the period's first day
    end_text = StringProperty("")  # under the right end: "Today"
    font_size = NumericProperty(theme.FONT_SMALL)  # '20sp': follows the patient's text size
    xmin = NumericProperty(-7.0)
    xmax = NumericProperty(0.0)
    ymin = NumericProperty(0.0)
    ymax = NumericProperty(1.0)
    y_ticks_major = NumericProperty(1.0)
    x_ticks_major = NumericProperty(1.0)

    def __init__(self, **kwargs) -> None:
        self.bg_colour = theme.rgba(theme.SURFACE)  # what the audit measures the labels' contrast on
        self.padding = dp(8)
        self.lines: list[DrawnLine] = []  # what is drawn, for tests and the pixels read back
        self.bands: list[DrawnBand] = []
        self.view_pos: tuple[float, float] = (0.0, 0.0)  # the plot area, relative to the chart
        self.view_size: tuple[float, float] = (0.0, 0.0)
        self._decimals = 0
        self._y_range: tuple[float, float] = (0.0, 1.0)
        self._value_decimals = 0
        self._y_labels: list[Label] = []
        self._point_labels: list[Label] = []
        self._placed: list[tuple[Label, float, float]] = []  # each label's place, relative to the chart
        super().__init__(**kwargs)
        self._dates = [self._label(), self._label()]
        for label in self._dates:
            self.add_widget(label)
        with self.canvas.before:  # before: the labels (children, on self.canvas) are drawn over it
            PushMatrix()
            self._at = Translate(*self.pos)  # a move (every scroll) moves this, draws nothing new
            Color(rgba=self.bg_colour)
            self._background = Rectangle(size=self.size)
            self._data = InstructionGroup()  # bands, then the frame, then lines and points
            PopMatrix()
        self._grid = Mesh(mode="lines")
        self._border = Line(width=1)
        self._layout_later = Clock.create_trigger(self._layout)
        for name in ("size", "font_size", "start_text", "end_text"):
            self.fbind(name, self._layout_later)
        self.fbind("pos", self._move)

    def _label(self) -> Label:
        return Label(font_name=theme.FONT, color=theme.rgba(theme.INK), bold=True, size_hint=(None, None), font_size=self.font_size)

    def show(
        self,
        series: list[list[tuple[float, float]]],
        *,
        days: int,
        y_range: tuple[float, float],
        decimals: int = 0,
        bands: list[tuple[str, float | None, float | None]] = (),  # type: ignore[assignment]
    ) -> None:
        for label in self._point_labels:
            self.remove_widget(label)
        self._point_labels = []
        self._y_range, self._value_decimals = y_range, decimals
        self.ymin, self.ymax, self.y_ticks_major = fitted_scale(*y_range, whole=decimals == 0)
        self._decimals = 0 if self.y_ticks_major >= 1 else max(decimals, 1)
        # A little room right of today, so the newest point is drawn whole, not cut by the edge.
        self.xmin, self.xmax = -float(days), days * 0.03
        self.x_ticks_major = 1 if days <= 7 else 7
        self.bands = [DrawnBand(level, low, high) for level, low, high in bands]
        self.lines = [
            DrawnLine(theme.rgba(LINE_COLOURS[n % len(LINE_COLOURS)]), tuple((float(x), float(y)) for x, y in points))
            for n, points in enumerate(series)
        ]
        if series and all(len(points) == 1 for points in series):  # one value: say it beside its point
            for points in series:
                label = self._label()
                label.text = tr.number(points[0][1], decimals)
                label.value_point = points[0]
                self._point_labels.append(label)
                self.add_widget(label)
        self._layout_later()

    def _y_label_pool(self, count: int) -> list[Label]:
        while len(self._y_labels) < count:
            label = self._label()
            self._y_labels.append(label)
            self.add_widget(label)
        for label in self._y_labels[count:]:
            self.remove_widget(label)
        del self._y_labels[count:]
        return self._y_labels

    def _layout(self, *_args) -> None:
        """Measure the labels, place them inside the chart and the plot beside them, and draw the
        plot anew: only when the data, the size, the text size or the dates change."""
        pad, width, height = self.padding, self.width, self.height
        y_values = ticks(self.ymin, self.ymax, self.y_ticks_major)
        ylabels = self._y_label_pool(len(y_values))
        for value, label in zip(y_values, ylabels):
            label.text = tr.number(value, self._decimals)
        self._dates[0].text, self._dates[1].text = self.start_text, self.end_text
        for label in (*ylabels, *self._dates, *self._point_labels):
            label.font_size = self.font_size
            label.texture_update()
            label.size = label.texture_size
        label_h = max((lb.height for lb in ylabels), default=0)
        date_h = max(lb.height for lb in self._dates)
        left = pad + max((lb.width for lb in ylabels), default=0) + pad
        bottom = pad + (date_h + pad if date_h else 0)
        bottom = max(bottom, pad + label_h / 2)  # the lowest label's lower half stays inside
        top = height - pad - label_h / 2  # and the highest's upper half
        right = width - pad
        span = (self.ymax - self.ymin) or 1
        ratio = (top - bottom) / span
        # A short chart with large labels labels every 2nd (3rd, …) grid line: never overlapping.
        every = 1
        while every < len(ylabels) and ratio * self.y_ticks_major * every < label_h * 1.15:
            every += 1
        placed = []
        for k, (value, label) in enumerate(zip(y_values, ylabels)):
            if k % every:
                label.text = ""
                label.size = (0, 0)
            placed.append((label, left - pad - label.width, bottom + (value - self.ymin) * ratio - label.height / 2))
        start, end = self._dates
        placed += [(start, left, pad), (end, right - end.width, pad)]
        xratio = (right - left) / ((self.xmax - self.xmin) or 1)
        for label in self._point_labels:
            px, py = label.value_point
            x = left + (px - self.xmin) * xratio - dp(12) - label.width  # left of the point
            y = bottom + (py - self.ymin) * ratio + dp(6)  # and a little above it
            placed.append((label, max(left + pad, x), min(y, top - label.height)))
        self._placed = placed
        self.view_pos, self.view_size = (left, bottom), (right - left, top - bottom)
        self._move()
        self._draw(left, bottom, right, top, ratio, xratio, y_values)

    def _move(self, *_args) -> None:
        x, y = self.pos
        self._at.xy = (x, y)
        for label, rx, ry in self._placed:
            label.pos = (int(x + rx), int(y + ry))

    def _draw(self, left, bottom, right, top, ratio, xratio, y_values) -> None:
        """The plot, relative to the chart (the Translate before it puts it in place)."""
        self._background.size = self.size

        def px(day: float) -> float:
            return left + (day - self.xmin) * xratio

        def py(value: float) -> float:
            return bottom + (value - self.ymin) * ratio

        group = self._data
        group.clear()
        for band in self.bands:  # first: behind the grid and the lines
            lo = self.ymin if band.low is None else min(max(band.low, self.ymin), self.ymax)
            hi = self.ymax if band.high is None else min(max(band.high, self.ymin), self.ymax)
            group.add(Color(rgba=theme.rgba(theme.ZONE_BANDS[band.level])))
            group.add(Rectangle(pos=(left, py(lo)), size=(right - left, max(0.0, py(hi) - py(lo)))))
        segments = [(px(d), bottom, px(d), top) for d in ticks(self.xmin, self.xmax, self.x_ticks_major)]
        segments += [(left, py(v), right, py(v)) for v in y_values]
        vertices = [c for x0, y0, x1, y1 in segments for c in (x0, y0, 0, 0, x1, y1, 0, 0)]
        self._grid.vertices, self._grid.indices = vertices, list(range(2 * len(segments)))
        group.add(Color(rgba=theme.rgba(theme.BORDER, 0.6)))
        group.add(self._grid)
        self._border.rectangle = (left, bottom, right - left, top - bottom)
        group.add(Color(rgba=theme.rgba(theme.BORDER)))
        group.add(self._border)
        dot = disc(max(2, round(dp(12))))
        for line in self.lines:
            flat = [c for x, y in line.points for c in (px(x), py(y))]
            group.add(Color(rgba=line.colour))
            if len(line.points) > 1:
                # No joints: every joint lies under its point's dot (Kivy's round joint is a fan
                # of triangles per point that llvmpipe bins on every frame: part M8).
                group.add(Line(points=flat, width=dp(3), cap="none", joint="none"))
            group.add(Point(points=flat, pointsize=dot.width / 2, texture=dot))
