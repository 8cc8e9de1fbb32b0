"""Reading the shadow store: the ``ShadowReader`` the report and the dashboard use.

Strategy: every reader opens its own SQLite connection (the store is in WAL
mode, so readers never block the proxy's writer and see whole batches only).
Totals are sums over per-second rows (the ``minute`` column holds the
records' epoch second; a store written before held the minute's start, and
its rows still read, to the minute), so a ``since`` filter is exact to the
second: the second that contains ``since`` is included.  Latencies are kept
per minute, as counts in fixed logarithmic buckets (``bucket_of``); a
percentile is the geometric middle of the bucket holding it, within about
10 % of the truth, over the minutes the window touches.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from . import _codec as codec
from ._model import (
    Example,
    LearnedNoise,
    RouteSummary,
    ShadowRecord,
    SignatureSummary,
    TimePoint,
)
from ._sums import LATENCY_FLOOR as LATENCY_FLOOR
from ._sums import LATENCY_GROWTH as LATENCY_GROWTH
from ._sums import bucket_of as bucket_of
from ._sums import minute_of as minute_of
from ._sums import second_of as second_of
from ._triage import classify, settle

NOISE_SCHEMA = """
CREATE TABLE IF NOT EXISTS noise (
    route TEXT NOT NULL, place TEXT NOT NULL, kind TEXT NOT NULL, learned_at REAL NOT NULL,
    how TEXT NOT NULL DEFAULT '', request_id TEXT NOT NULL DEFAULT '',
    first TEXT NOT NULL DEFAULT '', second TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (route, place, kind)) WITHOUT ROWID;
"""
"""The learned noise: one row per (route, normalised place, kind), as ``noise`` reads it."""

ACCEPTED_SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    route TEXT NOT NULL, signature TEXT NOT NULL, reason TEXT NOT NULL,
    accepted_at REAL NOT NULL, PRIMARY KEY (route, signature)) WITHOUT ROWID;
"""
"""Signatures an engineer accepted, and why (``strangler report --accept``)."""


def bucket_value(index: int) -> float:
    """A representative duration of a bucket (its geometric middle)."""
    if index == 0:
        return LATENCY_FLOOR
    return float(LATENCY_FLOOR * LATENCY_GROWTH ** (index - 0.5))


def percentile(counts: dict[int, int], q: float) -> float:
    """The ``q`` quantile (0..1) of bucketed latencies; 0.0 when there are none."""
    total = sum(counts.values())
    if not total:
        return 0.0
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank:
            return bucket_value(index)
    return bucket_value(max(counts))  # pragma: no cover - rank <= total


