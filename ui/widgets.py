"""The few widgets every screen is made of. Their look is in widgets.kv.

- `Text`: a label that wraps to its width and grows to its text (never clipped).
- `BigButton`: acts on release only (a shaky press that slides off does nothing); at least
  64 dp, primary ones at least 18 mm high; its text wraps and the button grows with it.
- `Card`, `Backdrop`: containers that paint a background; `bg_colour` tells the audit what
  colour text on them stands on.
"""

from __future__ import annotations

import ctypes
import gc
import math
import weakref
from collections.abc import Callable
from pathlib import Path

from kivy.animation import Animation
from kivy.clock import Clock
from kivy.graphics.context import get_context
from kivy.core.text import Label as CoreLabel
from kivy.graphics.texture import Texture
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
from kivy.uix.widget import Widget

from ui import theme

FONT = theme.register_fonts()


def release_text_surfaces() -> None:
    """Kivy's SDL2 text provider keeps every label's last rendered surface — its pixels in RAM,
    as large as its texture — for as long as the label lives, though the pixels were copied out
    to the texture already. Drop it once they are: one less copy of every text on screen (a few
    MB for a screen's worth; a label renders a new surface whenever its text changes anyway)."""
    from kivy.core.text import Label as CoreLabel

    render_end = CoreLabel._render_end
    if getattr(render_end, "releases_surface", False) or not hasattr(CoreLabel, "_render_begin"):
        return

    def _render_end(self):
        try:
            return render_end(self)
        finally:
            if hasattr(self, "_surface"):
                self._surface = None

    _render_end.releases_surface = True
    CoreLabel._render_end = _render_end


release_text_surfaces()


def load_kv(py_file: str) -> None:
    """Load the .kv beside a module once (rules would pile up if loaded per App instance)."""
    path = str(Path(py_file).with_suffix(".kv"))
    if path not in Builder.files:
        Builder.load_file(path)


class RulesWhenMade:
    """Mixed in first: the .kv beside `rules_of` (a module's `__file__`) is loaded when the first
    instance is made rather than when the module is imported, so a dialog or screen most days never
    show holds no parsed rules (Kivy keeps ~30 bytes of objects per byte of kv; issue 13, part M11)."""

    rules_of = ""

    def __init__(self, **kwargs) -> None:
        load_kv(self.rules_of)
        super().__init__(**kwargs)


def ink_span(lines, width: int, options: dict) -> tuple[int, int] | None:
    """The columns (left, right) the laid-out `lines` cover in a texture `width` wide, placed as
    Kivy's renderer places them (its `render_lines`), with a pixel to spare on either side; None
    where that placement is not this simple one (justified or auto-aligned text, padding, an
    outline) or the lines cover the whole width anyway."""
    halign = options.get("halign")
    if halign not in ("left", "center", "right") or any(options.get("padding") or ()) or options.get("outline_width"):
        return None
    if not lines or any(line.w <= 0 for line in lines):
        return None
    if halign == "center":
        starts = [min(int(width - line.w), max(0, int((width - line.w) / 2))) for line in lines]
    elif halign == "right":
        starts = [max(0, int(width - line.w)) for line in lines]
    else:
        starts = [0 for _line in lines]
    left = max(0, min(starts) - 1)
    right = min(width, max(x + int(math.ceil(line.w)) for x, line in zip(starts, lines)) + 1)
    return (left, right) if right - left < width else None


