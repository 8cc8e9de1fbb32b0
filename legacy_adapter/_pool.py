"""A bounded pool of kept-alive stream connections to one backend address.

Strategy: a semaphore caps the connections a worker holds (busy + idle) at
``size``; waiting for a slot is bounded by ``acquire_timeout`` and then fails
with ``PoolExhausted`` (503) instead of queueing forever.  Idle connections sit
on a LIFO stack so the hottest ones are reused and the cold ones age out:
``maintain()`` closes any idle longer than ``idle_timeout``.  This matters for
PHP-FPM, where an idle kept-alive connection still holds a child process: the
pools of all workers together must never hold more than ``pm.max_children``.

Before reuse, a connection is checked for a close or stray bytes: a PHP-FPM
child that was recycled (``pm.max_requests``) closed its end, and we would
otherwise find out only after writing a request into a dead socket.  Native
asyncio streams keep reading while idle, so their protocol already knows (no
system call); other streams are polled for readability without waiting.
"""

from __future__ import annotations

import select
import time

import anyio
import anyio.abc

from ._asyncio_stream import AsyncioStream
from ._exceptions import PoolExhausted
from ._transport import connect

_Stream = anyio.abc.SocketStream | anyio.abc.UNIXSocketStream


class Lease:
    """A connection lent out by the pool; call ``keep()`` to give it back for reuse."""

    __slots__ = ("_keep", "reused", "stream")

    def __init__(self, stream: _Stream, *, reused: bool) -> None:
        self.stream = stream
        self.reused = reused
        self._keep = False

    def keep(self) -> None:
        """Mark the connection clean: it goes back to the pool instead of being closed."""
        self._keep = True


class ConnectionPool:
    """Connections to one backend, shared by the tasks of one worker process.

    Args:
        backend: backend name, for error messages.
        address: ``host:port`` or ``unix:/path``.
        size: most connections open at once (busy and idle).
        idle_timeout: an idle connection older than this is closed.
        acquire_timeout: longest wait for a free slot before ``PoolExhausted``.
        connect_timeout: longest wait for a new connection.
    """

    def __init__(
        self,
        backend: str,
        address: str,
        *,
        size: int,
        idle_timeout: float,
        acquire_timeout: float,
        connect_timeout: float,
    ) -> None:
        self.backend = backend
        self.address = address
        self.size = size
        self.idle_timeout = idle_timeout
        self.acquire_timeout = acquire_timeout
        self.connect_timeout = connect_timeout
        self._slots = anyio.Semaphore(size)
        self._idle: list[tuple[_Stream, float]] = []
        self._closed = False

    @property
    def in_use(self) -> int:
        """Connections currently lent out."""
        return self.size - self._slots.value

    @property
    def idle(self) -> int:
        """Connections open and waiting for reuse."""
        return len(self._idle)

    def lease(self) -> _Leasing:
        """Lend a connection (``async with pool.lease() as lease``).

        It is closed on exit unless ``Lease.keep()`` was called.

        Raises:
            PoolExhausted: no slot freed up within ``acquire_timeout``.
            UpstreamUnavailable, UpstreamTimeout: a new connection could not be made.
        """
        return _Leasing(self)

    async def acquire(self) -> Lease:
        """Take a slot and a connection; pair with ``release``.  Prefer ``lease()``."""
        try:
            self._slots.acquire_nowait()  # the common case: no cancel scope, no wait
            free = True
        except anyio.WouldBlock:
            free = False
        if not free:  # waited for outside the except block (proxy/_build.py)
            with anyio.move_on_after(self.acquire_timeout) as scope:
                await self._slots.acquire()
            if scope.cancelled_caught:
                raise PoolExhausted(self.backend, f"all {self.size} connections busy")
        try:
            return await self._checkout()
        except BaseException:
            self._slots.release()
            raise

    async def release(self, lease: Lease) -> None:
        """Give back a slot, keeping the connection only if the lease said so."""
        try:
            await self._checkin(lease)
        finally:
            self._slots.release()

    async def maintain(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Close idle connections past ``idle_timeout``; runs until cancelled."""
        task_status.started()
        interval = max(0.05, min(self.idle_timeout / 2, 1.0))
        while True:
            await anyio.sleep(interval)
            await self._close_stale(time.monotonic() - self.idle_timeout)

    async def aclose(self) -> None:
        """Close idle connections; leased ones close when their lease ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for stream, _ in idle:
            await _close(stream)

    async def _checkout(self) -> Lease:
        deadline = time.monotonic() - self.idle_timeout
        while self._idle:
            stream, since = self._idle.pop()
            if since > deadline and _looks_alive(stream):
                return Lease(stream, reused=True)
            await _close(stream)
        stream = await connect(self.backend, self.address, self.connect_timeout)
        return Lease(stream, reused=False)

    async def _checkin(self, lease: Lease) -> None:
        if lease._keep and not self._closed and self.idle_timeout > 0:
            self._idle.append((lease.stream, time.monotonic()))
        else:
            await _close(lease.stream)

    async def _close_stale(self, deadline: float) -> None:
        fresh = [(s, t) for s, t in self._idle if t > deadline]
        stale = [s for s, t in self._idle if t <= deadline]
        self._idle = fresh
        for stream in stale:
            await _close(stream)


def _looks_alive(stream: _Stream) -> bool:
    """True when the peer has neither closed nor sent anything since the last answer.

    An idle FastCGI connection must be silent: readable means EOF (a recycled
    PHP-FPM child) or stray bytes, and either way it cannot carry a request.

    A native asyncio stream needs no system call: its transport keeps reading
    while the connection sits idle, as nginx's keepalive cache does, so a
    close or stray bytes have already reached its protocol.  (A close still
    in flight is caught by the retry of a kept connection that closes before
    answering.)  Other streams are polled.
    """
    if isinstance(stream, AsyncioStream):
        protocol = stream.protocol
        return not protocol.closed and not protocol.buffer
    fd = stream.extra(anyio.abc.SocketAttribute.raw_socket).fileno()
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return not poller.poll(0)


class _Leasing:
    """``async with pool.lease()``: a class, not a generator, as it runs per request."""

    __slots__ = ("_lease", "_pool")

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._lease: Lease | None = None

    async def __aenter__(self) -> Lease:
        self._lease = await self._pool.acquire()
        return self._lease

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._lease is not None
        await self._pool.release(self._lease)


async def _close(stream: _Stream) -> None:
    with anyio.CancelScope(shield=True):
        await stream.aclose()
