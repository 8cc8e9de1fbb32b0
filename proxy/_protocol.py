"""strangler's HTTP/1.1 server on asyncio (uvloop by default): the engine's first driver.

Strategy: one ``HttpProtocol`` per connection feeds the sans-IO parser
(``_http1``) and runs one engine task per request; it owns what the engine
must not know: keep-alive, pipelining (a request's events wait in the
parser's queue until the answer before it is out), flow control both ways,
the four timeouts and the connection limit.  Each request's ``Cycle`` is the
engine's body reader and response writer.

Timeouts, on the worker's ``TimerWheel``, one per connection at a time:

* ``client_header_timeout``: from the connection's start, or from the first
  byte of a kept-alive connection's next request, until its head is
  complete; the connection is closed without an answer, as nginx does;
* ``keep_alive_timeout``: idle between requests; closed silently;
* ``client_body_timeout``: between two reads while the engine waits for body
  bytes; the request is answered 408 and the connection closed;
* ``send_timeout``: while the client takes nothing of the answer (between
  two writes, ``WriteTimer``); aborted.

Connection limit: over ``max_connections``, the connections that are idle
(kept alive, or open without a byte of a request) are closed oldest first to
make room, as nginx reuses them; when none is idle, the new connection gets
a 503 and is closed.  ``ServerState.stop`` closes the listening sockets
first, then the idle connections, and lets answers in flight finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import Any, Final

import structlog

from legacy_adapter import WriteTimer
from migrated import Timer, TimerWheel

from ._body import Peer, RequestServer
from ._cycle import Cycle
from ._engine import AbortResponse
from ._errors import ClientDisconnected
from ._http1 import (
    END,
    Http1Parser,
    Refusal,
    RequestHead,
    address,
    refusal_answer,
)
from ._limits import EdgeLimits, admit, refused_answer
from ._request import request_id_of

log = structlog.get_logger("strangler.http")

# Buffered request body (or pipelined requests) before reading pauses.
_HIGH_WATER: Final = 64 * 1024
# A connection's phases, for timeouts and the limit.
_IDLE: Final = 0
_HEAD: Final = 1
_BUSY: Final = 2
# Seconds a closing connection's input is read and dropped (nginx: up to 5 s).
_LINGER: Final = 2.0


class ServerState:
    """What one worker's connections share: the engine, the limits, the open connections."""

    def __init__(self, engine: RequestServer, limits: EdgeLimits, wheel: TimerWheel) -> None:
        self.loop = wheel.loop  # kept: on Python 3.11 every get_running_loop() is a getpid()
        self.engine = engine
        self.limits = limits
        self.wheel = wheel
        self.connections: dict[HttpProtocol, None] = {}  # in order of arrival
        self.stopping = False
        self.servers: list[asyncio.AbstractServer] = []
        self.drained: asyncio.Event | None = None  # set when the last connection goes, at stop

    def forget(self, conn: HttpProtocol) -> None:
        """``conn`` is closed."""
        self.connections.pop(conn, None)
        if self.drained is not None and not self.connections:
            self.drained.set()

    async def stop(self, graceful_timeout: float) -> None:
        """Stop listening, close idle connections, wait for answers in flight, then abort."""
        self.stopping = True
        for server in self.servers:
            server.close()
        for conn in list(self.connections):
            conn.shutdown()
        if self.connections:
            self.drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), graceful_timeout)
        for conn in list(self.connections):
            conn.abort()


