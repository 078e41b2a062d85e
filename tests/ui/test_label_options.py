"""The app's labels re-render when an option in ui.widgets.RERENDER_ON changes, not on all 37 of
Kivy's (issue 13, part M11). A label whose other option changed would keep showing the old text:
these tests fail when a .kv file or the UI's code sets an option the labels do not re-render on,
and check that the ones they do re-render on still change what is drawn."""

from __future__ import annotations

import re
from pathlib import Path

from kivy.uix.label import Label

from ui.widgets import RERENDER_ON, Text

UI = Path(__file__).resolve().parents[2] / "ui"
NOT_FOLLOWED = sorted(set(Label._font_properties) - set(RERENDER_ON) | {"padding_x", "padding_y"})


def test_no_rule_or_code_of_the_ui_sets_an_option_the_labels_do_not_re_render_on():
    found = []
    for path in sorted(UI.rglob("*.kv")) + sorted(UI.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for name in NOT_FOLLOWED:
            if path.suffix == ".kv":
                patterns = [rf"^\s+{name}\s*:"]
            else:  # set as an attribute or as a keyword
                patterns = [rf"\.{name}\s*=[^=]", rf"\b{name}\s*=[^=]"]
            if any(re.search(p, source, re.M) for p in patterns):
                found.append(f"{path.relative_to(UI)}: {name}")
    assert not found, f"set but not in ui.widgets.RERENDER_ON (the label would not re-render): {found}"


async def test_a_label_re_renders_when_an_option_it_follows_changes(run_app):
    async def work(app):
        from .conftest import next_frame

        label = Text(text="Heima")
        app.root.current_screen.add_widget(label)
        await next_frame(2)
        for name, value in (("text", "Heima hjemme"), ("font_size", 40), ("bold", True), ("halign", "right"), ("disabled", True)):
            before = (label.texture_size, label.ink_left, bytes(label.texture.pixels))
            setattr(label, name, value)
            await next_frame(2)
            after = (label.texture_size, label.ink_left, bytes(label.texture.pixels))
            assert after != before, f"{name} changed, the label did not re-render"
        assert len(RERENDER_ON) < len(Label._font_properties)

    await run_app(work)
