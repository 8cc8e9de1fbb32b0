"""What the engine and its drivers exchange: the peer, the body reader, the response writer.

A driver (``_protocol``, ``_trio``, the ASGI adapter in ``_app``) implements
``BodyReader`` and ``ResponseWriter`` over its connection; the engine
(``_engine``) only ever reads and writes through them, so it never knows
which runtime, parser or server carries the bytes.  The bodies here are
classes, not async generators: the compiled build compiles classes, and an
async generator registers itself with the loop once per request.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final, Protocol

from legacy_adapter import Chunks, read_chunk

from ._errors import BodyTooLarge

if TYPE_CHECKING:
    from shadow import Capture

    from ._http1 import RequestHead

Headers = list[tuple[bytes, bytes]]


class Peer:
    """Where a connection comes from and arrives: the same for all its requests."""

    __slots__ = ("client", "scheme", "server")

    def __init__(
        self,
        client: tuple[str, int] | None,
        server: tuple[str, int | None] | None,
        scheme: str = "http",
    ) -> None:
        self.client = client
        self.server = server
        self.scheme = scheme


class BodyReader(Protocol):
    """The request body as the driver receives it."""

    async def read(self) -> bytes:
        """The next chunk; ``b""`` once the body is complete.

        Raises:
            ClientDisconnected: the client left before the body was complete.
            RequestError: the body stalled past ``client_body_timeout`` (408).
        """
        ...


class ResponseWriter(Protocol):
    """The answer as the driver sends it: ``answer``, or ``start``, ``send``... ``end``."""

    async def answer(
        self, status: int, headers: Headers, body: bytes, *, close: bool = False
    ) -> int:
        """The whole answer at once; ``close``: the connection closes after it.

        Returns:
            The body bytes sent: fewer than ``body`` when its head declares fewer.
        """
        ...

    async def start(self, status: int, headers: Headers) -> None:
        """The head of an answer whose body follows (chunked unless a length is given)."""
        ...

    async def send(self, chunk: bytes) -> int:
        """One chunk of the body; waits while the client's socket is full.

        Returns:
            The bytes of ``chunk`` sent: fewer past the length the head declared.
        """
        ...

    async def sendfile(self, fd: int, offset: int, count: int) -> int:
        """``count`` bytes of the open file ``fd`` from ``offset`` as the body, after ``start``.

        Sent from the file (``sendfile``) where the connection allows, else
        read and sent.

        Returns:
            The bytes sent: fewer than ``count`` when the file ended first.
        """
        ...

    async def end(self) -> None:
        """The body is complete."""
        ...


# sendfile's failures that mean "not for this file or socket": read and send instead.
SENDFILE_UNSUPPORTED: Final = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})
# The most one sendfile call sends (nginx's sendfile_max_chunk): a fast reader of a
# large file lets the worker's other connections run between two calls.
SENDFILE_MAX_CHUNK: Final = 2 * 1024 * 1024


class RequestServer(Protocol):
    """What a driver runs each request through: the engine (``_engine.Engine``)."""

    async def serve(
        self, head: RequestHead, peer: Peer, body: BodyReader, writer: ResponseWriter
    ) -> None:
        """Answer one request through ``writer`` (``Engine.serve``)."""
        ...


class BodyStream(Chunks):
    """The request body as it arrives, refusing more than ``limit`` bytes in all."""

    __slots__ = ("_limit", "_reader", "_received")

    def __init__(self, reader: BodyReader, limit: int) -> None:
        self._reader = reader
        self._limit = limit
        self._received = 0

    async def read(self) -> bytes:
        chunk = await self._reader.read()
        self._received += len(chunk)
        if self._received > self._limit:
            raise BodyTooLarge(f"body exceeds the limit of {self._limit} bytes")
        return chunk


class _NoBody(Chunks):
    """The body of a request without Content-Length or Transfer-Encoding: none (RFC 9112 6.3).

    One shared, stateless instance: an async generator made per request only to
    end at once costs more than the request's own checks
    (``ops/bench/engine_cpu.py`` measures the request path).
    """

    __slots__ = ()

    async def read(self) -> bytes:
        return b""


NO_BODY: Final = _NoBody()


class Tee(Chunks):
    """Pass a body through, keeping a bounded copy of it."""

    __slots__ = ("_body", "_copy")

    def __init__(self, body: AsyncIterator[bytes], copy: Capture) -> None:
        self._body = body
        self._copy = copy

    async def read(self) -> bytes:
        chunk = await read_chunk(self._body)
        if chunk:
            self._copy.add(chunk)
        return chunk
