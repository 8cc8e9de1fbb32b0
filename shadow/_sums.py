"""Records and skips summed per store key, and the time and latency keys they use.

Strategy: the store's writer sums each batch here before one upsert per table
(``_store_write``), and the store adds every matched record of a route that
already has its examples to a ``Tally`` as it is offered, on the event loop
(``_store``).  That is one call per shadowed request, so this module is in the
compiled build (``proxy/_build.py``; ``ops/bench/engine_cpu.py --shadow``
measures it); the SQL and the reading stay interpreted.

Latencies are counted in fixed logarithmic buckets (``bucket_of``); a
percentile read back is the geometric middle of its bucket, within about 10 %
of the truth.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from typing import Final

from . import _codec as codec
from ._model import ShadowRecord, Skip, SkipReason
from ._redact import redact_comparison

LATENCY_FLOOR: Final = 1e-4  # seconds: bucket 0 holds everything faster
LATENCY_GROWTH: Final = 1.2  # each bucket is 20 % wider than the previous one
LATENCY_BUCKETS: Final = 80  # the last one (from ~170 s) holds everything slower


def bucket_of(seconds: float) -> int:
    """The latency bucket of a duration."""
    if seconds <= LATENCY_FLOOR:
        return 0
    index = int(math.log(seconds / LATENCY_FLOOR, LATENCY_GROWTH)) + 1
    return min(index, LATENCY_BUCKETS - 1)


def minute_of(at: float) -> int:
    """The start (epoch seconds) of the minute containing ``at``."""
    return int(at // 60) * 60


def second_of(at: float) -> int:
    """The epoch second containing ``at``: the key of the per-second rows."""
    return int(at // 1)


@dataclass(slots=True, init=False)
class SignatureRow:
    """One signature's count, first and last time seen, and latest differences."""

    count: int
    first_seen: float
    last_seen: float
    differences: str  # JSON of the latest record's differences

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(self, count: int, first_seen: float, last_seen: float, differences: str) -> None:
        self.count = count
        self.first_seen = first_seen
        self.last_seen = last_seen
        self.differences = differences

    def row(self) -> tuple[int, float, float, str]:
        return (self.count, self.first_seen, self.last_seen, self.differences)


@dataclass(slots=True, init=False)
class Sums:
    """Records and skips summed per table key: one batch, or matched records as offered."""

    minutes: dict[tuple[str, int], list[int]]
    skips: Counter[tuple[str, int, str]]
    latency: Counter[tuple[str, int, str, int]]
    signatures: dict[tuple[str, str], SignatureRow]
    signature_minutes: Counter[tuple[str, str, int]]

    def __init__(self) -> None:
        self.minutes = {}
        self.skips = Counter()
        self.latency = Counter()
        self.signatures = {}
        self.signature_minutes = Counter()

    def add_skip(self, skip: Skip) -> None:
        self.skips[skip.route, second_of(skip.at), skip.reason] += skip.count

    def add_record(self, record: ShadowRecord, fields: tuple[str, ...]) -> None:
        m, c = record.mirrored, record.comparison
        second, minute = second_of(m.at), minute_of(m.at)
        counts = self.minutes.get((m.route, second))
        if counts is None:
            counts = self.minutes[m.route, second] = [0, 0, 0, 0, 0]
        counts[0] += 1
        counts[1 if c.matched else 2] += 1
        counts[3] += int(c.matched and bool(c.noise))
        counts[4] += int(m.candidate.error is not None)
        latency = self.latency
        key = (m.route, minute, "control", bucket_of(m.control.seconds))
        latency[key] = latency.get(key, 0) + 1
        key = (m.route, minute, "candidate", bucket_of(m.candidate.seconds))
        latency[key] = latency.get(key, 0) + 1
        if c.matched or not c.signature:
            return
        self.signature_minutes[m.route, c.signature, second] += 1
        row = self.signatures.setdefault((m.route, c.signature), SignatureRow(0, m.at, m.at, ""))
        row.count += 1
        row.first_seen = min(row.first_seen, m.at)
        if m.at >= row.last_seen or not row.differences:
            row.last_seen = m.at
            diffs = redact_comparison(c, fields).differences
            row.differences = json.dumps(codec.differences_out(diffs), ensure_ascii=False)

    @property
    def records(self) -> int:
        """How many records were added."""
        return sum(counts[0] for counts in self.minutes.values())

    def merge(self, other: Sums) -> None:
        """Add ``other``'s sums to these."""
        for key, counts in other.minutes.items():
            mine = self.minutes.setdefault(key, [0, 0, 0, 0, 0])
            for i, n in enumerate(counts):
                mine[i] += n
        self.skips.update(other.skips)
        self.latency.update(other.latency)
        self.signature_minutes.update(other.signature_minutes)
        for signature, theirs in other.signatures.items():
            row = self.signatures.setdefault(signature, SignatureRow(0, theirs.first_seen, 0.0, ""))
            row.count += theirs.count
            row.first_seen = min(row.first_seen, theirs.first_seen)
            if theirs.last_seen >= row.last_seen:
                row.last_seen, row.differences = theirs.last_seen, theirs.differences


class Tally:
    """Skips per (route, reason, second), and summed matches, until the writer takes them."""

    __slots__ = ("counts", "matches")

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, SkipReason, int]] = Counter()
        self.matches = Sums()

    def add(self, skip: Skip) -> None:
        self.counts[skip.route, skip.reason, second_of(skip.at)] += skip.count

    def skips(self) -> list[Skip]:
        return [Skip(route, why, float(at), n) for (route, why, at), n in self.counts.items()]
