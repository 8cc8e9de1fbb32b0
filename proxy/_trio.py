"""strangler's HTTP/1.1 server on trio: the engine's second driver.

The same parser (``_http1``), the same engine and the same limits as the
asyncio driver (``_protocol``), written the trio way: one task per
connection reads, parses, runs the engine for each request in turn, and
writes; pipelined requests wait in the parser's queue.  Each timeout is a
deadline on the one read or write that waits for the client (header, body,
keep-alive, send), so a connection that stalls anywhere is closed as nginx
closes it.  The connection limit makes room by closing idle connections
(kept alive, or open without a byte of a request), else refuses with a 503.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import socket

import structlog
import trio

from legacy_adapter import FileChunks

from ._body import SENDFILE_MAX_CHUNK, SENDFILE_UNSUPPORTED, Headers, Peer, RequestServer
from ._engine import AbortResponse
from ._errors import ClientDisconnected, RequestError, RequestTimeout
from ._http1 import (
    CONTINUE,
    END,
    Http1Parser,
    Refusal,
    RequestHead,
    Response,
    address,
    refusal_answer,
)
from ._limits import EdgeLimits, admit, refused_answer
from ._request import request_id_of

log = structlog.get_logger("strangler.http")
_READ = 65536
_LINGER = 2.0  # seconds a closing connection's input is read and dropped (nginx: up to 5 s)


class TrioServer:
    """One worker's listeners and connections on trio."""

    def __init__(self, engine: RequestServer, limits: EdgeLimits) -> None:
        self.engine = engine
        self.limits = limits
        self.connections: dict[Connection, None] = {}
        self.stopping = False
        self._listen_scope = trio.CancelScope()
        self._done = trio.Event()

    async def serve(self, sockets: list[socket.socket], nursery: trio.Nursery) -> None:
        """Accept on ``sockets`` until ``stop``; connections run in ``nursery``."""
        for listener in sockets:
            listener.setblocking(False)
        with self._listen_scope:
            async with trio.open_nursery() as accepting:
                for listener in sockets:
                    accepting.start_soon(self._accept, listener, nursery)
        for listener in sockets:
            trio.lowlevel.notify_closing(listener)
            listener.close()

    async def _accept(self, listener: socket.socket, nursery: trio.Nursery) -> None:
        while True:
            sock, pause = _try_accept(listener)
            if sock is not None:
                nursery.start_soon(self._connection, Client(sock))
                await trio.lowlevel.checkpoint()  # one connection at a time: let the others run
            elif pause is None:
                await trio.lowlevel.wait_readable(listener)
            else:
                await trio.sleep(pause)

    async def _connection(self, stream: Client) -> None:
        conn = Connection(self, stream)
        self.connections[conn] = None
        try:
            if not admit(self.connections, conn, self.limits.max_connections):
                conn.busy = True  # refused: never counted as room to make
                with trio.move_on_after(_LINGER):
                    await stream.send_all(refused_answer())
                    await linger(stream)
                return
            lingers = False  # a passed deadline (header, keep-alive, send) closes unanswered
            with conn.scope:
                with conn.deadlines:
                    lingers = await conn.run()
                if lingers:
                    with trio.move_on_after(_LINGER):
                        await linger(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ClientDisconnected):
            pass
        except Exception:  # a bug ends this connection only, as on asyncio
            log.exception("request_failed_in_driver")
        finally:
            self.connections.pop(conn, None)
            stream.close()
            if self.stopping and not self.connections:
                self._done.set()

    async def stop(self, graceful_timeout: float) -> None:
        """Stop listening, close idle connections, wait for answers in flight, then cancel."""
        self.stopping = True
        self._listen_scope.cancel()
        for conn in list(self.connections):
            if conn.reusable():
                conn.close()
        if self.connections:
            with trio.move_on_after(graceful_timeout):
                await self._done.wait()
        for conn in list(self.connections):
            conn.close()


def _try_accept(listener: socket.socket) -> tuple[socket.socket | None, float | None]:
    """A new connection; else the pause before the next try (``None``: until one arrives).

    Raises:
        OSError: the listening socket itself is broken (as trio's ``SocketListener``).
    """
    try:
        return listener.accept()[0], None
    except BlockingIOError:
        return None, None
    except OSError as exc:
        if exc.errno in _LISTENER_GONE:
            raise
        if exc.errno in _OUT_OF_RESOURCES:  # as trio's SocketListener: wait for room
            log.warning("accept_failed", error=exc.strerror)
            return None, _ACCEPT_BACKOFF
        return None, 0.0  # the client gave up before the accept (ECONNABORTED, ...)


