"""One request on an asyncio connection: the engine's body reader and response writer.

The connection (``_protocol.HttpProtocol``) feeds a ``Cycle`` the body as it
is parsed and hears from it when the answer is out; the framing of the
answer is ``_http1.Response``'s, shared with the trio driver.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import TYPE_CHECKING, Final

from ._body import SENDFILE_MAX_CHUNK, SENDFILE_UNSUPPORTED, Headers
from ._errors import ClientDisconnected, RequestError, RequestTimeout
from ._http1 import CONTINUE, RequestHead, Response

if TYPE_CHECKING:
    from ._protocol import HttpProtocol


class Cycle:
    """One request on a connection: the engine's body reader and response writer."""

    def __init__(self, protocol: HttpProtocol, head: RequestHead) -> None:
        self.protocol = protocol
        self.head = head
        self.keep_alive = head.keep_alive
        self.expect_continue = head.expect_continue
        self.continued = False
        self.task: asyncio.Task[None] | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.body_done = False
        self.disconnected = False
        self.timeout = False
        self.failure = ""
        self.discarding = False
        self.waiter: asyncio.Future[None] | None = None
        self.response = Response(head, head.keep_alive)
        self.finished = False

    # fed by the protocol

    def feed(self, data: bytes) -> None:
        if self.discarding:
            return
        self.chunks.append(data)
        self.buffered += len(data)
        self._wake()

    def complete(self) -> None:
        self.body_done = True
        self._wake()

    def refused(self, reason: str) -> None:
        self.failure = reason
        self._wake()

    def lost(self) -> None:
        self.disconnected = True
        self._wake()

    def timed_out(self) -> None:
        self.timeout = True
        self._wake()

    def discard(self) -> None:
        self.discarding = True
        self.chunks.clear()
        self.buffered = 0

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # BodyReader

    async def read(self) -> bytes:
        protocol = self.protocol
        if (
            self.expect_continue
            and not self.continued
            and not self.response.started
            and self.head.http_version == "1.1"
        ):
            self.continued = True
            if protocol.transport is not None:
                protocol.transport.write(CONTINUE)
        while not self.chunks:
            if self.body_done:
                return b""
            if self.disconnected:
                raise ClientDisconnected()
            if self.timeout:
                raise RequestTimeout("client body timeout")
            if self.failure:
                raise RequestError(self.failure)
            self.waiter = protocol.server.loop.create_future()
            protocol.set_body_timer(self)
            try:
                await self.waiter
            finally:
                self.waiter = None
                protocol.clear_body_timer()
        data = self.chunks.popleft()
        self.buffered -= len(data)
        protocol.resume_for_body()
        return data

    # ResponseWriter

    async def answer(
        self, status: int, headers: Headers, body: bytes, *, close: bool = False
    ) -> int:
        closing = close or self._closing()
        await self._write(self.response.whole(status, headers, body, closing=closing))
        self._finish()
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
        self._finish()

    async def sendfile(self, fd: int, offset: int, count: int) -> int:
        """From the file to the socket with ``sendfile`` while the transport holds nothing.

        asyncio has no ``sendfile`` on uvloop's transports, and the stdlib's
        gives no progress to time ``send_timeout`` by, so the socket is written
        here, only while the transport's buffer is empty (nothing it holds can
        be overtaken).  When the socket is full, the next chunk goes through the
        transport, whose low-water mark is zero meanwhile: the drain returns
        when all of it is sent, and ``sendfile`` takes over again.
        """
        protocol = self.protocol
        transport = protocol.transport
        if protocol.closed or self.disconnected or transport is None:
            raise ClientDisconnected()
        sock = _socket_fd(transport)
        sent = 0
        transport.set_write_buffer_limits(0)
        try:
            while sent < count:
                if transport.is_closing():
                    # Aborted meanwhile (send_timeout): its descriptor may be closed
                    # and its number another connection's.
                    raise ClientDisconnected()
                if sock >= 0 and transport.get_write_buffer_size() == 0:
                    part = min(count - sent, SENDFILE_MAX_CHUNK)
                    try:
                        taken = os.sendfile(sock, fd, offset + sent, part)
                    except BlockingIOError:
                        taken = -1
                    except ConnectionError:
                        raise ClientDisconnected() from None
                    except OSError as exc:
                        if exc.errno not in SENDFILE_UNSUPPORTED:
                            raise
                        sock = taken = -1  # not for this file: read and send from here on
                    if taken == 0:
                        break  # the file is shorter than it was
                    if taken > 0:
                        sent += taken
                        if taken == SENDFILE_MAX_CHUNK and sent < count:
                            await asyncio.sleep(0)  # let the other connections run
                        continue
                data = os.pread(fd, min(_FILE_CHUNK, count - sent), offset + sent)
                if not data:
                    break
                sent += len(data)
                await self._write(data)
        finally:
            if not transport.is_closing():
                transport.set_write_buffer_limits()
        self.response.sent(sent)
        return sent

    def _closing(self) -> bool:
        if self.expect_continue and not self.continued:
            return True  # the client waits for a 100 that will not come: its body never will
        return self.protocol.server.stopping or not self.keep_alive

    async def _write(self, data: bytes) -> None:
        protocol = self.protocol
        if protocol.closed or self.disconnected:
            raise ClientDisconnected()
        assert protocol.transport is not None
        protocol.transport.write(data)
        if protocol.write_paused:
            await protocol.drain()

    def _finish(self) -> None:
        self.finished = True
        self.protocol.answered(self)


_FILE_CHUNK: Final = 65536


def _socket_fd(transport: asyncio.Transport) -> int:
    """The transport's socket to ``sendfile`` into; -1 when bytes must pass through it (TLS)."""
    sock = transport.get_extra_info("socket")
    if sock is None or transport.get_extra_info("sslcontext") is not None:
        return -1
    fd: int = sock.fileno()
    return fd
