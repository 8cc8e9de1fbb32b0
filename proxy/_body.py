"""What the engine and its drivers exchange: the peer, the body reader, the response writer.

A driver (``_protocol``, ``_trio``, the ASGI adapter in ``_app``) implements
``BodyReader`` and ``ResponseWriter`` over its connection; the engine
(``_engine``) only ever reads and writes through them, so it never knows
which runtime, parser or server carries the bytes.  Kept apart from
``_request`` because ``body_stream`` is an async generator, which the
compiled build (``setup.py``) leaves to the interpreter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from ._errors import BodyTooLarge

if TYPE_CHECKING:
    from shadow import Capture

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
    ) -> None:
        """The whole answer at once; ``close``: the connection closes after it."""
        ...

    async def start(self, status: int, headers: Headers) -> None:
        """The head of an answer whose body follows (chunked unless a length is given)."""
        ...

    async def send(self, chunk: bytes) -> None:
        """One chunk of the body; waits while the client's socket is full."""
        ...

    async def end(self) -> None:
        """The body is complete."""
        ...


async def body_stream(reader: BodyReader, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, refusing more than ``limit`` bytes in all."""
    received = 0
    while chunk := await reader.read():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(f"body exceeds the limit of {limit} bytes")
        yield chunk


class _NoBody:
    """The body of a request without Content-Length or Transfer-Encoding: none (RFC 9112 6.3).

    One shared, stateless instance: an async generator made per request only to
    end at once costs more than the request's own checks.
    """

    def __aiter__(self) -> _NoBody:
        return self

    async def __anext__(self) -> bytes:
        raise StopAsyncIteration


NO_BODY = _NoBody()


async def tee(body: AsyncIterator[bytes], copy: Capture) -> AsyncIterator[bytes]:
    """Pass the body through, keeping a bounded copy (an async generator: never compiled)."""
    async for chunk in body:
        copy.add(chunk)
        yield chunk
