"""The migrated and canary modes: run a Python handler, fall back to legacy when allowed.

Strategy: the body is read whole (it is bounded by ``max_body_size``) so the
handler gets bytes and, if the handler fails, the same bytes can be replayed
to legacy.  The fallback happens only for the route's ``fallback_methods``
(safe ones by default).  The handler's outbox is published only after it
succeeded; a full producer queue is answered 503 with ``Retry-After``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final, Protocol

import anyio.abc
import structlog

from legacy_adapter import LegacyRequest, UpstreamResponse, iter_bytes, read_whole
from migrated import (
    HandlerFailed,
    Outcome,
    QueueFull,
    TimeLimit,
    handler_request,
    publish,
    run_handler,
)

from . import _metrics as m
from ._canary import forced_side, goes_to_new, sticky_key
from ._routing import Canary, Migrated, Route

log = structlog.get_logger("strangler.migrated")


class Resources(Protocol):
    """What a worker shares with its handlers (``migrated.Resources``)."""

    @property
    def publisher(self) -> Any: ...

    @property
    def caches(self) -> Any: ...

    async def start(self) -> None: ...

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None: ...

    async def stop_waiting(self, grace: float) -> None: ...

    async def aclose(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class Fallback(Exception):
    """The handler failed and the route allows legacy to answer instead."""

    def __init__(self, backend: str, request: LegacyRequest) -> None:
        self.backend = backend
        self.request = request
        super().__init__(backend)


def canary_picks_new(route: Route, mode: Canary, request: LegacyRequest) -> bool:
    """Whether this request goes to the handler: forced by a header or cookie, else by its key.

    A forced request is counted by route, side and what forced it; a route
    without ``force`` skips all of that after one test.
    """
    force = mode.force
    if force is not None:
        forced = forced_side(force.header, force.value, force.cookie, request.headers)
        if forced is not None:
            to_new, by = forced
            m.labelled(m.CANARY_FORCED, route.name, "new" if to_new else "legacy", by).inc()
            return to_new
    client = request.client[0] if request.client else ""
    key = sticky_key(mode.key, request.headers, request.query_string, client)
    return goes_to_new(mode.percent, route.name, key)


async def answer_migrated(
    route: Route,
    mode: Migrated | Canary,
    handler: Any,
    request: LegacyRequest,
    params: dict[str, str],
    resources: Resources | None,
    time_limit: TimeLimit | None = None,
) -> UpstreamResponse:
    """Run the route's handler and turn its response into an upstream response.

    Raises:
        Fallback: the handler failed and legacy should answer (body replayable).
        HandlerFailed: the handler failed and no fallback is allowed (500).
        QueueFull: the producer cannot take the messages (503 + Retry-After).
    """
    body = await read_whole(request.body)
    answer = await handler_answer(
        route, mode, handler, request, body, params, resources, time_limit
    )
    whole = answer.body
    return UpstreamResponse(answer.status, answer.headers, iter_bytes((whole,)), "migrated", whole)


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class HandlerAnswer:
    """A handler's answer as it goes to the client: lower-case byte headers, Content-Length."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "body", body)


async def handler_answer(
    route: Route,
    mode: Migrated | Canary,
    handler: Any,
    request: LegacyRequest,
    body: bytes,
    params: dict[str, str],
    resources: Resources | None,
    time_limit: TimeLimit | None = None,
) -> HandlerAnswer:
    """Run the route's handler on ``body`` (read whole), publish its outbox, and answer.

    ``time_limit``: how the handler's timeout is enforced (see ``run_handler``).

    Raises: as ``answer_migrated``.
    """
    caches = resources.caches if resources else None
    try:
        outcome = await run_handler(
            mode.handler,
            handler,
            handler_request(request, params, body, php_site=mode.php),
            caches,
            timeout=mode.timeout,
            time_limit=time_limit,
        )
    except HandlerFailed as exc:
        failure = handler_failed(route, mode, request, body, exc)
        if failure is exc:
            raise  # its cause stays the handler's own exception
        raise failure from exc
    await publish(resources.publisher if resources else None, outcome, wait=mode.delivery)
    return answer_of(outcome)


def handler_failed(
    route: Route, mode: Migrated | Canary, request: LegacyRequest, body: bytes, exc: HandlerFailed
) -> Fallback | HandlerFailed:
    """Count and log a failed handler; the ``Fallback`` to raise when legacy may answer.

    Returns ``exc`` itself when the route allows no fallback for the method.
    """
    kind = "timeout" if exc.timed_out else "error"
    m.HANDLER_FAILURES.labels(route.name, kind).inc()
    log.error("handler_failed", handler=mode.handler, error=str(exc), exc_info=exc.cause)
    if mode.backend and request.method in mode.fallback_methods:
        replay = request.with_body(iter_bytes((body,) if body else ()))
        return Fallback(mode.backend, replay)
    return exc


def answer_of(outcome: Outcome) -> HandlerAnswer:
    """The handler's response as it goes to the client."""
    response = outcome.response
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", b"%d" % len(response.body)))
    return HandlerAnswer(response.status, headers, response.body)


QUEUE_FULL_BODY: Final = b"busy: the message queue is full, retry later\n"


def queue_full_headers(exc: QueueFull) -> list[tuple[bytes, bytes]]:
    """The headers of the 503 answering a full producer queue."""
    return [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(QUEUE_FULL_BODY)),
        (b"retry-after", str(max(1, round(exc.retry_after))).encode()),
    ]


def queue_full_response(exc: QueueFull) -> UpstreamResponse:
    """503 with Retry-After when the producer's queue is full."""
    body = iter_bytes((QUEUE_FULL_BODY,))
    return UpstreamResponse(503, queue_full_headers(exc), body, "migrated", QUEUE_FULL_BODY)
