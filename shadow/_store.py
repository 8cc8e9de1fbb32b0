"""The embedded shadow store: SQLite written by one background task.

Strategy.  The request path only calls ``offer``, which puts the record or
skip on a bounded in-memory queue and returns at once (``False``, counted in
``dropped``, when the queue is full).  Skips, and matched records of a route
that already has its matched examples, are not queued one by one but added
up in place (``Tally``): at 100% sampling nearly every record is such a
match, and records held for the writer's linger were most of what the
cyclic garbage collector walked in a worker (each walk pauses the requests
waiting; ``ops/bench/run --shadow`` measures 100% shadow against
legacy-only).  One writer task (``run``) takes what
has accumulated, up to ``batch_size`` items, and writes it in ONE transaction
in a worker thread (``anyio.to_thread``): the batch is first summed in Python
(per route and second), so a busy second costs a few upserts, not one write
per request.  Only the writer touches the write connection; readers open
their own (WAL mode: they never block the writer).  Secrets are redacted in
the writer thread, off the request path.  Retention is enforced there too:
rows older than ``retention_days`` go, and at most ``max_records`` example
records and signatures are kept.

Schema (``minute`` holds the records' epoch second, so that ``since`` is
exact to the second; stores written before held the minute's start there,
which still reads; ``latency`` alone stays per minute)::

    route_minutes(route, minute, compared, matched, mismatched, noise_only, candidate_errors)
    skips(route, minute, reason, count)
    latency(route, minute, side['control'|'candidate'], bucket, count)   -- log buckets, minutes
    signatures(route, signature, count, first_seen, last_seen, differences JSON of latest)
    signature_minutes(route, signature, minute, count)                   -- for ``since``
    examples(id, route, signature, at, record JSON)   -- first N per (route, signature);
                                                      -- signature '' = matched samples
    kafka_offsets(topic, partition, next_offset)      -- what ``aggregate_from_kafka`` read
    accepted(route, signature, reason, accepted_at)   -- causes an engineer accepted
    noise(route, place, kind, learned_at, how, request_id, first, second)
                                  -- learned noise per (route, normalised place, kind);
                                  -- written as workers learn; loaded by each worker
                                  -- at start and after its writes; read by the reports
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Self

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._accepted import accept_signature, reopen_signature
from ._codec import Item
from ._model import LearnedNoise, ShadowRecord, Skip
from ._store_read import StoreReader
from ._store_write import SCHEMA, BatchWriter
from ._sums import Sums, Tally

_Queued = ShadowRecord | Tally


class QueuedWriter:
    """A bounded queue of records and skips drained in batches by one task.

    The base of the store and the Kafka sink.  Records queue one by one.  Skips
    are counted in place: the first skip after a batch was taken queues a
    tally, later ones add to it until the writer takes it, so a flood of
    skipped requests (a full mirror queue) costs a counter increment each, and
    one batch item per (route, reason, second), not one per request.  The
    store adds matched records to the same tally (``_tally_match``).

    Args:
        queue_size: items waiting; ``offer`` refuses more and counts them in ``dropped``.
        batch_size: most items handed to ``_write`` at once.
        linger: seconds to wait after the first item so that a batch can gather
            (one transaction per item would cost the request path its CPU).
    """

    def __init__(self, *, queue_size: int, batch_size: int, linger: float = 0.0) -> None:
        send, receive = anyio.create_memory_object_stream[_Queued](queue_size)
        self._send: MemoryObjectSendStream[_Queued] = send
        self._receive: MemoryObjectReceiveStream[_Queued] = receive
        self.batch_size = batch_size
        self.linger = linger
        self.dropped = 0
        self.written = 0
        self.batches = 0
        self._tally: Tally | None = None  # queued, still counting
        self._taken: list[Sums] = []  # matches of the tallies taken, for the next write
        self._running = False
        self._stopped: anyio.Event | None = None

    def offer(self, item: Item) -> bool:
        """Queue an item without blocking; ``False`` (and counted) when full or closed."""
        if isinstance(item, Skip):
            return self._count(item)
        return self._put(item)

    def _count(self, skip: Skip) -> bool:
        tally = self._open_tally()
        if tally is None:
            return False
        tally.add(skip)
        return True

    def _tally_match(self, record: ShadowRecord) -> bool:
        """Add a matched record to the tally instead of queueing it (no example is kept)."""
        tally = self._open_tally()
        if tally is None:
            return False
        tally.matches.add_record(record, ())
        return True

    def _open_tally(self) -> Tally | None:
        """The queued tally still counting, queued now if there is none (``None``: full)."""
        tally = self._tally
        if tally is None:
            tally = Tally()
            if not self._put(tally):
                return None
            self._tally = tally
        return tally

    def _put(self, item: _Queued) -> bool:
        try:
            self._send.send_nowait(item)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.dropped += 1
            return False
        return True

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Write batches until ``aclose`` (then flush and return) or cancellation."""
        self._running, self._stopped = True, anyio.Event()
        task_status.started()
        try:
            async for first in self._receive:
                if self.linger:
                    await anyio.sleep(self.linger)
                queued = [first, *self._take_queued(self.batch_size - 1)]
                while queued:
                    await self._write_batch(self._items(queued))
                    if len(queued) < self.batch_size:
                        break  # caught up: what came meanwhile waits for its own linger
                    queued = self._take_queued(self.batch_size)
        finally:
            self._running = False
            self._stopped.set()

    async def aclose(self) -> None:
        """Stop accepting, write everything queued, and release the resources."""
        self._send.close()
        with anyio.CancelScope(shield=True):
            if self._running and self._stopped is not None:
                await self._stopped.wait()
            while queued := self._take_queued(self.batch_size):  # a tally may hold no item
                await self._write_batch(self._items(queued))
            self._receive.close()
            await self._close_resources()

    def _take(self, limit: int) -> list[Item]:
        """Up to ``limit`` queued items, tallies opened into their skips."""
        return self._items(self._take_queued(limit))

    def _take_queued(self, limit: int) -> list[_Queued]:
        queued: list[_Queued] = []
        while len(queued) < limit:
            try:
                queued.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        return queued

    def _items(self, queued: list[_Queued]) -> list[Item]:
        items: list[Item] = []
        for item in queued:
            if isinstance(item, Tally):
                if item is self._tally:
                    self._tally = None  # taken: the next skip starts a new tally
                items += item.skips()
                if item.matches.minutes:
                    self._taken.append(item.matches)
            else:
                items.append(item)
        return items

    async def _write_batch(self, batch: list[Item]) -> None:
        tallied, self._taken = self._taken, []
        await self._write(batch, tallied)
        self.written += len(batch) + sum(sums.records for sums in tallied)
        self.batches += 1

    async def _write(self, batch: list[Item], tallied: list[Sums]) -> None:
        """Write ``batch`` and the matched records summed in ``tallied``."""
        raise NotImplementedError

    async def _close_resources(self) -> None:
        pass


