"""Running a handler for one request, and what happens to its outbox.

Strategy: the handler runs under a timeout with a fresh context; only when it
returns does its outbox go to the shared producer (``publish``).  A handler
that raises or times out has its outbox dropped, so a fallback to legacy can
never send the same event twice.  A shadow run (``capture=True``) keeps the
outbox in the result and never publishes it.  A handler is an ``async def``
or, when it never awaits, a plain ``def`` ("inline"): called on the event
loop in the request's task, it answers without a coroutine of its own or a
timeout scope to enter and leave (``start_handler``).

    HandlerFailed   the handler raised or timed out (the proxy falls back or answers 500)
    HandlerBadRequest raised by the handler: answered 400 with the reason, not a failure
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Literal, Protocol

import anyio
import structlog

from ._api import Handler, Message, Outbox, Request, Response
from ._exceptions import HandlerBadRequest, MigratedError, ProducerError
from ._wheel import Timer, TimerWheel

Delivery = Literal["acked", "queued"]
NO_PRODUCER: Final = "the handler emitted messages but no [kafka] producer is configured"
TimeLimit = Callable[[float], AbstractAsyncContextManager[Any]]


class Publisher(Protocol):
    """What the runner needs of the shared producer."""

    async def send(self, messages: Sequence[Message], *, wait: Delivery) -> None: ...

    def submit(
        self, messages: Sequence[Message], acked: Callable[[ProducerError | None], object]
    ) -> None:
        """Take ``messages`` for an ``acked`` delivery; call ``acked`` once they are safe.

        ``acked`` is called once, on the loop and never before ``submit``
        returns: with ``None`` when every message is acknowledged or spooled,
        or with a ``ProducerError`` when one could be neither.

        Raises:
            QueueFull: the local queue has no room; nothing was taken.
        """
        ...


class CacheReader(Protocol):
    """What the runner needs of the hot caches."""

    def get(self, name: str) -> Any: ...


class HandlerFailed(MigratedError):
    """The handler raised or exceeded its timeout; ``cause`` says which."""

    def __init__(self, handler: str, cause: BaseException | None, timed_out: bool = False) -> None:
        self.handler = handler
        self.cause = cause
        self.timed_out = timed_out
        what = "timed out" if timed_out else f"raised {cause!r}"
        super().__init__(f"handler {handler} {what}")


@dataclass(slots=True, init=False)
class RequestContext:
    """The ``Context`` a handler receives (see ``migrated._api.Context``).

    ``log`` is bound (to the handler's name) on first use: most requests never log.
    """

    request_id: str
    caches: CacheReader | None
    handler: str = ""
    outbox: Outbox = field(default_factory=Outbox)
    _log: Any = None

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        request_id: str,
        caches: CacheReader | None,
        handler: str = "",
        outbox: Outbox | None = None,
        _log: Any = None,
    ) -> None:
        self.request_id = request_id
        self.caches = caches
        self.handler = handler
        self.outbox = Outbox() if outbox is None else outbox
        self._log = _log

    @property
    def log(self) -> Any:
        """A structlog logger bound to the handler's name (the request id is in the context)."""
        if self._log is None:
            self._log = structlog.get_logger("strangler.handler").bind(handler=self.handler)
        return self._log

    def cache(self, name: str) -> Any:
        """The current data of cache ``name``."""
        if self.caches is None:
            raise LookupError(f"no caches configured (asked for {name!r})")
        return self.caches.get(name)


@dataclass(frozen=True, slots=True, init=False)
class Outcome:
    """What a handler run produced."""

    response: Response
    messages: tuple[Message, ...]
    seconds: float

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        response: Response,
        messages: tuple[Message, ...],
        seconds: float,
    ) -> None:
        object.__setattr__(self, "response", response)
        object.__setattr__(self, "messages", messages)
        object.__setattr__(self, "seconds", seconds)


def start_handler(
    name: str,
    handler: Handler,
    request: Request,
    caches: CacheReader | None,
    *,
    timeout: float | None,
) -> Outcome | Running:
    """Call ``handler``: an inline handler's outcome, or an async handler's run to await.

    An inline handler (a plain ``def``) has run to its end when this returns;
    it cannot be interrupted, so one that took longer than ``timeout`` counts
    as timed out afterwards and its outbox is dropped, as an async handler's
    is when its timeout cancels it.  An async handler has only been called:
    ``Running.outcome`` runs it.

    Raises:
        HandlerFailed: an inline handler raised (other than ``HandlerBadRequest``),
            overran ``timeout``, or returned something that is not a ``Response``.
    """
    ctx = RequestContext(request.request_id, caches, name)
    started = time.perf_counter()
    try:
        result = handler(request, ctx)
    except HandlerBadRequest as exc:
        return Outcome(Response.text(exc.reason + "\n", 400), (), time.perf_counter() - started)
    except Exception as exc:
        raise HandlerFailed(name, exc) from exc
    if not isinstance(result, Response):
        if not hasattr(type(result), "__await__"):
            raise HandlerFailed(name, TypeError(_not_a_response(result)))
        return Running(name, ctx, result, started)
    _check_headers(name, result)
    seconds = time.perf_counter() - started
    if timeout is not None and seconds > timeout:
        raise HandlerFailed(name, None, timed_out=True)
    return Outcome(result, tuple(ctx.outbox.messages), seconds)


