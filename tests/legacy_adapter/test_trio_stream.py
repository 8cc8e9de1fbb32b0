"""The trio backend stream: try-first reads and writes on a real loopback socket."""

from __future__ import annotations

import socket
from pathlib import Path

import anyio
import pytest
import trio

from legacy_adapter._trio_stream import connect_trio


def _listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def test_a_host_name_is_resolved_and_bytes_go_both_ways() -> None:
    async def main() -> bytes:
        with _listener() as server:
            port = server.getsockname()[1]
            stream = await connect_trio(f"localhost:{port}")
            peer, _ = server.accept()
            with peer:
                await stream.send(b"ping" * 100_000)  # more than one socket buffer
                received = b""
                while len(received) < 400_000:
                    received += peer.recv(65536)
                peer.sendall(b"pong")
                answer = await stream.receive(timeout=5)
            await stream.aclose()
            assert received == b"ping" * 100_000
            return answer

    assert trio.run(main) == b"pong"


def test_a_silent_peer_times_the_read_out() -> None:
    async def main() -> None:
        with _listener() as server:
            stream = await connect_trio(f"127.0.0.1:{server.getsockname()[1]}")
            with pytest.raises(TimeoutError):
                await stream.receive(timeout=0.05)
            await stream.aclose()

    trio.run(main)


def test_a_closed_peer_ends_the_stream() -> None:
    async def main() -> None:
        with _listener() as server:
            stream = await connect_trio(f"127.0.0.1:{server.getsockname()[1]}")
            peer, _ = server.accept()
            peer.close()
            with pytest.raises(anyio.EndOfStream):
                await stream.receive(timeout=5)
            await stream.aclose()
            with pytest.raises(anyio.ClosedResourceError):
                await stream.send(b"x")

    trio.run(main)


def test_a_refused_connection_is_an_os_error() -> None:
    with _listener() as server:
        port = server.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        trio.run(connect_trio, f"127.0.0.1:{port}")


def test_a_unix_socket_connects(tmp_path: Path) -> None:
    path = f"{tmp_path}/php.sock"

    async def main() -> bytes:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path)
            server.listen()
            stream = await connect_trio(f"unix:{path}")
            peer, _ = server.accept()
            with peer:
                peer.sendall(b"hello")
                data = await stream.receive(timeout=5)
            await stream.aclose()
            return data

    assert trio.run(main) == b"hello"
