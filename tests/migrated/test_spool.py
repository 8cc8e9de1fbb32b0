"""The spool: pure framing and message codec (hypothesis), then the files on disk."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from migrated._api import Message
from migrated._spool import Spool, decode_message, encode_message, frame, unframe

payloads = st.lists(st.binary(max_size=64), max_size=8)
messages = st.builds(
    Message,
    topic=st.text(min_size=1, max_size=20),
    value=st.binary(max_size=64),
    key=st.none() | st.binary(max_size=16),
    headers=st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8)), max_size=3).map(tuple),
)


@given(payloads)
def test_framing_round_trips(records: list[bytes]) -> None:
    """Framed records come back in order, with nothing left over."""
    data = b"".join(frame(r) for r in records)
    decoded, used, problem = unframe(data)
    assert [p for _, p in decoded] == records
    assert (used, problem) == (len(data), None)


@given(payloads, st.data())
def test_any_truncation_recovers_every_complete_record(
    records: list[bytes], data: st.DataObject
) -> None:
    """Cutting the bytes anywhere keeps exactly the records that ended before the cut."""
    framed = [frame(r) for r in records]
    blob = b"".join(framed)
    cut = data.draw(st.integers(0, len(blob)))
    decoded, used, problem = unframe(blob[:cut])
    ends = [sum(len(f) for f in framed[: i + 1]) for i in range(len(framed))]
    complete = [r for r, end in zip(records, ends, strict=True) if end <= cut]
    assert [p for _, p in decoded] == complete
    assert (problem is None) == (used == cut)


@given(st.lists(st.binary(min_size=1, max_size=32), min_size=1, max_size=6), st.data())
def test_a_corrupt_byte_stops_at_that_record(records: list[bytes], data: st.DataObject) -> None:
    """Flipping a byte in the last record keeps every record before it."""
    blob = bytearray(b"".join(frame(r) for r in records))
    start = len(blob) - len(frame(records[-1]))
    index = data.draw(st.integers(start, len(blob) - 1))
    blob[index] ^= 0xFF
    decoded, _, problem = unframe(bytes(blob))
    assert [p for _, p in decoded][: len(records) - 1] == records[:-1]
    assert problem is not None or [p for _, p in decoded] != records


@given(messages)
def test_message_codec_round_trips(message: Message) -> None:
    """encode_message and decode_message are inverses."""
    assert decode_message(encode_message(message)) == message


def test_decode_rejects_garbage() -> None:
    """A payload that is not a message raises ValueError."""
    with pytest.raises(ValueError, match="version"):
        decode_message(b"\x07garbage")


def _msgs(n: int, prefix: str = "m") -> list[Message]:
    return [Message("t", f"{prefix}{i}".encode(), key=b"k") for i in range(n)]


@pytest.mark.anyio
async def test_append_pending_done_and_segment_deletion(tmp_path: Path) -> None:
    """Appended messages are pending until done; fully done segments are deleted."""
    spool = await Spool.claim(tmp_path, segment_bytes=200)
    positions = await spool.append(_msgs(10))
    assert [m for _, m in await spool.pending()] == _msgs(10)
    assert len({p.segment for p in positions}) > 1
    await spool.mark_done(positions[:9])
    assert [m for _, m in await spool.pending()] == _msgs(10)[9:]
    await spool.mark_done(positions[9:])
    await spool.aclose()
    assert list((tmp_path / "w0").glob("*.seg")) == []


@pytest.mark.anyio
async def test_reopened_spool_keeps_pending_and_ignores_a_torn_tail(tmp_path: Path) -> None:
    """After a 'crash' (torn last record) the next owner finds every complete record."""
    spool = await Spool.claim(tmp_path)
    positions = await spool.append(_msgs(5))
    await spool.mark_done(positions[:2])
    await spool.aclose()
    (segment,) = (tmp_path / "w0").glob("*.seg")
    with segment.open("ab") as f:
        f.write(frame(encode_message(Message("t", b"torn")))[:-3])
    with capture_logs() as logs:
        again = await Spool.claim(tmp_path)
    assert [m for _, m in await again.pending()] == _msgs(5)[2:]
    assert any(e["event"] == "spool_tail_ignored" for e in logs)
    await again.aclose()


@pytest.mark.anyio
async def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    """Fifty concurrent appends are all durable, with fewer commits than appends."""
    spool = await Spool.claim(tmp_path)
    results: list[list[object]] = []

    async def one(i: int) -> None:
        results.append(list(await spool.append(_msgs(2, f"c{i}-"))))

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(one, i)
    assert len({p for r in results for p in r}) == 100
    assert len(await spool.pending()) == 100
    assert spool.commits < 50
    await spool.aclose()


@pytest.mark.anyio
async def test_slots_are_exclusive_and_orphans_claimable(tmp_path: Path) -> None:
    """A second claim gets the next slot; a released slot with data is an orphan."""
    first = await Spool.claim(tmp_path)
    second = await Spool.claim(tmp_path)
    assert (first.directory.name, second.directory.name) == ("w0", "w1")
    await second.append(_msgs(3))
    assert await Spool.claim_orphans(tmp_path) == []
    await second.aclose()
    (orphan,) = await Spool.claim_orphans(tmp_path)
    assert orphan.pending_count == 3
    await orphan.aclose()
    await first.aclose()