class InkLabel(CoreLabel):
    """Kivy's text renderer with a texture only as wide as the text's lines.

    A label that wraps is laid out across its whole width, and Kivy renders — and the GL driver
    keeps, for as long as the label lives — a texture that wide, mostly empty: 3.1 MB of label
    textures on Today where the lines cover 1.2 MB. Here the lines are laid out exactly as before
    (on the label's width, by its halign), and only the columns they cover are rendered and kept
    (`ink_left` of the `full_width`, where `PixelText` draws them: widgets.kv)."""

    ink_left = 0  # where the texture's first column lies in the full width
    full_width = 0  # the width the lines were laid out on
    _ink_width = 0

    def refresh(self) -> None:
        # Kivy's refresh, with the texture sized to the ink (its layout pass, self.render(), untouched)
        self.resolve_font_name()
        width, height = self._size_texture = self._size = self.render()
        self.ink_left, self.full_width, self._ink_width = 0, width, width
        if width <= 1 or height <= 1:
            self.texture = self.texture_1px
            return
        span = ink_span(self._cached_lines, width, self.options)
        if span is not None:
            self.ink_left, self._ink_width = span[0], span[1] - span[0]
        size = (self._ink_width, height)
        texture = self.texture
        if texture is None or tuple(texture.size) != size:
            texture = Texture.create(size=size, mipmap=self.options["mipmap"], callback=self._texture_fill)
            texture.flip_vertical()
            texture.add_reload_observer(self._texture_refresh)
            self.texture = texture
        else:
            texture.ask_update(self._texture_fill)

    def _render_begin(self) -> None:
        full = self._size  # the provider makes its surface this size: the ink's width only
        self._size = (self._ink_width, full[1])
        try:
            super()._render_begin()
        finally:
            self._size = full

    def _render_text(self, text, x, y) -> None:
        super()._render_text(text, x - self.ink_left, y)


# The renderer options a label of this app can change once made (kv expressions, code). Kivy's
# Label re-renders on every one of its 37, a bound callback each on every label (~9 KB of Python
# objects a label for the 21 no rule or code here ever sets; ~40 labels on Today): PixelText
# re-renders on these. tests/ui/test_label_options.py fails when a .kv or ui/ code sets another.
RERENDER_ON = (
    "text", "font_size", "font_name", "bold", "italic", "color", "disabled_color", "halign", "valign", "padding",
    "text_size", "mipmap", "line_height", "markup", "max_lines", "shorten", "disabled",
)


class PixelText(Label):
    """A label whose texture is drawn pixel for pixel (Kivy places it at whole pixels, at its own
    size): sampled nearest rather than linear, which gives the same pixels and under software
    rendering (Mesa llvmpipe) costs a fifth less for every pixel of text on every frame.

    A label that wraps is laid out across its whole width; its texture holds only the columns its
    lines cover (`InkLabel`), drawn where they lie in that width (widgets.kv), so a short word on
    a wide button or title is neither kept in memory nor blended across the whole width."""

    crop_ink = True  # False: Kivy's own renderer, a texture as wide as the label

    def __init__(self, **kwargs) -> None:
        # Kivy's Label.__init__ (Kivy 2.3), its binding loop narrowed to RERENDER_ON.
        self._trigger_texture = Clock.create_trigger(self.texture_update, -1)
        super(Label, self).__init__(**kwargs)
        fbind, update = self.fbind, self._trigger_texture_update
        for name in RERENDER_ON:
            fbind(name, update, name)
        self._label = None
        self._create_label()
        self._trigger_texture()  # the first texture

    ink_left = NumericProperty(0)  # where the texture starts in the width the lines were laid out on
    full_width = NumericProperty(0)  # that width

    def _create_label(self) -> None:
        if self.markup or not self.crop_ink:
            if isinstance(self._label, InkLabel):
                self._label = None  # Kivy makes its own (markup: its markup renderer)
            super()._create_label()
            return
        if isinstance(self._label, InkLabel):
            return
        # as Kivy's Label makes its core label
        options = {name: getattr(self, name) for name in self._font_properties}
        options["usersize"] = self.text_size
        if self.disabled:
            options["color"], options["outline_color"] = self.disabled_color, self.disabled_outline_color
        self._label = InkLabel(**options)

    def on_texture(self, _instance, texture) -> None:
        if texture is None:
            return
        texture.mag_filter = texture.min_filter = "nearest"
        label = self._label
        if isinstance(label, InkLabel) and label.texture is texture:
            self.ink_left, self.full_width = label.ink_left, label.full_width
        else:
            self.ink_left, self.full_width = 0, texture.width


