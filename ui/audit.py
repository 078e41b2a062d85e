"""The accessibility audit: what an 85-year-old with poor eyesight and shaky hands needs of every
screen, checked on the live widget tree (tests walk every screen × language × text size).

- every touch target at least 48 dp both ways; primary actions at least 16 mm at this density;
- no text below 20 sp (at the chosen text size);
- text contrast at least 7:1 against what it is drawn on;
- nothing clipped or overflowing: a text fits its box, no word is broken across lines, and
  nothing outside a scrolling list lies off the screen;
- charts are read whole: every text a chart draws (axis labels, dates, a value) lies inside the
  chart, and the chart lies whole inside the part of its scrolling list that is shown;
- buttons act on release only (pressing changes nothing);
- nothing on screen is waiting to act by itself later (no screen times out on the patient).
"""

from __future__ import annotations

from dataclasses import dataclass

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.core.window import Window
from kivy.metrics import Metrics, dp, sp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from ui import theme
from ui.chart import HistoryChart

TOLERANCE = 1.0  # px


@dataclass(frozen=True)
class Problem:
    rule: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.where}: {self.detail}"


def _visible(w: Widget) -> bool:
    node = w
    while node is not None and node.parent is not node:
        if getattr(node, "opacity", 1) == 0 or getattr(node, "disabled", False):
            return False
        node = node.parent
    return w.width > 0 and w.height > 0


def _name(w: Widget) -> str:
    label = getattr(w, "action", "") or str(getattr(w, "text", ""))[:40].replace("\n", " ")
    return f"{w.__class__.__name__}({label!r})"  # __class__: the widget behind an ids proxy


def _in_scroll(w: Widget) -> ScrollView | None:
    node = w.parent
    for _ in range(200):
        if node is None or node.parent is node:
            return None
        if isinstance(node, ScrollView):
            return node
        node = node.parent
    return None


def _background(w: Widget):
    node = w
    for _ in range(200):
        if node is None:
            break
        colour = getattr(node, "bg_colour", None)
        if colour is not None:
            return colour
        if node.parent is node:
            break
        node = node.parent
    return theme.rgba(theme.BACKGROUND)


def _words_fit(label: Label) -> str | None:
    """A word wider than the line it must fit on is broken across lines by Kivy: find it."""
    width = label.text_size[0] if label.text_size and label.text_size[0] else None
    if not width:
        return None
    probe = CoreLabel(font_size=label.font_size, font_name=label.font_name, bold=label.bold)
    for word in sorted(set(str(label.text).split()), key=len, reverse=True)[:3]:
        w, _h = probe.get_extents(word)
        if w > width + TOLERANCE:
            return f"the word {word!r} is {w:.0f} px wide, the line {width:.0f} px"
    return None


def _window_box(w: Widget) -> tuple[float, float, float, float]:
    x0, y0 = w.to_window(w.x, w.y)
    x1, y1 = w.to_window(w.right, w.top)
    return x0, y0, x1, y1


def _inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return (
        inner[0] >= outer[0] - TOLERANCE and inner[1] >= outer[1] - TOLERANCE
        and inner[2] <= outer[2] + TOLERANCE and inner[3] <= outer[3] + TOLERANCE
    )


def _box_text(box: tuple[float, ...]) -> str:
    return "({:.0f},{:.0f})-({:.0f},{:.0f})".format(*box)


def chart_problems(chart: Widget) -> list[Problem]:
    """A chart's texts are children it places itself (no layout keeps them in): each must lie
    inside the chart; and the chart must be seen whole where its list shows it."""
    problems = []
    box = _window_box(chart)
    for label in chart.children:
        if isinstance(label, Label) and str(label.text).strip() and _visible(label):
            where = _window_box(label)
            if not _inside(where, box):
                problems.append(Problem("chart-text-cut", _name(label), f"{_box_text(where)} outside the chart {_box_text(box)}"))
    scroll = _in_scroll(chart)
    if scroll is not None:
        shown = _window_box(scroll)
        if not _inside(box, shown):
            problems.append(Problem("chart-cut", _name(chart), f"{_box_text(box)} not all within the list's view {_box_text(shown)}"))
    return problems


def audit(widgets: list[Widget]) -> list[Problem]:
    problems: list[Problem] = []
    min_touch = dp(theme.MIN_TOUCH_DP)
    min_primary = theme.MIN_PRIMARY_MM / 25.4 * Metrics.dpi
    min_text = sp(theme.MIN_BODY_SP)
    win_w, win_h = Window.size
    for root in widgets:
        for w in root.walk(restrict=True):
            if not isinstance(w, Widget) or not _visible(w):
                continue
            if isinstance(w, ButtonBehavior):
                if w.width + TOLERANCE < min_touch or w.height + TOLERANCE < min_touch:
                    problems.append(Problem("touch-target", _name(w), f"{w.width:.0f}×{w.height:.0f} px < {min_touch:.0f} px"))
                if getattr(w, "primary", False) and (w.width + TOLERANCE < min_primary or w.height + TOLERANCE < min_primary):
                    problems.append(Problem("primary-size", _name(w), f"{w.width:.0f}×{w.height:.0f} px < 16 mm = {min_primary:.0f} px"))
            if isinstance(w, HistoryChart):
                problems.extend(chart_problems(w))
            if isinstance(w, Label) and str(w.text).strip():
                if w.font_size + 0.01 < min_text:
                    problems.append(Problem("text-size", _name(w), f"{w.font_size:.1f} px < 20 sp = {min_text:.1f} px"))
                ratio = theme.contrast(tuple(w.color), tuple(_background(w)))
                if ratio < theme.MIN_CONTRAST:
                    problems.append(Problem("contrast", _name(w), f"{ratio:.2f}:1"))
                tw, th = w.texture_size
                if tw > w.width + TOLERANCE or th > w.height + TOLERANCE:
                    problems.append(Problem("clipped", _name(w), f"text {tw:.0f}×{th:.0f} px in a {w.width:.0f}×{w.height:.0f} px box"))
                broken = _words_fit(w)
                if broken:
                    problems.append(Problem("broken-word", _name(w), broken))
            if _in_scroll(w) is None and not isinstance(w, ScrollView):
                x0, y0 = w.to_window(w.x, w.y)
                x1, y1 = w.to_window(w.right, w.top)
                if x0 < -TOLERANCE or y0 < -TOLERANCE or x1 > win_w + TOLERANCE or y1 > win_h + TOLERANCE:
                    problems.append(Problem("off-screen", _name(w), f"({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f}) in {win_w}×{win_h}"))
    return problems


def presses_do_nothing(widgets: list[Widget], snapshot) -> list[Problem]:
    """Press (without release) every button; `snapshot()` of the app must not change."""
    problems = []
    for root in widgets:
        buttons = [w for w in root.walk(restrict=True) if isinstance(w, ButtonBehavior) and _visible(w)]
        for b in buttons:
            before = snapshot()
            b.dispatch("on_press")
            if snapshot() != before:
                problems.append(Problem("acts-on-press", _name(b), "pressing changed the screen; act on release"))
    return problems


def waiting_timers(limit: float = 2.0) -> list[Problem]:
    """Clock events due later than `limit` seconds: something that would act on the patient."""
    now = Clock.get_boottime()
    problems = []
    for event in Clock.get_events():
        due = getattr(event, "timeout", 0) or 0
        if due > limit and getattr(event, "loop", False) is False:
            problems.append(Problem("times-out", repr(getattr(event, "callback", event)), f"due in {due:.0f} s"))
    del now
    return problems
