"""A durable on-disk queue of Kafka messages that were accepted but not yet acked.

Strategy.  A spool directory holds numbered segments: ``NNNNNNNN.seg`` is an
append-only log of message records, ``NNNNNNNN.done`` the offsets (inside that
segment) of records since acknowledged by the broker.  A record is framed as
``length u32 | crc32 u32 | payload`` (``frame``/``unframe`` are pure, sans-IO):
a crash can only leave a truncated or garbled tail, which ``unframe`` detects
and stops at, so every record written completely before the crash is found
again; the tail is ignored with a warning and never crashes the reader.

Durability.  ``append`` returns only after the records are fsynced (and the
directory, when it created a segment).  Concurrent appends share one fsync
(group commit): each caller stages its bytes in memory, then takes the write
lock; whoever holds it writes and fsyncs everything staged so far, so callers
that queued behind it find their bytes already durable.  Done marks are written
without fsync: losing one after a crash only resends a message (at-least-once).
A segment is deleted when every record in it is done and it is no longer the
active one; a reopened spool always starts a new active segment, so it never
appends after a damaged tail.  All file I/O runs in worker threads.

Ownership.  One process owns a spool directory at a time (``flock`` on
``lock``).  ``Spool.claim(root)`` takes the first free ``root/wN`` slot, so a
restarted worker finds what its predecessor left; ``Spool.claim_orphans`` takes
every other free slot holding data (the ``spool replay`` command).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import anyio
import anyio.to_thread
import structlog

from ._api import Message

log = structlog.get_logger(__name__)

_HEADER = struct.Struct(">II")
_MAX_RECORD = 256 * 1024 * 1024
_VERSION = 1
SEGMENT_BYTES = 16 * 1024 * 1024


class Position(NamedTuple):
    """Where a record lives: its segment number and byte offset."""

    segment: int
    offset: int


# -- sans-IO framing -----------------------------------------------------------


def frame(payload: bytes) -> bytes:
    """One record: length, CRC-32 of the payload, payload."""
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def unframe(data: bytes) -> tuple[list[tuple[int, bytes]], int, str | None]:
    """Split ``data`` into ``(offset, payload)`` records.

    Returns the complete, intact records, the number of bytes they span, and
    ``None`` or why the rest of ``data`` is unusable (truncated or corrupt).
    """
    records: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < _HEADER.size:
            return records, offset, f"truncated header at byte {offset}"
        length, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if length > _MAX_RECORD:
            return records, offset, f"implausible length {length} at byte {offset}"
        if end > len(data):
            return records, offset, f"truncated record at byte {offset}"
        payload = data[offset + _HEADER.size : end]
        if zlib.crc32(payload) != crc:
            return records, offset, f"checksum mismatch at byte {offset}"
        records.append((offset, payload))
        offset = end
    return records, offset, None


def encode_message(message: Message) -> bytes:
    """A message as bytes: version, topic, key (or none), value, headers."""
    topic = message.topic.encode()
    parts = [struct.pack(">BH", _VERSION, len(topic)), topic]
    key = message.key
    parts += [struct.pack(">i", -1)] if key is None else [struct.pack(">i", len(key)), key]
    parts += [struct.pack(">I", len(message.value)), message.value]
    parts.append(struct.pack(">H", len(message.headers)))
    for name, value in message.headers:
        encoded = name.encode()
        parts += [struct.pack(">H", len(encoded)), encoded, struct.pack(">I", len(value)), value]
    return b"".join(parts)


def decode_message(data: bytes) -> Message:
    """The inverse of ``encode_message``.

    Raises:
        ValueError: ``data`` is not an encoded message.
    """
    reader = _Reader(data)
    if reader.unpack(">B") != _VERSION:
        raise ValueError("unknown spool record version")
    topic = reader.take(reader.unpack(">H")).decode()
    key_length = reader.unpack(">i")
    key = None if key_length < 0 else reader.take(key_length)
    value = reader.take(reader.unpack(">I"))
    headers = []
    for _ in range(reader.unpack(">H")):
        name = reader.take(reader.unpack(">H")).decode()
        headers.append((name, reader.take(reader.unpack(">I"))))
    if reader.offset != len(data):
        raise ValueError("trailing bytes after spool record")
    return Message(topic=topic, value=value, key=key, headers=tuple(headers))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, n: int) -> bytes:
        if self.offset + n > len(self.data):
            raise ValueError("spool record too short")
        chunk = self.data[self.offset : self.offset + n]
        self.offset += n
        return chunk

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return int(value)


def encode_done(offsets: Iterable[int]) -> bytes:
    """A done-mark record: the acknowledged offsets of one segment."""
    values = list(offsets)
    return frame(struct.pack(f">{len(values)}Q", *values))


def decode_done(data: bytes) -> set[int]:
    """All offsets in a ``.done`` file (a damaged tail only resends messages)."""
    records, _, _ = unframe(data)
    offsets: set[int] = set()
    for _, payload in records:
        offsets.update(struct.unpack(f">{len(payload) // 8}Q", payload[: len(payload) // 8 * 8]))
    return offsets


# -- the spool -----------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Segment:
    pending: set[int] = field(default_factory=set)
    durable: int = 0  # bytes fsynced; readers never look past it


class Spool:
    """The on-disk spool of one slot directory (see the module docstring).

    Build it with ``await Spool.claim(root)``; ``aclose`` releases the slot.
    """

    def __init__(self, slot: _Slot, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = slot.directory
        self._lock_fd = slot.lock_fd
        self._segment_bytes = segment_bytes
        self._segments = slot.segments
        self._active = slot.next_segment
        self._staged_size = 0
        self._staged: list[tuple[int, bytes]] = []
        self._write_lock = anyio.Lock()
        self._done_lock = anyio.Lock()
        self._file: tuple[int, int] | None = None  # (segment, fd) being appended
        self.commits = 0  # fsync rounds so far; fewer than appends under concurrency

    @classmethod
    async def claim(cls, root: Path, segment_bytes: int = SEGMENT_BYTES) -> Spool:
        """Lock the first free slot ``root/wN`` and load what it holds."""
        slot = await anyio.to_thread.run_sync(_claim_first_free, root)
        return cls(slot, segment_bytes)

    @classmethod
    async def claim_orphans(cls, root: Path, segment_bytes: int = SEGMENT_BYTES) -> list[Spool]:
        """Lock every free slot under ``root`` that holds pending messages."""
        slots = await anyio.to_thread.run_sync(_claim_orphans, root)
        return [cls(slot, segment_bytes) for slot in slots]

    @property
    def pending_count(self) -> int:
        """Messages appended and not yet marked done."""
        return sum(len(s.pending) for s in self._segments.values())

    async def append(self, messages: Sequence[Message]) -> list[Position]:
        """Write ``messages`` durably (fsync, shared with concurrent callers).

        Cancellation does not interrupt the write: once staged, the bytes reach
        the disk before this returns or raises.
        """
        positions = [self._stage(frame(encode_message(m))) for m in messages]
        target = (self._active, self._staged_size)
        with anyio.CancelScope(shield=True):
            async with self._write_lock:
                if self._staged and self._is_staged(target):
                    await self._write_staged()
        return positions

    async def mark_done(self, positions: Iterable[Position]) -> None:
        """Record that these messages were acknowledged; delete finished segments."""
        by_segment: dict[int, list[int]] = {}
        for segment, offset in positions:
            state = self._segments.get(segment)
            if state is not None and offset in state.pending:
                state.pending.discard(offset)
                by_segment.setdefault(segment, []).append(offset)
        if not by_segment:
            return
        async with self._done_lock:
            await anyio.to_thread.run_sync(self._write_done, by_segment)
            await self._delete_finished()

    async def pending(
        self, limit: int | None = None, exclude: frozenset[Position] | set[Position] = frozenset()
    ) -> list[tuple[Position, Message]]:
        """Up to ``limit`` durable, not-done messages, oldest first, skipping ``exclude``."""
        found: list[tuple[Position, Message]] = []
        for number in sorted(self._segments):
            state = self._segments[number]
            wanted = {o for o in state.pending if Position(number, o) not in exclude}
            if not wanted or state.durable == 0:
                continue
            records = await anyio.to_thread.run_sync(self._read, number, state.durable)
            found += [(Position(number, o), m) for o, m in records if o in wanted]
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    async def aclose(self) -> None:
        """Write what is staged, delete finished segments, release the slot."""
        with anyio.CancelScope(shield=True):
            async with self._write_lock:
                if self._staged:
                    await self._write_staged()
                await anyio.to_thread.run_sync(self._close_segment)
            self._active += 1  # the last segment may now be deleted too
            async with self._done_lock:
                await self._delete_finished()
            os.close(self._lock_fd)

    # -- writing ---------------------------------------------------------------

    def _stage(self, record: bytes) -> Position:
        if self._staged_size and self._staged_size + len(record) > self._segment_bytes:
            self._active += 1
            self._staged_size = 0
        state = self._segments.setdefault(self._active, _Segment())
        position = Position(self._active, self._staged_size)
        state.pending.add(position.offset)
        self._staged.append((self._active, record))
        self._staged_size += len(record)
        return position

    def _is_staged(self, target: tuple[int, int]) -> bool:
        segment, end = target
        state = self._segments.get(segment)
        return state is None or state.durable < end

    async def _write_staged(self) -> None:
        chunks, self._staged = self._staged, []
        self.commits += 1
        sizes = await anyio.to_thread.run_sync(self._write_chunks, chunks)
        for segment, size in sizes.items():
            self._segments.setdefault(segment, _Segment()).durable = size

    def _write_chunks(self, chunks: list[tuple[int, bytes]]) -> dict[int, int]:
        sizes: dict[int, int] = {}
        for segment, data in chunks:
            fd = self._open_segment(segment)
            os.write(fd, data)
            sizes[segment] = os.lseek(fd, 0, os.SEEK_CUR)
        if self._file is not None:
            os.fsync(self._file[1])
        return sizes

    def _open_segment(self, segment: int) -> int:
        if self._file is not None and self._file[0] == segment:
            return self._file[1]
        self._close_segment()
        path = self._path(segment, "seg")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_directory(self.directory)
        self._file = (segment, fd)
        return fd

    def _write_done(self, by_segment: dict[int, list[int]]) -> None:
        for segment, offsets in by_segment.items():
            with open(self._path(segment, "done"), "ab") as f:
                f.write(encode_done(offsets))

    async def _delete_finished(self) -> None:
        writing = None if self._file is None else self._file[0]
        finished = [
            n
            for n, s in self._segments.items()
            if not s.pending and n not in (self._active, writing)
        ]
        for number in finished:
            del self._segments[number]
        if finished:
            await anyio.to_thread.run_sync(self._unlink, finished)

    def _unlink(self, numbers: list[int]) -> None:
        for number in numbers:
            for suffix in ("seg", "done"):
                with contextlib.suppress(FileNotFoundError):
                    self._path(number, suffix).unlink()

    def _close_segment(self) -> None:
        if self._file is not None:
            os.fsync(self._file[1])
            os.close(self._file[1])
            self._file = None

    # -- reading ---------------------------------------------------------------

    def _read(self, segment: int, size: int) -> list[tuple[int, Message]]:
        with open(self._path(segment, "seg"), "rb") as f:
            data = f.read(size)
        return _decode_segment(self._path(segment, "seg"), data)

    def _path(self, segment: int, suffix: str) -> Path:
        return self.directory / f"{segment:08d}.{suffix}"


def _decode_segment(path: Path, data: bytes) -> list[tuple[int, Message]]:
    records, _, problem = unframe(data)
    if problem is not None:
        log.warning("spool_tail_ignored", path=str(path), problem=problem)
    decoded = []
    for offset, payload in records:
        try:
            decoded.append((offset, decode_message(payload)))
        except ValueError as exc:
            log.warning("spool_record_skipped", path=str(path), offset=offset, problem=str(exc))
    return decoded


@dataclass(slots=True)
class _Slot:
    """A locked slot directory and the state loaded from it (built in a thread)."""

    directory: Path
    lock_fd: int
    segments: dict[int, _Segment] = field(default_factory=dict)
    next_segment: int = 0


def _try_lock(directory: Path) -> _Slot | None:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    slot = _Slot(directory, fd)
    _load(slot)
    return slot


def _load(slot: _Slot) -> None:
    """Find the pending records of every segment; delete segments with none."""
    for path in sorted(slot.directory.glob("*.seg")):
        number = int(path.stem)
        records = _decode_segment(path, path.read_bytes())
        done_path = path.with_suffix(".done")
        done = decode_done(done_path.read_bytes()) if done_path.exists() else set()
        pending = {o for o, _ in records if o not in done}
        if pending:
            slot.segments[number] = _Segment(pending, path.stat().st_size)
        else:
            path.unlink()
            done_path.unlink(missing_ok=True)
        slot.next_segment = max(slot.next_segment, number + 1)
    for orphan in slot.directory.glob("*.done"):
        if not orphan.with_suffix(".seg").exists():
            orphan.unlink()


def _claim_first_free(root: Path) -> _Slot:
    for index in range(10_000):
        slot = _try_lock(root / f"w{index}")
        if slot is not None:
            return slot
    raise OSError(f"no free spool slot under {root}")


def _claim_orphans(root: Path) -> list[_Slot]:
    slots = []
    for directory in sorted(root.glob("w*")) if root.is_dir() else []:
        if any(directory.glob("*.seg")):
            slot = _try_lock(directory)
            if slot is not None:
                slots.append(slot)
    return slots


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
