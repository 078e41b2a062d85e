"""A readable line chart on kivy_garden.graph: thick lines, big points, large axis labels with the
patient's decimal comma. The library plots; this places the labels so that every one of them lies
inside the chart at any text size (the lowest value's label and the dates under the plot were cut
at the larger sizes), and picks a scale that fits the values.

- the y axis: about five ticks of 1, 2 or 5 × 10^n — whole numbers for kinds measured in whole
  numbers — with a little room above and below the values;
- the x axis: the period's first day at the left and "Today" at the right, under the plot;
- a chart with one value per line shows that value as text beside its point;
- the self-care plan's zones as pale bands behind the lines (History names them in words).
"""

from __future__ import annotations

import math

from kivy.clock import Clock
from kivy.graphics import Callback, Color, Line, Rectangle
from kivy.graphics.opengl import GL_SCISSOR_TEST, glDisable, glEnable
from kivy.graphics.scissor_instructions import scissor_stack
from kivy.metrics import dp
from kivy.properties import StringProperty
from kivy.uix.label import Label
from kivy_garden.graph import Graph, LinePlot, Plot, PointPlot

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


class WideLinePlot(LinePlot):
    """The library's LinePlot, drawn in the graph's own canvas instead of a RenderContext of its
    own: each such context compiles its own shader, which costs llvmpipe 2–3 MB per line."""

    def create_drawings(self):  # type: ignore[override]
        self._gcolor = Color(*self.color)
        self._gline = Line(points=[], cap="none", width=self.line_width, joint="round")
        return [self._gcolor, self._gline]


class BandPlot(Plot):
    """One zone of the plan, from `low` to `high` (None: the chart's edge), across the whole plot."""

    def __init__(self, low: float | None, high: float | None, **kwargs) -> None:
        self.low, self.high = low, high
        super().__init__(**kwargs)

    def create_drawings(self):  # type: ignore[override]
        self._bcolor = Color(*self.color)
        self._rect = Rectangle(pos=(0, 0), size=(0, 0))
        return [self._bcolor, self._rect]

    def draw(self, *args):  # type: ignore[override]
        super().draw(*args)
        params = self.params
        ymin, ymax = params["ymin"], params["ymax"]
        lo = ymin if self.low is None else min(max(self.low, ymin), ymax)
        hi = ymax if self.high is None else min(max(self.high, ymin), ymax)
        bounds, y_px = self.get_px_bounds(), self.y_px()
        y0, y1 = y_px(lo), y_px(hi)
        self._rect.pos = (bounds["xmin"], y0)
        self._rect.size = (bounds["xmax"] - bounds["xmin"], max(0.0, y1 - y0))


