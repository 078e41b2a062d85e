"""What the window really shows, read back pixel by pixel (as the gallery's screenshots are):
the History chart drawn whole wherever its list is scrolled, and a secondary button's border
unbroken on all four sides."""

from __future__ import annotations

from collections import Counter

import pytest

from ui import theme
from ui.scenes import SCENES, set_look, settle

from .conftest import next_frame


class Shown:
    """The window's pixels as drawn (bottom row first, as Kivy's coordinates run)."""

    def __init__(self) -> None:
        from kivy.core.window import Window
        from kivy.graphics.opengl import GL_RGB, GL_UNSIGNED_BYTE, glReadPixels

        self.width, self.height = Window.size
        self._data = glReadPixels(0, 0, self.width, self.height, GL_RGB, GL_UNSIGNED_BYTE)

    def at(self, x: int, y: int) -> tuple[int, int, int]:
        i = (y * self.width + x) * 3
        return tuple(self._data[i : i + 3])  # type: ignore[return-value]


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(round(c * 255) for c in theme.rgba(hex_colour)[:3])  # type: ignore[return-value]


def close_to(a, b, tolerance: int = 2) -> bool:
    return all(abs(p - q) <= tolerance for p, q in zip(a, b))


def scene(name: str):
    return next(s for s in SCENES if s.name == name)


def window_box(widget) -> tuple[float, float, float, float]:
    x0, y0 = widget.to_window(*widget.pos)
    x1, y1 = widget.to_window(widget.right, widget.top)
    return x0, y0, x1, y1


# Where the chart shows at each place in its list: whole, cut at the top of the list, lower in it.
CHART_VIEWS = [
    ("history-blood-pressure", 1.0),
    ("history-blood-pressure", 0.5),
    ("history-temperature", 1.0),
    ("history-temperature", 0.5),
    ("history-temperature", 0.0),
]


@pytest.mark.parametrize(("name", "scroll_y"), CHART_VIEWS)
async def test_the_history_chart_is_drawn_whole_wherever_its_list_is_scrolled(run_app, name, scroll_y):
    """The list around the chart clips with the scissor. The chart once rendered into a texture
    of its own (kivy_garden.graph's Fbo), and the list's clip cut that texture too (its lower part
    left blank: the window's background where the plot and its lower values should be); it draws
    on the window's canvas now, and must be drawn whole, every value where the data puts it."""

    async def work(app):
        await scene(name).enter(app, {})
        await settle(app)
        history = app.root.get_screen("history")
        chart, scroller = history.ids.chart, history.ids.scroller
        scroller.scroll_y = scroll_y
        await settle(app)
        shown = Shown()
        bx, by, bw, bh = scroller.window_box
        cx0, cy0, cx1, cy1 = window_box(chart)
        # the part of the chart the list shows, a pixel in from every edge
        x0, y0 = int(max(cx0, bx)) + 1, int(max(cy0, by)) + 1
        x1, y1 = int(min(cx1, bx + bw)) - 1, int(min(cy1, by + bh)) - 1
        assert y1 - y0 > 40, f"the chart is not in view at scroll {scroll_y}: nothing to look at"

        background = rgb(theme.BACKGROUND)
        blank = [(x, y) for y in range(y0, y1) for x in range(x0, x1, 2) if shown.at(x, y) == background]
        assert not blank, f"{len(blank)} pixels of the chart not drawn (from {min(y for _, y in blank) - cy0:.0f} px above its bottom edge)"

        # every value in view is drawn where the data puts it, in its line's colour
        (vx, vy), (vw, vh) = chart.view_pos, chart.view_size
        seen = 0
        for line in chart.lines:
            colour = tuple(round(c * 255) for c in line.colour[:3])
            for px, py in line.points:
                wx, wy = chart.to_window(
                    chart.x + vx + (px - chart.xmin) / (chart.xmax - chart.xmin) * vw,
                    chart.y + vy + (py - chart.ymin) / (chart.ymax - chart.ymin) * vh,
                )
                if x0 + 3 <= wx <= x1 - 3 and y0 + 3 <= wy <= y1 - 3:
                    seen += 1
                    assert close_to(shown.at(int(wx), int(wy)), colour), f"the value {py} of day {px} is not drawn (scroll {scroll_y})"
        assert seen >= 1

    await run_app(work)


def list_around(widget, kind):
    node = widget.parent
    while node is not None and node is not node.parent:
        if isinstance(node, kind):
            return node
        node = node.parent
    return None


