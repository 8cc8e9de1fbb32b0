"""The engine as an ASGI 3 application: for in-process clients and any ASGI server.

A thin adapter: the scope becomes the engine's request head and peer,
``receive`` its body reader and ``send`` its response writer; every decision
stays in ``Engine.serve``.  The lifespan protocol starts and stops the
engine's backends and resources.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import structlog

from legacy_adapter import FileChunks
from shadow import ShadowRuntime

from ._body import Headers, Peer
from ._engine import Engine
from ._errors import ClientDisconnected
from ._http1 import RequestHead
from ._migrated import Resources
from ._state import State

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = structlog.get_logger("strangler")


class ProxyApp:
    """The proxy as an ASGI 3 application (see the module docstring).

    Args:
        state: the config and backends.
        resources: the worker's producer and caches, for migrated routes.
        shadow: the worker's mirror and sink, when a route shadows.
    """

    def __init__(
        self,
        state: State,
        resources: Resources | None = None,
        shadow: ShadowRuntime | None = None,
    ) -> None:
        self.engine = Engine(state, resources, shadow)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.engine.serve(head_of(scope), peer_of(scope), _Reader(receive), _Writer(send))

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket handshake, answered as the plain HTTP request it also is.

        FastCGI has no upgrade, so nginx in front of PHP-FPM answers a handshake
        with the page, and so does the proxy.  The answer goes out through the
        server's ``websocket.http.response`` extension (hypercorn has it); a
        server without it gets the handshake refused, which it answers 403.
        """
        await receive()  # websocket.connect
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1000})
            return
        http_scope = {
            **scope,
            "type": "http",
            "method": "GET",  # a handshake is a GET
            "scheme": "https" if scope.get("scheme") == "wss" else "http",
        }
        requested = False

        async def http_receive() -> Any:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await receive()  # websocket.disconnect: the client left
            return {"type": "http.disconnect"}

        async def http_send(message: Any) -> None:
            kind = message["type"].removeprefix("http.")  # response.start, response.body
            await send({**message, "type": f"websocket.http.{kind}"})

        await self._http(http_scope, http_receive, http_send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()
        async with anyio.create_task_group() as tg:
            try:
                await self.engine.start(tg)
            except Exception as exc:  # the server exits; the supervisor reports it
                log.error("startup_failed", error=str(exc))
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                tg.cancel_scope.cancel()
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()
            tg.cancel_scope.cancel()
        await self.engine.aclose()
        # Nothing may await after this: some servers cancel the lifespan task right away.
        await send({"type": "lifespan.shutdown.complete"})


def head_of(scope: Scope) -> RequestHead:
    """The engine's request head for an ASGI HTTP scope."""
    target: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    query: bytes = scope.get("query_string", b"")
    if query and b"?" not in target:
        target += b"?" + query
    return RequestHead(
        scope["method"],
        target,
        list(scope["headers"]),
        scope.get("http_version", "1.1"),
        True,
        False,
    )


def peer_of(scope: Scope) -> Peer:
    """The engine's peer for an ASGI scope."""
    client = scope.get("client")
    server = scope.get("server")
    return Peer(
        (client[0], client[1]) if client else None,
        (server[0], server[1]) if server else None,
        scope.get("scheme", "http"),
    )


class _Reader:
    """The body from ASGI ``http.request`` messages."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.done = False

    async def read(self) -> bytes:
        while not self.done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            self.done = not message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                return chunk
        return b""


class _Writer:
    """The answer as ASGI ``http.response.*`` messages."""

    def __init__(self, send: Send) -> None:
        self._send = send

    async def answer(
        self, status: int, headers: Headers, body: bytes, *, close: bool = False
    ) -> int:
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
        return len(body)

    async def start(self, status: int, headers: Headers) -> None:
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def send(self, chunk: bytes) -> int:
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        return len(chunk)

    async def sendfile(self, fd: int, offset: int, count: int) -> int:
        sent = 0
        async for data in FileChunks(fd, offset, count):
            sent += len(data)
            await self.send(data)
        return sent

    async def end(self) -> None:
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})
