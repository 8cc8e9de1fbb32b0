"""A write to a backend times out between two writes, not over the whole wait.

Real loopback sockets, both native streams (the asyncio one on asyncio and
uvloop, the trio one): a peer that reads slowly but steadily is never cut
off, however long its buffer takes to drain, and a peer that reads nothing
is, after ``send_timeout``.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import anyio
import anyio.abc
import anyio.to_thread
import pytest

from legacy_adapter._transport import connect, send_within

pytestmark = pytest.mark.anyio
DATA = b"x" * (256 * 1024)  # far over the asyncio transport's 64 KiB high-water mark
TIMEOUT = 0.3


def _reader(server: socket.socket, pause: float, got: list[int]) -> None:
    """Accept one connection, then read 16 KiB every ``pause`` s until it closes."""
    peer, _ = server.accept()
    with peer:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        while chunk := peer.recv(16 * 1024):
            got[0] += len(chunk)
            time.sleep(pause)


async def _send_to(pause: float) -> tuple[float, int]:
    """Send DATA with TIMEOUT to a peer reading every ``pause`` s.

    Returns how long the send took and how much the peer read.
    """
    got = [0]
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        reader = threading.Thread(target=_reader, args=(server, pause, got), daemon=True)
        reader.start()
        stream = await connect("php", address, 2.0)
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        started = anyio.current_time()
        try:
            await send_within(stream, DATA, TIMEOUT)
        finally:
            took = anyio.current_time() - started
            await stream.aclose()
            await anyio.to_thread.run_sync(reader.join, 10)  # to the end of what it got
        return took, got[0]


async def test_a_slow_but_steady_peer_is_never_timed_out() -> None:
    """16 KiB every 50 ms: the whole send waits far longer than TIMEOUT, and completes."""
    took, _ = await _send_to(0.05)
    assert took > 2 * TIMEOUT  # the wait was long enough for a whole-wait timeout to end it


async def test_a_peer_that_reads_nothing_is_timed_out_and_let_go() -> None:
    """Nobody reads: TimeoutError after TIMEOUT, and closing lets the socket go at once.

    The bytes the peer never took are dropped with it; a connection kept open
    until they are taken would leak a descriptor per stuck request.
    """
    with socket.create_server(("127.0.0.1", 0)) as server:  # never accepts
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        before = len(os.listdir("/proc/self/fd"))
        stream = await connect("php", f"127.0.0.1:{server.getsockname()[1]}", 2.0)
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        try:
            with anyio.fail_after(10), pytest.raises(TimeoutError):
                await send_within(stream, DATA, TIMEOUT)
        finally:
            await stream.aclose()
        await anyio.sleep(0.05)  # a closing transport lets its socket go on a later loop turn
        assert len(os.listdir("/proc/self/fd")) == before
