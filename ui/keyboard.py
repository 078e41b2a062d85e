"""A Norwegian on-screen keyboard for a text answer: big keys in the Norwegian layout (æ ø å where
a Norwegian keyboard has them), one shift for capitals, a space bar and an erase key. Dispatches
on_key(text) with the character, 'space' or 'erase'; `typed_text()` applies one to a text."""

from __future__ import annotations

from kivy.properties import BooleanProperty
from kivy.uix.boxlayout import BoxLayout

from ui.widgets import load_kv

def make(name: str, **props):
    """A kv dynamic class (Factory name) with its kv properties set: they cannot be given to
    the constructor."""
    from kivy.factory import Factory

    widget = getattr(Factory, name)()
    for key, value in props.items():
        setattr(widget, key, value)
    return widget


ROWS = ("1234567890", "qwertyuiopå", "asdfghjkløæ", "zxcvbnm,.?")


def typed_text(text: str, key: str, *, max_length: int | None = None) -> str:
    """The text after a key of the keyboard."""
    if key == "erase":
        return text[:-1]
    add = " " if key == "space" else key
    if max_length is not None and len(text) + len(add) > max_length:
        return text
    return text + add


class Keyboard(BoxLayout):
    __events__ = ("on_key",)
    capitals = BooleanProperty(False)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        for n, row in enumerate(ROWS):
            line = make("KeyRow")
            if n == 3:  # shift before z, as on a keyboard
                line.add_widget(make("ShiftKey", keyboard=self))
            for ch in row:
                line.add_widget(make("CharKey", char=ch, keyboard=self))
            self.add_widget(line)
        self.add_widget(make("BottomRow", keyboard=self))

    def press(self, char: str) -> None:
        if char not in ("space", "erase") and self.capitals:
            char = char.upper()
            self.capitals = False  # one capital, as a phone's shift
        self.dispatch("on_key", char)

    def on_key(self, key: str) -> None:
        pass


load_kv(__file__)
