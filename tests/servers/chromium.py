"""Debian's Chromium, headless, as the nurse's end of a video call; driven over the Chrome
DevTools Protocol with a tiny client (websockets): open a page, evaluate JavaScript.

Fake camera and microphone (Chromium's own test pattern and beep), a fresh profile each time,
no network chatter of its own."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
]


class ChromiumMissing(RuntimeError):
    pass


class Chromium:
    """`async with Chromium() as browser: page = await browser.open(url); await page.eval(js)`."""

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable or shutil.which("chromium") or "/usr/bin/chromium"
        self._proc: asyncio.subprocess.Process | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Chromium:
        if not shutil.which(self.executable):
            raise ChromiumMissing("chromium is not installed: run scripts/setup.sh as root (apt-get install chromium)")
        self._profile = tempfile.TemporaryDirectory(prefix="heima-chromium-")
        self._proc = await asyncio.create_subprocess_exec(
            self.executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank",
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        assert self._proc.stderr is not None
        async with asyncio.timeout(30):
            while True:
                line = (await self._proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise ChromiumMissing("chromium exited before it listened for DevTools")
                if found := re.search(r"DevTools listening on (ws://\S+)", line):
                    break
        self._drain = asyncio.ensure_future(self._drain_stderr())
        self._ws = await connect(found.group(1), max_size=None)
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while await self._proc.stderr.readline():
            pass

    async def _read(self) -> None:
        assert self._ws is not None
        async for raw in self._ws:
            message = json.loads(raw)
            waiter = self._waiting.pop(message.get("id", -1), None)
            if waiter is not None and not waiter.done():
                if "error" in message:
                    waiter.set_exception(RuntimeError(f"CDP: {message['error']}"))
                else:
                    waiter.set_result(message.get("result", {}))

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        assert self._ws is not None
        n = next(self._ids)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[n] = waiter
        payload: dict[str, Any] = {"id": n, "method": method, "params": params or {}}
        if session:
            payload["sessionId"] = session
        await self._ws.send(json.dumps(payload))
        async with asyncio.timeout(30):
            return await waiter

    async def open(self, url: str) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        await self.send("Page.enable", session=page.session)
        await page.eval(f"location.href = {json.dumps(url)}")
        await page.wait("document.readyState === 'complete' && typeof window.nurse === 'object'")
        return page

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await self._proc.wait()
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if getattr(self, "_drain", None) is not None:
            self._drain.cancel()
        if self._profile is not None:
            self._profile.cleanup()


class Page:
    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser, self.session = browser, session

    async def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited)."""
        result = await self.browser.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, session=self.session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page: {result['exceptionDetails'].get('exception', {}).get('description') or result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def wait(self, expression: str, *, timeout: float = 10.0) -> Any:
        """Until the expression is truthy in the page; its value."""
        async with asyncio.timeout(timeout):
            while True:
                with contextlib.suppress(RuntimeError):
                    if value := await self.eval(expression):
                        return value
                await asyncio.sleep(0.02)
