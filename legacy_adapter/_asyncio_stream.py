"""A byte stream straight on asyncio's protocol API, for backend connections.

Why it exists: anyio's asyncio socket stream checkpoints (yields to the event
loop) on every send and receive, and waits on an ``asyncio.Event`` per read.
On a pass-through proxy that is several loop iterations per request, each
paid for in the worker's CPU (``ops/bench/engine_cpu.py`` measures the
request path with this stream in the pool).  On asyncio (and uvloop) the
pool therefore uses this stream: ``send`` writes to the transport and only
waits when the kernel buffer is full; ``receive`` waits on one future only
when nothing is buffered.  Cancellation and timeouts still come from anyio's
cancel scopes, which cancel the awaiting task.  On trio the pool keeps
anyio's streams.

It raises the same exceptions as anyio streams (``EndOfStream``,
``BrokenResourceError``), so callers translate errors in one place either way.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, Final, Protocol

import anyio
import anyio.abc


class Timers(Protocol):
    """What times a read: ``call_later(delay, callback)`` giving a handle with ``cancel()``."""

    def call_later(self, delay: float, callback: Callable[[], Any], /) -> Any: ...


_TIMERS: Final[dict[asyncio.AbstractEventLoop, Timers]] = {}


def use_timers(loop: asyncio.AbstractEventLoop, timers: Timers) -> None:
    """Time reads on ``loop``'s streams with ``timers`` (a worker's timer wheel).

    A read timeout is set and cleared on every read of every proxied answer; a
    wheel does that with two set operations instead of a loop timer each
    (``ops/bench/engine_cpu.py`` measures the request path).
    """
    _TIMERS[loop] = timers


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        # Asked once per connection: on Python 3.11 every get_running_loop() is a getpid().
        self.loop = asyncio.get_running_loop()
        self.timers: Timers = _TIMERS.get(self.loop) or _LoopTimers(self.loop)
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.error: BaseException | None = None
        self.readable: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        _wake(self.readable)

    def eof_received(self) -> bool:
        self.closed = True
        _wake(self.readable)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        _wake(self.readable)
        _wake(self.writable)

    def pause_writing(self) -> None:
        self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        _wake(self.writable)
        self.writable = None


class _LoopTimers:
    """The loop's own timers, where no wheel was given."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def call_later(self, delay: float, callback: Callable[[], Any], /) -> Any:
        return self._loop.call_later(delay, callback)


class _Expiry:
    """Fails a read's or write's wait with ``TimeoutError`` when called (a timer's callback)."""

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self._future = future

    def __call__(self) -> None:
        if not self._future.done():
            self._future.set_exception(TimeoutError())


class WriteTimer:
    """Calls ``expire`` when a paused transport has taken nothing for ``timeout`` s.

    As nginx's send timeouts, the time runs between two writes, not over the
    whole wait for the buffer to drain (from the high-water mark to the low
    one): when the timer fires and the transport's buffer has shrunk since it
    was armed, the peer took some, and the timer is armed again.  The client
    side (``proxy._protocol``) and the backend streams share it.
    """

    __slots__ = ("_expire", "_handle", "_size", "_timeout", "_timers", "_transport")

    def __init__(
        self,
        timers: Timers,
        timeout: float,
        transport: asyncio.WriteTransport,
        expire: Callable[[], Any],
    ) -> None:
        self._timers = timers
        self._timeout = timeout
        self._transport = transport
        self._expire = expire
        self._size = transport.get_write_buffer_size()
        self._handle = timers.call_later(timeout, self)

    def __call__(self) -> None:
        size = self._transport.get_write_buffer_size()
        if size < self._size:
            self._size = size
            self._handle = self._timers.call_later(self._timeout, self)
            return
        self._expire()

    def cancel(self) -> None:
        """The wait is over: the timer will not call ``expire``."""
        self._handle.cancel()


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class AsyncioStream:
    """The subset of anyio's ``ByteStream`` the pool uses, on an asyncio transport."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def send(
        self,
        data: bytes,
        timeout: float | None = None,  # noqa: ASYNC109 - a loop timer only when it must wait
    ) -> None:
        """Write ``data``; wait only while the transport is paused (buffer full).

        Raises:
            anyio.BrokenResourceError: the connection is gone.
            TimeoutError: the peer took nothing for ``timeout`` s (``WriteTimer``),
                as nginx's ``fastcgi_send_timeout``.
        """
        protocol = self._protocol
        if protocol.closed:
            raise anyio.BrokenResourceError from protocol.error
        transport = self._transport
        transport.write(data)
        writable = protocol.writable
        if writable is None:
            return
        timer = (
            None
            if timeout is None
            else WriteTimer(protocol.timers, timeout, transport, _Expiry(writable))
        )
        try:
            await writable
        finally:
            if timer is not None:
                timer.cancel()

    async def receive(
        self,
        max_bytes: int = 65536,
        timeout: float | None = None,  # noqa: ASYNC109 - one loop timer, cheaper than a scope
    ) -> bytes:
        """Return buffered bytes, waiting (at most ``timeout`` s) if none are buffered.

        The timeout is one timer on the loop rather than a cancel scope: it is
        checked on every read of every proxied response.

        Raises:
            anyio.EndOfStream: the peer closed and everything was read.
            TimeoutError: nothing arrived within ``timeout``.
        """
        protocol = self._protocol
        while not protocol.buffer:
            if protocol.closed:
                if protocol.error is not None:
                    raise anyio.BrokenResourceError from protocol.error
                raise anyio.EndOfStream
            readable = protocol.readable = protocol.loop.create_future()
            timer = (
                None if timeout is None else protocol.timers.call_later(timeout, _Expiry(readable))
            )
            try:
                await readable
            finally:
                protocol.readable = None
                if timer is not None:
                    timer.cancel()
        data = bytes(protocol.buffer[:max_bytes])
        del protocol.buffer[:max_bytes]
        return data

    async def aclose(self) -> None:
        """Close the transport (never waits).

        Bytes still buffered mean the backend stopped taking the request (a
        send timed out, or the exchange failed mid-request): they are dropped
        with the connection.  A plain ``close`` would keep the socket open
        until a peer that may never read had taken them.
        """
        transport = self._transport
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    @property
    def protocol(self) -> _Protocol:
        """The protocol: received bytes in ``buffer``, ``closed`` once the peer has gone."""
        return self._protocol

    def extra(self, attribute: Any, default: Any = None) -> Any:
        """``SocketAttribute.raw_socket`` for the pool's liveness check."""
        if attribute is anyio.abc.SocketAttribute.raw_socket:
            return self._transport.get_extra_info("socket")
        return default


async def connect_asyncio(address: str) -> AsyncioStream:
    """Connect to ``host:port`` or ``unix:/path`` with the running asyncio loop."""
    loop = asyncio.get_running_loop()
    if address.startswith("unix:"):
        transport, protocol = await loop.create_unix_connection(_Protocol, address[5:])
    else:
        host, _, port = address.rpartition(":")
        transport, protocol = await loop.create_connection(_Protocol, host.strip("[]"), int(port))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return AsyncioStream(transport, protocol)  # uvloop's transports are not subclasses
