"""What the pages show, read once: the ``Snapshot``, and the small formatters they share.

Strategy: ``collect`` asks a ``ShadowReader`` everything the pages show in
one go; every renderer is then a pure function of the snapshot.  The
timelines are read per minute (the store's resolution) and summed into
buckets chosen from the period shown (``_timeline``), and every signature
gets its label here, once, so the chart and the drill-down name it alike and
no two signatures share a name (``_signature.labels``).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._model import Example, LearnedNoise, RouteSummary, ShadowReader, SignatureSummary, TimePoint
from ._readiness import Thresholds, Verdict, verdict
from ._signature import labels
from ._timeline import choose_bucket, rebucket

PALETTE = ("#2563eb", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569", "#b91c1c")
e = html.escape


@dataclass(frozen=True, slots=True)
class RouteView:
    """One route's totals, its verdict and its match-rate timeline."""

    summary: RouteSummary
    verdict: Verdict
    timeline: list[TimePoint]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a page shows, read from a ``ShadowReader`` at one moment."""

    generated_at: float
    since: float | None
    route: str | None
    thresholds: Thresholds
    routes: list[RouteView]
    signatures: list[SignatureSummary]
    examples: dict[str, list[Example]] = field(default_factory=dict)
    bucket: int = 60  # seconds per timeline point
    noise: list[LearnedNoise] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    aside: list[SignatureSummary] = field(default_factory=list)  # re-judged or accepted

    def label(self, signature: SignatureSummary) -> str:
        """The signature's distinct label."""
        return self.labels.get(signature.signature) or signature.signature


def collect(
    reader: ShadowReader,
    *,
    route: str | None = None,
    since: float | None = None,
    thresholds: Thresholds = Thresholds(),  # noqa: B008 (frozen, so sharing is safe)
    with_examples: bool = True,
    signature_limit: int = 20,
) -> Snapshot:
    """Read everything the pages show.

    Args:
        reader: where the shadow records are.
        route: only this route (default: every route).
        since: only records from this epoch second on.
        thresholds: the readiness bar.
        with_examples: also read the examples of each signature (the drill-down).
        signature_limit: how many of the most frequent signatures to show.
    """
    now = time.time()
    summaries = [s for s in reader.routes(since) if route is None or s.route == route]
    minutes = {s.route: reader.timeline(s.route, 60.0, since) for s in summaries}
    bucket = choose_bucket(_span(minutes.values(), since, now))
    views = [
        RouteView(s, verdict(s, thresholds), rebucket(minutes[s.route], bucket)) for s in summaries
    ]
    signatures = reader.signatures(route, since, signature_limit)
    examples = (
        {s.signature: reader.examples(s.signature) for s in signatures} if with_examples else {}
    )
    named = labels((s.signature, s.route, s.differences) for s in signatures)
    noise = reader.noise(route)
    aside = reader.set_aside(route, since)
    return Snapshot(
        now, since, route, thresholds, views, signatures, examples, bucket, noise, named, aside
    )


def _span(timelines: Iterable[list[TimePoint]], since: float | None, now: float) -> float:
    """The period shown: from ``since`` to now, else the stored data's extent."""
    if since is not None:
        return max(0.0, now - since)
    starts = [p.start for points in timelines for p in points]
    return max(starts) + 60 - min(starts) if starts else 0.0


def pct(rate: float) -> str:
    """A rate as a percentage that never rounds up to 100% (``97.5%``, ``99.95%``)."""
    if rate >= 1.0:
        return "100%"
    digits = 1 if rate < 0.99 else 2
    value = min(round(rate * 100, digits), 100 - 10**-digits)
    return f"{value:.{digits}f}%"


def ms(seconds: float) -> str:
    """A latency for people: ``12.3 ms`` or ``1.20 s``."""
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def when(t: float, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """An epoch second in UTC."""
    return time.strftime(fmt, time.gmtime(t))


def anchor(signature: str) -> str:
    """The element id of a signature's drill-down."""
    return "sig-" + re.sub(r"[^A-Za-z0-9_-]", "_", signature)


def colour(snap: Snapshot, route: str) -> str:
    """The route's colour, the same in the table, the charts and the drill-down."""
    names = [v.summary.route for v in snap.routes]
    index = names.index(route) if route in names else len(names)
    return PALETTE[index % len(PALETTE)]
