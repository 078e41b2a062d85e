"""History charts as the patient reads them: whole at every text size (axis labels and dates are
text too, and the audit looks at them), a scale that fits the values, a legend for two lines, and
a single value drawn whole and written out."""

from __future__ import annotations

import sys

from kivy.core.window import Window
from kivy.metrics import Metrics

from ui.audit import audit, chart_problems
from ui.scenes import SCENES, set_look, settle

from .conftest import find, next_frame, tap, texts


def scene(name: str):
    return next(s for s in SCENES if s.name == name)


def chart_texts(chart) -> list[str]:
    return [str(w.text) for w in chart.children if str(getattr(w, "text", "")).strip()]


async def test_the_audit_finds_a_label_a_chart_cuts_and_a_chart_its_list_cuts(run_app):
    """A History chart running past the bottom of its list's view, and then one of its labels
    hanging below it (the lowest y label, as the library's chart History had once placed it):
    each is a problem the audit names, and the chart is found by the audit's walk."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.scrollview import ScrollView

    from ui.chart import HistoryChart

    async def work(app):
        scroll = ScrollView(size_hint=(None, None), size=(600, 250), pos=(0, 0))
        column = BoxLayout(orientation="vertical", size_hint_y=None, height=400)
        chart = HistoryChart(size_hint_y=None, height=300)
        chart.show([[(-2.0, 91.0), (-1.0, 99.0)]], days=7, y_range=(91.0, 99.0))
        column.add_widget(chart)
        scroll.add_widget(column)
        Window.add_widget(scroll)
        try:
            await next_frame(3)
            assert {p.rule for p in audit([scroll])} == {"chart-cut"}  # its own labels all inside
            lowest = min((w for w in chart.children if str(w.text).strip() and w.text[0].isdigit()), key=lambda w: w.y)
            lowest.y = chart.y - lowest.height / 2
            assert {p.rule for p in audit([scroll])} == {"chart-text-cut", "chart-cut"}
        finally:
            Window.remove_widget(scroll)

    await run_app(work)


async def test_the_chart_draws_on_the_windows_canvas_without_a_texture_shader_or_stencil_of_its_own(run_app):
    """kivy_garden.graph rendered the chart into an Fbo with a shader program and a stencil clip
    of its own: ~5 MB of llvmpipe's memory after History was seen (docs/performance.md, part M8).
    The chart now draws with plain instructions: its bands, grid, frame, lines and points."""
    from kivy.graphics import Fbo, InstructionGroup, Line, Point, RenderContext, StencilPush

    async def work(app):
        await scene("history-blood-pressure").enter(app, {})
        await settle(app)
        chart = app.root.get_screen("history").ids.chart
        found = []

        def walk(group) -> None:
            for item in group.children:
                found.append(item)
                if isinstance(item, InstructionGroup):
                    walk(item)

        walk(chart.canvas)
        assert not [i for i in found if isinstance(i, (Fbo, RenderContext, StencilPush))]
        assert not any(type(w).__name__ == "StencilView" for w in chart.walk())
        assert sum(isinstance(i, Line) and i.width > 1 for i in found) == 2  # the two lines
        assert sum(isinstance(i, Point) for i in found) == 2  # and their points
        assert [len(line.points) for line in chart.lines] == [8, 8]  # a week and today
        assert not [m for m in sys.modules if m.startswith("kivy_garden")]  # ~3 MB imported, not needed

    await run_app(work)


async def test_the_history_chart_and_its_dates_are_seen_whole_at_the_largest_text(run_app):
    async def work(app):
        try:
            for language in ("nb", "en"):
                await set_look(app, language, "larger")
                await scene("history-oxygen").enter(app, {})
                await settle(app)
                chart = app.root.get_screen("history").ids.chart
                assert chart_problems(chart) == []
                shown = chart_texts(chart)
                assert ("22. okt." in shown and "I dag" in shown) if language == "nb" else ("22 Oct" in shown and "Today" in shown)
                assert "90" in shown  # the lowest value's label, whole
        finally:
            await set_look(app, "nb", "normal")
            Metrics.fontscale = 1.0

    await run_app(work)


async def test_a_single_value_is_drawn_whole_labelled_and_ticks_are_whole_numbers(run_app):
    async def work(app):
        await tap(find(app.root, action="go-history"), app)
        chart = app.root.get_screen("history").ids.chart
        chart.show([[(-0.02, 96.0)]], days=7, y_range=(96.0, 96.0), decimals=0)  # one SpO2 today
        await settle(app)
        ticks = [t for t in chart_texts(chart) if t not in ("I dag",) and "." not in t]
        assert ticks and all(t.isdigit() for t in ticks), ticks  # 95, 96, 97 — never "96,5"
        value = next(w for w in chart.children if getattr(w, "value_point", None))
        assert value.text == "96" and chart_problems(chart) == []
        # the point (6 dp across) lies inside the plot area, not half-cut at its right edge
        x0, y0 = chart.view_pos
        w, h = chart.view_size
        px = x0 + (-0.02 - chart.xmin) / (chart.xmax - chart.xmin) * w
        assert px + 3 <= x0 + w

    await run_app(work)


async def test_the_blood_pressure_chart_names_its_lines_and_fits_its_scale_to_the_values(run_app):
    async def work(app):
        await scene("history-blood-pressure").enter(app, {})
        await settle(app)
        chart = app.root.get_screen("history").ids.chart
        assert "Øvre verdi" in texts(app.root) and "Nedre verdi" in texts(app.root)  # the legend
        lo, hi = app.history_model.y_range
        assert chart.ymin <= lo and chart.ymax >= hi
        assert (chart.ymax - chart.ymin) <= 2 * (hi - lo)  # not 0–250: the week's trend is seen
        assert chart.ymin > 0

    await run_app(work)
