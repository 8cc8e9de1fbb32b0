"""Screenshots of the shadow report and dashboard for the docs, from synthetic data.

Renders the report of the fake reader (``tests/shadow/_fake_reader.py``) to a
file and serves the dashboard over it with hypercorn on a loopback port, then
has headless Chromium photograph both:

    .venv/bin/python -m ops.shadow_screenshots [--out docs]

The helpers (finding Chromium, running it, serving an ASGI app in a thread)
are also what the browser tests use.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from anyio.from_thread import start_blocking_portal

REPO_ROOT = Path(__file__).resolve().parents[1]
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


class ChromiumMissing(RuntimeError):
    """No Chromium executable on PATH."""


def find_chromium() -> str:
    """The path of a Chromium executable.

    Raises:
        ChromiumMissing: none is installed (``apt-get install -y chromium``).
    """
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    raise ChromiumMissing(f"none of {', '.join(CHROMIUM_NAMES)} on PATH")


def run_chromium(url: str, *args: str, budget_ms: int = 5000, timeout: float = 60.0) -> str:
    """Run headless Chromium on ``url`` with extra ``args``; its stdout.

    ``budget_ms`` of virtual time lets the page's timers and fetches run first.

    Raises:
        ChromiumMissing: Chromium is not installed.
        subprocess.CalledProcessError: Chromium failed.
    """
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [
            find_chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *args,
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    return done.stdout


def dump_dom(url: str, *, budget_ms: int = 5000) -> str:
    """The page's DOM, serialised after its scripts ran for ``budget_ms`` virtual ms."""
    return run_chromium(url, "--dump-dom", budget_ms=budget_ms)


def screenshot(url: str, out: Path, *, size: tuple[int, int], budget_ms: int = 3000) -> None:
    """Save a PNG of ``url`` in a window of ``size`` pixels."""
    out.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    run_chromium(url, f"--screenshot={out}", f"--window-size={width},{height}", budget_ms=budget_ms)


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


def main(argv: list[str] | None = None) -> None:
    """Write ``shadow-report.png`` and ``shadow-dashboard.png`` into ``--out``."""
    from shadow._dashboard import ShadowDashboard
    from shadow._pages import write_report_html
    from shadow._readiness import Thresholds
    from tests.shadow._fake_reader import sample_reader

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    out: Path = parser.parse_args(argv).out
    reader = sample_reader()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.html"
        write_report_html(reader, report)
        screenshot(report.as_uri(), out / "shadow-report.png", size=(1400, 2200))
    with serving_asgi(ShadowDashboard(lambda: reader, Thresholds())) as base:
        screenshot(f"{base}/shadow", out / "shadow-dashboard.png", size=(1400, 1000))
    print(f"wrote {out / 'shadow-report.png'} and {out / 'shadow-dashboard.png'}")


if __name__ == "__main__":
    main()
