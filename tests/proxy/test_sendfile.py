"""A body sent from a file, on each driver over real sockets: whole, paced, and cut short.

The engine here is a stand-in of strangler's own interface between a driver
and the engine (``RequestServer``: ``serve`` with a head, a peer, a body
reader and a writer) that answers every request with a span of one file
through ``writer.sendfile``, so that a file shorter than its span can be
served on purpose; the drivers, their sockets and the framing are the real
ones.  The end-to-end cases, against nginx, are in
``test_edge.py`` (static files) and ``test_differential.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import uvloop

from migrated import TimerWheel
from proxy._body import BodyReader, Peer, ResponseWriter
from proxy._http1 import RequestHead
from proxy._limits import EdgeLimits
from proxy._protocol import HttpProtocol, ServerState
from proxy._trio import TrioServer

RUNTIMES = ["uvloop", "asyncio", "trio"]
SIZE = 4 * 1024 * 1024
LIMITS = EdgeLimits(header_timeout=5, body_timeout=5, send_timeout=5, keep_alive_timeout=5)


class FileEngine:
    """Answers every request with ``count`` bytes of ``path`` from ``offset``, declared."""

    def __init__(self, path: Path, offset: int, count: int, prefix: bytes = b"") -> None:
        self.path = path
        self.offset = offset
        self.count = count
        self.prefix = prefix  # body bytes written before the span
        self.sent: list[int] = []

    async def serve(
        self, head: RequestHead, peer: Peer, body: BodyReader, writer: ResponseWriter
    ) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            length = len(self.prefix) + self.count
            await writer.start(200, [(b"content-length", b"%d" % length)])
            if self.prefix:
                await writer.send(self.prefix)
            self.sent.append(await writer.sendfile(fd, self.offset, self.count))
            await writer.end()
        finally:
            os.close(fd)


@contextlib.contextmanager
def driver(runtime: str, engine: FileEngine) -> Iterator[tuple[str, int]]:
    """The driver of ``runtime`` serving ``engine`` in a thread, on a loopback port."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    started = threading.Event()
    stop: list[Callable[[], None]] = []  # how the test's thread ends the server's loop
    failures: list[BaseException] = []

    async def run_asyncio() -> None:
        loop = asyncio.get_running_loop()
        state = ServerState(engine, LIMITS, TimerWheel(loop))
        factory: Any = functools.partial(HttpProtocol, state)  # a protocol by its methods
        server = await loop.create_server(factory, sock=listener)
        done = asyncio.Event()
        stop.append(lambda: loop.call_soon_threadsafe(done.set))
        started.set()
        await done.wait()
        server.close()
        for conn in list(state.connections):
            conn.abort()

    async def run_trio() -> None:
        server = TrioServer(engine, LIMITS)
        done = trio.Event()
        token = trio.lowlevel.current_trio_token()
        stop.append(lambda: trio.from_thread.run_sync(done.set, trio_token=token))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve, [listener], nursery)
            started.set()
            await done.wait()
            nursery.cancel_scope.cancel()

    def main() -> None:
        try:
            if runtime == "trio":
                trio.run(run_trio)
            elif runtime == "uvloop":
                uvloop.run(run_asyncio())
            else:
                asyncio.run(run_asyncio())
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
        started.set()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield address
    finally:
        if stop:
            stop[0]()
        thread.join(10)
        listener.close()
    assert not failures, failures


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 MiB where every offset holds a different pattern: a misplaced byte shows."""
    path = tmp_path_factory.mktemp("sendfile") / "data.bin"
    path.write_bytes(b"".join(i.to_bytes(4, "big") for i in range(SIZE // 4)))
    return path


def _read_all(sock: socket.socket, pace: float = 0.0) -> bytes:
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if pace:
                time.sleep(pace)
    return b"".join(chunks)


def _split(answer: bytes) -> tuple[bytes, bytes]:
    head, _, rest = answer.partition(b"\r\n\r\n")
    return head, rest


REQUEST = b"GET /f HTTP/1.1\r\nHost: a\r\n\r\n"
LAST = b"GET /f HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_span_is_sent_exactly_and_the_connection_goes_on(runtime: str, data_file: Path) -> None:
    """Two spans on one kept-alive connection: each byte in place, the second head right after."""
    offset, count = 1001, SIZE - 5000
    engine = FileEngine(data_file, offset, count)
    expected = data_file.read_bytes()[offset : offset + count]
    with driver(runtime, engine) as address, socket.create_connection(address, timeout=10) as sock:
        sock.sendall(REQUEST + LAST)
        head, rest = _split(_read_all(sock, pace=0.0002))
    assert head.startswith(b"HTTP/1.1 200 ")
    assert rest[:count] == expected
    second_head, second = _split(rest[count:])
    assert second_head.startswith(b"HTTP/1.1 200 ")
    assert second == expected
    assert engine.sent == [count, count]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_slow_reader_gets_every_byte(runtime: str, data_file: Path) -> None:
    """The socket fills again and again: the span resumes where it stopped, in order."""
    engine = FileEngine(data_file, 0, SIZE)
    with driver(runtime, engine) as address, socket.create_connection(address, timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(LAST)
        time.sleep(0.3)  # the server's socket fills before a byte is read
        head, rest = _split(_read_all(sock, pace=0.0005))
    assert head.startswith(b"HTTP/1.1 200 ")
    assert rest == data_file.read_bytes()
    assert engine.sent == [SIZE]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_span_never_overtakes_bytes_written_before_it(runtime: str, data_file: Path) -> None:
    """Bytes written before the span reach the client before it, on a socket often full.

    The asyncio driver's guard (``sendfile`` only while the transport holds
    nothing) matters when the span starts with the prefix's last bytes still
    in the transport and room in the socket; a slow reader makes that
    possible, but no test can force it: uvloop resumes a paused writer only
    once its buffer is empty.
    """
    prefix = b"\xff\xfe" * (512 * 1024)
    engine = FileEngine(data_file, 0, SIZE, prefix)
    with driver(runtime, engine) as address, socket.create_connection(address, timeout=20) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(LAST)
        head, rest = _split(_read_all(sock, pace=0.0002))
    assert head.startswith(b"HTTP/1.1 200 ")
    assert rest[: len(prefix)] == prefix
    assert rest[len(prefix) :] == data_file.read_bytes()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_file_shorter_than_its_span_ends_the_connection(runtime: str, data_file: Path) -> None:
    """The file ended first: what it had is sent, then the connection closes, as nginx does."""
    engine = FileEngine(data_file, SIZE - 1000, 5000)  # 1000 bytes left, 5000 declared
    with driver(runtime, engine) as address, socket.create_connection(address, timeout=10) as sock:
        sock.sendall(REQUEST + LAST)  # the second request is never answered
        head, rest = _split(_read_all(sock, pace=0.0002))
    assert b"content-length: 5000" in head
    assert rest == data_file.read_bytes()[-1000:]
    assert engine.sent == [1000]
