"""A readable line chart on kivy_garden.graph: thick lines, big points, large axis labels with the
patient's decimal comma. The library does the plotting; this only configures it."""

from __future__ import annotations

import math

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.graphics import Color, Line
from kivy_garden.graph import Graph, LinePlot, PointPlot

from ui import theme
from ui.i18n import tr


LINE_COLOURS = (theme.PRIMARY, theme.FAIL)


def nice_step(span: float) -> float:
    """A tick step of 1, 2 or 5 × 10^n giving about four ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


class WideLinePlot(LinePlot):
    """The library's LinePlot, drawn in the graph's own canvas instead of a RenderContext of its
    own: each such context compiles its own shader, which costs llvmpipe 2–3 MB per line."""

    def create_drawings(self):  # type: ignore[override]
        self._gcolor = Color(*self.color)
        self._gline = Line(points=[], cap="none", width=self.line_width, joint="round")
        return [self._gcolor, self._gline]


class HistoryChart(Graph):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("label_options", {"color": theme.rgba(theme.INK), "font_name": theme.FONT, "bold": True})
        kwargs.setdefault("font_size", theme.FONT_SMALL)
        kwargs.setdefault("border_color", theme.rgba(theme.BORDER))
        kwargs.setdefault("tick_color", theme.rgba(theme.BORDER, 0.6))
        kwargs.setdefault("background_color", theme.rgba(theme.SURFACE))
        super().__init__(
            x_grid_label=False,
            y_grid_label=True,
            x_grid=True,
            y_grid=True,
            padding=dp(8),
            _with_stencilbuffer=False,  # its own stencil buffer would end the ScrollView's clipping
            **kwargs,
        )
        self.bg_colour = theme.rgba(theme.SURFACE)
        self.fbind("font_size", self._refont)  # '20sp' follows the patient's text size

    def _refont(self, *_args) -> None:
        for label in (*self._y_grid_label, *self._x_grid_label):
            label.font_size = self.font_size
        self._trigger()

    def show(self, series: list[list[tuple[float, float]]], *, days: int, y_range: tuple[float, float]) -> None:
        for plot in list(self.plots):
            self.remove_plot(plot)
        lo, hi = y_range
        if hi - lo < 1e-9:
            lo, hi = lo - 1, hi + 1
        step = nice_step(hi - lo)
        ymin = math.floor(lo / step) * step - step
        self.ymin = max(0.0, ymin) if lo >= 0 else ymin
        self.ymax = math.ceil(hi / step) * step + step
        self.y_ticks_major = step
        self.xmin, self.xmax = -float(days), 0.0
        self.x_ticks_major = 1 if days <= 7 else 7
        self._refont()
        for n, points in enumerate(series):
            colour = theme.rgba(LINE_COLOURS[n % len(LINE_COLOURS)])
            line = WideLinePlot(color=colour, line_width=dp(3))
            line.points = points
            self.add_plot(line)
            dots = PointPlot(color=colour, point_size=dp(6))
            dots.points = points
            self.add_plot(dots)

    def _redraw_size(self, *args):  # type: ignore[override]
        super()._redraw_size(*args)
        # The graph re-renders its Fbo in the frame after this; its plot area's stencil, run in
        # that Fbo (no stencil buffer of its own), leaves the enclosing ScrollView's clip off for
        # the rest of that frame, so rows below the chart showed outside the list. Two frames
        # more: the screen never rests on that one.
        Clock.schedule_once(self._draw_again, 0)
        Clock.schedule_once(self._draw_again, 0.05)

    def _draw_again(self, _dt) -> None:
        self.canvas.ask_update()

    def _update_labels(self, *args):  # type: ignore[override]
        result = super()._update_labels(*args)
        if tr.lang != "en":
            for label in self._y_grid_label:
                label.text = label.text.replace(".", ",")
        return result
