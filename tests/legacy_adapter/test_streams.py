"""Body streams: read to the end quietly, or iterated, the same bytes either way."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator

import pytest

from legacy_adapter import iter_bytes, read_chunk, read_whole
from legacy_adapter._streams import Chunks, SpooledChunks

pytestmark = pytest.mark.anyio


async def _generated(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_fixed_chunks_skip_empty_ones_and_end_with_empty_bytes() -> None:
    body = iter_bytes((b"", b"ab", b"", b"c", b""))
    assert isinstance(body, Chunks)
    assert [await read_chunk(body) for _ in range(4)] == [b"ab", b"c", b"", b""]


async def test_iterating_gives_what_reading_gives() -> None:
    chunks = (b"ab", b"", b"cd", b"e")
    assert [chunk async for chunk in iter_bytes(chunks)] == [b"ab", b"cd", b"e"]
    assert await read_whole(iter_bytes(chunks)) == b"abcde"


@pytest.mark.parametrize(
    "chunks", [[], [b"whole"], [b"a", b"b"], [b"a", b"b", b"c", b"d"]], ids=len
)
async def test_read_whole_joins_every_chunk(chunks: list[bytes]) -> None:
    assert await read_whole(iter_bytes(chunks)) == b"".join(chunks)


async def test_any_async_iterator_is_read_too_its_empty_chunks_skipped() -> None:
    body = _generated([b"", b"x", b"", b"", b"yz", b""])
    assert await read_chunk(body) == b"x"
    assert await read_whole(body) == b"yz"
    assert await read_chunk(body) == b""


async def test_a_spool_is_read_back_closed_and_then_empty() -> None:
    spool = tempfile.SpooledTemporaryFile(max_size=4)  # noqa: SIM115 (closed by the stream)
    spool.write(b"0123456789")
    spool.seek(0)
    body = SpooledChunks(spool)
    assert await read_whole(body) == b"0123456789"
    assert spool.closed
    assert await read_chunk(body) == b""