class Connection:
    """One client connection: read, run the engine per request, write."""

    def __init__(self, server: TrioServer, stream: Client) -> None:
        self.server = server
        self.limits = server.limits
        self.stream = stream
        self.parser = Http1Parser()
        self.scope = trio.CancelScope()
        # The header, keep-alive and send timeouts: one scope whose deadline is moved
        # around each wait for the client, not a new scope per read or write.  When it
        # passes, the connection ends, as nginx closes it.
        self.deadlines = trio.CancelScope()
        self.busy = False
        self.peer = _peer_of(stream)
        stream.deadlines = self.deadlines

    def reusable(self) -> bool:
        """Idle: between requests, or open without a byte of a request yet."""
        return not self.busy and not self.parser.receiving_head and not self.parser.events

    def close(self) -> None:
        """End the connection (its task closes the stream)."""
        self.scope.cancel()

    async def receive(self, deadline: float) -> bool:
        """Feed the parser what arrives before ``deadline`` (else the connection ends).

        Returns ``False`` at the end of the stream.
        """
        data = await self.stream.receive_some(_READ, deadline)
        self.parser.feed(data)
        return bool(data)

    async def receive_body(self, patience: float) -> bool:
        """Feed the parser what arrives within ``patience`` seconds; ``False`` at the end.

        Raises:
            _TimedOut: nothing came in time (the request is answered 408).
        """
        with trio.move_on_after(patience) as waited:
            data = await self.stream.receive_some(_READ)
        if waited.cancelled_caught:
            raise _TimedOut()
        self.parser.feed(data)
        return bool(data)

    async def run(self) -> bool:
        """Serve requests until the connection ends; ``True`` when it should linger first."""
        events = self.parser.events
        # The header timeout runs from the connection's start, or from the first byte
        # of the next request after a keep-alive wait, to the head's end: slow bytes
        # do not restart it.
        deadline = trio.current_time() + self.limits.header_timeout
        idle = False
        while not self.server.stopping or events:
            if not events:
                if not await self.receive(deadline):
                    return False
                if idle:
                    idle = False
                    deadline = trio.current_time() + self.limits.header_timeout
                continue
            event = events.popleft()
            if isinstance(event, Refusal):
                answer = refusal_answer(event, request_id_of([]))
                await self.stream.send_all(answer, self.limits.send_timeout)
                return True
            if not isinstance(event, RequestHead):
                continue  # the rest of a body nobody read, already answered
            self.busy = True
            cycle = Cycle(self, event)
            try:
                await self.server.engine.serve(event, self.peer, cycle, cycle)
            except AbortResponse:
                return False
            if not cycle.finished:
                return False
            if not (cycle.response.keep_alive and cycle.keep_alive):
                return True
            if not await cycle.discard_rest():
                return True
            self.busy = False
            if not self.stream.parked:
                await trio.lowlevel.checkpoint()  # answered without waiting: let others run
            self.stream.parked = False
            idle = not events and not self.parser.receiving_head
            deadline = trio.current_time() + (
                self.limits.keep_alive_timeout if idle else self.limits.header_timeout
            )
        return False


async def linger(stream: Client) -> None:
    """Close after the answer without resetting it: stop sending, read and drop the rest.

    Closing a socket with unread input makes the kernel send a reset, which can
    destroy the answer still on its way; nginx's ``lingering_close`` reads
    and drops for a while first.  The caller bounds the time.
    """
    try:
        await stream.send_eof()
        while await stream.receive_some(_READ):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


class _TimedOut(Exception):
    """A read found nothing before its deadline."""