class HistoryChart(Graph):
    start_text = StringProperty("")  # under the left end of the plot: the period's first day
    end_text = StringProperty("")  # under the right end: "Today"

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("label_options", {"color": theme.rgba(theme.INK), "font_name": theme.FONT, "bold": True})
        kwargs.setdefault("font_size", theme.FONT_SMALL)
        kwargs.setdefault("border_color", theme.rgba(theme.BORDER))
        kwargs.setdefault("tick_color", theme.rgba(theme.BORDER, 0.6))
        kwargs.setdefault("background_color", theme.rgba(theme.SURFACE))
        self._dates = [self._label(), self._label()]
        self._point_labels: list[Label] = []
        self._decimals = 0
        self._y_range: tuple[float, float] = (0.0, 1.0)
        self._value_decimals = 0
        super().__init__(
            x_grid_label=False,
            y_grid_label=True,
            x_grid=True,
            y_grid=True,
            padding=dp(8),
            _with_stencilbuffer=False,  # its own stencil buffer would end the ScrollView's clipping
            **kwargs,
        )
        for label in self._dates:
            self.add_widget(label)
        self._unclip_fbo()
        self.bg_colour = theme.rgba(theme.SURFACE)
        self.fbind("font_size", self._refont)  # '20sp' follows the patient's text size
        self.fbind("start_text", self._trigger)
        self.fbind("end_text", self._trigger)

    def _unclip_fbo(self) -> None:
        """The graph renders itself into its Fbo while the window draws the scroll view around it,
        and GL's scissor is not the Fbo's own: the scroll view's clip (a window box) would cut the
        Fbo's pixels at the same numbers, so the chart's lower and left parts were left undrawn
        whenever it was redrawn (at every scroll). The scissor is off while it renders, back on after."""
        fbo, unclipped = self._fbo, [False]

        def before(_instr) -> bool:
            if fbo.needs_redraw and not scissor_stack.empty:  # only when it renders: no GL change a frame
                glDisable(GL_SCISSOR_TEST)
                unclipped[0] = True
            return True

        def after(_instr) -> bool:
            if unclipped[0]:
                glEnable(GL_SCISSOR_TEST)  # the box itself was left as it was
                unclipped[0] = False
            return True

        at = self.canvas.indexof(fbo)
        self.canvas.insert(at + 1, Callback(after))
        self.canvas.insert(at, Callback(before))

    def _label(self) -> Label:
        return Label(font_name=theme.FONT, color=theme.rgba(theme.INK), bold=True, size_hint=(None, None))

    def _refont(self, *_args) -> None:
        for label in (*self._y_grid_label, *self._dates, *self._point_labels):
            label.font_size = self.font_size
        self._trigger()

    def show(
        self,
        series: list[list[tuple[float, float]]],
        *,
        days: int,
        y_range: tuple[float, float],
        decimals: int = 0,
        bands: list[tuple[str, float | None, float | None]] = (),  # type: ignore[assignment]
    ) -> None:
        for plot in list(self.plots):
            self.remove_plot(plot)
        for label in self._point_labels:
            self.remove_widget(label)
        self._point_labels = []
        self._y_range, self._value_decimals = y_range, decimals
        self._rescale()
        # A little room right of today, so the newest point is drawn whole, not cut by the edge.
        self.xmin, self.xmax = -float(days), days * 0.03
        self.x_ticks_major = 1 if days <= 7 else 7
        for level, low, high in bands:  # first: behind the lines
            self.add_plot(BandPlot(low, high, color=theme.rgba(theme.ZONE_BANDS[level])))
        for n, points in enumerate(series):
            colour = theme.rgba(LINE_COLOURS[n % len(LINE_COLOURS)])
            line = WideLinePlot(color=colour, line_width=dp(3))
            line.points = points
            self.add_plot(line)
            dots = PointPlot(color=colour, point_size=dp(6))
            dots.points = points
            self.add_plot(dots)
        if series and all(len(points) == 1 for points in series):  # one value: say it beside its point
            for points in series:
                label = self._label()
                label.text = tr.number(points[0][1], decimals)
                label.value_point = points[0]
                self._point_labels.append(label)
                self.add_widget(label)
        self._refont()

    def _rescale(self) -> None:
        """The y scale that fits the values (labels skip ticks when the chart is short: _update_labels)."""
        decimals = self._value_decimals
        ymin, ymax, step = fitted_scale(*self._y_range, whole=decimals == 0)
        self.ymin, self.ymax, self.y_ticks_major = ymin, ymax, step
        self._decimals = 0 if step >= 1 else max(decimals, 1)

    def _update_labels(self):  # type: ignore[override]
        """Place every label inside the chart; return the plot area (x0, y0, x1, y1), relative."""
        pad = self.padding
        ylabels = self._y_grid_label
        for k, label in enumerate(ylabels):
            label.text = tr.number(self._ticks_majory[k], self._decimals)
            label.texture_update()
            label.size = label.texture_size
        for label in self._dates:
            label.font_size = self.font_size
        self._dates[0].text, self._dates[1].text = self.start_text, self.end_text
        for label in (*self._dates, *self._point_labels):
            label.texture_update()
            label.size = label.texture_size
        label_h = max((lb.height for lb in ylabels), default=0)
        date_h = max(lb.height for lb in self._dates)
        left = pad + max((lb.width for lb in ylabels), default=0) + pad
        bottom = pad + (date_h + pad if date_h else 0)
        bottom = max(bottom, pad + label_h / 2)  # the lowest label's lower half stays inside
        top = self.height - pad - label_h / 2  # and the highest's upper half
        right = self.width - pad
        span = (self.ymax - self.ymin) or 1
        ratio = (top - bottom) / span
        # A short chart with large labels labels every 2nd (3rd, …) grid line: never overlapping.
        every = 1
        while every < len(ylabels) and ratio * self.y_ticks_major * every < label_h * 1.15:
            every += 1
        for k, label in enumerate(ylabels):
            if k % every:
                label.text = ""
                label.size = (0, 0)
        for k, label in enumerate(ylabels):
            label.pos = (int(self.x + left - pad - label.width), int(self.y + bottom + (self._ticks_majory[k] - self.ymin) * ratio - label.height / 2))
        start, end = self._dates
        start.pos = (int(self.x + left), int(self.y + pad))
        end.pos = (int(self.x + right - end.width), int(self.y + pad))
        xratio = (right - left) / ((self.xmax - self.xmin) or 1)
        for label in self._point_labels:
            px, py = label.value_point
            x = self.x + left + (px - self.xmin) * xratio - dp(12) - label.width  # left of the point
            y = self.y + bottom + (py - self.ymin) * ratio + dp(6)  # and a little above it
            label.pos = (int(max(self.x + left + pad, x)), int(min(y, self.y + top - label.height)))
        return left, bottom, right, top

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
