"""The engine: one request from its parsed head to its answer, on every runtime.

Every driver (``_protocol`` on asyncio/uvloop, ``_trio`` on trio, ``_app``'s
ASGI adapter) hands ``Engine.serve`` a request head, a body reader and a
response writer; everything a request means happens here and only here:
request checks, route match, mode dispatch, legacy exchange, handler cycle
and fallback, error pages, the 503s, shadow offer, accounting and access log.

Strategy: ``Engine.state`` holds the config and the backends built from it.
A request reads ``state`` once at its start, so a reload that swaps it never
changes a request in flight; backends the new config no longer uses (or has
changed) are closed once the requests still using them are done.

Errors end here and only here: a ``LegacyError`` or ``RequestError`` becomes
its status (``_errors.status_for``), anything else is logged with the request
id and answered 500; cancellation propagates untouched.  When the response
head was already sent there is no status left to change, so ``serve`` raises
``AbortResponse`` and the driver drops the connection, as nginx does when an
upstream dies mid-body.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Final

import anyio
import anyio.abc
import structlog

from legacy_adapter import (
    LegacyError,
    LegacyRequest,
    UpstreamResponse,
    error_page,
    iter_bytes,
    read_whole,
)
from migrated import LoopTimeout, QueueFull, TimeLimit, TimerWheel
from shadow import Capture, ShadowRuntime

from . import _metrics as m
from ._accounting import account
from ._body import BodyReader, Peer, ResponseWriter, Tee
from ._errors import BodyTooLarge, ClientDisconnected, RequestError, error_kind, status_for
from ._http1 import RequestHead
from ._migrated import (
    Fallback,
    Resources,
    answer_migrated,
    canary_picks_new,
    queue_full_response,
)
from ._request import bind_request_log, bind_route_log, build_request, request_id_of
from ._routing import Canary, FixedStatus, Legacy, Migrated, Route, Shadow
from ._shadow_mode import offer_reverse, offer_shadow, sampled, wants_reverse
from ._state import State

log = structlog.get_logger("strangler")
_CLOSING: Final = frozenset({400, 408, 413, 414, 500, 501})
DROP_RESPONSE: Final = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"upgrade"})


class Engine:
    """The request engine of one worker.

    Args:
        state: the initial config and backends; replace with ``swap``.
        resources: the worker's producer and caches, for migrated routes.
        shadow: the worker's mirror and sink, when a route shadows.
    """

    def __init__(
        self,
        state: State,
        resources: Resources | None = None,
        shadow: ShadowRuntime | None = None,
    ) -> None:
        self.state = state
        self.resources = resources
        self.shadow = shadow
        self.time_limit: TimeLimit | None = None  # handlers' timeouts: anyio's fail_after
        self.timers: TimerWheel | None = None  # the asyncio drivers' wheel

    def use_timers(self, wheel: TimerWheel) -> None:
        """Time handlers, candidates and the asyncio driver's idle connections on ``wheel``.

        Handler and candidate timeouts become ``LoopTimeout``s (see ``run_handler``).
        """
        self.timers = wheel
        self.time_limit = partial(LoopTimeout, wheel)
        if self.shadow is not None:
            self.shadow.time_limit = self.time_limit

    async def swap(self, new: State) -> None:
        """Start routing new requests by ``new``; retire the old backends when idle.

        ``new`` is started first (an ASGI app's lifespan startup), so that no
        request reaches an app that is not ready.

        Raises:
            HandlerNotFound: a new side failed to start; the old state still serves.
        """
        await self.state.prepare(new)
        old, self.state = self.state, new
        await old.retire(keep=new)

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the backends' upkeep (idle-connection reaping) in ``tg``."""
        await self.state.start(tg)

    async def aclose(self) -> None:
        """Close the backends' idle connections."""
        await self.state.aclose()

    async def serve(
        self, head: RequestHead, peer: Peer, body: BodyReader, writer: ResponseWriter
    ) -> None:
        """Answer one request through ``writer``; the driver runs each in a context of its own.

        Raises:
            AbortResponse: the head was sent when the answer failed; drop the connection.
        """
        state = self.state
        state.enter()
        started = time.perf_counter()
        rid = request_id_of(head.headers)
        exchange = _Exchange(writer, rid, head.method == "HEAD")
        route: Route | None = None
        try:
            bind_request_log(rid)
            route = await self._handle(state, head, peer, body, exchange)
        finally:
            state.leave()
            self._account(head, route, exchange, started)

    async def _handle(
        self, state: State, head: RequestHead, peer: Peer, body: BodyReader, exchange: _Exchange
    ) -> Route | None:
        route: Route | None = None
        try:
            request = build_request(head, peer, body, state.config.server, exchange.request_id)
            route, params = state.config.routes.match(
                request.method, request.server_name, request.path
            )
            bind_route_log(route.name, route.mode.name)
            await self._dispatch(state, route, request, params, exchange)
        except Exception as exc:  # cancellation is not an Exception: it passes untouched
            failure = exc
        else:
            return route
        # Answered outside the except block (see _build.py: no await while handling).
        await self._recover(state, route, failure, exchange)
        return route

    async def _recover(
        self, state: State, route: Route | None, exc: Exception, exchange: _Exchange
    ) -> None:
        """The request's one error boundary: each failure becomes its answer."""
        if isinstance(exc, Fallback):
            assert route is not None
            m.FALLBACKS.labels(route.name).inc()
            exchange.fallback = True
            await self._handle_legacy(state, exc.backend, exc.request, exchange, route)
        elif isinstance(exc, QueueFull):
            await exchange.relay(queue_full_response(exc))
        elif isinstance(exc, LegacyError | RequestError):
            await self._fail(exchange, route, exc, status_for(exc))
        elif isinstance(exc, ClientDisconnected):
            exchange.status = 499
        elif isinstance(exc, AbortResponse):
            raise exc
        else:
            log.error("request_failed", exc_info=exc)
            await self._fail(exchange, route, None, 500)

    async def _dispatch(
        self,
        state: State,
        route: Route,
        request: LegacyRequest,
        params: dict[str, str],
        exchange: _Exchange,
    ) -> None:
        mode = route.mode
        if isinstance(mode, FixedStatus):
            await exchange.relay(_fixed(mode, exchange.head))
        elif isinstance(mode, Legacy):
            await self._legacy(state, mode.backend, request, exchange, route)
        elif isinstance(mode, Migrated) or (
            isinstance(mode, Canary) and canary_picks_new(route, mode, request)
        ):
            exchange.side = "new"
            await self._migrated(state, route, mode, request, params, exchange)
        elif isinstance(mode, Canary):
            await self._legacy(state, mode.backend, request, exchange, route)
        else:
            await self._shadow(state, route, mode, request, params, exchange)

    async def _migrated(
        self,
        state: State,
        route: Route,
        mode: Migrated | Canary,
        request: LegacyRequest,
        params: dict[str, str],
        exchange: _Exchange,
    ) -> None:
        """The handler answers; a sampled safe request is then compared with legacy."""
        handler = state.handlers[mode.handler]
        reverse = self.shadow is not None and wants_reverse(self.shadow, route, mode, request)
        if reverse:
            body = await read_whole(request.body)
            request = request.with_body(iter_bytes((body,) if body else ()))
        response = await answer_migrated(
            route, mode, handler, request, params, self.resources, self.time_limit
        )
        if not reverse:
            await exchange.relay(response)
            return
        assert self.shadow is not None
        assert mode.backend is not None
        exchange.capture = Capture(self.shadow.max_body)
        await exchange.relay(response)
        offer_reverse(
            self.shadow, route, mode, state.backends[mode.backend], request, body, exchange.capture
        )

    async def _shadow(
        self,
        state: State,
        route: Route,
        mode: Shadow,
        request: LegacyRequest,
        params: dict[str, str],
        exchange: _Exchange,
    ) -> None:
        """Legacy answers; a sampled request is then run on the candidate off-path."""
        runtime = self.shadow
        if runtime is None or not sampled(route.name, mode.sample_rate, mode.sample_key, request):
            if runtime is not None:
                runtime.mirror.skip(route.name, "sampled_out")
            await self._legacy(state, mode.backend, request, exchange, route)
            return
        if runtime.mirror.full:  # no copy is made for a job that would be dropped
            runtime.mirror.skip(route.name, "queue_full")
            await self._legacy(state, mode.backend, request, exchange, route)
            return
        body = Capture(runtime.max_body)
        request = request.with_body(Tee(request.body, body))
        exchange.capture = Capture(runtime.max_body)
        await self._legacy(state, mode.backend, request, exchange, route)
        offer_shadow(
            runtime, route, mode, state, request, params, body, exchange.capture, self.resources
        )

    async def _handle_legacy(
        self, state: State, name: str, request: LegacyRequest, exchange: _Exchange, route: Route
    ) -> None:
        """Legacy answers after a fallback: its own failures still map to statuses."""
        try:
            await self._legacy(state, name, request, exchange, route)
        except (LegacyError, RequestError) as exc:
            failure = exc
        else:
            return
        await self._fail(exchange, route, failure, status_for(failure))

    async def _legacy(
        self, state: State, name: str, request: LegacyRequest, exchange: _Exchange, route: Route
    ) -> None:
        backend = state.backends[name]
        t0 = time.perf_counter()
        async with backend.send(request) as response:
            exchange.upstream_seconds = time.perf_counter() - t0
            m.observe_upstream(name, exchange.upstream_seconds)
            await exchange.relay(response)

    async def _fail(
        self, exchange: _Exchange, route: Route | None, exc: Exception | None, status: int
    ) -> None:
        reason = note_error(exc, route, status)
        exchange.error = reason or None
        if exchange.started:
            exchange.status = status
            raise AbortResponse() from exc
        close = status in _CLOSING  # nginx's own error pages that end the connection
        await exchange.relay(error_page(status, head=exchange.head), reason=reason, close=close)

    def _account(
        self, head: RequestHead, route: Route | None, exchange: _Exchange, started: float
    ) -> None:
        account(
            self.state,
            route,
            exchange,
            method=head.method,
            path=head.target.decode("latin-1"),
            elapsed=time.perf_counter() - started,
        )


def note_error(exc: Exception | None, route: Route | None, status: int) -> str:
    """Count and log an upstream failure; return the reason the client is told."""
    reason: str = getattr(exc, "reason", None) or getattr(exc, "detail", None) or ""
    if exc is not None and not isinstance(exc, BodyTooLarge | RequestError):
        backend = getattr(exc, "backend", "-")
        route_name = route.name if route else "-"
        m.UPSTREAM_ERRORS.labels(backend, route_name, error_kind(exc)).inc()
        log.warning("upstream_error", error=str(exc), kind=error_kind(exc), status=status)
    return reason


class AbortResponse(Exception):
    """The head was sent when the answer failed: the driver drops the connection."""


class _Exchange:
    """What has been sent to the client so far."""

    def __init__(self, writer: ResponseWriter, request_id: str, head: bool) -> None:
        self.writer = writer
        self.request_id = request_id
        self.head = head
        self.started = False
        self.status = 0
        self.sent_bytes = 0
        self.upstream_seconds = 0.0
        self.error: str | None = None
        self.side = "legacy"
        self.fallback = False
        self.capture: Capture | None = None

    async def relay(
        self, response: UpstreamResponse, *, reason: str = "", close: bool = False
    ) -> None:
        """Send the response head and stream its body to the client."""
        headers = [(k, v) for k, v in response.headers if k not in DROP_RESPONSE]
        headers.append((b"x-request-id", self.request_id.encode()))
        if reason:
            headers.append((b"x-strangler-error", reason.encode("latin-1", "replace")[:200]))
        self.status = response.status
        capture = self.capture
        if capture is not None:
            capture.head(response.status, response.headers)
        if response.content is not None:
            # The whole body is here: head and body go out in one write.
            body = b"" if self.head else response.content
            self.started = True
            self.sent_bytes = await self.writer.answer(response.status, headers, body, close=close)
            if capture is not None:  # what the client was sent, as the candidate is compared
                capture.add(body[: self.sent_bytes])
            return
        self.started = True
        await self.writer.start(response.status, headers)
        span = response.file
        if span is not None and capture is None and not self.head:
            # From the file to the socket (a static file): no copy through Python.
            self.sent_bytes = await self.writer.sendfile(span.fd, span.offset, span.count)
            await self.writer.end()
            return
        async for chunk in response.body:
            if chunk and not self.head:
                taken = await self.writer.send(chunk)
                self.sent_bytes += taken
                if capture is not None:
                    capture.add(chunk if taken == len(chunk) else chunk[:taken])
        await self.writer.end()


def _fixed(mode: FixedStatus, head: bool) -> UpstreamResponse:
    response = error_page(mode.status, head=head)
    if mode.body:
        body = mode.body.encode()
        response.headers = [(b"content-type", b"text/plain; charset=utf-8")]
        response.headers.append((b"content-length", str(len(body)).encode()))
        response.content = b"" if head else body
        response.body = iter_bytes((response.content,))
    if mode.location:
        response.headers.append((b"location", mode.location.encode()))
    return response