class Running:
    """An async handler called by ``start_handler``, not yet awaited."""

    __slots__ = ("_awaitable", "_ctx", "_name", "_started")

    def __init__(self, name: str, ctx: RequestContext, awaitable: Any, started: float) -> None:
        self._name, self._ctx, self._awaitable, self._started = name, ctx, awaitable, started

    async def outcome(self, timeout: float | None, time_limit: TimeLimit | None) -> Outcome:  # noqa: ASYNC109
        """Await the handler under ``timeout`` (see ``run_handler``).

        Raises: as ``run_handler``.
        """
        name = self._name
        try:
            if timeout is None:
                response = await self._awaitable
            else:
                async with (time_limit or _AnyioLimit)(timeout):
                    response = await self._awaitable
        except HandlerBadRequest as exc:
            response = Response.text(exc.reason + "\n", 400)
            return Outcome(response, (), time.perf_counter() - self._started)
        except TimeoutError:
            raise HandlerFailed(name, None, timed_out=True) from None
        except Exception as exc:
            raise HandlerFailed(name, exc) from exc
        if not isinstance(response, Response):
            raise HandlerFailed(name, TypeError(_not_a_response(response)))
        _check_headers(name, response)
        seconds = time.perf_counter() - self._started
        return Outcome(response, tuple(self._ctx.outbox.messages), seconds)


def _check_headers(name: str, response: Response) -> None:
    """Refuse a header that would corrupt the answer's head (a name that is no token,
    a value with CR, LF or NUL: response splitting), as any HTTP server does.

    Raises:
        HandlerFailed: such a header, named.
    """
    for key, value in response.headers:
        if not _TOKEN.fullmatch(key) or _BAD_VALUE.search(value):
            raise HandlerFailed(name, ValueError(f"bad response header {key!r}: {value!r}"))


_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(r"[\x00\r\n]")


def _not_a_response(value: object) -> str:
    return f"returned {type(value).__name__}, not a Response"


async def run_handler(
    name: str,
    handler: Handler,
    request: Request,
    caches: CacheReader | None,
    *,
    timeout: float | None,  # noqa: ASYNC109 - a per-route budget, enforced inside
    time_limit: TimeLimit | None = None,
) -> Outcome:
    """Run ``handler`` on ``request`` and return its response and outbox, unpublished.

    ``time_limit`` enforces ``timeout`` on an async handler (default: an anyio
    ``fail_after``); a caller that knows its event loop may pass a cheaper one
    that raises ``TimeoutError`` the same way (workers on asyncio pass
    ``asyncio.timeout``).  ``timeout=None``: the caller bounds the run itself
    (the shadow mirror cancels a candidate that overruns; the cancellation
    passes through).  An inline handler is timed, not interrupted (see
    ``start_handler``).

    Raises:
        HandlerFailed: the handler raised (other than ``HandlerBadRequest``),
            timed out, or returned something that is not a ``Response``.
    """
    started = start_handler(name, handler, request, caches, timeout=timeout)
    if isinstance(started, Outcome):
        return started
    return await started.outcome(timeout, time_limit)


class _AnyioLimit:
    """``anyio.fail_after`` as an async context manager (the ``TimeLimit`` shape)."""

    __slots__ = ("_scope",)

    def __init__(self, seconds: float) -> None:
        self._scope = anyio.fail_after(seconds)

    async def __aenter__(self) -> None:
        self._scope.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return self._scope.__exit__(kind, exc, tb)


class LoopTimeout:
    """``asyncio.timeout(seconds)`` on a worker's ``TimerWheel`` (a ``TimeLimit`` once bound).

    ``asyncio.timeout`` asks asyncio for the running loop and the current task
    on entry and again to set its timer (on Python 3.11 each of these checks
    the process id with a ``getpid`` system call), and the timer is a loop
    timer of its own.  This is the same timeout (the task cancelled at the
    deadline, the cancellation turned into ``TimeoutError`` unless someone
    else cancelled it too) on the wheel, which is bound once per worker:
    ``functools.partial(LoopTimeout, wheel)``.  It fires up to one of the
    wheel's ticks (10 ms) after the deadline.
    """

    __slots__ = ("_cancelling", "_expired", "_seconds", "_task", "_timer", "_wheel")

    def __init__(self, wheel: TimerWheel, seconds: float) -> None:
        self._wheel = wheel
        self._seconds = seconds
        self._task: asyncio.Task[Any] | None = None
        self._timer: Timer | None = None
        self._cancelling = 0
        self._expired = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task(self._wheel.loop)
        if task is None:
            raise RuntimeError("LoopTimeout must be used inside a task of its wheel's loop")
        self._task = task
        self._cancelling = task.cancelling()
        self._timer = self._wheel.call_later(self._seconds, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self._task is not None:
            self._task.cancel()
            self._expired = True

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task, self._task = self._task, None
        if self._expired and task is not None:
            self._expired = False
            if task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
                raise TimeoutError from exc


async def publish(publisher: Publisher | None, outcome: Outcome, *, wait: Delivery) -> None:
    """Hand a successful run's messages to the producer.

    Raises:
        ProducerError: no producer is configured but the handler emitted messages.
        QueueFull: the producer's local queue is full (answer 503 + Retry-After).
    """
    if not outcome.messages:
        return
    if publisher is None:
        raise ProducerError(NO_PRODUCER)
    await publisher.send(outcome.messages, wait=wait)
