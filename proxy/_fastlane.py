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
* a route in ``legacy`` or ``shadow`` mode whose backend is FastCGI (a
  sampled shadow request is offered to the mirror as the ASGI path does);
* a path that resolves to a PHP script (files, redirects and 404s are the
  ASGI path's).

The answer is the ASGI path's by construction: the same request checks, route
table, params, codec, error pages, response headers, metrics and access log.
A whole answer goes out in one write with a Content-Length; a streamed one is
sent chunked as PHP flushes it, reading from PHP-FPM only while the client's
socket takes more.  The objects here stand in for uvicorn's request cycle, so
keep-alive, pipelining, timeouts and graceful shutdown stay uvicorn's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httptools
import structlog
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
)

from legacy_adapter import (
    FastCGIBackend,
    LaneExchange,
    LegacyError,
    LegacyRequest,
    RunScript,
    page_html,
)

from . import _metrics as m
from ._app import DROP_RESPONSE, ProxyApp, account, note_error
from ._errors import RequestError, status_for
from ._request import build_request, request_id_of
from ._routing import Legacy, Route, Shadow
from ._shadow_jobs import offer_shadow
from ._shadowing import Capture, ShadowRuntime, sampled
from ._state import State

log = structlog.get_logger("strangler.proxy")
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
            if isinstance(self.cycle, _Cycle):
                self.cycle.writable()

    return LaneProtocol


def _begin(app: ProxyApp, protocol: HttpToolsProtocol) -> _Cycle | None:
    """A lane cycle for the request whose head was just parsed, or ``None`` (ASGI path)."""
    state = app.state
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
        return None
    if request.content_length is not None and request.content_length > _LANE_BODY:
        return None
    route, params = state.config.routes.match(request.method, request.server_name, request.path)
    mode = route.mode
    if not isinstance(mode, Legacy | Shadow):
        return None
    backend = state.backends[mode.backend]
    if not isinstance(backend, FastCGIBackend):
        return None
    script = backend.script_for(request.path)
    if script is None:
        return None
    keep_alive = version != "1.0" and parser.should_keep_alive()
    cycle = _Cycle(protocol, state, route, backend, request, script, keep_alive)
    if isinstance(mode, Shadow) and app.shadow is not None:
        if sampled(route.name, mode.sample_rate, mode.sample_key, request):
            cycle.mirror = _Mirroring(app.shadow, mode, params, app.resources)
        else:
            app.shadow.mirror.skip(route.name, "sampled_out")
    return cycle


class _Mirroring:
    """A sampled shadow request: legacy's answer is kept as it passes, then offered.

    The same captures and the same ``offer_shadow`` as the ASGI path's shadow mode.
    """

    __slots__ = ("answer", "mode", "params", "resources", "runtime")

    def __init__(
        self, runtime: ShadowRuntime, mode: Shadow, params: dict[str, str], resources: Any
    ) -> None:
        self.runtime, self.mode, self.params, self.resources = runtime, mode, params, resources
        self.answer = Capture(runtime.max_body)

    def offer(self, route: Route, state: State, request: LegacyRequest, body: bytes) -> None:
        """Queue the candidate run now that the client has legacy's whole answer."""
        copy = Capture(self.runtime.max_body)
        copy.add(body)
        offer_shadow(
            self.runtime,
            route,
            self.mode,
            state,
            request,
            self.params,
            copy,
            self.answer,
            self.resources,
        )


async def _no_receive() -> dict[str, Any]:
    raise AssertionError("the fast lane reads bodies from the parser")  # pragma: no cover


class _Signal:
    """Stands in for the cycle's ``asyncio.Event``: uvicorn's ``set()`` calls back."""

    __slots__ = ("_callback",)

    def __init__(self, callback: Any) -> None:
        self._callback = callback

    def set(self) -> None:
        self._callback()

    def clear(self) -> None:
        pass


