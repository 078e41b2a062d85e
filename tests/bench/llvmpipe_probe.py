"""What Mesa's llvmpipe holds for what a Kivy window draws (docs/performance.md, part M2).

    SDL_VIDEODRIVER=offscreen KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1 \\
        .venv/bin/python -m tests.bench.llvmpipe_probe KIND N [--finish] [--frames 5]

A bare 1280×800 window (as the app's) draws N things of one KIND, then `--frames` more frames;
prints RSS and malloc's heap (in use, and its size) after the first frames and after the rest,
in MB. Run it with N = 0 for the window alone. `--finish` ends every frame with glFinish (as a
display's swap would have llvmpipe rasterise; offscreen, the swap does nothing).

KIND: rect (rectangles, one colour), rect-colours (a colour each), mesh (the N quads as one
Mesh), big-rect (window-sized rectangles), label (N labels), tex-same / tex-mixed (textured
rectangles of one sampler state / of eight: format, filter, wrap), in-box / in-stencil /
in-scissor (N labels and rounded rectangles in a plain widget / a StencilView / a scissor).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def memory() -> dict[str, float]:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    m = libc.mallinfo2()
    with open("/proc/self/smaps_rollup") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("Rss:"))
    mb = 2**20
    return {"rss": round(rss / 1024, 1), "heap_in_use": round((m.uordblks + m.hblkhd) / mb, 1), "heap_size": round((m.arena + m.hblkhd) / mb, 1)}


def build(kind: str, n: int):
    from kivy.graphics import Color, Mesh, Rectangle, RoundedRectangle, ScissorPop, ScissorPush
    from kivy.graphics.texture import Texture
    from kivy.uix.floatlayout import FloatLayout
    from kivy.uix.label import Label
    from kivy.uix.stencilview import StencilView
    from kivy.uix.widget import Widget

    root = FloatLayout()
    holder = (StencilView if kind == "in-stencil" else Widget)(size_hint=(None, None), size=(1200, 700), pos=(10, 10))
    root.add_widget(holder)
    canvas = holder.canvas
    if kind == "in-scissor":
        canvas.before.add(ScissorPush(x=10, y=10, width=1200, height=700))
        canvas.after.add(ScissorPop())
    samplers = [("rgba", "linear", "clamp_to_edge"), ("rgba", "nearest", "clamp_to_edge"), ("rgb", "linear", "clamp_to_edge"),
                ("rgb", "nearest", "clamp_to_edge"), ("luminance", "linear", "clamp_to_edge"), ("rgba", "linear", "repeat"),
                ("rgba", "nearest", "repeat"), ("luminance_alpha", "nearest", "clamp_to_edge")]
    quads: list[float] = []
    for i in range(n):
        x, y = 10 + (i * 37) % 1100, 10 + (i * 13) % 640
        if kind in ("rect", "big-rect", "mesh", "tex-same", "tex-mixed") and i == 0:
            canvas.add(Color(0.3, 0.5, 0.5, 1))
        if kind == "rect":
            canvas.add(Rectangle(pos=(x, y), size=(60, 30)))
        elif kind == "rect-colours":
            canvas.add(Color(i / n, 0.5, 0.5, 1))
            canvas.add(Rectangle(pos=(x, y), size=(60, 30)))
        elif kind == "big-rect":
            canvas.add(Rectangle(pos=(0, 0), size=(1280, 800)))
        elif kind == "mesh":
            quads += [x, y, 0, 0, x + 60, y, 1, 0, x + 60, y + 30, 1, 1, x, y + 30, 0, 1]
        elif kind == "label":
            root.add_widget(Label(text=f"Label {i}", font_size=40, size_hint=(None, None), size=(200, 60), pos=(x, y)))
        elif kind in ("tex-same", "tex-mixed"):
            fmt, filt, wrap = samplers[0 if kind == "tex-same" else i % len(samplers)]
            texture = Texture.create(size=(64, 64), colorfmt=fmt)
            texture.blit_buffer(b"\x80" * (64 * 64 * {"rgba": 4, "rgb": 3, "luminance": 1, "luminance_alpha": 2}[fmt]), colorfmt=fmt)
            texture.min_filter = texture.mag_filter = filt
            texture.wrap = wrap
            canvas.add(Rectangle(texture=texture, pos=(x, y), size=(64, 64)))
        elif kind in ("in-box", "in-stencil", "in-scissor"):
            holder.add_widget(Label(text=f"Label {i}", font_size=30, size_hint=(None, None), size=(150, 50), pos=(x, y + 20)))
            canvas.add(Color(0.2, 0.4, 0.6, 1))
            canvas.add(RoundedRectangle(pos=(x, y), size=(100, 15), radius=[5]))
        else:
            raise SystemExit(f"unknown kind {kind!r}")
    if quads:
        canvas.add(Mesh(vertices=quads, indices=[q * 4 + k for q in range(n) for k in (0, 1, 2, 2, 3, 0)], mode="triangles"))
    return root


async def main(kind: str, n: int, finish: bool, frames: int) -> dict:
    from kivy.config import Config

    Config.set("graphics", "width", "1280")
    Config.set("graphics", "height", "800")
    Config.set("graphics", "multisamples", "0")
    from kivy.app import App
    from kivy.graphics.opengl import GL_RENDERER, GL_VERSION, glFinish, glGetString

    class Probe(App):
        def build(self):
            return build(kind, n)

    app = Probe()
    task = asyncio.ensure_future(app.async_run(async_lib="asyncio"))
    while app.root is None or not app.root.get_parent_window():
        await asyncio.sleep(0.005)
    from kivy.core.window import Window

    flips = [0]
    Window.bind(on_flip=lambda *_: flips.__setitem__(0, flips[0] + 1))
    if finish:
        Window.bind(on_flip=lambda *_: glFinish())

    async def draw(count: int) -> None:
        until = flips[0] + count
        while flips[0] < until:
            Window.canvas.ask_update()
            await asyncio.sleep(0.02)

    out: dict = {"kind": kind, "n": n, "finish": finish, "renderer": [glGetString(GL_RENDERER).decode(), glGetString(GL_VERSION).decode()]}
    await draw(5)
    out["drawn"] = memory()
    await draw(frames)
    out[f"after {frames} more frames"] = memory()
    app.stop()
    await task
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind")
    parser.add_argument("n", type=int)
    parser.add_argument("--finish", action="store_true", help="glFinish at the end of every frame")
    parser.add_argument("--frames", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.kind, args.n, args.finish, args.frames))))
