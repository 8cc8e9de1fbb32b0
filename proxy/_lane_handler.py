"""The fast lane's cycle for a migrated request: the handler answers, without ASGI.

``HandlerCycle`` is a ``LaneCycle`` whose answer comes from the route's
Python handler instead of PHP-FPM.  Once the body is whole (the lane only
takes bodies of at most 64 KiB) the handler is called, in a context of its
own, and its answer is written as the lane writes every answer:

* an inline handler (a plain ``def``) has answered when the call returns;
  with messages on an ``acked`` route they go to ``Publisher.submit`` and
  the answer goes out from the callback of their acknowledgement.  No task
  is made: the whole request is two callbacks of the event loop.
* an async handler, or messages of a ``queued`` route (spooled with an
  fsync first), get one task, as on the ASGI path: handler under its
  timeout, outbox published, ``delivery`` waited for.

What the ASGI path does on failure is done here too: a fallback to legacy
runs on the lane's own FastCGI exchange (so the route's fallback backend
must be FastCGI and the path a PHP script, or the request takes the ASGI
path), a full producer queue answers 503 with Retry-After, and any other
failure a 500.

The task is registered with uvicorn's server like an ASGI task, so a
graceful shutdown waits for it; a request waiting for its acknowledgement
keeps its connection, which a graceful shutdown waits for too.  A client
that leaves while the handler runs does not cancel it (as on the ASGI path):
the outbox of a handler that returned is published either way, and the
answer is dropped (499).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from legacy_adapter import FastCGIBackend, LegacyRequest, RunScript
from migrated import (
    NO_PRODUCER,
    HandlerFailed,
    Outcome,
    ProducerError,
    QueueFull,
    Running,
    TimeLimit,
    publish,
    start_handler,
)

from . import _metrics as m
from ._lane_cycle import LaneCycle
from ._migrated import (
    QUEUE_FULL_BODY,
    Fallback,
    HandlerAnswer,
    Resources,
    answer_of,
    handler_failed,
    handler_request,
    queue_full_headers,
)
from ._request import bind_request_log, bind_route_log
from ._routing import Canary, Migrated, Route
from ._state import State

log = structlog.get_logger("strangler.proxy")

_TASK_NAME = "strangler-lane-handler"


class HandlerCycle(LaneCycle):
    """One migrated request on the lane (``backend`` and ``script``: its fallback, if any)."""

    def __init__(
        self,
        protocol: HttpToolsProtocol,
        state: State,
        route: Route,
        mode: Migrated | Canary,
        request: LegacyRequest,
        params: dict[str, str],
        resources: Resources | None,
        keep_alive: bool,
        fallback: tuple[FastCGIBackend, RunScript] | None,
        time_limit: TimeLimit | None,
    ) -> None:
        backend, script = fallback if fallback is not None else (None, None)
        super().__init__(protocol, state, route, backend, request, script, keep_alive)
        self.mode, self.params, self.resources = mode, params, resources
        self.time_limit = time_limit
        self.handler = state.handlers[mode.handler]
        self.side = "new"
        self._called = False
        self._context: contextvars.Context | None = None
        self._answer: HandlerAnswer | None = None

    def _on_client(self) -> None:
        if self._exchange is not None or (not self._called and self.disconnected):
            super()._on_client()  # legacy answers after a fallback, or the client left early
            return
        if self._finished or not self._active or self._called or self.more_body:
            return
        self._body = bytes(self.body)
        self._called = True
        # The handler's own context, as a task of its own would have: what it
        # binds (the request's log fields first) stays its own.
        self._context = context = contextvars.copy_context()
        context.run(self._start)

    def _start(self) -> None:
        route, mode, request, body = self.route, self.mode, self.request, self._body
        bind_request_log(self.request_id)
        bind_route_log(route.name, route.mode.name)
        resources = self.resources
        try:
            started = start_handler(
                mode.handler,
                self.handler,
                handler_request(request, self.params, body),
                resources.caches if resources is not None else None,
                timeout=mode.timeout,
            )
        except HandlerFailed as exc:
            self._failed(handler_failed(route, mode, request, body, exc))
            return
        except Exception:  # a bug: a clean 500
            self._crashed()
            return
        if isinstance(started, Outcome):
            if not started.messages:
                self._send(answer_of(started))
                return
            if mode.delivery == "acked":
                self._submit(started)
                return
        # An async handler, or messages to spool before the answer: a task.
        self._spawn(self._run(started))

    def _submit(self, outcome: Outcome) -> None:
        """Hand an inline handler's messages to the producer; answer once they are acked."""
        publisher = self.resources.publisher if self.resources is not None else None
        try:
            if publisher is None:
                raise ProducerError(NO_PRODUCER)
            publisher.submit(outcome.messages, self._acked)
        except QueueFull as exc:
            self._busy(exc)
            return
        except Exception:
            self._crashed()
            return
        self._answer = answer_of(outcome)  # ``_acked`` is never called inside ``submit``

    def _acked(self, error: ProducerError | None) -> None:
        """The producer's callback (on the loop): answer, in the handler's context."""
        assert self._context is not None
        self._context.run(self._answer_acked, error)

    def _answer_acked(self, error: ProducerError | None) -> None:
        if error is not None:
            log.error("request_failed", exc_info=error)
            self._guard(self._error_page, 500, "")
            return
        assert self._answer is not None
        self._send(self._answer)

    def _spawn(self, run: Coroutine[Any, Any, None]) -> None:
        # ``asyncio.Task`` named, rather than ``loop.create_task``: an unnamed
        # task formats a "Task-<n>" name of its own (1,400 instructions).
        task = asyncio.Task(run, loop=self.protocol.loop, name=_TASK_NAME, context=self._context)
        tasks = self.protocol.tasks  # uvicorn waits for these on a graceful shutdown
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _run(self, started: Outcome | Running) -> None:
        mode = self.mode
        try:
            if isinstance(started, Outcome):
                outcome = started
            else:
                outcome = await started.outcome(mode.timeout, self.time_limit)
        except HandlerFailed as exc:
            self._failed(handler_failed(self.route, mode, self.request, self._body, exc))
            return
        publisher = self.resources.publisher if self.resources is not None else None
        try:
            await publish(publisher, outcome, wait=mode.delivery)
        except QueueFull as exc:
            self._busy(exc)
            return
        except Exception:
            self._crashed()
            return
        self._send(answer_of(outcome))

    def _send(self, answer: HandlerAnswer) -> None:
        self._guard(self._respond, answer.status, answer.headers, answer.body)

    def _failed(self, failure: Fallback | HandlerFailed) -> None:
        """Legacy answers (a fallback), or a clean 500."""
        if isinstance(failure, Fallback):
            m.FALLBACKS.labels(self.route.name).inc()
            self.fallback = True
            self._start_exchange()
            return
        log.error("request_failed", exc_info=failure)
        if not self._finished:
            self._guard(self._error_page, 500, "")

    def _busy(self, exc: QueueFull) -> None:
        self._guard(self._respond, 503, queue_full_headers(exc), QUEUE_FULL_BODY)

    def _crashed(self) -> None:
        """A failure that is no handler's (called in its ``except`` block): a clean 500."""
        log.exception("request_failed")
        if not self._finished:
            self._guard(self._error_page, 500, "")
