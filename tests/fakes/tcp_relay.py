"""A TCP relay for tests that can cut every connection and later restore service.

With ``tls`` it is a TLS terminator: clients speak TLS to it, it speaks plain
TCP to the target (and with a context that requires client certificates it
checks them, as MSK's mTLS listener would)::

    async with tcp_relay(target_port) as relay:
        relay.cut()      # drop all connections; new ones are closed at once
        relay.restore()  # relay again
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio import CancelScope
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.tls import TLSListener


class TcpRelay:
    """The control of a running relay: its port, ``cut`` and ``restore``."""

    def __init__(self, port: int, target_port: int) -> None:
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.target_port = target_port
        self.connections = 0
        self._cut = False
        self._scopes: set[CancelScope] = set()

    def cut(self) -> None:
        """Close every relayed connection and refuse new ones until ``restore``."""
        self._cut = True
        for scope in self._scopes:
            scope.cancel()

    def restore(self) -> None:
        """Relay new connections again."""
        self._cut = False

    async def handle(self, client: ByteStream) -> None:
        async with client:
            if self._cut:
                return
            try:
                upstream = await anyio.connect_tcp("127.0.0.1", self.target_port)
            except OSError:
                return
            self.connections += 1
            async with upstream, anyio.create_task_group() as tg:
                self._scopes.add(tg.cancel_scope)
                tg.start_soon(_pump, client, upstream, tg.cancel_scope)
                tg.start_soon(_pump, upstream, client, tg.cancel_scope)
            self._scopes.discard(tg.cancel_scope)


async def _pump(source: ByteStream, sink: ByteStream, scope: CancelScope) -> None:
    try:
        async for chunk in source:
            await sink.send(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    finally:
        scope.cancel()


@asynccontextmanager
async def tcp_relay(
    target_port: int, *, port: int = 0, tls: ssl.SSLContext | None = None
) -> AsyncIterator[TcpRelay]:
    """Relay ``127.0.0.1:port`` (free port by default) to ``127.0.0.1:target_port``."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    relay = TcpRelay(listener.extra(SocketAttribute.local_port), target_port)
    async with anyio.create_task_group() as tg:
        if tls is None:
            tg.start_soon(listener.serve, relay.handle)
        else:
            tls_listener = TLSListener(listener, tls, standard_compatible=False)
            tg.start_soon(tls_listener.serve, relay.handle)
        try:
            yield relay
        finally:
            tg.cancel_scope.cancel()
    await listener.aclose()
