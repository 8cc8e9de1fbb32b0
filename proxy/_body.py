"""The request body as an async stream of chunks, from ASGI ``receive`` messages.

Kept apart from ``_request`` because these are async generators, which the
compiled build (``setup.py``) leaves to the interpreter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from ._errors import BodyTooLarge, ClientDisconnected

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def body_stream(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, refusing more than ``limit`` bytes in all."""
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(f"body exceeds the limit of {limit} bytes")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def empty_body() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class ParserBody:
    """The body of a request the fast lane reads from the parser itself: never iterated.

    One shared instance (``PARSER_BODY``) stands in for the async generator
    the ASGI path makes per request: making one, and finalizing it unread
    (which throws ``GeneratorExit`` into it), cost a lane request thousands
    of instructions.
    """

    def __aiter__(self) -> ParserBody:
        return self

    async def __anext__(self) -> bytes:
        raise AssertionError("the fast lane reads bodies from the parser")


PARSER_BODY = ParserBody()
