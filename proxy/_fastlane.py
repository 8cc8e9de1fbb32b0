"""The fast lane: plain legacy requests to PHP-FPM on the uvicorn runtime, without ASGI.

Why it exists: on a pass-through the ASGI path (scope, messages, a task, the
app's coroutines and the backend's async iterators) costs several times the CPU
of the proxying itself, and on a machine shared with PHP-FPM that CPU is taken
from PHP (``ops/bench/cpu_per_request.py`` measures both; the README quotes
them).  So the uvicorn runtime's HTTP protocol takes the common request
straight from the parser to a callback-driven FastCGI exchange
(``legacy_adapter.LaneExchange``) and writes the answer itself.

What takes the lane is decided when the request head is complete; everything
else goes through the ASGI app exactly as before:

* HTTP/1.x without Upgrade, ``Expect`` or ``Transfer-Encoding``, a body of at
  most 64 KiB declared by Content-Length (and within ``max_body_size``), a
  request ``build_request`` accepts;
* a route in ``legacy`` or ``shadow`` mode, or the legacy share of a
  ``canary`` route, whose backend is FastCGI (a sampled shadow request is
  offered to the mirror as the ASGI path does), and a path that resolves to
  a PHP script (files, redirects and 404s are the ASGI path's);
* or a ``migrated`` route, or the new share of a ``canary`` route, without
  reverse shadow, whose fallback (when the method allows one) is a PHP script
  on a FastCGI backend: ``HandlerCycle`` (``_lane_handler``) runs the handler.

The answer is the ASGI path's by construction: the same request checks, route
table, params, codec, error pages, response headers, metrics and access log.
A whole answer goes out in one write with a Content-Length; a streamed one is
sent chunked as PHP flushes it, reading from PHP-FPM only while the client's
socket takes more.  ``LaneCycle`` (``_lane_cycle``) stands in for uvicorn's
request cycle, so keep-alive, pipelining, timeouts and graceful shutdown stay
uvicorn's.  ``server.fast_lane = false`` turns the lane off.
"""

from __future__ import annotations

from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from legacy_adapter import FastCGIBackend, LegacyRequest

from ._app import ProxyApp
from ._errors import RequestError
from ._lane_cycle import LaneCycle, Mirroring
from ._lane_handler import HandlerCycle
from ._migrated import canary_picks_new
from ._request import build_request, request_id_of
from ._routing import Canary, Legacy, Migrated, Route, Shadow
from ._shadowing import sampled
from ._state import State

_LANE_BODY = 64 * 1024


def lane_protocol(app: ProxyApp) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the fast lane in front of ``app``."""

    class LaneProtocol(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            cycle = _begin(app, self)
            if cycle is None:
                super().on_headers_complete()
                return
            existing = self.cycle
            self.cycle = cycle  # type: ignore[assignment]
            if existing is None or existing.response_complete:
                cycle.activate()
            else:  # pipelined: uvicorn starts it (run_asgi) when the one before is answered
                self.flow.pause_reading()
                self.pipeline.appendleft((cycle, self.app))  # type: ignore[arg-type]

        def resume_writing(self) -> None:
            super().resume_writing()
            if isinstance(self.cycle, LaneCycle):
                self.cycle.writable()

    return LaneProtocol


def _begin(app: ProxyApp, protocol: HttpToolsProtocol) -> LaneCycle | None:
    """A lane cycle for the request whose head was just parsed, or ``None`` (ASGI path)."""
    state = app.state
    request = _plain_request(protocol, state)
    if request is None:
        return None
    route, params = state.config.routes.match(request.method, request.server_name, request.path)
    mode = route.mode
    keep_alive = request.http_version != "1.0" and protocol.parser.should_keep_alive()
    if isinstance(mode, Migrated) or (
        isinstance(mode, Canary) and canary_picks_new(route, mode, request)
    ):
        return _handler_cycle(app, protocol, route, mode, request, params, keep_alive)
    if not isinstance(mode, Legacy | Shadow | Canary):
        return None
    backend = state.backends[mode.backend]
    if not isinstance(backend, FastCGIBackend):
        return None
    script = backend.script_for(request.path)
    if script is None:
        return None
    cycle = LaneCycle(protocol, state, route, backend, request, script, keep_alive)
    if isinstance(mode, Shadow) and app.shadow is not None:
        mirror = app.shadow.mirror
        if not sampled(route.name, mode.sample_rate, mode.sample_key, request):
            mirror.skip(route.name, "sampled_out")
        elif mirror.full:
            mirror.skip(route.name, "queue_full")
        else:
            cycle.mirror = Mirroring(app.shadow, mode, params, app.resources)
    return cycle


def _handler_cycle(
    app: ProxyApp,
    protocol: HttpToolsProtocol,
    route: Route,
    mode: Migrated | Canary,
    request: LegacyRequest,
    params: dict[str, str],
    keep_alive: bool,
) -> HandlerCycle | None:
    """A cycle for the handler's answer, when every way it can end fits the lane."""
    if mode.reverse_rate > 0:
        return None  # legacy copies for comparison: the ASGI path
    state = app.state
    fallback = None
    if mode.backend is not None and request.method in mode.fallback_methods:
        backend = state.backends[mode.backend]
        if not isinstance(backend, FastCGIBackend):
            return None
        script = backend.script_for(request.path)
        if script is None:
            return None  # legacy would answer a file, a redirect or a 404: the ASGI path
        fallback = (backend, script)
    return HandlerCycle(
        protocol,
        state,
        route,
        mode,
        request,
        params,
        app.resources,
        keep_alive,
        fallback,
        app.time_limit,
    )


def _plain_request(protocol: HttpToolsProtocol, state: State) -> LegacyRequest | None:
    """The checked request when it is plain HTTP/1.x with a small, sized body."""
    parser = protocol.parser
    version = parser.get_http_version()
    if version not in ("1.1", "1.0") or parser.should_upgrade() or protocol.expect_100_continue:
        return None
    headers = protocol.headers
    if any(name == b"transfer-encoding" for name, _ in headers):
        return None
    try:
        url = httptools.parse_url(protocol.url)
    except httptools.HttpParserInvalidURLError:
        return None
    scope = {
        "method": parser.get_method().decode("ascii"),
        "raw_path": url.path,
        "query_string": url.query or b"",
        "headers": headers,
        "client": protocol.client,
        "server": protocol.server,
        "scheme": protocol.scheme,
        "http_version": version,
    }
    try:
        request = build_request(scope, _no_receive, state.config.server, request_id_of(headers))
    except RequestError:
        return None  # the ASGI path answers it with its 4xx
    if request.content_length is not None and request.content_length > _LANE_BODY:
        return None
    return request


async def _no_receive() -> dict[str, Any]:
    raise AssertionError("the fast lane reads bodies from the parser")  # pragma: no cover