class StoreReader:
    """Read-only access to a shadow store file (implements ``ShadowReader``).

    Args:
        connection: an open connection to the store (see ``open``).
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._judging: tuple[tuple[float | None, int], _Judged] | None = None

    @classmethod
    def open(cls, path: str | Path) -> Self:
        """Open an existing store read-only.

        Raises:
            FileNotFoundError: there is no store at ``path``.
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f"no shadow store at {path}")
        uri = f"file:{Path(path).resolve()}?mode=ro"
        return cls(sqlite3.connect(uri, uri=True, check_same_thread=False))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def routes(self, since: float | None = None) -> list[RouteSummary]:
        """Per-route totals since ``since`` (epoch seconds), sorted by route."""
        start = _start(since)
        summaries: dict[str, RouteSummary] = {}
        rows = self._db.execute(
            "SELECT route, SUM(compared), SUM(matched), SUM(mismatched), SUM(noise_only),"
            " SUM(candidate_errors) FROM route_minutes WHERE minute >= ? GROUP BY route",
            (start,),
        )
        for route, *counts in rows:
            summaries[route] = RouteSummary(route, *counts)
        skips = "SELECT route, reason, SUM(count) FROM skips WHERE minute >= ? GROUP BY 1, 2"
        for route, reason, count in self._db.execute(skips, (start,)):
            summaries.setdefault(route, RouteSummary(route)).skips[reason] = count
        for summary in summaries.values():
            self._fill_latency(summary, _start_minute(since))
        settle(summaries, self.set_aside(None, since))
        return [summaries[r] for r in sorted(summaries)]

    def _fill_latency(self, summary: RouteSummary, start: int) -> None:
        hist: dict[str, dict[int, int]] = {"control": {}, "candidate": {}}
        rows = self._db.execute(
            "SELECT side, bucket, SUM(count) FROM latency WHERE route = ? AND minute >= ?"
            " GROUP BY side, bucket",
            (summary.route, start),
        )
        for side, index, count in rows:
            hist[side][index] = count
        summary.control_p50 = percentile(hist["control"], 0.50)
        summary.control_p99 = percentile(hist["control"], 0.99)
        summary.candidate_p50 = percentile(hist["candidate"], 0.50)
        summary.candidate_p99 = percentile(hist["candidate"], 0.99)

    def signatures(
        self, route: str | None = None, since: float | None = None, limit: int = 20
    ) -> list[SignatureSummary]:
        """The most frequent signatures still counted as mismatches since ``since``.

        Counts are those in the window; re-judged and accepted signatures are
        left out (see ``set_aside``).
        """
        return self._judged(route, since)[0][:limit]

    def set_aside(
        self, route: str | None = None, since: float | None = None
    ) -> list[SignatureSummary]:
        """Signatures re-judged, accepted or unlearned noise, most frequent first (``_triage``)."""
        return self._judged(route, since)[1]

    def _judged(self, route: str | None, since: float | None) -> _Judged:
        """Every route's signatures, judged once per window and store version, then filtered.

        A page asks for the totals, the signatures, the set-aside ones and
        each route's timeline in turn; all of them rest on this one judgement,
        which is read again only once a writer has committed since.
        """
        key = (since, self._db.execute("PRAGMA data_version").fetchone()[0])
        if self._judging is None or self._judging[0] != key:
            self._judging = (key, self._judge(since))
        still, aside = self._judging[1]
        if route is None:
            return still, aside
        return [s for s in still if s.route == route], [s for s in aside if s.route == route]

    def _judge(self, since: float | None) -> _Judged:
        rows = self._db.execute(
            "SELECT s.route, s.signature, SUM(m.count) AS n, s.first_seen, s.last_seen,"
            " s.differences FROM signature_minutes m JOIN signatures s"
            " ON s.route = m.route AND s.signature = m.signature WHERE m.minute >= ?"
            " GROUP BY s.route, s.signature ORDER BY n DESC, s.last_seen DESC",
            (_start(since),),
        )
        found = [
            SignatureSummary(r, sig, n, first, last, codec.differences_in(json.loads(diffs)))
            for r, sig, n, first, last, diffs in rows
        ]
        return classify(found, self.noise(), self.accepted())

    def accepted(self, route: str | None = None) -> dict[tuple[str, str], str]:
        """Accepted signatures, ``(route, signature)`` to the reason given."""
        query = "SELECT route, signature, reason FROM accepted WHERE ? IS NULL OR route = ?"
        rows = self._tolerant(query, (route, route))
        return {(r, sig): reason for r, sig, reason in rows}

    def _tolerant(self, query: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """Rows of a table a store written before it existed may lack (then none)."""
        try:
            return self._db.execute(query, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise

    def examples(self, signature: str, limit: int = 5) -> list[Example]:
        """Stored examples of a signature, oldest first (``""``: matched samples)."""
        rows = self._db.execute(
            "SELECT record FROM examples WHERE signature = ? ORDER BY at, id LIMIT ?",
            (signature, limit),
        )
        return [Example(signature, _record(blob)) for (blob,) in rows]

    def records(self, route: str | None = None) -> Iterator[ShadowRecord]:
        """Every stored example record (mismatches and matched samples), oldest first."""
        rows = self._db.execute(
            "SELECT record FROM examples WHERE ? IS NULL OR route = ? ORDER BY at, id",
            (route, route),
        )
        for (blob,) in rows:
            yield _record(blob)

    def timeline(
        self, route: str, bucket: float = 60.0, since: float | None = None
    ) -> list[TimePoint]:
        """Compared and matched counts per time bucket (buckets with data only, in order).

        Re-judged records count as matched, accepted and unlearned-noise ones
        not at all, as in ``routes``.
        """
        width = max(60, int(bucket) // 60 * 60)
        rows = self._db.execute(
            "SELECT minute / ? * ? AS start, SUM(compared), SUM(matched) FROM route_minutes"
            " WHERE route = ? AND minute >= ? AND compared > 0 GROUP BY start ORDER BY start",
            (width, width, route, _start(since)),
        )
        points = {start: [compared, matched] for start, compared, matched in rows}
        for s in self.set_aside(route, since):
            counts = self._db.execute(
                "SELECT minute / ? * ? AS start, SUM(count) FROM signature_minutes"
                " WHERE route = ? AND signature = ? AND minute >= ? GROUP BY start",
                (width, width, route, s.signature, _start(since)),
            )
            for start, n in counts:
                point = points.get(start)
                if point is not None and s.status == "rejudged":
                    point[1] += n
                elif point is not None:
                    point[0] -= n
        return [TimePoint(float(start), c, m) for start, (c, m) in sorted(points.items()) if c]

    def noise(self, route: str | None = None) -> list[LearnedNoise]:
        """The places learned as noise, by route and place (none in a store without them)."""
        query = (
            "SELECT route, place, kind, learned_at, how, request_id, first, second FROM noise"
            " WHERE ? IS NULL OR route = ? ORDER BY route, place, kind"
        )
        return [LearnedNoise(*row) for row in self._tolerant(query, (route, route))]


_Judged = tuple[list[SignatureSummary], list[SignatureSummary]]
"""Signatures still counted, and those set aside (see ``_triage.classify``)."""


def _start(since: float | None) -> int:
    return second_of(since) if since is not None else -(2**62)


def _start_minute(since: float | None) -> int:
    return minute_of(since) if since is not None else -(2**62)


def _record(blob: bytes) -> ShadowRecord:
    item = codec.decode(blob)
    if not isinstance(item, ShadowRecord):
        raise codec.CodecError("an example row holds a skip")
    return item
