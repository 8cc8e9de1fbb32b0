"""The pool never lends an idle connection its peer has closed or written to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from legacy_adapter._pool import ConnectionPool

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def peer(behaviour: str) -> AsyncIterator[str]:
    """A TCP server whose connections, once ``go`` is set, close or send stray bytes."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()  # the test's "request": the connection is now idle
            if behaviour == "close":
                return
            await stream.send(b"stray")
            await anyio.sleep_forever()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"127.0.0.1:{port}"
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("behaviour", ["close", "stray"])
async def test_an_idle_connection_spoiled_by_its_peer_is_replaced(behaviour: str) -> None:
    """A kept connection closed (a recycled PHP child) or written to while idle is not reused."""
    async with peer(behaviour) as address:
        pool = ConnectionPool(
            "php", address, size=1, idle_timeout=60, acquire_timeout=1, connect_timeout=1
        )
        lease = await pool.acquire()
        await lease.stream.send(b"x")
        lease.keep()
        await pool.release(lease)
        await anyio.sleep(0.2)  # the peer closes or writes; the loop sees it
        again = await pool.acquire()
        assert not again.reused  # a new connection, not the spoiled one
        await pool.release(again)
        await pool.aclose()
