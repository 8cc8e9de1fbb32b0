"""A backend connection on trio: a non-blocking socket tried first, waited on only when empty.

trio's own streams end every successful read and write with a checkpoint, a
round trip through the scheduler, and anyio's wrapper adds a layer above
that; a pass-through request makes several of each.  This stream calls the
socket first and parks the task (``wait_readable``/``wait_writable``, which
are checkpoints and honour cancel scopes) only when the socket has nothing to
give or take, as the asyncio stream's transport does.  It offers the subset of
anyio's ``ByteStream`` the pool uses; the benchmark's trio rows measure it
(``ops/bench/run --runtimes trio``).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import trio

_READ = 65536


class TrioStream:
    """A connected non-blocking socket, read and written try-first under trio."""

    __slots__ = ("_closed", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._closed = False

    async def send(
        self,
        data: bytes,
        timeout: float | None = None,  # noqa: ASYNC109 - a scope only when it must wait
    ) -> None:
        """Write all of ``data``, waiting only while the socket's buffer is full.

        Raises:
            anyio.ClosedResourceError: this stream was closed.
            OSError: the connection broke.
            TimeoutError: no byte could be written for ``timeout`` s (the peer
                stopped reading); each wait has its own, as nginx's
                ``fastcgi_send_timeout`` runs between two writes.
        """
        if self._closed:
            raise anyio.ClosedResourceError
        sock = self._sock
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                sent = 0
            if sent:
                view = view[sent:]
            else:
                await _ready(trio.lowlevel.wait_writable, sock, timeout)

    async def receive(
        self,
        max_bytes: int = _READ,
        timeout: float | None = None,  # noqa: ASYNC109 - a scope only when it must wait
    ) -> bytes:
        """Return what the socket has, waiting (at most ``timeout`` s) if it has nothing.

        Raises:
            anyio.EndOfStream: the peer closed.
            anyio.ClosedResourceError: this stream was closed.
            TimeoutError: nothing arrived within ``timeout``.
            OSError: the connection broke.
        """
        if self._closed:
            raise anyio.ClosedResourceError
        sock = self._sock
        yielded = False
        while True:
            try:
                data: bytes | None = sock.recv(max_bytes)
            except BlockingIOError:
                data = None
            if data is None:
                if yielded:
                    await _ready(trio.lowlevel.wait_readable, sock, timeout)
                else:  # let the others run first: PHP has often answered by then
                    yielded = True
                    await trio.lowlevel.checkpoint()
                    if self._closed:  # by another task meanwhile
                        raise anyio.ClosedResourceError
            elif data:
                return data
            else:
                raise anyio.EndOfStream

    async def aclose(self) -> None:
        """Close the socket (never waits); a task parked on it is woken with an error."""
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self._sock)
            self._sock.close()

    def extra(self, attribute: Any, default: Any = None) -> Any:
        """``SocketAttribute.raw_socket`` for the pool's liveness check."""
        if attribute is anyio.abc.SocketAttribute.raw_socket:
            return self._sock
        return default


async def _ready(
    wait: Callable[[socket.socket], Awaitable[None]],
    sock: socket.socket,
    timeout: float | None,  # noqa: ASYNC109 - a scope only when there is a timeout
) -> None:
    """``wait`` (trio's ``wait_readable`` or ``wait_writable``) at most ``timeout`` s."""
    if timeout is None:
        await wait(sock)
        return
    with trio.move_on_after(timeout) as scope:
        await wait(sock)
    if scope.cancelled_caught:
        raise TimeoutError


async def connect_trio(address: str) -> TrioStream:
    """Connect to ``host:port`` or ``unix:/path`` without blocking trio's thread.

    A host name is resolved by trio (in a thread) and its addresses are tried
    in order.

    Raises:
        OSError: refused, unreachable, unresolvable, or no such socket file.
    """
    if address.startswith("unix:"):
        return TrioStream(await _open(socket.AF_UNIX, address[5:]))
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        return TrioStream(await _open(family, (host, int(port))))
    found = await trio.socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    failure: OSError = OSError(f"{host}: no address")
    for family, _, _, _, target in found:
        try:
            return TrioStream(await _open(family, target))
        except OSError as exc:
            failure = exc
    raise failure


async def _open(family: int, target: Any) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await _connect(sock, target)
    except BaseException:
        sock.close()
        raise
    return sock


async def _connect(sock: socket.socket, target: Any) -> None:
    try:
        sock.connect(target)
    except BlockingIOError:
        pass  # EINPROGRESS: writable once the handshake is done
    except InterruptedError:
        pass
    else:
        await trio.lowlevel.checkpoint()
        return
    await trio.lowlevel.wait_writable(sock)
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, errno.errorcode.get(error, "connect failed"))