class Text(PixelText):
    role = StringProperty("body")  # body | muted | ok | wait | fail (theme.TEXT_PAIRS, on the background)


class Value(Text):
    """A measured value, large."""


class LiveValue(PixelText):
    """A value that changes many times a second (cuff pressure): one line in a texture of a fixed
    width (widgets.kv), so each new value is drawn into the same texture, never a new one."""

    crop_ink = False

    role = StringProperty("body")


class Title(Text):
    pass


class BigButton(ButtonBehavior, PixelText):
    role = OptionProperty("secondary", options=["primary", "secondary", "selected"])
    primary = BooleanProperty(False)
    bg_colour = ColorProperty(theme.rgba(theme.SECONDARY))
    min_height = NumericProperty(0)
    wrap = BooleanProperty(True)  # False: one line, the button as wide as its text
    action = StringProperty("")  # a name for tests and the audit

    def on_press(self) -> None:  # nothing happens on press: only on release
        pass

    def on_kv_post(self, base_widget) -> None:
        from ui.drawing import secondary_border

        self._border = secondary_border(self)


class Meter(Widget):
    """A progress bar that meets the contrast rule for things that are not text (WCAG 1.4.11,
    3:1): a dark fill in a white track with a dark outline, thick enough to see. (Kivy's own
    ProgressBar is a thin pale image.) `value` runs from 0 to 1."""

    value = NumericProperty(0.0)
    fill_colour = ColorProperty(theme.rgba(theme.PRIMARY))
    track_colour = ColorProperty(theme.rgba(theme.SURFACE))
    outline_colour = ColorProperty(theme.rgba(theme.BORDER))


class Card(BoxLayout):
    bg_colour = ColorProperty(theme.rgba(theme.SURFACE))


class Backdrop(BoxLayout):
    bg_colour = ColorProperty(theme.rgba(theme.BACKGROUND))


class HeimaScreen(Screen):
    """Every screen: a background, a title, a read-aloud button; `spoken()` is what it reads.

    A screen whose `releasable` is true holds nothing of its own that the patient would miss: it
    is drawn from its model, so `Screens` lets it go once it is left (and makes it again when it
    is next shown). What it follows on its model it follows with `watch`, so that `release()`
    can let go of the model — the model outlives the screen and would otherwise keep it alive."""

    bg_colour = ColorProperty(theme.rgba(theme.BACKGROUND))
    title = StringProperty("")
    releasable = False

    def spoken(self) -> str:
        return self.title

    def watch(self, model, name: str, callback) -> None:
        """`model.fbind(name, callback)`, undone by `release()`."""
        uid = model.fbind(name, callback)
        self.__dict__.setdefault("_watching", []).append((model, name, uid))

    def busy(self) -> bool:
        """Doing work that must not be dropped (a measurement under way): not released then."""
        return False

    def release(self) -> None:
        """Let go of what this screen follows: it is being dropped."""
        for model, name, uid in self.__dict__.pop("_watching", []):
            model.unbind_uid(name, uid)


class NumberPad(GridLayout):
    """Digits for a hand that cannot aim at a small keyboard; dispatches on_key('0'..'9',
    'decimal', 'erase')."""

    __events__ = ("on_key",)
    decimal = BooleanProperty(True)

    def on_key(self, key: str) -> None:
        pass


def typed(text: str, key: str, *, max_len: int = 6) -> str:
    """The text a number field holds after a key of the NumberPad."""
    if key == "erase":
        return text[:-1]
    if key == "decimal":
        return text if "," in text or not text else text + ","
    if len(text.replace(",", "")) >= max_len:
        return text
    return text + key


