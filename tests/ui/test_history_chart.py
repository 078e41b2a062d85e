"""History charts as the patient reads them: whole at every text size (axis labels and dates are
text too, and the audit looks at them), a scale that fits the values, a legend for two lines, and
a single value drawn whole and written out."""

from __future__ import annotations

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
    """The library's chart as History had it: its lowest y label hangs below the chart, and the
    chart runs past the bottom of the list's view. Both are now problems the audit names."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.scrollview import ScrollView
    from kivy_garden.graph import Graph

    async def work(app):
        scroll = ScrollView(size_hint=(None, None), size=(600, 250), pos=(0, 0))
        column = BoxLayout(orientation="vertical", size_hint_y=None, height=400)
        graph = Graph(ymin=90, ymax=100, y_ticks_major=2, y_grid_label=True, padding=8, font_size=30,
                      label_options={"color": (0, 0, 0, 1)}, size_hint_y=None, height=300)
        column.add_widget(graph)
        scroll.add_widget(column)
        Window.add_widget(scroll)
        try:
            await next_frame(3)
            rules = {p.rule for p in audit([scroll])}
            assert {"chart-text-cut", "chart-cut"} <= rules
        finally:
            Window.remove_widget(scroll)

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
