"""What the touch app holds for things not on screen (issue 13, the app's memory; part M5 in
docs/performance.md)."""

from __future__ import annotations

import pytest

from .conftest import next_frame


def test_a_dialog_does_not_load_kivys_theme_atlas():
    """The passkey dialog and the reminder banner are drawn by our own rule; ModalView's default
    picture made each of them load Kivy's whole theme atlas (a 512×512 texture, ~90 regions)
    before our rule emptied it, held for the app's life."""
    from kivy.cache import Cache

    from ui.passkey import PasskeyDialog
    from ui.widgets import Dialog

    Cache.remove("kv.atlas")  # what an earlier test in this process may have loaded
    dialogs = [Dialog(), PasskeyDialog()]
    assert Cache.get("kv.atlas", "data/images/defaulttheme") is None
    assert all(d.background == "" for d in dialogs)


LONG = "Vi ser at du ikkje målte i dag tidleg. Du kan måle no om du vil, eller seinare i dag."


@pytest.mark.parametrize("halign", ["left", "center", "right"])
@pytest.mark.parametrize("text", ["Mål", LONG])
async def test_a_wrapping_text_keeps_a_texture_only_as_wide_as_its_lines_and_draws_the_same_pixels(run_app, halign, text):
    """A label that wraps is laid out across its whole width; Kivy kept a texture that wide
    (3.1 MB of textures on Today where the lines cover 1.2 MB). The texture now holds only the
    columns the lines cover, and the window shows exactly the pixels Kivy's own texture showed."""
    from kivy.core.window import Window
    from kivy.graphics import Color, Rectangle
    from kivy.uix.widget import Widget

    from ui.widgets import Text

    class WholeWidthText(Text):
        crop_ink = False  # Kivy's own renderer: a texture as wide as the label

    async def work(app):
        sheet = Widget(size=Window.size)
        with sheet.canvas.before:
            Color(1, 1, 1, 1)
            Rectangle(pos=(0, 0), size=Window.size)
        width = 900
        cropped = Text(text=text, halign=halign, size_hint=(None, None), width=width, pos=(40, 420))
        whole = WholeWidthText(text=text, halign=halign, size_hint=(None, None), width=width, pos=(40, 120))
        sheet.add_widget(cropped)
        sheet.add_widget(whole)
        Window.add_widget(sheet)
        try:
            await next_frame(3)
            assert cropped.height == whole.height > 0 and len(cropped._label._cached_lines) == len(whole._label._cached_lines)
            assert whole._label.texture.width == width
            ink = cropped._label.texture.width
            assert ink < width if text != LONG else ink <= width
            if text == "Mål":
                assert ink < width / 4, f"a short word keeps a texture {ink} px wide of {width}"
            shown = Shown()
            h = int(cropped.height)
            rows_cropped = [shown.row(40, 420 + y, width) for y in range(h)]
            rows_whole = [shown.row(40, 120 + y, width) for y in range(h)]
            assert any(len(set(r)) > 1 for r in rows_whole), "nothing drawn: the comparison would prove nothing"
            assert rows_cropped == rows_whole
        finally:
            Window.remove_widget(sheet)

    await run_app(work)


class Shown:
    """The window's pixels (bottom row first, as Kivy's coordinates run)."""

    def __init__(self) -> None:
        from kivy.core.window import Window
        from kivy.graphics.opengl import GL_RGB, GL_UNSIGNED_BYTE, glReadPixels

        self.width, self.height = Window.size
        self._data = glReadPixels(0, 0, self.width, self.height, GL_RGB, GL_UNSIGNED_BYTE)

    def row(self, x: int, y: int, length: int) -> bytes:
        start = (y * self.width + x) * 3
        return bytes(self._data[start : start + length * 3])


async def test_the_pairing_dialog_is_made_when_a_device_first_asks_and_names_the_family_it_heard_of_before(run_app, example):
    """The pairing dialog (a number pad, six digit boxes, its texts: ~35 widgets) and the
    reminder banner were made at start for what most days never bring. Now each is made when
    first needed — and the dialog still names the device by the family the hub announced before
    it existed. (The banner made on the first reminder: tests/ui/test_careplan_screens.py.)"""
    import asyncio

    from hub.api import DeviceFamily, DeviceFound
    from ui import kinds
    from ui.passkey import question
    from ui.scenes import settle

    from .conftest import find, tap, texts

    hub, _ids = example

    async def work(app):
        await settle(app)
        assert not app.pairing_prompt.made and not app.reminders.banner_made
        hub.events.publish(DeviceFound("AA:BB:CC:DD:EE:01", "Heima PLX 1", "plx", DeviceFamily.PULSE_OXIMETER))
        await settle(app)
        assert not app.pairing_prompt.made and not app.pairing_prompt.waiting
        answer = asyncio.ensure_future(app.pairing_prompt.passkey_for("AA:BB:CC:DD:EE:01"))
        await settle(app)
        assert app.pairing_prompt.made and app.pairing_prompt.waiting
        shown = texts(app.passkey)
        said = question("passkey", kinds.FAMILY_DEVICE[DeviceFamily.PULSE_OXIMETER], "")
        assert said in shown and "Heima PLX 1" not in shown  # its family's word, not its advertised name
        for key in "123456":
            await tap(find(app.passkey, action=f"key-{key}"), app)
        await tap(find(app.passkey, action="pairing-ok"), app)
        assert await answer == 123456
        assert not app.pairing_prompt.waiting

    await run_app(work)