def parse_typed(text: str) -> float | None:
    try:
        return float(text.replace(",", ".")) if text else None
    except ValueError:
        return None


def fill(box, rows: list[dict], make) -> None:
    """Show `rows` (a dict of property values per row) in `box`, reusing the rows already there:
    a value that did not change keeps its texture, and only missing rows are made (`make()`)."""
    have = list(reversed(box.children))  # Kivy keeps the last added child first
    for n, row in enumerate(rows):
        widget = have[n] if n < len(have) else make()
        for key, value in row.items():
            setattr(widget, key, value)
        if n >= len(have):
            box.add_widget(widget)
    for widget in have[len(rows):]:
        box.remove_widget(widget)


class Screens(ScreenManager):
    """A screen manager without Kivy's stencil clip (its rule is replaced in widgets.kv): with no
    transitions nothing needs clipping, and each stencil costs whole-screen fills every frame in
    software rendering.

    Screens are made on first use: `register(name, factory)` names a screen without building it,
    and the first `screen(name)` — or `get_screen`, or `current = name` — builds it. Building
    every screen at start cost ~65 MB of RSS (widgets, label textures) and ~0.5 s of start-up for
    screens a patient may never open today."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("transition", NoTransition())
        super().__init__(**kwargs)
        self._factories: dict[str, Callable[[], Screen]] = {}
        self._when_built: dict[str, list[Callable[[Screen], None]]] = {}

    def register(self, name: str, factory: Callable[[], Screen]) -> None:
        """`factory()` makes the screen called `name` (its model given) when it is first needed."""
        self._factories[name] = factory

    def when_built(self, name: str, then: Callable[[Screen], None]) -> None:
        """`then(screen)` once the screen called `name` exists: now if it is built, else when it is
        (what another part adds to a screen — a long press on its title — without building it)."""
        screen = self.built(name)
        if screen is not None:
            then(screen)
        else:
            self._when_built.setdefault(name, []).append(then)

    def built(self, name: str) -> Screen | None:
        """The screen called `name` if it was built (never builds it)."""
        return next((s for s in self.screens if s.name == name), None)

    def screen(self, name: str) -> Screen:
        """The screen called `name`, built now if it was not yet."""
        found = self.built(name)
        if found is not None:
            return found
        factory = self._factories.get(name)
        if factory is None:
            return super().get_screen(name)  # Kivy's own error: no such screen
        made = factory()
        if made.name != name:
            raise ValueError(f"the factory for screen {name!r} made one called {made.name!r}")
        self.add_widget(made)
        for then in self._when_built.get(name, []):  # kept: a released screen is made again
            then(made)
        if getattr(made, "releasable", False):
            made.fbind("on_leave", self._left)
        return made

    def on_current(self, instance, value) -> None:
        """Switch screens; a screen left that will be let go goes before the next one is made.

        Kivy builds the screen shown (here: the factory runs) while the screen left is still in
        the tree, and lets the left one go only after the switch. Made side by side, the new
        screen's objects take fresh memory — Python's object arenas, malloc's heap — and what
        outlives the screen left (the kv rules and code of a module first imported for the new
        one, caches) stays scattered in the old one's; neither is given back when it goes. The
        walk Today → measuring → History → Settings → Today ended ~3 MB higher that way."""
        left = self.current_screen
        if (
            value is not None
            and left is not None
            and left.name != value
            and self.built(value) is None
            and isinstance(self.transition, NoTransition)
            and self._releasable(left)
        ):
            self.transition.stop()
            left.dispatch("on_pre_leave")
            self.real_remove_widget(left)
            self.current_screen = None
            self.transition = NoTransition()  # a fresh one: the old one names the screen left
            left.dispatch("on_leave")
            name, gone = left.name, weakref.ref(left)
            del left  # the collection in release() frees it only if nothing here holds it
            self.release(name)
            if gone() is not None:
                # A tap on one of its buttons is still being handled: the touch's dispatch holds
                # that button and the screen (each on_touch_up on the stack), and a widget holds
                # its parent. Everything else is let go now; the rest once the tap is over.
                _dismantle(gone())
                gc.collect()
                get_context().gl_dealloc()
                Clock.schedule_once(lambda _dt: gc.collect(), 0)
        super().on_current(instance, value)  # no screen showing: the new one is made and shown

    @staticmethod
    def _releasable(screen: Screen) -> bool:
        """Let go when left: drawn from its model only, and nothing under way on it."""
        return bool(getattr(screen, "releasable", False)) and not screen.busy()

    def _left(self, screen: Screen) -> None:
        # Once the switch is over (the transition still names the screen left until then).
        Clock.schedule_once(lambda _dt, name=screen.name: self.release(name), 0)

    def release(self, name: str) -> bool:
        """Drop the screen called `name` — its widgets, their textures and GL buffers — unless
        it is showing or busy; it is made again from its model when next shown. Each one held
        1–10 MB (History's chart and rows, Settings' choices), kept for the app's life before."""
        screen = self.built(name)
        if screen is None or screen is self.current_screen or not self._releasable(screen):
            return False
        self.remove_widget(screen)
        screen.release()
        _stop_timers(screen)
        for side in ("screen_in", "screen_out"):  # the last switch's transition still holds it
            if getattr(self.transition, side) is screen:
                setattr(self.transition, side, self.current_screen)
        del screen
        # Widgets are cycles (parent and children, their properties): only a collection frees
        # them. Their GL buffers and textures are deleted now rather than at Kivy's next frame,
        # so that a screen made next reuses their memory; then the C heap is given back.
        gc.collect()
        get_context().gl_dealloc()
        Clock.schedule_once(lambda _dt: Clock.schedule_once(_trim_heap, 0), 0)
        return True

    def get_screen(self, name: str) -> Screen:
        return self.screen(name)

    def has_screen(self, name: str) -> bool:
        return name in self._factories or self.built(name) is not None


