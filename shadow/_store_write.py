"""The store's writes: one batch of records and skips in one transaction, and retention.

Strategy: a batch is first summed in memory (``_sums.Sums``) by (route,
second), (route, second, reason), (route, minute, side, latency bucket) and
(route, signature), then written with one ``executemany`` upsert per table, so the
cost of a batch grows with the routes and seconds it touches, not with its
length.  The per-second keys (in the column still named ``minute``, so that
stores written before keep working both ways) make a report's ``since``
exact to the second.  Example
records are the only per-request rows: the first ``examples_per_signature``
of each (route, signature), matched samples under the signature ``""``.  Only
those are redacted and encoded, which keeps the common case (a signature that
already has its examples) cheap.  Runs in the writer's thread only; the
matched records of a route with its matched examples are summed by the store
as they are offered instead (``BatchWriter.sampled``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping, Sequence

from . import _codec as codec
from ._codec import Item
from ._model import LearnedNoise, ShadowRecord, Skip
from ._redact import redact, redact_noise
from ._store_read import ACCEPTED_SCHEMA, NOISE_SCHEMA
from ._sums import Sums, second_of

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS route_minutes (
    route TEXT NOT NULL, minute INTEGER NOT NULL,
    compared INTEGER NOT NULL DEFAULT 0, matched INTEGER NOT NULL DEFAULT 0,
    mismatched INTEGER NOT NULL DEFAULT 0, noise_only INTEGER NOT NULL DEFAULT 0,
    candidate_errors INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (route, minute)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS skips (
    route TEXT NOT NULL, minute INTEGER NOT NULL, reason TEXT NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (route, minute, reason)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latency (
    route TEXT NOT NULL, minute INTEGER NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('control', 'candidate')), bucket INTEGER NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (route, minute, side, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signatures (
    route TEXT NOT NULL, signature TEXT NOT NULL, count INTEGER NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL, differences TEXT NOT NULL,
    PRIMARY KEY (route, signature));
CREATE INDEX IF NOT EXISTS signatures_by_last_seen ON signatures (last_seen);
CREATE TABLE IF NOT EXISTS signature_minutes (
    route TEXT NOT NULL, signature TEXT NOT NULL, minute INTEGER NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (route, signature, minute)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS examples (
    id INTEGER PRIMARY KEY, route TEXT NOT NULL, signature TEXT NOT NULL,
    at REAL NOT NULL, record BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS examples_by_signature ON examples (signature, route, at);
CREATE INDEX IF NOT EXISTS examples_by_at ON examples (at);
CREATE TABLE IF NOT EXISTS kafka_offsets (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition));
"""
    + NOISE_SCHEMA
    + ACCEPTED_SCHEMA
)

_UPSERT_MINUTES = """INSERT INTO route_minutes VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET compared = compared + excluded.compared,
matched = matched + excluded.matched, mismatched = mismatched + excluded.mismatched,
noise_only = noise_only + excluded.noise_only,
candidate_errors = candidate_errors + excluded.candidate_errors"""
_UPSERT_SKIPS = """INSERT INTO skips VALUES (?, ?, ?, ?)
ON CONFLICT DO UPDATE SET count = count + excluded.count"""
_UPSERT_LATENCY = """INSERT INTO latency VALUES (?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET count = count + excluded.count"""
_UPSERT_SIGNATURES = """INSERT INTO signatures VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET count = count + excluded.count,
first_seen = MIN(first_seen, excluded.first_seen),
differences = CASE WHEN excluded.last_seen >= last_seen
    THEN excluded.differences ELSE differences END,
last_seen = MAX(last_seen, excluded.last_seen)"""
_UPSERT_SIGNATURE_MINUTES = """INSERT INTO signature_minutes VALUES (?, ?, ?, ?)
ON CONFLICT DO UPDATE SET count = count + excluded.count"""
_UPSERT_OFFSETS = """INSERT INTO kafka_offsets VALUES (?, ?, ?)
ON CONFLICT DO UPDATE SET next_offset = excluded.next_offset"""
_INSERT_NOISE = "INSERT OR IGNORE INTO noise VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_PRUNE_EVERY = 60.0


