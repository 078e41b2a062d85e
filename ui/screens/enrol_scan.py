"""The enrolment screen's camera scan: the camera's picture, large "Hold the code in front of the
camera", what was seen in words, and Cancel. The camera is open only while this screen is shown
(the model stops the scan on leaving). Built on first use; the model is ui/models/enrol_scan.py."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.graphics.texture import Texture
from kivy.properties import ObjectProperty
from kivy.uix.widget import Widget

from ui.i18n import tr
from ui.widgets import HeimaScreen, RulesWhenMade

NAME = "enrol-scan"
DRAW_EVERY = 1 / 15  # s: the camera gives 15 pictures a second


class CameraView(Widget):
    """The camera's picture, fitted into the widget (dark where there is none)."""

    texture = ObjectProperty(None, allownone=True)

    def show(self, frame) -> None:
        texture = self.texture
        if texture is None or tuple(texture.size) != (frame.width, frame.height):
            texture = Texture.create(size=(frame.width, frame.height), colorfmt="rgb")
            texture.flip_vertical()  # the picture's first row is its top
        texture.blit_buffer(frame.rgb, colorfmt="rgb", bufferfmt="ubyte")
        if texture is self.texture:
            self.canvas.ask_update()  # the same texture, new pixels
        else:
            self.texture = texture


class EnrolScanScreen(RulesWhenMade, HeimaScreen):
    rules_of = __file__  # its .kv (and CameraView's) with the screen
    model = ObjectProperty(None, allownone=True, rebind=True)
    _drawing = None

    def on_model(self, *_args) -> None:
        self.model.fbind("step", self._step)

    def _step(self, _model, step: str) -> None:
        if step != "scanning":
            self.ids.camera.texture = None  # no camera, or it stopped: no old picture stays

    def on_enter(self, *_args) -> None:
        self._drawing = Clock.schedule_interval(self.draw, DRAW_EVERY)

    def on_leave(self, *_args) -> None:
        if self._drawing is not None:
            self._drawing.cancel()
            self._drawing = None
        if self.model is not None:
            self.model.cancel()  # the camera is closed when the view is not shown
        self.ids.camera.texture = None

    def draw(self, *_args) -> None:
        frame = self.model.poll() if self.model is not None else None
        if frame is not None:
            self.ids.camera.show(frame)

    def spoken(self) -> str:
        return f"{self.title}. {self.model.headline}. {self.model.message}" if self.model else self.title


def attach_scan(app) -> None:
    """The scan view in the app: its model (a found code goes on as the hand scanner's text), its
    lazily built screen, the language."""
    from ui.models.enrol_scan import ScanModel

    def found(text: str) -> None:
        app.technician.use_text(text)  # the new PIN next, then the same checks as a typed code
        app.root.current = "enrol"
        app.session.say(app.screen.spoken())

    model = app.enrol_scan = ScanModel(getattr(app.api, "technician", None), tr, found)

    def made() -> EnrolScanScreen:
        screen = EnrolScanScreen()
        screen.model = model
        return screen

    app.root.register(NAME, made)
    app.session.fbind("language", model.render)
    model.render()


def open_scan(app) -> None:
    """The enrolment screen's "Scan the QR code"."""
    app.actions.append("enrol-scan")
    app.root.current = NAME
    app.enrol_scan.start()
    app.session.say(app.screen.spoken())


def cancel_scan(app) -> None:
    app.actions.append("enrol-scan-cancel")
    app.enrol_scan.cancel()
    app.root.current = "enrol"


# --- the gallery's and the audit's scenes (ui/scenes.py adds them to SCENES) ---------------------


def _undo(app, ctx) -> None:
    def undo() -> None:
        app.enrol_scan.cancel()
        app.enrol_scan.step = "idle"
        app.enrol_scan.render()
        app.root.current = "today"

    ctx.setdefault("undo", []).append(undo)


async def enrol_scan_scanning(app, ctx):
    """Scanning, a code that is not a profile seen; the picture is one the scan would show."""
    from hub.api import OTHER_CODE, ScanView

    from ui.models.loop import next_frame

    _undo(app, ctx)
    app.root.current = NAME
    model = app.enrol_scan
    model.step = "scanning"
    model.view = view = ScanView()
    view.pictures, view.seen = 1, OTHER_CODE
    model.poll()  # the words follow what was "seen"
    model.view = None  # nothing runs behind a scene
    await next_frame(1)
    app.root.get_screen(NAME).ids.camera.show(_example_picture())


async def enrol_scan_no_camera(app, ctx):
    from hub.api import NO_CAMERA

    _undo(app, ctx)
    app.root.current = NAME
    app.enrol_scan.show_unavailable(NO_CAMERA)


def _example_picture():
    """A grey picture with a dark square where the code would be held (no camera in the gallery)."""
    from hub.api import Frame

    width, height, light, dark = 320, 240, b"\xb4\xb4\xb4", b"\x28\x28\x28"
    rows = [(light * 100 + dark * 120 + light * 100) if 60 <= y < 180 else light * width for y in range(height)]
    return Frame(width, height, b"".join(rows))


def scan_scenes():
    from ui.scenes import Scene

    return (Scene("enrol-scan-scanning", enrol_scan_scanning), Scene("enrol-scan-no-camera", enrol_scan_no_camera))
