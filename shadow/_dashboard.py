"""The live shadow dashboard: an ASGI sub-app for the admin listener, at ``/shadow``.

``GET /shadow`` answers the report page (``_pages.render_page``) plus a small
script that fetches ``/shadow/data.json`` every 2 seconds and swaps the fresh
fragments (stamp, overview, table, charts) into the page, so the numbers move
without a reload and open drill-downs stay open (the drill-down itself is read
once, at page load).  ``GET /shadow/data.json`` answers the same numbers as
JSON (routes with summaries and verdicts, top signatures, timelines) plus
those rendered fragments.

Reading is blocking (SQLite), so each request runs ``reader_factory`` and its
reads together in one worker thread (a SQLite connection stays in the thread
that made it).  The admin app checks the bearer token before dispatching here,
and the page's fetch is same-origin, so nothing here handles tokens.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import anyio
import structlog

from ._model import ShadowReader
from ._pages import Snapshot, collect, csp, fragments, render_page, snapshot_json
from ._readiness import Thresholds

REFRESH_SECONDS = 2.0
PREFIX = "/shadow"
logger = structlog.get_logger("shadow.dashboard")

SCRIPT = """(() => {
  const url = location.pathname.replace(/\\/?$/, "/data.json");
  const live = document.getElementById("live");
  const ids = ["stamp", "overview", "summary", "timeline", "signatures", "noise"];
  const ok = "Live: refreshed every " + PERIOD / 1000 + " s";
  async function refresh() {
    try {
      const response = await fetch(url, {cache: "no-store"});
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      for (const id of ids) document.getElementById(id).innerHTML = data.fragments[id];
      live.className = "muted";
      live.textContent = ok;
    } catch (error) {
      live.className = "live-bad";
      live.textContent = "Refresh failed (" + error.message + "), retrying";
    } finally {
      setTimeout(refresh, PERIOD);
    }
  }
  live.textContent = ok;
  setTimeout(refresh, PERIOD);
})();""".replace("PERIOD", str(round(REFRESH_SECONDS * 1000)))

Response = tuple[int, list[tuple[bytes, bytes]], bytes]


class ShadowDashboard:
    """ASGI app serving ``/shadow`` (the page) and ``/shadow/data.json``.

    Paths are matched with or without the ``/shadow`` prefix, so the app works
    whether the admin app passes the full path or strips its mount point.

    Args:
        reader_factory: makes the reader for one request; called in a worker
            thread, and the reader is used only in that thread.  The dashboard
            does not close it: the factory owns its lifetime.
        thresholds: the readiness bar for the verdicts.
        window: show only the last ``window`` seconds (default: every stored record).
    """

    def __init__(
        self,
        reader_factory: Callable[[], ShadowReader],
        thresholds: Thresholds,
        *,
        window: float | None = None,
    ) -> None:
        self.reader_factory = reader_factory
        self.thresholds = thresholds
        self.window = window

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        if scope["type"] != "http":
            return
        status, headers, body = await self._dispatch(scope)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _dispatch(self, scope: Any) -> Response:
        path: str = scope["path"]
        rel = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        if rel not in ("", "/", "/data.json"):
            return _json(404, {"error": f"no dashboard page {path}"})
        if scope["method"] not in ("GET", "HEAD"):
            return _json(405, {"error": "use GET"})
        try:
            snap = await anyio.to_thread.run_sync(self._collect, rel != "/data.json")
        except Exception as exc:  # the dashboard's error boundary: log, answer, keep serving
            logger.exception("shadow dashboard could not read the store", path=path)
            return _json(500, {"error": f"could not read the shadow store: {exc!r}"})
        if rel == "/data.json":
            return _json(200, {**snapshot_json(snap), "fragments": fragments(snap)})
        return self._page(snap)

    def _collect(self, with_examples: bool) -> Snapshot:
        since = time.time() - self.window if self.window is not None else None
        reader = self.reader_factory()
        return collect(reader, since=since, thresholds=self.thresholds, with_examples=with_examples)

    def _page(self, snap: Snapshot) -> Response:
        nonce = secrets.token_urlsafe(16)
        page = render_page(snap, title="Shadow dashboard", script=SCRIPT, nonce=nonce)
        policy = csp(nonce) + "; frame-ancestors 'none'"
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-security-policy", policy.encode()),
            *_COMMON,
        ]
        return 200, headers, page.encode()


_COMMON = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


def _json(status: int, payload: object) -> Response:
    body = json.dumps(payload, indent=1).encode() + b"\n"
    return status, [(b"content-type", b"application/json"), *_COMMON], body


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        kind = message["type"].rsplit(".", 1)[-1]
        await send({"type": f"lifespan.{kind}.complete"})
        if kind == "shutdown":
            return