class Cycle:
    """One request on a trio connection: the engine's body reader and response writer."""

    def __init__(self, conn: Connection, head: RequestHead) -> None:
        self.conn = conn
        self.head = head
        self.keep_alive = head.keep_alive and not conn.server.stopping
        self.continued = False
        self.body_done = False
        self.response = Response(head, self.keep_alive)
        self.finished = False

    async def read(self) -> bytes:
        conn = self.conn
        events = conn.parser.events
        if (
            self.head.expect_continue
            and not self.continued
            and not self.response.started
            and self.head.http_version == "1.1"
        ):
            self.continued = True
            await self._write(CONTINUE)
        while not self.body_done:
            if events:
                event = events[0]
                if isinstance(event, bytes):
                    events.popleft()
                    if event is END:
                        self.body_done = True
                        return b""
                    return event
                if isinstance(event, Refusal):
                    events.popleft()
                    self.keep_alive = False
                    raise RequestError(event.reason)
                return b""  # a next request's head cannot come before this body's end
            try:
                if not await conn.receive_body(conn.limits.body_timeout):
                    raise ClientDisconnected()
            except _TimedOut:
                self.keep_alive = False
                raise RequestTimeout("client body timeout") from None
        return b""

    async def discard_rest(self) -> bool:
        """Read and drop what the engine left of the body; ``False`` when that cannot be."""
        if self.body_done:
            return True
        if self.head.expect_continue and not self.continued:
            return False  # the client waits for a 100 that will not come
        try:
            while await self.read():
                pass
        except (RequestError, ClientDisconnected):
            return False
        return True

    async def answer(
        self, status: int, headers: Headers, body: bytes, *, close: bool = False
    ) -> int:
        closing = close or self._closing()
        await self._write(self.response.whole(status, headers, body, closing=closing))
        self.finished = True
        return self.response.body_bytes

    async def start(self, status: int, headers: Headers) -> None:
        await self._write(self.response.start(status, headers, closing=self._closing()))

    async def send(self, data: bytes) -> int:
        response = self.response
        before = response.body_bytes
        framed = response.body(data)
        if framed:
            await self._write(framed)
        return response.body_bytes - before

    async def end(self) -> None:
        last = self.response.end()
        if last:
            await self._write(last)
        self.finished = True

    async def sendfile(self, fd: int, offset: int, count: int) -> int:
        conn = self.conn
        try:
            sent = await conn.stream.sendfile(fd, offset, count, conn.limits.send_timeout)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ClientDisconnected() from None
        self.response.sent(sent)
        return sent

    def _closing(self) -> bool:
        if self.head.expect_continue and not self.continued:
            return True  # the client waits for a 100 that will not come: its body never will
        return self.conn.server.stopping or not self.keep_alive

    async def _write(self, data: bytes) -> None:
        conn = self.conn
        try:
            await conn.stream.send_all(data, conn.limits.send_timeout)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ClientDisconnected() from None


def _peer_of(stream: Client) -> Peer:
    try:
        return Peer(address(stream.sock.getpeername()), address(stream.sock.getsockname()))
    except OSError:
        return Peer(None, None)