def side_rows(shown: Shown, button, border) -> dict[str, Counter]:
    """For each side of the button, along its straight part: which pixels across it are the
    border's colour, counted over its length (one entry: a straight, unbroken side)."""
    from kivy.metrics import dp

    x0, y0, x1, y1 = window_box(button)
    r = dp(14) + 2  # the corners' radius, and a little: the sides' straight parts
    across = range(-5, 6)

    def row(x: int, yc: float) -> tuple[int, ...]:
        return tuple(d for d in across if shown.at(x, int(yc) + d) == border)

    def column(y: int, xc: float) -> tuple[int, ...]:
        return tuple(d for d in across if shown.at(int(xc) + d, y) == border)

    along_x = range(int(x0 + r), int(x1 - r))
    along_y = range(int(y0 + r), int(y1 - r))
    return {
        "bottom": Counter(row(x, y0) for x in along_x),
        "top": Counter(row(x, y1) for x in along_x),
        "left": Counter(column(y, x0) for y in along_y),
        "right": Counter(column(y, x1) for y in along_y),
    }


def assert_whole_border(shown: Shown, button, where: str) -> None:
    for side, pixels in side_rows(shown, button, rgb(theme.BORDER)).items():
        assert () not in pixels, f"{where}: {button.text!r} has a gap in its {side} border"
        assert len(pixels) == 1, f"{where}: {button.text!r}'s {side} border breaks into parts a pixel apart: {dict(pixels)}"
        assert len(next(iter(pixels))) >= 2, f"{where}: {button.text!r}'s {side} border is thinner than 2 px"


@pytest.mark.parametrize("text_size", ["normal", "large"])
async def test_secondary_buttons_have_an_unbroken_border_on_all_four_sides(run_app, text_size):
    """On the main screens, every secondary button wholly in view: its border's colour along all
    four sides, each side straight (Kivy's rounded rectangle slanted its sides by a few
    hundredths of a pixel, which broke them into two halves a pixel apart at some positions —
    the bottom of Today's 'Measure again', the top of the bar's buttons)."""
    from ui.drawing import Scroller
    from ui.widgets import BigButton

    async def work(app):
        await set_look(app, "nb", text_size)
        checked = 0
        try:
            for name in ("today", "history-oxygen", "settings", "guide-oximeter"):
                await scene(name).enter(app, {})
                await settle(app)
                shown = Shown()
                for button in app.root.current_screen.walk():
                    if not (isinstance(button, BigButton) and button.role == "secondary" and button.opacity > 0):
                        continue
                    x0, y0, x1, y1 = window_box(button)
                    view = list_around(button, Scroller)
                    bx, by, bw, bh = view.window_box if view is not None else (0, 0, shown.width, shown.height)
                    if not (x0 - 4 >= bx and y0 - 4 >= by and x1 + 4 <= bx + bw and y1 + 4 <= by + bh):
                        continue  # partly scrolled out of its list: cut there, as it should be
                    assert_whole_border(shown, button, f"{name} ({text_size})")
                    checked += 1
        finally:
            await set_look(app, "nb", "normal")
        assert checked >= 10

    await run_app(work)


async def test_a_secondary_button_border_is_unbroken_wherever_the_layout_puts_it(run_app):
    """Buttons at every fraction of a pixel a layout gives them (68.03 px tall buttons stacked
    land at y = n.98, where the bottom side broke)."""
    from kivy.core.window import Window
    from kivy.graphics import Color, Rectangle
    from kivy.uix.floatlayout import FloatLayout

    from ui.widgets import BigButton

    async def work(app):
        await settle(app)
        layer = FloatLayout(size=Window.size)
        with layer.canvas.before:  # over the screen: only these buttons' borders to be seen
            Color(rgba=theme.rgba(theme.BACKGROUND))
            Rectangle(size=Window.size)
        buttons = []
        fractions = (0.0, 0.25, 0.5, 0.75, 0.98)
        for i, fx in enumerate(fractions):
            for j, fy in enumerate(fractions):
                button = BigButton(text="1", size_hint=(None, None), width=200 + fx, pos=(20 + i * 240 + fx, 20 + j * 100 + fy))
                layer.add_widget(button)
                buttons.append(button)
        Window.add_widget(layer)
        try:
            await next_frame(3)
            shown = Shown()
            for button in buttons:
                assert_whole_border(shown, button, f"at {tuple(round(v, 2) for v in button.pos)}")
        finally:
            Window.remove_widget(layer)

    await run_app(work)
