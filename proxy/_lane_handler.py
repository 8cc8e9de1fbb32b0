"""The fast lane's cycle for a migrated request: the handler answers, without ASGI.

``HandlerCycle`` is a ``LaneCycle`` whose answer comes from the route's
Python handler instead of PHP-FPM: once the body is whole (the lane only
takes bodies of at most 64 KiB) one task runs ``handler_answer`` (the ASGI
path's: handler under its timeout, outbox published, ``delivery`` waited
for) and the answer is written as the lane writes every answer.  What the
ASGI path does on failure is done here too: a fallback to legacy runs on the
lane's own FastCGI exchange (so the route's fallback backend must be FastCGI
and the path a PHP script, or the request takes the ASGI path), a full
producer queue answers 503 with Retry-After, and any other failure a 500.

The task is registered with uvicorn's server like an ASGI task, so a
graceful shutdown waits for it.  A client that leaves while the handler runs
does not cancel it (as on the ASGI path): the outbox of a handler that
returned is published either way, and the answer is dropped (499).
"""

from __future__ import annotations

import asyncio

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from legacy_adapter import FastCGIBackend, LegacyRequest, RunScript
from migrated import QueueFull, TimeLimit

from . import _metrics as m
from ._lane_cycle import LaneCycle
from ._migrated import (
    QUEUE_FULL_BODY,
    Fallback,
    Resources,
    handler_answer,
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
        self._task: asyncio.Task[None] | None = None

    def _on_client(self) -> None:
        if self._exchange is not None or (self._task is None and self.disconnected):
            super()._on_client()  # legacy answers after a fallback, or the client left early
            return
        if self._finished or not self._active or self._task is not None or self.more_body:
            return
        self._body = bytes(self.body)
        # ``asyncio.Task`` named, rather than ``loop.create_task``: an unnamed
        # task formats a "Task-<n>" name of its own (1,400 instructions).
        self._task = task = asyncio.Task(self._answer(), loop=self.protocol.loop, name=_TASK_NAME)
        tasks = self.protocol.tasks  # uvicorn waits for these on a graceful shutdown
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _answer(self) -> None:
        route = self.route
        bind_request_log(self.request_id)  # this task's own context, as on ASGI
        bind_route_log(route.name, route.mode.name)
        try:
            request, body = self.request, self._body
            answer = await handler_answer(
                route,
                self.mode,
                self.handler,
                request,
                body,
                self.params,
                self.resources,
                self.time_limit,
            )
        except Fallback:
            m.FALLBACKS.labels(route.name).inc()
            self.fallback = True
            self._start_exchange()
            return
        except QueueFull as exc:
            self._guard(self._respond, 503, queue_full_headers(exc), QUEUE_FULL_BODY)
            return
        except Exception:  # the handler failed without a fallback, or a bug: a clean 500
            log.exception("request_failed")
            if not self._finished:
                self._guard(self._error_page, 500, "")
            return
        self._guard(self._respond, answer.status, answer.headers, answer.body)
