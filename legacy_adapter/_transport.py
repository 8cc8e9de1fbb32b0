"""Opening stream connections and translating socket errors, in one place.

Every foreign error raised by a socket (``OSError``, anyio's stream errors,
timeouts) is turned into a ``LegacyError`` subclass here, so the rest of the
adapter and the proxy deal with one exception tree (httpcore's
``map_exceptions`` idea).
"""

from __future__ import annotations

import anyio
import anyio.abc
import sniffio

from ._asyncio_stream import AsyncioStream, connect_asyncio
from ._exceptions import LegacyError, UpstreamTimeout, UpstreamUnavailable
from ._trio_stream import TrioStream, connect_trio

_Stream = anyio.abc.SocketStream | anyio.abc.UNIXSocketStream | TrioStream


async def connect(backend: str, address: str, timeout: float) -> _Stream:  # noqa: ASYNC109
    """Connect to ``host:port`` or ``unix:/path`` within ``timeout`` seconds.

    Raises:
        UpstreamTimeout: the connection was not made in time.
        UpstreamUnavailable: refused, unreachable, or no such socket file.
    """
    with map_socket_errors(backend, f"connect to {address}"):
        with anyio.fail_after(timeout):
            library = sniffio.current_async_library()
            if library == "asyncio":
                return await connect_asyncio(address)  # type: ignore[return-value]
            if library == "trio":
                return await connect_trio(address)
            if address.startswith("unix:"):
                return await anyio.connect_unix(address[5:])
            host, _, port = address.rpartition(":")
            return await anyio.connect_tcp(host.strip("[]"), int(port))
    raise AssertionError("unreachable")  # pragma: no cover


class map_socket_errors:
    """Re-raise socket and timeout errors as ``UpstreamUnavailable`` / ``UpstreamTimeout``.

    A class rather than a generator-based context manager: it wraps every
    read and write to a backend, and the compiled build compiles classes.
    """

    __slots__ = ("action", "backend")

    def __init__(self, backend: str, action: str) -> None:
        self.backend = backend
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            mapped = socket_error(self.backend, self.action, exc)
            if mapped is not None:
                raise mapped from None


def socket_error(backend: str, action: str, exc: BaseException) -> LegacyError | None:
    """The adapter's error for a socket or timeout error; ``None`` for any other."""
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(backend, f"{action}: timed out")
    if isinstance(exc, anyio.EndOfStream):
        return UpstreamUnavailable(backend, f"{action}: connection closed by the backend")
    if isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError):
        return UpstreamUnavailable(backend, f"{action}: connection broken ({exc!r})")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return UpstreamUnavailable(backend, f"{action}: {reason}")
    return None


async def send_within(
    stream: _Stream | AsyncioStream,
    data: bytes,
    timeout: float,  # noqa: ASYNC109 - picks the cheapest timeout for the stream
) -> None:
    """Write ``data``; ``TimeoutError`` when the peer takes none of it for ``timeout`` s.

    The native streams arm their timeout only when they have to wait (a full
    buffer); anyio streams get a cancel scope.
    """
    if isinstance(stream, AsyncioStream | TrioStream):
        await stream.send(data, timeout)
        return
    with anyio.move_on_after(timeout) as scope:
        await stream.send(data)
    if scope.cancelled_caught:
        raise TimeoutError()


async def receive_within(
    stream: _Stream | AsyncioStream,
    timeout: float,  # noqa: ASYNC109 - picks the cheapest timeout for the stream
) -> bytes:
    """One read of up to 64 KiB, bounded by ``timeout`` (``TimeoutError``).

    The native asyncio stream takes the timeout as a loop timer, the trio
    stream a scope only when it has to wait; anyio streams get a cancel scope.
    """
    if isinstance(stream, AsyncioStream | TrioStream):
        return await stream.receive(65536, timeout)
    with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:
        return await stream.receive(65536)
    assert scope.cancelled_caught  # only a passed deadline leaves the block without data
    raise TimeoutError()