class ShadowStore(QueuedWriter, StoreReader):
    """Shadow records and skips in an SQLite file; also a ``ShadowReader``.

    Open with ``ShadowStore.open(path)``, run ``run`` in a task group (or call
    ``write`` directly from a tool), and ``await aclose()`` at shutdown.
    """

    def __init__(
        self,
        writer: BatchWriter,
        reader: sqlite3.Connection,
        *,
        queue_size: int,
        batch_size: int,
        linger: float = 0.0,
    ) -> None:
        QueuedWriter.__init__(self, queue_size=queue_size, batch_size=batch_size, linger=linger)
        StoreReader.__init__(self, reader)
        self._writer = writer
        self._closed = False
        self._noise: list[LearnedNoise] = []  # learned here, for the next write
        self.on_noise: Callable[[list[LearnedNoise]], object] | None = None
        """Called in the event loop with every stored place when peers added some."""

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        examples_per_signature: int = 5,
        retention_days: float = 7.0,
        max_records: int = 100_000,
        redact_fields: Iterable[str] = (),
        queue_size: int = 10_000,
        batch_size: int = 500,
        linger: float = 0.0,
    ) -> Self:
        """Create or open the store at ``path`` (WAL mode).

        Args:
            examples_per_signature: full records kept per (route, signature).
            retention_days: rows older than this are pruned.
            max_records: most example records, and most signatures, kept.
            redact_fields: JSON field names hidden in stored examples.
            queue_size: records waiting for the writer before ``offer`` drops.
            batch_size: most records written in one transaction.
            linger: seconds the writer waits for a batch to gather (0.5 in the proxy).

        Raises:
            sqlite3.Error: the file cannot be created or is not a store.
        """
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            with _setup_lock(path):
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(SCHEMA)
        except BaseException:
            connection.close()
            raise
        writer = BatchWriter(
            connection,
            examples_per_signature=examples_per_signature,
            retention=retention_days * 86400.0,
            max_records=max_records,
            redact_fields=tuple(redact_fields),
        )
        reader = sqlite3.connect(path, check_same_thread=False)
        return cls(writer, reader, queue_size=queue_size, batch_size=batch_size, linger=linger)

    def offer(self, item: Item) -> bool:
        """Queue an item; a matched record of a route with its matched examples is only counted."""
        if (
            isinstance(item, ShadowRecord)
            and item.comparison.matched
            and item.mirrored.route in self._writer.sampled
        ):
            return self._tally_match(item)
        return super().offer(item)

    def write(
        self,
        items: Sequence[Item],
        now: float | None = None,
        *,
        offsets: Mapping[tuple[str, int], int] | None = None,
    ) -> None:
        """Write items now, in the caller's thread (tools; not while ``run`` runs).

        Args:
            items: the records and skips.
            now: the current time for retention (default: the clock).
            offsets: Kafka positions to save with them (see ``kafka_offsets``).
        """
        tallied, self._taken = self._taken, []
        now = time.time() if now is None else now
        self._writer.write(items, now, offsets or {}, tallied, self._take_noise())
        self.written += len(items) + sum(sums.records for sums in tallied)

    def remember_noise(self, learned: Iterable[LearnedNoise]) -> None:
        """Keep places this worker learned, to be written with the next batch.

        The record whose second legacy answer taught them is offered right
        after, so a batch follows soon; ``close`` writes what is left.
        """
        self._noise.extend(learned)

    def _take_noise(self) -> list[LearnedNoise]:
        noise, self._noise = self._noise, []
        return noise

    def accept(self, signature: str, reason: str, now: float | None = None) -> list[str]:
        """Mark ``signature`` accepted with ``reason``; the routes it was seen on.

        Its records then count neither as matches nor as mismatches, and the
        reports show it apart (see ``_triage``).  Written at once (a tool's
        write; the proxy's workers may be writing too).

        Raises:
            TriageError: the reason is empty, or the store has no such signature.
        """
        at = time.time() if now is None else now
        with self._writer.transaction() as db:
            return accept_signature(db, signature, reason, at)

    def reopen(self, signature: str) -> list[str]:
        """Take back the acceptance of ``signature``: its records count as mismatches again.

        Raises:
            TriageError: the signature was not accepted.
        """
        with self._writer.transaction() as db:
            return reopen_signature(db, signature)

    def kafka_offsets(self, topic: str) -> dict[int, int]:
        """The next offset to consume per partition of ``topic``, as saved by ``write``."""
        rows = self._db.execute(
            "SELECT partition, next_offset FROM kafka_offsets WHERE topic = ?", (topic,)
        )
        return dict(rows.fetchall())

    def prune(self, now: float | None = None) -> None:
        """Apply retention now (the writer also does it every minute and at close)."""
        self._writer.prune(time.time() if now is None else now)

    def close(self) -> None:
        """Write what is queued and close, synchronously (tools; not while ``run`` runs)."""
        self._send.close()
        while queued := self._take_queued(self.batch_size):  # a tally may hold no item
            self.write(self._items(queued))
        self._receive.close()
        self._shut(time.time())

    async def _write(self, batch: list[Item], tallied: list[Sums]) -> None:
        noise = self._take_noise()
        peers = await anyio.to_thread.run_sync(self._write_and_read, batch, tallied, noise)
        if peers and self.on_noise is not None:
            self.on_noise(peers)  # back in the event loop: the model is never shared

    def _write_and_read(
        self, batch: list[Item], tallied: list[Sums], noise: list[LearnedNoise]
    ) -> list[LearnedNoise]:
        self._writer.write(batch, time.time(), None, tallied, noise)
        return self._writer.peer_noise() if self.on_noise is not None else []

    async def _close_resources(self) -> None:
        await anyio.to_thread.run_sync(self._shut, time.time())

    def _shut(self, now: float) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._noise:
                self._writer.write([], now, None, (), self._take_noise())
            self._writer.prune(now)
        finally:
            self._writer.close()
            self._db.close()


@contextlib.contextmanager
def _setup_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``PATH.lock`` while the store's file is set up.

    Every worker of a proxy opens the same store as it starts.  Switching a
    new file to WAL while another connection creates the schema fails at once
    with "database is locked" (SQLite does not wait there), so the setup is
    done by one process at a time; it is brief, so the others hardly wait.
    """
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
