"""Opening stream connections and translating socket errors, in one place.

Every foreign error raised by a socket (``OSError``, anyio's stream errors,
timeouts) is turned into a ``LegacyError`` subclass here, so the rest of the
adapter and the proxy deal with one exception tree (httpcore's
``map_exceptions`` idea).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import anyio.abc
import sniffio

from ._asyncio_stream import AsyncioStream, connect_asyncio
from ._exceptions import UpstreamTimeout, UpstreamUnavailable

_Stream = anyio.abc.SocketStream | anyio.abc.UNIXSocketStream


async def connect(backend: str, address: str, timeout: float) -> _Stream:  # noqa: ASYNC109
    """Connect to ``host:port`` or ``unix:/path`` within ``timeout`` seconds.

    Raises:
        UpstreamTimeout: the connection was not made in time.
        UpstreamUnavailable: refused, unreachable, or no such socket file.
    """
    with map_socket_errors(backend, f"connect to {address}"):
        with anyio.fail_after(timeout):
            if sniffio.current_async_library() == "asyncio":
                return await connect_asyncio(address)  # type: ignore[return-value]
            if address.startswith("unix:"):
                return await anyio.connect_unix(address[5:])
            host, _, port = address.rpartition(":")
            return await anyio.connect_tcp(host.strip("[]"), int(port))
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def map_socket_errors(backend: str, action: str) -> Iterator[None]:
    """Re-raise socket and timeout errors as ``UpstreamUnavailable`` / ``UpstreamTimeout``."""
    try:
        yield
    except TimeoutError:
        raise UpstreamTimeout(backend, f"{action}: timed out") from None
    except anyio.EndOfStream:
        raise UpstreamUnavailable(backend, f"{action}: connection closed by the backend") from None
    except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
        raise UpstreamUnavailable(backend, f"{action}: connection broken ({exc!r})") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise UpstreamUnavailable(backend, f"{action}: {reason}") from None


async def receive_within(
    stream: _Stream | AsyncioStream,
    timeout: float,  # noqa: ASYNC109 - picks the cheapest timeout for the stream
) -> bytes:
    """One read of up to 64 KiB, bounded by ``timeout`` (``TimeoutError``).

    The native asyncio stream takes the timeout as a loop timer; anyio streams
    get a cancel scope.
    """
    if isinstance(stream, AsyncioStream):
        return await stream.receive(65536, timeout)
    with anyio.fail_after(timeout):
        return await stream.receive(65536)