class _Cycle:
    """One request on the lane, shaped as uvicorn's protocol expects a cycle to be.

    uvicorn appends body bytes to ``body``, clears ``more_body`` at the end of
    the request, sets ``disconnected`` when the client goes, and clears
    ``keep_alive`` on shutdown; each of these then calls ``message_event.set()``.
    """

    def __init__(
        self,
        protocol: HttpToolsProtocol,
        state: State,
        route: Route,
        backend: FastCGIBackend,
        request: LegacyRequest,
        script: RunScript,
        keep_alive: bool,
    ) -> None:
        self.protocol = protocol
        self.transport = protocol.transport
        self.state, self.route, self.backend = state, route, backend
        self.request, self.script = request, script
        self.keep_alive = keep_alive
        self.body = bytearray()
        self.more_body = True
        self.disconnected = False
        self.response_complete = False
        self.message_event = _Signal(self._on_client)
        self.request_id = request.request_id
        self.status = 0
        self.sent_bytes = 0
        self.upstream_seconds = 0.0
        self.side = "legacy"
        self.fallback = False
        self.error: str | None = None
        self._started = self._upstream_started = time.perf_counter()
        self._active = False
        self._finished = False
        self._exchange: LaneExchange | None = None
        self._head_sent = False
        self._chunked = False
        self._head_only = request.method == "HEAD"
        self._body = b""
        self.mirror: _Mirroring | None = None

    async def run_asgi(self, app: object) -> None:
        """uvicorn's start of a pipelined request."""
        self.activate()

    def activate(self) -> None:
        """The request may go to the backend (once its body is complete)."""
        self._active = True
        self.state.enter()
        self._on_client()

    def writable(self) -> None:
        """The client's socket drained: read from PHP-FPM again."""
        if self._exchange is not None:
            self._exchange.resume()

    def _on_client(self) -> None:
        if self._finished or not self._active:
            return
        if self.disconnected:
            if self._exchange is not None:
                self._exchange.abort()
            self.status = 499
            self._finish()
        elif not self.more_body and self._exchange is None:
            self._upstream_started = time.perf_counter()
            body = self._body = bytes(self.body)
            self._exchange = LaneExchange(self.backend, self.request, self.script, body, self)
            try:
                self._exchange.start()
            except Exception:  # one error boundary per request, as on the ASGI path
                log.exception("request_failed", request_id=self.request_id)
                self._exchange.abort()
                self._error_page(500, "")

    # -- LaneSink

    def on_head(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes | None) -> None:
        """Answer with the head (and the whole body when it came with it)."""
        self._guard(self._on_head, status, headers, body)

    def on_body(self, data: bytes) -> None:
        """Pass a streamed chunk on; stop reading PHP-FPM while the client is full."""
        self._guard(self._on_body, data)

    def on_end(self) -> None:
        """The streamed answer is complete."""
        self._guard(self._on_end)

    def on_error(self, exc: LegacyError) -> None:
        """Answer the error page, or cut the answer short when its head went out."""
        self._guard(self._on_error, exc)

    def _guard(self, step: Callable[..., None], *args: Any) -> None:
        """One error boundary per request, as on the ASGI path: a bug here answers 500."""
        try:
            step(*args)
        except Exception:
            log.exception("request_failed", request_id=self.request_id)
            if self._exchange is not None:
                self._exchange.abort()
            if self._finished:
                return
            if self._head_sent:
                self.status = 500
                self.transport.close()
                self._finish()
            else:
                self._error_page(500, "")

    def _on_head(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes | None) -> None:
        self.upstream_seconds = time.perf_counter() - self._upstream_started
        m.observe_upstream(self.backend.name, self.upstream_seconds)
        if self.mirror is not None:
            self.mirror.answer.head(status, headers)
            if body and not self._head_only:
                self.mirror.answer.add(body)
        self._respond(status, headers, body)

    def _on_body(self, data: bytes) -> None:
        if self._head_only or not data or self._client_gone():
            return
        if self.mirror is not None:
            self.mirror.answer.add(data)
        self.sent_bytes += len(data)
        self.transport.write(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)
        if self.protocol.flow.write_paused and self._exchange is not None:
            self._exchange.pause()

    def _on_end(self) -> None:
        if self._chunked and not self._client_gone():
            self.transport.write(b"0\r\n\r\n")
        self._complete()

    def _on_error(self, exc: LegacyError) -> None:
        if self._finished:
            return
        status = status_for(exc)
        reason = note_error(exc, self.route, status)
        self.error = reason or None
        if self._head_sent:
            self.status = status
            self.transport.close()
            self._finish()
            return
        self._error_page(status, reason)

    # -- writing

    def _respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes | None) -> None:
        if self._client_gone():
            self.status = 499
            self._finish()
            return
        try:
            head, length = self._head(status, headers)
        except ValueError as exc:  # a header uvicorn would refuse: the ASGI path's 500
            log.error("request_failed", error=str(exc), request_id=self.request_id)
            self._error_page(500, "")
            return
        self.status, self._head_sent = status, True
        if body is None:
            self.transport.write(head)
            return
        if self._head_only:
            body = b""
        elif self._chunked:
            body = (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        elif length is not None and len(body) != length:
            log.error("request_failed", error="body length differs from Content-Length")
            self.transport.write(head)
            self.transport.close()
            self.status = 500
            self._finish()
            return
        self.sent_bytes = len(body)
        self.transport.write(head + body)
        self._complete()

    def _head(self, status: int, headers: list[tuple[bytes, bytes]]) -> tuple[bytes, int | None]:
        """The response head as uvicorn writes it, and the declared length."""
        lines = [STATUS_LINE[status]]
        length: int | None = None
        for name, value in (*self.protocol.server_state.default_headers, *headers):
            if name in DROP_RESPONSE:
                continue
            if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                raise ValueError(f"invalid response header {name!r}")
            if name == b"content-length" and length is None:
                length = int(value)
            lines += (name, b": ", value, b"\r\n")
        lines += (b"x-request-id: ", self.request_id.encode(), b"\r\n")
        if self.error:
            reason = self.error.encode("latin-1", "replace")[:200]
            lines += (b"x-strangler-error: ", reason, b"\r\n")
        if not self.keep_alive:
            lines.append(b"connection: close\r\n")
        if length is None and not self._head_only and status not in (204, 304):
            self._chunked = True
            lines.append(b"transfer-encoding: chunked\r\n")
        lines.append(b"\r\n")
        return b"".join(lines), length

    def _error_page(self, status: int, reason: str) -> None:
        self.mirror = None  # as on the ASGI path, a failed answer is not compared
        self.error = reason or None
        page = page_html(status)
        headers = [(b"content-type", b"text/html"), (b"content-length", b"%d" % len(page))]
        self._respond(status, headers, page)

    def _client_gone(self) -> bool:
        return self.disconnected or self.transport.is_closing()

    def _complete(self) -> None:
        self.response_complete = True
        if not self.keep_alive:
            self.transport.close()
        self._finish()
        if self.mirror is not None:
            self.mirror.offer(self.route, self.state, self.request, self._body)
        self.protocol.on_response_complete()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.state.leave()
        request = self.request
        account(
            self.state,
            self.route,
            self,
            method=request.method,
            path=request.raw_path.decode("latin-1"),
            elapsed=time.perf_counter() - self._started,
        )
