"""Small async byte streams: chunks already in memory, or a spooled file.

Classes rather than async generators: the compiled build (``setup.py``)
compiles classes, and an async generator also registers itself with the
event loop on its first step, once per request for every body.

Every body the proxy makes is a ``Chunks``: an async iterator that can
also be read to its end without an exception (``read()`` gives ``b""``
there).  The end of an async iteration is a ``StopAsyncIteration``, and in
the compiled build each frame it crosses builds a traceback entry (a code
object and a frame), once per request per layer of body (a shadowed
request's tee over its stream had three); ``read_chunk`` and ``read_whole``
take the quiet way when they can (``ops/bench/engine_cpu.py --shadow``
measures it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import Final

_READ: Final = 65536


class Chunks:
    """An async byte stream whose ``read()`` gives the next chunk, ``b""`` at the end."""

    __slots__ = ()

    async def read(self) -> bytes:
        """The next chunk, never empty before the end; ``b""`` once the stream is done."""
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.read()
        if not chunk:
            raise StopAsyncIteration
        return chunk


async def read_chunk(body: AsyncIterator[bytes]) -> bytes:
    """The next non-empty chunk of ``body``, ``b""`` at its end.

    A ``Chunks`` ends without an exception; any other async iterator (a
    generator a caller of the library passes) may yield empty chunks on its
    way, which are skipped, never taken for the end.
    """
    if isinstance(body, Chunks):
        return await body.read()
    while (chunk := await anext(body, None)) is not None:
        if chunk:
            return chunk
    return b""


async def read_whole(body: AsyncIterator[bytes]) -> bytes:
    """All of ``body``."""
    first = await read_chunk(body)
    if not first:
        return b""
    chunk = await read_chunk(body)
    if not chunk:
        return first  # the common case: the body came whole
    parts = [first, chunk]
    while chunk := await read_chunk(body):
        parts.append(chunk)
    return b"".join(parts)


class ByteChunks(Chunks):
    """Fixed chunks (whole bodies, tests); empty ones are skipped."""

    __slots__ = ("_chunks", "_next")

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = chunks
        self._next = 0

    async def read(self) -> bytes:
        chunks = self._chunks
        while self._next < len(chunks):
            chunk = chunks[self._next]
            self._next += 1
            if chunk:
                return chunk
        return b""


def iter_bytes(chunks: Sequence[bytes]) -> AsyncIterator[bytes]:
    """An async iterator over fixed chunks."""
    return ByteChunks(chunks)


class FileChunks(Chunks):
    """``count`` bytes of the open file ``fd`` from ``offset``, read as asked; short at its end.

    Read on the loop, as ``sendfile`` reads: a file being served is in the
    page cache, and where it is not, nginx without aio waits for the disk too.
    """

    __slots__ = ("_end", "_fd", "_offset")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self._fd = fd
        self._offset = offset
        self._end = offset + count

    async def read(self) -> bytes:
        if self._offset >= self._end:
            return b""
        data = os.pread(self._fd, min(_READ, self._end - self._offset), self._offset)
        self._offset = self._offset + len(data) if data else self._end
        return data


class SpooledChunks(Chunks):
    """A spooled body read back in chunks; the spool is closed once read."""

    __slots__ = ("_spool",)

    def __init__(self, spool: tempfile.SpooledTemporaryFile[bytes]) -> None:
        self._spool = spool

    async def read(self) -> bytes:
        if self._spool.closed:
            return b""
        chunk = self._spool.read(_READ)
        if not chunk:
            self._spool.close()
        return chunk
