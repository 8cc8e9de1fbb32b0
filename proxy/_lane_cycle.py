"""The fast lane's request cycle: one request from its parsed head to its answer.

``LaneCycle`` stands in for uvicorn's ``RequestResponseCycle`` (see
``proxy._fastlane`` for which requests take the lane): uvicorn's protocol
feeds it the body and tells it when the client goes, and it drives a
``legacy_adapter.LaneExchange`` and writes the answer as uvicorn's own cycle
would (status line, its default headers, Content-Length or chunks,
``connection: close``).  The head goes out when PHP's head arrives; a whole
answer goes out in one write.  Accounting (metrics, access log, in-flight
count for reloads) and the shadow offer are the ASGI path's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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
from ._accounting import account
from ._app import DROP_RESPONSE, note_error
from ._errors import status_for
from ._routing import Route, Shadow
from ._shadow_jobs import offer_shadow
from ._shadowing import Capture, ShadowRuntime
from ._state import State

log = structlog.get_logger("strangler.proxy")

# Response header lines already checked against uvicorn's two regexes: most
# answers repeat the same few (server, date, content type, length), and a set
# lookup is cheaper than two searches (a migrated answer's head went from
# about 14,500 instructions to 10,700).  Only short values are kept, and the
# set is emptied when full: one-off values (session cookies) keep it to a few
# hundred KB at most.
_CHECKED_HEADERS: set[tuple[bytes, bytes]] = set()
_CHECKED_MAX = 1024
_CHECKED_VALUE_MAX = 128


def _check_header(header: tuple[bytes, bytes]) -> None:
    """Refuse a header uvicorn would refuse (a bad name, or a control character in the value)."""
    if header in _CHECKED_HEADERS:
        return
    name, value = header
    if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
        raise ValueError(f"invalid response header {name!r}")
    if len(value) <= _CHECKED_VALUE_MAX:
        if len(_CHECKED_HEADERS) >= _CHECKED_MAX:
            _CHECKED_HEADERS.clear()
        _CHECKED_HEADERS.add(header)


class Mirroring:
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


class _Signal:
    """Stands in for the cycle's ``asyncio.Event``: uvicorn's ``set()`` calls back."""

    __slots__ = ("_callback",)

    def __init__(self, callback: Any) -> None:
        self._callback = callback

    def set(self) -> None:
        self._callback()

    def clear(self) -> None:
        pass


def _ignore() -> None:
    pass


_FINISHED = _Signal(_ignore)
"""A finished cycle's signal: what uvicorn's protocol still tells it changes nothing."""


class LaneCycle:
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
        backend: FastCGIBackend | None,
        request: LegacyRequest,
        script: RunScript | None,
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
        self.mirror: Mirroring | None = None

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
            self._body = bytes(self.body)
            self._start_exchange()

    def _start_exchange(self) -> None:
        """Send the request (its body read whole into ``_body``) to PHP-FPM."""
        assert self.backend is not None
        assert self.script is not None
        self._upstream_started = time.perf_counter()
        self._exchange = LaneExchange(
            self.backend, self.request, self.script, self._body, self, self.protocol.loop
        )
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
        assert self.backend is not None  # an exchange runs
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
        for header in (*self.protocol.server_state.default_headers, *headers):
            name, value = header
            if name in DROP_RESPONSE:
                continue
            _check_header(header)
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
        # The cycle's links back to itself (its signal's callback, its exchange's
        # sink) are cut, so reference counting frees the request's objects at once
        # rather than the cyclic GC in a later pass: ~20 objects per request.
        self.message_event = _FINISHED
        self._exchange = None
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