def _stop_timers(screen: Widget) -> None:
    """Cancel what Kivy has scheduled on the widgets of a screen being dropped: a running Animation
    holds its widget (`Animation._instances`), and so does a Clock event until it fires. A scroll
    view fades its bar for up to a second after its content last moved (a 0.5 s trigger, then a
    0.5 s Animation of `_bar_color`); a screen left within that second stayed alive, with all its
    widgets and textures, until the fade ended and a later collection came (the flaky
    test_a_screen_left_is_let_go_and_shown_again_from_its_model)."""
    widgets = list(screen.walk(restrict=True))
    ours = {id(w) for w in widgets}
    for event in Clock.get_events():
        callback = event.get_callback()
        callback = getattr(callback, "func", callback)  # a functools.partial of a bound method
        if id(getattr(callback, "__self__", None)) in ours:
            event.cancel()
    for widget in widgets:
        Animation.cancel_all(widget)


def _dismantle(screen: Widget) -> None:
    """Take every widget of a screen being dropped off its parent, leaves first: whatever still
    holds one widget (a tap being handled) then holds it and its ancestors only, not the rest."""
    for widget in reversed(list(screen.walk(restrict=True))):
        for child in list(widget.children):
            Widget.remove_widget(widget, child)  # not a layout's own: no relayout of what goes


def _trim_heap(_dt=None) -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim; elsewhere nothing)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Dialog(ModalView):
    bg_colour = ColorProperty(theme.rgba(theme.SURFACE))
    # No picture behind the panel (widgets.kv draws it), from the start: ModalView's default, set
    # before our rule empties it, made every dialog load Kivy's whole theme atlas — a 512×512
    # texture and its ~90 regions, ~1 MB held for the app's life by a dialog never shown.
    background = StringProperty("")


from ui.drawing import Scroller  # noqa: E402,F401  (the kv name `Scroller`, before the rules that use it)

load_kv(__file__)