class Client:
    """The client's socket, read and written try-first.

    trio's ``SocketStream`` ends every successful read and write with a
    checkpoint, a round trip through the scheduler; this calls the socket
    first and parks the task (``wait_readable``/``wait_writable``, checkpoints
    that honour the connection's deadlines) only when it must wait, as
    ``legacy_adapter``'s trio stream does for PHP-FPM.  A read's or write's
    deadline goes on the connection's ``deadlines`` scope only then, as nginx
    arms its timers only when a socket would block: moving a scope's deadline
    is itself a cost, and most writes never wait (``ops/bench/run``'s trio rows
    measure the driver).  ``parked`` says whether it
    waited since the flag was last cleared, so that a connection answering
    pipelined requests without waiting still lets the others run.  Errors are
    trio's, so the driver handles them as it would a ``SocketStream``'s.
    """

    __slots__ = ("_streak", "closed", "deadlines", "parked", "sock")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # a connection reset before this point
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.closed = False
        self.parked = False
        self.deadlines: trio.CancelScope | None = None  # the connection's, once it has one
        self._streak = 0  # reads and writes in a row that did not wait

    async def _ran_on(self) -> None:
        """After ``_STREAK`` operations without waiting, yield: a client that keeps data
        coming (a body nobody reads, a lingering close) cannot hold the worker, and the
        connection's deadlines are checked."""
        self._streak += 1
        if self._streak >= _STREAK:
            self._streak = 0
            await trio.lowlevel.checkpoint()

    def _park(self, deadline: float) -> bool:
        """Before a wait: the deadline (if any) goes on the connection's scope; ``True`` if so."""
        self.parked, self._streak = True, 0
        if deadline == math.inf or self.deadlines is None:
            return False
        self.deadlines.deadline = deadline
        return True

    def _unpark(self) -> None:
        """After a wait that had a deadline: none until the next wait."""
        assert self.deadlines is not None
        self.deadlines.deadline = math.inf

    async def receive_some(self, max_bytes: int, deadline: float = math.inf) -> bytes:
        """What the socket has (``b""`` at its end), waiting only while it has nothing.

        Args:
            max_bytes: the most to read.
            deadline: when a wait ends the connection (trio's clock; none by default).

        Raises:
            trio.ClosedResourceError: this side closed it.
            trio.BrokenResourceError: the connection broke.
        """
        sock = self.sock
        waited = timed = False
        try:
            while True:
                if self.closed:
                    raise trio.ClosedResourceError
                try:
                    data: bytes | None = sock.recv(max_bytes)
                except BlockingIOError:
                    data = None
                except OSError as exc:
                    raise trio.BrokenResourceError(exc.strerror) from exc
                if data is not None:
                    break
                if not waited:
                    waited = True
                    timed = self._park(deadline)
                await trio.lowlevel.wait_readable(sock)
        finally:  # however the wait ended, its deadline goes with it
            if timed:
                self._unpark()
        await self._ran_on()
        return data

    async def send_all(self, data: bytes, patience: float = math.inf) -> None:
        """Write all of ``data``, waiting only while the socket's buffer is full.

        Args:
            data: the bytes to send.
            patience: seconds a wait may last before the connection ends (none by default).

        Raises:
            trio.ClosedResourceError: this side closed it.
            trio.BrokenResourceError: the connection broke.
        """
        sock = self.sock
        view = memoryview(data)
        timed = armed = False
        try:
            while view:
                if self.closed:
                    raise trio.ClosedResourceError
                try:
                    sent = sock.send(view)
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    raise trio.BrokenResourceError(exc.strerror) from exc
                if sent:
                    view = view[sent:]
                    armed = False  # as nginx's send_timeout: the next wait has the whole patience
                    continue
                if not armed:
                    armed = True
                    timed = self._park(trio.current_time() + patience) or timed
                await trio.lowlevel.wait_writable(sock)
        finally:  # however the wait ended, its deadline goes with it
            if timed:
                self._unpark()
        await self._ran_on()

    async def sendfile(self, fd: int, offset: int, count: int, patience: float = math.inf) -> int:
        """Send ``count`` bytes of the file ``fd`` from ``offset`` with ``sendfile``.

        The waits are ``send_all``'s: only while the socket's buffer is full,
        each within ``patience``.

        Returns:
            The bytes sent: fewer than ``count`` when the file ended first.

        Raises:
            trio.ClosedResourceError: this side closed it.
            trio.BrokenResourceError: the connection broke.
        """
        sock = self.sock
        sent = 0
        timed = armed = False
        try:
            while sent < count:
                if self.closed:
                    raise trio.ClosedResourceError
                part = min(count - sent, SENDFILE_MAX_CHUNK)
                try:
                    taken = os.sendfile(sock.fileno(), fd, offset + sent, part)
                except BlockingIOError:
                    taken = -1
                except ConnectionError as exc:
                    raise trio.BrokenResourceError(exc.strerror) from exc
                except OSError as exc:
                    if exc.errno not in SENDFILE_UNSUPPORTED:
                        raise
                    break  # not for this file: read and send the rest
                if taken == 0:
                    return sent  # the file is shorter than it was
                if taken > 0:
                    sent += taken
                    armed = False
                    if taken == SENDFILE_MAX_CHUNK and sent < count:
                        await trio.lowlevel.checkpoint()  # let the other connections run
                    continue
                if not armed:
                    armed = True
                    timed = self._park(trio.current_time() + patience) or timed
                await trio.lowlevel.wait_writable(sock)
        finally:
            if timed:
                self._unpark()
        async for data in FileChunks(fd, offset + sent, count - sent):
            await self.send_all(data, patience)
            sent += len(data)
        await self._ran_on()
        return sent

    async def send_eof(self) -> None:
        """Stop sending; the peer reads the end of the stream."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise trio.BrokenResourceError(exc.strerror) from exc
        await trio.lowlevel.checkpoint()

    def close(self) -> None:
        """Close the socket; a task parked on it is woken with ``ClosedResourceError``."""
        if not self.closed:
            self.closed = True
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()


# accept() failures that mean "no room now", not "this client left" (trio's list)
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_LISTENER_GONE = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EINVAL})
_STREAK = 16
_ACCEPT_BACKOFF = 0.1
