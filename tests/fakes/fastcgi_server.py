"""A FastCGI server for tests, built on the sans-IO ``ServerConnection``.

Each instance misbehaves in one chosen way so transport tests can provoke
every failure a real PHP-FPM can show without needing one:

    ok                 answer 200 with the received params and body as JSON
    garbage            answer bytes that are not FastCGI at all
    die_mid_response   send the head and half the body, then close
    hang               read the request, never answer
    overloaded         END_REQUEST with protocol status OVERLOADED
    stderr             write a line to FCGI_STDERR, then answer as ``ok``
    slow_body          send the head and half the body, pause 0.2 s, send the rest
    deaf               a listening socket nobody accepts from (every child stuck): the
                       kernel completes connections, and nothing is ever read

Usage::

    async with fake_fastcgi_server("ok") as (host, port):
        ...
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import anyio
from anyio.abc import SocketAttribute, SocketStream

from legacy_adapter._fastcgi_proto import (
    OVERLOADED,
    BeginRequest,
    Params,
    ServerConnection,
    StdinData,
    StdinEnd,
)

Behaviour = Literal[
    "ok",
    "garbage",
    "die_mid_response",
    "hang",
    "overloaded",
    "stderr",
    "slow_body",
    "recycled",
    "deaf",
]


@dataclass
class _Request:
    request_id: int = 0
    keep_conn: bool = False
    params: list[tuple[bytes, bytes]] = field(default_factory=list)
    stdin: bytearray = field(default_factory=bytearray)


async def _read_request(stream: SocketStream, conn: ServerConnection) -> _Request | None:
    """Read one whole request (up to its STDIN end); ``None`` if the client closed first."""
    request = _Request()
    while True:
        while (event := conn.next_event()) is not None:
            if isinstance(event, BeginRequest):
                request.request_id, request.keep_conn = event.request_id, event.keep_conn
            elif isinstance(event, Params):
                request.params = event.pairs
            elif isinstance(event, StdinData):
                request.stdin += event.data
            elif isinstance(event, StdinEnd):
                return request
        try:
            conn.receive_data(await stream.receive())
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None


def _ok_body(request: _Request) -> bytes:
    params = {name.decode("latin-1"): value.decode("latin-1") for name, value in request.params}
    return json.dumps({"params": params, "stdin": request.stdin.decode("latin-1")}).encode()


async def _answer(
    stream: SocketStream, conn: ServerConnection, request: _Request, behaviour: Behaviour
) -> bool:
    """Answer ``request`` the way ``behaviour`` says; return whether to keep going."""
    rid = request.request_id
    if behaviour == "stderr":
        await stream.send(conn.stderr(rid, b"PHP Warning:  something odd in x.php on line 3\n"))
        behaviour = "ok"
    if behaviour == "ok":
        head = b"Status: 200 OK\r\nContent-Type: application/json\r\n\r\n"
        await stream.send(conn.send_response(rid, head + _ok_body(request)))
        return request.keep_conn
    if behaviour == "slow_body":
        await stream.send(conn.stdout(rid, b"Content-Type: text/plain\r\n\r\nfirst half, "))
        await anyio.sleep(0.2)
        await stream.send(conn.send_response(rid, b"second half"))
        return request.keep_conn
    if behaviour == "garbage":
        await stream.send(b"\xff" + os.urandom(63))  # 0xff can never be a version byte
    elif behaviour == "die_mid_response":
        await stream.send(conn.stdout(rid, b"Content-Type: text/plain\r\n\r\nhalf of the bo"))
    elif behaviour == "overloaded":
        await stream.send(conn.end_request(rid, protocol_status=OVERLOADED))
    else:
        await anyio.sleep_forever()
    return False


async def _serve(stream: SocketStream, behaviour: Behaviour) -> None:
    conn = ServerConnection()
    served = 0
    async with stream:
        while (request := await _read_request(stream, conn)) is not None:
            if behaviour == "recycled":
                if served:  # a child past pm.max_requests: it exits, the request unread
                    return
                served += 1
                behaviour_now: Behaviour = "ok"
            else:
                behaviour_now = behaviour
            try:
                if not await _answer(stream, conn, request, behaviour_now):
                    return
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return


@asynccontextmanager
async def fake_fastcgi_server(behaviour: Behaviour = "ok") -> AsyncIterator[tuple[str, int]]:
    """Serve FastCGI on 127.0.0.1 on a free port; yields ``(host, port)``.

    Args:
        behaviour: how every request on every connection is answered
            (``recycled``: the first request on a connection, then it closes unanswered).
    """
    if behaviour == "deaf":  # not on the loop: an asyncio transport would read eagerly
        with socket.create_server(("127.0.0.1", 0), backlog=16) as deaf:
            yield "127.0.0.1", deaf.getsockname()[1]
        return
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)

    async def handler(stream: SocketStream) -> None:
        await _serve(stream, behaviour)

    # The caller's own errors are re-raised outside the task group, so they reach
    # pytest.raises unwrapped instead of inside an ExceptionGroup.
    error: Exception | None = None
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler, tg)
        try:
            yield "127.0.0.1", port
        except Exception as exc:
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error
