"""Small async byte streams: chunks already in memory, or a spooled file.

Classes rather than async generators: the compiled build (``setup.py``)
compiles classes, and an async generator also registers itself with the
event loop on its first step, once per request for every body.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import Final

_READ: Final = 65536


class ByteChunks:
    """An async iterator over fixed chunks (whole bodies, tests)."""

    __slots__ = ("_chunks", "_next")

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = chunks
        self._next = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        i = self._next
        if i >= len(self._chunks):
            raise StopAsyncIteration
        self._next = i + 1
        return self._chunks[i]


def iter_bytes(chunks: Sequence[bytes]) -> AsyncIterator[bytes]:
    """An async iterator over fixed chunks."""
    return ByteChunks(chunks)


class SpooledChunks:
    """A spooled body read back in chunks; the spool is closed once read."""

    __slots__ = ("_spool",)

    def __init__(self, spool: tempfile.SpooledTemporaryFile[bytes]) -> None:
        self._spool = spool

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        chunk = self._spool.read(_READ)
        if not chunk:
            self._spool.close()
            raise StopAsyncIteration
        return chunk
