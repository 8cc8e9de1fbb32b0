"""Screenshots of the shadow report and dashboard for the docs, taken by the test that checks them.

The pages are checked in headless Chromium by ``tests/shadow/test_pages_browser.py``
at 1280 px; the same test photographs them and, when ``SHADOW_SCREENSHOTS``
names a directory, writes ``shadow-report.png`` and ``shadow-dashboard.png``
there.  This command runs that test with the variable set:

    .venv/bin/python -m ops.shadow_screenshots [--out docs]

so the images in ``docs/`` are always of pages that passed the checks.  The
helpers (finding Chromium, driving it over the DevTools protocol on a pipe,
serving an ASGI app in a thread) are what the browser tests use.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.from_thread import start_blocking_portal

REPO_ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS_ENV = "SHADOW_SCREENSHOTS"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


_FDS_3_AND_4 = """
import fcntl, os, sys
high = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]
for target, fd in zip((3, 4), high):
    os.dup2(fd, target)
os.execv(sys.argv[3], sys.argv[3:])
"""


class ChromiumMissing(RuntimeError):
    """No Chromium executable on PATH."""


class DevToolsError(RuntimeError):
    """Chromium answered a DevTools command with an error, or not in time."""


def find_chromium() -> str:
    """The path of a Chromium executable.

    Raises:
        ChromiumMissing: none is installed (``apt-get install -y chromium``).
    """
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    raise ChromiumMissing(f"none of {', '.join(CHROMIUM_NAMES)} on PATH")


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4).

    The pipe needs no port and no WebSocket library: commands are JSON
    messages ending in a NUL byte.  One page at a time, opened by ``open``.

    Args:
        timeout: seconds any one command or awaited event may take.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        to_child, self._send_fd = os.pipe()
        self._recv_fd, from_child = os.pipe()
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}"]
        # the protocol is on the child's fds 3 and 4: a small Python shim puts the pipes there
        command = [sys.executable, "-c", _FDS_3_AND_4, str(to_child), str(from_child)]
        self._process = subprocess.Popen(
            [*command, find_chromium(), *flags, "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_child, from_child),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._session: str | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop Chromium and remove its profile."""
        with suppress(OSError, DevToolsError):
            self.command("Browser.close", session=False)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._send_fd)
        os.close(self._recv_fd)
        self._profile.cleanup()

    def command(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = True
    ) -> Any:
        """Send a command (to the open page's session unless ``session`` is False); its result.

        Raises:
            DevToolsError: an error answer, or none within ``timeout``.
        """
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self._session is not None:
            message["sessionId"] = self._session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_for(self, event: str) -> dict[str, Any]:
        """The next event named ``event`` of the page (earlier ones are kept for later)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, seen in enumerate(self._events):
                if seen["method"] == event:
                    return self._events.pop(i)
            reply = self._receive(deadline)
            if "method" in reply:
                self._events.append(reply)

    def open(self, url: str, *, width: int = 1280, height: int = 900) -> None:
        """Open ``url`` in a fresh page ``width`` CSS pixels wide and wait for its load event."""
        target = self.command("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.command(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self._session = attached["sessionId"]
        self._events.clear()
        self.command("Page.enable")
        self.command(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.command("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited).

        Raises:
            DevToolsError: the expression threw.
        """
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        result = self.command("Runtime.evaluate", params)
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str) -> Any:
        """Evaluate ``expression`` until it is truthy (within ``timeout``); its value."""
        deadline = time.monotonic() + self.timeout
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise DevToolsError(f"{expression!r} stayed false")
            time.sleep(0.1)
        return value

    def screenshot(self, *, full_page: bool = True) -> bytes:
        """A PNG of the page: all of it, or what the window shows."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.command("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            width = metrics["cssLayoutViewport"]["clientWidth"]
            clip = {"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1}
            params |= {"captureBeyondViewport": True, "clip": clip}
        return base64.b64decode(self.command("Page.captureScreenshot", params)["data"])

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._recv_fd], [], [], max(0.0, left))
            if not ready:
                raise DevToolsError("Chromium did not answer in time")
            chunk = os.read(self._recv_fd, 1 << 16)
            if not chunk:
                raise DevToolsError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded: dict[str, Any] = json.loads(message)
        return decoded


@contextmanager
def serving_asgi(app: Any) -> Iterator[str]:
    """Serve ``app`` with hypercorn on a free loopback port in a thread; its base URL."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        fd = sock.detach()  # hypercorn owns (and closes) the listening socket from here
    config = Config()
    config.bind = [f"fd://{fd}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    with start_blocking_portal("asyncio") as portal:
        stop = portal.call(anyio.Event)
        served = portal.start_task_soon(partial(serve, app, config, shutdown_trigger=stop.wait))
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            portal.call(stop.set)
            served.result(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """Run the browser test of the pages, writing its screenshots into ``--out``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    out: Path = parser.parse_args(argv).out.resolve()
    env = {**os.environ, SCREENSHOTS_ENV: str(out), "CI": "true"}  # no Chromium: fail, not skip
    test = REPO_ROOT / "tests" / "shadow" / "test_pages_browser.py"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
