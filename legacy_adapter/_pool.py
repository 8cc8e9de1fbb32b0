"""A bounded pool of kept-alive stream connections to one backend address.

Strategy: a slot count caps the connections a worker holds (busy + idle) at
``size``; waiting for a slot is bounded by ``acquire_timeout`` and then fails
with ``PoolExhausted`` (503) instead of queueing forever.  Waiters queue in
order and a released slot goes straight to the first: under load (far more
clients than PHP children) most requests wait here, so on asyncio a waiter
is a bare loop future rather than an anyio semaphore under a cancel scope
(``ops/bench/run`` measures the pass-through under that load).  Waiters
join in order and all wait as long, so their deadlines are in order too:
one loop timer, armed for the first waiter's deadline, expires them all,
instead of a timer started and cancelled per wait.  On trio a waiter is a
task parked in trio's ``ParkingLot`` under ``move_on_after``, without
anyio's event and scope layered on top.  Idle connections sit
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

import asyncio
import select
import time
from collections import deque

import anyio
import anyio.abc
import sniffio
import trio

from ._asyncio_stream import AsyncioStream
from ._exceptions import PoolExhausted
from ._transport import connect
from ._trio_stream import TrioStream

_Stream = anyio.abc.SocketStream | anyio.abc.UNIXSocketStream | TrioStream
_TIMER_SLACK = 0.001  # uvloop's timers run in whole milliseconds, and can come that early


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
        self._free = size
        self._waiters: deque[tuple[asyncio.Future[bool], float]] = deque()  # with deadlines
        self._expiry: asyncio.TimerHandle | None = None  # armed for the first waiter's
        self._parked: trio.lowlevel.ParkingLot | None = None  # trio's waiters
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[tuple[_Stream, float]] = []
        self._closed = False

    @property
    def in_use(self) -> int:
        """Connections currently lent out."""
        return self.size - self._free

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
        if self._free > 0:
            self._free -= 1  # the common case: no waiting at all
        elif not await self._wait_for_slot():
            raise PoolExhausted(self.backend, f"all {self.size} connections busy")
        failure: BaseException | None = None
        try:
            return await self._checkout()
        except BaseException as exc:
            failure = exc
        self._release_slot()
        raise failure

    async def release(self, lease: Lease) -> None:
        """Give back a slot, keeping the connection only if the lease said so."""
        try:
            await self._checkin(lease)
        finally:
            self._release_slot()

    def _release_slot(self) -> None:
        """The slot goes to the first waiter still waiting, else back to the count."""
        waiters = self._waiters
        while waiters:
            if not (waiter := waiters.popleft()[0]).done():
                waiter.set_result(True)
                return
        if self._parked:
            self._parked.unpark()  # the task wakes holding the slot
            return
        self._free += 1

    async def _wait_for_slot(self) -> bool:
        """Wait in line for a slot, at most ``acquire_timeout``; ``False`` when none came."""
        if sniffio.current_async_library() != "asyncio":
            return await self._wait_with_trio()
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        deadline = loop.time() + self.acquire_timeout
        self._waiters.append((future, deadline))
        if self._expiry is None:
            self._expiry = loop.call_at(deadline, self._expire_waiters)
        cancelled: asyncio.CancelledError | None = None
        try:
            granted = await future
        except asyncio.CancelledError as exc:  # re-raised as it came: its scope knows it
            cancelled = exc
            granted = False
        if cancelled is not None:
            if future.done() and not future.cancelled() and future.result():
                self._release_slot()  # granted as the task was cancelled: pass it on
            raise cancelled
        return granted

    def _expire_waiters(self) -> None:
        """The timer: fail the waiters whose deadline has come, re-arm for the next."""
        self._expiry = None
        loop = self._loop
        assert loop is not None
        now = loop.time() + _TIMER_SLACK
        waiters = self._waiters
        while waiters:
            future, deadline = waiters[0]
            if not future.done():
                if deadline > now:
                    self._expiry = loop.call_at(deadline, self._expire_waiters)
                    return
                future.set_result(False)
            waiters.popleft()

    async def _wait_with_trio(self) -> bool:
        """Park in line; ``unpark`` hands over a slot, a cancellation leaves the line."""
        parked = self._parked
        if parked is None:
            parked = self._parked = trio.lowlevel.ParkingLot()
        with trio.move_on_after(self.acquire_timeout):
            await parked.park()
            return True
        return False

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