class HttpProtocol:  # an asyncio.Protocol by its methods: a base class would stay interpreted
    """One client connection (see the module docstring)."""

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.limits = server.limits
        self.parser = Http1Parser()
        self.transport: asyncio.Transport | None = None
        self.peer = Peer(None, None)
        self.cycle: Cycle | None = None  # the request being answered
        self.reading: Cycle | None = None  # the request whose body is being received
        self.phase = _HEAD
        self.timer: Timer | None = None
        self.write_paused = False
        self.drained: asyncio.Future[None] | None = None
        self.read_paused = False
        self.closed = False
        self.lingering = False

    # asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.server.connections[self] = None
        server = self.server
        if not admit(server.connections, self, server.limits.max_connections):
            transport.write(refused_answer())
            self.linger()
            return
        self.peer = _peer_of(transport)
        self._set_timer(self.limits.header_timeout, self._header_timed_out)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # answered and closing: what still arrives is dropped
        parser = self.parser
        parser.feed(data)
        if self.phase == _IDLE and parser.receiving_head:
            # A head that arrives whole (the usual case) needs no header timer.
            self.phase = _HEAD
            self._set_timer(self.limits.header_timeout, self._header_timed_out)
        self._pump()

    def eof_received(self) -> bool:
        if self.cycle is None:
            return False  # nothing to answer: the transport closes
        # The client may half-close after its request; answer, then close.
        self.parser.feed(b"")  # a body without a length ends here
        self._pump()
        if self.reading is not None:
            self.reading.lost()  # a body cut short: it will not come
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.phase = _BUSY
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.forget(self)
        self._clear_timer()
        for cycle in (self.cycle, self.reading):
            if cycle is not None:
                cycle.lost()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    # the request queue

    def _pump(self) -> None:
        """Hand parsed events to the requests they belong to; start the next one when free."""
        events = self.parser.events
        while events:
            event = events[0]
            if isinstance(event, RequestHead):
                if self.cycle is not None or self.reading is not None:
                    break  # pipelined: waits for the answer before it
                events.popleft()
                self._begin(event)
            elif isinstance(event, bytes):
                events.popleft()
                reading = self.reading
                if reading is not None:
                    if event is END:
                        self.reading = None
                        reading.complete()
                        if reading.discarding:
                            self._next()
                            return
                    else:
                        reading.feed(event)
            else:
                self._refuse(event)
                return
        reading = self.reading
        if len(events) > 1 or (
            reading is not None and not reading.discarding and reading.buffered > _HIGH_WATER
        ):
            self._pause_reading()

    def _begin(self, head: RequestHead) -> None:
        cycle = Cycle(self, head)
        self.cycle = self.reading = cycle
        self.phase = _BUSY
        self._clear_timer()
        cycle.keep_alive = head.keep_alive and not self.server.stopping
        task = self.server.loop.create_task(self._serve(cycle), context=contextvars.copy_context())
        cycle.task = task

    async def _serve(self, cycle: Cycle) -> None:
        aborted = False
        try:
            await self.server.engine.serve(cycle.head, self.peer, cycle, cycle)
        except AbortResponse:
            aborted = True
        except Exception:
            log.exception("request_failed_in_driver")
            aborted = True
        # The cycle held its task (the loop keeps only a weak reference); let go of it,
        # or the task and the cycle would wait for the cyclic collector.
        cycle.task = None
        if aborted or not cycle.finished:
            self.abort()  # without an answer, or cut short: the connection cannot go on

    def answered(self, cycle: Cycle) -> None:
        """``cycle``'s answer is out: keep the connection for the next request, or close it."""
        self.cycle = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not (cycle.response.keep_alive and cycle.keep_alive):
            self.linger()
            return
        if self.reading is cycle:
            cycle.discard()  # the unread rest of the body is read and dropped, as nginx does
            self._set_timer(self.limits.body_timeout, self.close)
            self._resume_reading()
            self._pump()
            return
        self._next()

    def _next(self) -> None:
        """The connection is free: the next pipelined request, or wait for one."""
        self._resume_reading()
        if self.parser.events:
            self._pump()
        if self.cycle is None and self.reading is None:
            self.phase = _HEAD if self.parser.receiving_head else _IDLE
            if self.phase == _IDLE:
                self._set_timer(self.limits.keep_alive_timeout, self.close)
            else:
                self._set_timer(self.limits.header_timeout, self._header_timed_out)

    def _refuse(self, refusal: Refusal) -> None:
        """Unparseable input: nginx's page for it once the answers before it are out, then close.

        Within a body, the request reading it fails instead (the engine answers
        400) and the connection closes after that answer.
        """
        reading = self.reading
        if reading is not None:
            self.parser.events.popleft()
            reading.keep_alive = False
            reading.refused(refusal.reason)
            return
        if self.cycle is not None:
            return  # stays queued: answered after the request in flight
        self.parser.events.popleft()
        assert self.transport is not None
        self.transport.write(refusal_answer(refusal, request_id_of([])))
        self.linger()

    # flow control and timers

    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused and self.transport is not None and not self.transport.is_closing():
            self.read_paused = False
            self.transport.resume_reading()

    def resume_for_body(self) -> None:
        """The engine took buffered body bytes: read more if reading was paused for them."""
        if len(self.parser.events) <= 1:
            self._resume_reading()

    async def drain(self) -> None:
        """Wait until the client's socket takes more, within ``send_timeout``."""
        if self.closed:
            raise ClientDisconnected()
        self.drained = self.server.loop.create_future()
        assert self.transport is not None
        timer = WriteTimer(self.server.wheel, self.limits.send_timeout, self.transport, self.abort)
        try:
            await self.drained
        finally:
            timer.cancel()
            self.drained = None
        if self.closed:
            raise ClientDisconnected()

    def _set_timer(self, delay: float, callback: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.server.wheel.call_later(delay, callback)

    def _clear_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def set_body_timer(self, cycle: Cycle) -> None:
        self._set_timer(self.limits.body_timeout, cycle.timed_out)

    def clear_body_timer(self) -> None:
        self._clear_timer()

    def _header_timed_out(self) -> None:
        log.info("client_header_timeout", client=self.peer.client)
        self.close()

    # closing

    def reusable(self) -> bool:
        """Idle: kept alive between requests, or open without a byte of a request yet."""
        if self.cycle is not None or self.reading is not None or self.closed:
            return False
        return self.phase == _IDLE or (self.phase == _HEAD and not self.parser.receiving_head)

    def shutdown(self) -> None:
        """Graceful stop: close now if idle, else after the answer in flight."""
        if self.reusable():
            self.close()
        elif self.cycle is not None:
            self.cycle.keep_alive = False

    def linger(self) -> None:
        """Close after the answer without resetting it: stop sending, drop input, then close.

        Closing a socket with unread input makes the kernel send a reset, which
        can destroy the answer still on its way; nginx's ``lingering_close``
        reads and drops for a while first.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.lingering = True
        self._resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        self._set_timer(_LINGER, self.close)

    def close(self) -> None:
        self._clear_timer()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        self._clear_timer()
        if self.transport is not None:
            self.transport.abort()


def _peer_of(transport: asyncio.Transport) -> Peer:
    peer = address(transport.get_extra_info("peername"))
    return Peer(peer, address(transport.get_extra_info("sockname")))
