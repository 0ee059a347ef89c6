"""A headless Chromium driven over the DevTools protocol, for the review-site tests.

A library for tests, not a test module. No extra package: Chromium's `--remote-debugging-pipe`
speaks CDP as NUL-terminated JSON on file descriptors 3 (commands in) and 4 (replies and events
out). `chromium_or_skip()` finds the browser (Debian's `chromium`, installed by scripts/setup.sh)
or skips the test with the reason.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 30.0


def chromium_or_skip() -> str:
    """The browser binary (or $STREAMCLIP_CHROMIUM); skips the test when there is none."""
    found = os.environ.get("STREAMCLIP_CHROMIUM") or next(filter(None, map(shutil.which, CANDIDATES)), None)
    if not found:
        pytest.skip("no Chromium: install Debian's `chromium` package (scripts/setup.sh does, as root)")
    return found


class Browser:
    """One headless browser process with one page; `with Browser(binary) as b: b.open(url)`."""

    def __init__(self, binary: str, *, width: int = 1280, height: int = 900) -> None:
        self.binary = binary
        self.size = (width, height)
        self.problems: list[str] = []  # console errors, uncaught exceptions, failed loads
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._profile = tempfile.TemporaryDirectory(prefix="streamclip-chromium-")
        self.session = ""

    def __enter__(self) -> Browser:
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()

        def place_fds() -> None:  # in the child: commands on fd 3, replies on fd 4
            high_in = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        argv = [
            self.binary, "--headless", "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
            "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--mute-audio",
            "--disable-extensions", "--disable-background-networking", "--disable-dev-shm-usage",
            f"--window-size={self.size[0]},{self.size[1]}", "about:blank",
        ]  # fmt: skip
        if os.geteuid() == 0:
            argv.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.process = subprocess.Popen(
            argv, pass_fds=(3, 4), preexec_fn=place_fds,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_child)
        os.close(from_child)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        width, height = self.size
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):  # it may be gone already
            self.call("Browser.close", session=False)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        self._reader.join(timeout=5)
        os.close(self._from_browser)
        self._profile.cleanup()

    # -- protocol ---------------------------------------------------------------------------------

    def call(self, method: str, *, session: bool = True, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        self._replies[number] = queue.Queue()
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        try:
            reply = self._replies[number].get(timeout=TIMEOUT_S)
        except queue.Empty:
            raise TimeoutError(f"no reply to {method} in {TIMEOUT_S} s") from None
        finally:
            del self._replies[number]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                self._dispatch(json.loads(raw))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            waiting = self._replies.get(message["id"])
            if waiting is not None:
                waiting.put(message)
            return
        method, params = message.get("method", ""), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.problems.append(f"console: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            self.problems.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.problems.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        self._events.put(message)

    # -- page -------------------------------------------------------------------------------------

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        while not self._events.empty():
            self._events.get_nowait()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                event = self._events.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if event.get("method") == "Page.loadEventFired":
                return
        raise TimeoutError(f"{url} did not load in {TIMEOUT_S} s")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression (a promise is awaited)."""
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG of the page (the whole page when `full_page`)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            width, height = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path