class BatchWriter:
    """Writes batches and applies retention on one connection (the writer's thread).

    Args:
        connection: a connection in autocommit mode (``isolation_level=None``).
        examples_per_signature: full records kept per (route, signature).
        retention: seconds rows are kept.
        max_records: most example records and most signatures kept.
        redact_fields: JSON field names hidden in examples and differences.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        examples_per_signature: int,
        retention: float,
        max_records: int,
        redact_fields: tuple[str, ...],
    ) -> None:
        self._db = connection
        self.examples_per_signature = examples_per_signature
        self.retention = retention
        self.max_records = max_records
        self.redact_fields = redact_fields
        self._last_prune = 0.0
        self._noise_rows = -1  # rows of ``noise`` when last read by ``peer_noise``
        self.sampled: set[str] = set()
        """Routes with all their matched examples kept, as last written or pruned.

        Read by the event loop's thread, changed by the writer's: set
        operations are atomic in CPython.
        """

    def write(
        self,
        items: Sequence[Item],
        now: float,
        offsets: Mapping[tuple[str, int], int] | None = None,
        tallied: Sequence[Sums] = (),
        noise: Sequence[LearnedNoise] = (),
    ) -> None:
        """Write one batch in one transaction; prune when a minute has passed.

        Args:
            items: the records and skips.
            now: the current time (epoch seconds), for retention.
            offsets: Kafka positions consumed with this batch, ``(topic, partition)``
                to the next offset, saved in the same transaction.
            tallied: records already summed (matched ones, without examples).
            noise: places newly learned as noise; a place already stored keeps
                its first row (who learned it first, and how).
        """
        sums = Sums()
        for other in tallied:
            sums.merge(other)
        records = []
        for item in items:
            if isinstance(item, Skip):
                sums.add_skip(item)
            else:
                sums.add_record(item, self.redact_fields)
                records.append(item)
        with self._transaction():
            self._write_sums(sums)
            sampled = self._write_examples(records)
            self._db.executemany(_UPSERT_OFFSETS, [(*k, n) for k, n in (offsets or {}).items()])
            self._db.executemany(_INSERT_NOISE, [self._noise_row(n) for n in noise])
        self.sampled |= sampled
        if now - self._last_prune >= _PRUNE_EVERY:
            self.prune(now)

    def _noise_row(self, noise: LearnedNoise) -> tuple[object, ...]:
        n = redact_noise(noise, self.redact_fields)
        return (n.route, n.where, n.kind, n.learned_at, n.how, n.request_id, n.first, n.second)

    def peer_noise(self) -> list[LearnedNoise]:
        """Every learned place, when the table has grown since the last call (else none).

        The workers sharing the store call this after their writes, so a
        place one of them learns is excused by all of them from their next
        batch on.  Rows are never updated, only added or pruned, so the count
        tells whether there is anything new.
        """
        rows = self._db.execute("SELECT COUNT(*) FROM noise").fetchone()[0]
        if rows == self._noise_rows:
            return []
        self._noise_rows = rows
        query = "SELECT route, place, kind, learned_at, how, request_id, first, second FROM noise"
        return [LearnedNoise(*row) for row in self._db.execute(query)]

    def _write_sums(self, sums: Sums) -> None:
        db = self._db
        db.executemany(_UPSERT_MINUTES, [(*k, *v) for k, v in sums.minutes.items()])
        db.executemany(_UPSERT_SKIPS, [(*k, n) for k, n in sums.skips.items()])
        db.executemany(_UPSERT_LATENCY, [(*k, n) for k, n in sums.latency.items()])
        db.executemany(_UPSERT_SIGNATURES, [(*k, *v.row()) for k, v in sums.signatures.items()])
        rows = [(*k, n) for k, n in sums.signature_minutes.items()]
        db.executemany(_UPSERT_SIGNATURE_MINUTES, rows)

    def _write_examples(self, records: list[ShadowRecord]) -> set[str]:
        """Insert the records a signature still needs as examples.

        Returns:
            the routes whose matched examples are now all kept.
        """
        have: dict[tuple[str, str], int] = {}
        for record in records:
            key = (record.mirrored.route, record.comparison.signature)
            if key not in have:
                count = "SELECT COUNT(*) FROM examples WHERE signature = ? AND route = ?"
                have[key] = self._db.execute(count, (key[1], key[0])).fetchone()[0]
            if have[key] >= self.examples_per_signature:
                continue
            have[key] += 1
            blob = codec.encode(redact(record, self.redact_fields))
            insert = "INSERT INTO examples (route, signature, at, record) VALUES (?, ?, ?, ?)"
            self._db.execute(insert, (*key, record.mirrored.at, blob))
        return {r for (r, sig), n in have.items() if sig == "" and n >= self.examples_per_signature}

    def prune(self, now: float) -> None:
        """Delete rows older than the retention, then the oldest beyond ``max_records``."""
        self._last_prune = now
        cutoff = now - self.retention
        with self._transaction():
            for table in ("route_minutes", "skips", "latency", "signature_minutes"):
                self._db.execute(f"DELETE FROM {table} WHERE minute < ?", (second_of(cutoff),))
            self._db.execute("DELETE FROM signatures WHERE last_seen < ?", (cutoff,))
            self._db.execute("DELETE FROM examples WHERE at < ?", (cutoff,))
            self._db.execute(
                "DELETE FROM examples WHERE id IN (SELECT id FROM examples"
                " ORDER BY at DESC, id DESC LIMIT -1 OFFSET ?)",
                (self.max_records,),
            )
            self._db.execute(
                "DELETE FROM signatures WHERE rowid IN (SELECT rowid FROM signatures"
                " ORDER BY last_seen DESC LIMIT -1 OFFSET ?)",
                (self.max_records,),
            )
            if self._db.execute("SELECT changes()").fetchone()[0]:
                self._db.execute(
                    "DELETE FROM signature_minutes WHERE NOT EXISTS (SELECT 1 FROM signatures s"
                    " WHERE s.route = signature_minutes.route"
                    " AND s.signature = signature_minutes.signature)"
                )
        self._recheck_sampled()

    def _recheck_sampled(self) -> None:
        """Forget the routes whose matched examples retention (here or in a peer) removed."""
        count = "SELECT COUNT(*) FROM examples WHERE signature = '' AND route = ?"
        for route in list(self.sampled):
            if self._db.execute(count, (route,)).fetchone()[0] < self.examples_per_signature:
                self.sampled.discard(route)

    def close(self) -> None:
        """Close the write connection."""
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The write connection inside one transaction (tools' one-off writes)."""
        with self._transaction():
            yield self._db


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
