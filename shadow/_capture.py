"""Copies of what streams past the client, and legacy asked for a second answer.

Strategy: on a request offered to the shadow side the proxy keeps a bounded
``Capture`` of the request body as it streams to legacy and of the answer as
it is relayed to the client; past ``limit`` bytes a capture keeps nothing and
remembers that it overflowed, so a large upload costs no memory and is
skipped as ``body_too_large``.  ``ask_legacy`` is the other direction, run
inside a mirror job: a marked copy of the request goes to a legacy backend
and its whole answer is captured (the control of a reverse shadow, or the
second legacy answer from which noise is learned).
"""

from __future__ import annotations

import dataclasses
import time

from legacy_adapter import Backend, LegacyRequest, iter_bytes

from ._model import Answer

MARKER = (b"x-strangler-shadow", b"1")
"""The header of every shadow copy: it tells a legacy app or a handler that it may dry-run."""


class Capture:
    """A bounded copy of one answer (or request body) as it streams past.

    Args:
        limit: the most bytes kept; beyond it ``overflow`` is set and nothing is kept.
    """

    __slots__ = ("chunks", "headers", "limit", "overflow", "size", "started", "status")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.status = 0
        self.headers: tuple[tuple[str, str], ...] = ()
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False
        self.started = time.perf_counter()

    def head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """Keep the answer's status and headers."""
        self.status = status
        self.headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)

    def add(self, chunk: bytes) -> None:
        """Keep ``chunk`` unless the copy is over its limit."""
        self.size += len(chunk)
        if self.size > self.limit:
            self.overflow, self.chunks = True, []
        elif not self.overflow:
            self.chunks.append(chunk)

    @property
    def body(self) -> bytes:
        """What was kept of the body (empty after an overflow)."""
        return b"".join(self.chunks)

    def answer(self) -> Answer:
        """The captured answer, timed from when the capture began."""
        return Answer(self.status, self.headers, self.body, time.perf_counter() - self.started)


async def ask_legacy(backend: Backend, request: LegacyRequest, body: bytes, limit: int) -> Answer:
    """Send a marked copy of ``request`` with ``body`` to ``backend``; capture its answer.

    Args:
        backend: the route's legacy backend.
        request: the client's request (its own body was already read).
        body: the request body to send again.
        limit: the most answer bytes kept (see ``Capture``).

    Raises:
        LegacyError: the backend failed (the mirror counts the job as failed).
    """
    copy = dataclasses.replace(
        request,
        headers=[*request.headers, MARKER],
        body=iter_bytes((body,) if body else ()),
        content_length=len(body) if body or request.content_length is not None else None,
    )
    capture = Capture(limit)
    async with backend.send(copy) as response:
        capture.head(response.status, response.headers)
        async for chunk in response.body:
            capture.add(chunk)
    return capture.answer()
