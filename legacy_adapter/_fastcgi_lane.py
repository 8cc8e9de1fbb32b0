"""One FastCGI request driven by event-loop callbacks: the fast lane's backend half.

Why it exists: ``FastCGIBackend.send`` is a chain of coroutines, context
managers and async iterators, and on a pass-through proxy the awaits themselves
are most of the CPU a request costs (``ops/bench/cpu_per_request.py``).  The
uvicorn runtime's fast lane (``proxy._fastlane``) sends small, plain script
requests through here instead: the request goes out in one write on a pooled
connection and the response is parsed in the connection's data callback, as
bytes arrive, and handed to a ``LaneSink``.

Semantics are ``FastCGIBackend.send``'s, from the same pieces: the same params,
codec, hidden headers and added Content-Length; the read timeout runs between
reads; a kept connection found dead before the request went out is replaced
once; a connection goes back to the pool only after a clean END_REQUEST, and
before the client is answered.  Back-pressure: ``pause`` stops reading from
PHP-FPM while the client's socket is full (the timeout does not run then).

asyncio only: it drives the native streams of ``_asyncio_stream``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

from . import _fastcgi_proto as proto
from ._asyncio_stream import AsyncioStream
from ._cgi import client_headers, script_params
from ._exceptions import (
    LegacyError,
    PoolExhausted,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ._fastcgi import FastCGIBackend, log, log_stderr, may_retry
from ._pool import Lease
from ._resolve import RunScript
from ._types import Headers, LegacyRequest

_TASKS: set[asyncio.Task[None]] = set()  # the rare awaiting steps, kept from the GC


class LaneSink(Protocol):
    """Where a ``LaneExchange`` delivers the answer; exactly one of on_error or the end."""

    def on_head(self, status: int, headers: Headers, body: bytes | None) -> None:
        """The response head; ``body`` is the whole body when it came with it, else ``None``."""

    def on_body(self, data: bytes) -> None:
        """A further body chunk (only after ``on_head(..., None)``)."""

    def on_end(self) -> None:
        """The body streamed after ``on_head(..., None)`` is complete."""

    def on_error(self, exc: LegacyError) -> None:
        """The backend failed; after a streamed head, the answer is cut short."""


class LaneExchange:
    """One request to ``backend`` for ``target``, answered through ``sink``.

    Args:
        backend: the FastCGI backend (its pool holds native asyncio streams).
        request: the client request (already checked by the proxy).
        target: the script ``resolve`` picked for the request's path.
        body: the whole request body (the lane takes small bodies only).
        sink: receives the answer.
        loop: the running loop, when the caller has it at hand (asking for it
            costs a ``getpid`` system call on Python 3.11).
    """

    __slots__ = (
        "_backend",
        "_body",
        "_chunks",
        "_conn",
        "_done",
        "_eof",
        "_head",
        "_head_sent",
        "_last_read",
        "_lease",
        "_loop",
        "_paused",
        "_received",
        "_request",
        "_retried",
        "_sink",
        "_stream",
        "_target",
        "_timer",
        "_waiting",
    )

    def __init__(
        self,
        backend: FastCGIBackend,
        request: LegacyRequest,
        target: RunScript,
        body: bytes,
        sink: LaneSink,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._backend = backend
        self._request = request
        self._target = target
        self._body = body
        self._sink = sink
        self._loop = loop or asyncio.get_running_loop()
        self._lease: Lease | None = None
        self._stream: AsyncioStream | None = None
        self._conn = proto.ClientConnection()
        self._head: proto.ResponseHead | None = None
        self._chunks: list[bytes] = []
        self._head_sent = False
        self._eof = False
        self._done = False
        self._paused = False
        self._received = False
        self._retried = False
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Send the request on an idle pooled connection, or queue for one."""
        pool = self._backend.pool
        lease = pool.acquire_nowait()
        if lease is not None:
            self._send(lease)
        elif pool.full:
            pool.wait(self)
            self._waiting = self._loop.call_later(pool.acquire_timeout, self._wait_expired)
        else:  # a slot is free but a connection must be made
            _spawn(self._acquire())

    def granted(self, lease: Lease) -> None:
        """The pool handed over a connection (``Waiter``)."""
        self._stop_waiting()
        if self._done:
            self._backend.pool.release_nowait(lease)
        else:
            self._send(lease)

    def retry(self) -> None:
        """A slot came free without a connection (``Waiter``)."""
        self._stop_waiting()
        if not self._done:
            _spawn(self._acquire())

    def _stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None

    def _wait_expired(self) -> None:
        self._waiting = None
        self._backend.pool.cancel_wait(self)
        size = self._backend.pool.size
        self._fail(PoolExhausted(self._backend.name, f"all {size} connections busy"))

    def pause(self) -> None:
        """Stop reading the response (the client's socket is full)."""
        if self._stream is not None and not self._paused:
            self._paused = True
            self._stream.transport.pause_reading()

    def resume(self) -> None:
        """Read the response again."""
        if self._stream is not None and self._paused:
            self._paused = False
            self._last_read = self._loop.time()
            self._stream.transport.resume_reading()

    def abort(self) -> None:
        """The client is gone: drop the backend connection (a half-read answer cannot be reused)."""
        if not self._done:
            self._done = True
            if self._waiting is not None:
                self._stop_waiting()
                self._backend.pool.cancel_wait(self)
            self._release()

    async def _acquire(self) -> None:
        try:
            lease = await self._backend.pool.acquire()
        except LegacyError as exc:
            self._fail(exc)
            return
        if self._done:  # the client left while we waited
            self._backend.pool.release_nowait(lease)
            return
        self._send(lease)

    async def _reconnect(self, lease: Lease) -> None:
        try:
            await self._backend.reconnect(lease)
        except LegacyError as exc:
            self._backend.pool.release_nowait(lease)
            self._fail(exc)
            return
        if self._done:
            self._backend.pool.release_nowait(lease)
            return
        self._send(lease)

    def _send(self, lease: Lease) -> None:
        stream = lease.stream
        if not isinstance(stream, AsyncioStream):
            raise TypeError("the fast lane needs native asyncio streams")
        if stream.protocol.closed:
            if lease.reused:  # recycled by PHP-FPM since the liveness poll: once more, fresh
                _spawn(self._reconnect(lease))
                return
            self._backend.pool.release_nowait(lease)
            self._fail(UpstreamUnavailable(self._backend.name, "send request: connection closed"))
            return
        self._lease, self._stream = lease, stream
        backend, request = self._backend, self._request
        # backend.params_for, called past its method: _fastcgi is not compiled
        params = script_params(
            request,
            self._target,
            backend.settings.document_root,
            backend.extra,
            request.content_length,
        )
        conn = self._conn
        data = conn.start_request(params, keep_conn=True)
        data += conn.send_stdin(self._body) + conn.end_stdin()
        stream.protocol.listener = self._on_data
        stream.transport.write(data)
        self._last_read = self._loop.time()
        self._timer = self._loop.call_later(self._read_timeout, self._on_timer)

    @property
    def _read_timeout(self) -> float:
        return self._backend.settings.pool.read_timeout

    def _on_data(self) -> None:
        assert self._stream is not None
        protocol = self._stream.protocol
        if self._done:
            return
        if protocol.buffer:
            data = bytes(protocol.buffer)
            protocol.buffer.clear()
            self._received = True
            self._conn.receive_data(data)
            self._last_read = self._loop.time()
        if protocol.closed and not self._eof:
            self._eof = True
            self._conn.receive_data(b"")
        try:
            self._events()
        except UpstreamUnavailable as exc:
            if self._may_retry():
                self._retry_on_fresh()
            else:
                self._fail(exc)
        except LegacyError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug: end this exchange cleanly, never the loop's callback
            log.exception("lane_exchange_failed", request_id=self._request.request_id)
            if not self._done:
                self._fail(UpstreamProtocolError(self._backend.name, f"internal error: {exc!r}"))

    def _events(self) -> None:
        while (event := self._event()) is not None:
            if isinstance(event, proto.ResponseBody):
                if self._head_sent:
                    self._sink.on_body(event.data)
                else:
                    self._chunks.append(event.data)
            elif isinstance(event, proto.ResponseHead):
                self._head = event
            else:
                self._end(event)
                return
        if self._head is not None and not self._head_sent:
            self._head_sent = True
            headers = client_headers(self._head, None, head_only=self._head_only)
            self._sink.on_head(self._head.status, headers, None)
            for chunk in self._chunks:
                self._sink.on_body(chunk)
            self._chunks = []

    @property
    def _head_only(self) -> bool:
        return self._request.method == "HEAD"

    def _event(self) -> proto.ResponseHead | proto.ResponseBody | proto.EndRequest | None:
        name = self._backend.name
        while True:
            try:
                event = self._conn.next_event()
            except proto.ConnectionClosed:
                raise UpstreamUnavailable(name, "closed mid-response") from None
            except proto.ProtocolError as exc:
                raise UpstreamProtocolError(name, str(exc)) from None
            if not isinstance(event, proto.Stderr):
                return event
            log_stderr(name, event.data, request_id=self._request.request_id)

    def _may_retry(self) -> bool:
        """A kept connection that closed before answering anything: send again, once."""
        lease = self._lease
        return (
            lease is not None
            and lease.reused
            and not self._received
            and not self._retried
            and may_retry(self._request.method)
        )

    def _retry_on_fresh(self) -> None:
        """Send the request again on a new connection in the same pool slot."""
        lease, stream = self._lease, self._stream
        assert lease is not None
        assert stream is not None
        self._lease = None  # the slot stays taken; _reconnect replaces the connection
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        stream.protocol.listener = None
        self._conn = proto.ClientConnection()
        self._eof = False
        self._retried = True
        _spawn(self._reconnect(lease))

    def _end(self, event: proto.EndRequest) -> None:
        name = self._backend.name
        if event.protocol_status != proto.REQUEST_COMPLETE:
            status = event.protocol_status
            raise UpstreamProtocolError(name, f"END_REQUEST protocol status {status}")
        if self._head is None:
            raise UpstreamProtocolError(name, "request ended without a response")
        assert self._lease is not None
        if self._conn.can_reuse:
            self._lease.keep()
        self._done = True
        self._release()
        if self._head_sent:
            self._sink.on_end()
            return
        body = b"".join(self._chunks)
        headers = client_headers(self._head, body, head_only=self._head_only)
        self._sink.on_head(self._head.status, headers, body)

    def _on_timer(self) -> None:
        if self._done:
            return
        idle = self._loop.time() - self._last_read
        if self._paused or idle < self._read_timeout:
            wait = self._read_timeout - (0.0 if self._paused else idle)
            self._timer = self._loop.call_later(wait, self._on_timer)
            return
        self._fail(UpstreamTimeout(self._backend.name, "read response: timed out"))

    def _fail(self, exc: LegacyError) -> None:
        self._done = True
        self._release()
        self._sink.on_error(exc)

    def _release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        lease, self._lease = self._lease, None
        if lease is None:
            return
        assert self._stream is not None
        self._stream.protocol.listener = None
        if self._paused:
            self._stream.transport.resume_reading()
        self._backend.pool.release_nowait(lease)


def _spawn(coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
