"""Time buckets that fit the period shown: seconds for minutes, hours for days.

Strategy: the width of a chart's bucket is the smallest round width (a
ladder of seconds, minutes, hours and a day) that puts at most
``MAX_BUCKETS`` buckets in the period, and never finer than the data (the
store counts per minute).  Buckets start at multiples of their width since
the epoch, so an hour bucket starts on the hour and a day bucket at UTC
midnight, and a point's label says which bucket it is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from ._model import TimePoint

MAX_BUCKETS = 60
LADDER = (
    1, 5, 10, 30,
    60, 5 * 60, 10 * 60, 15 * 60, 30 * 60,
    3600, 3 * 3600, 6 * 3600, 12 * 3600,
    86400,
)  # fmt: skip
_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def choose_bucket(span: float, resolution: float = 60.0, max_buckets: int = MAX_BUCKETS) -> int:
    """The bucket width in seconds for a period of ``span`` seconds.

    Args:
        span: the length of the period shown.
        resolution: the finest width the data has (a minute in the store).
        max_buckets: the most buckets the period may hold.
    """
    for width in LADDER:
        if width >= resolution and span / width <= max_buckets:
            return width
    return LADDER[-1] * max(1, math.ceil(span / LADDER[-1] / max_buckets))


def rebucket(points: Iterable[TimePoint], width: int) -> list[TimePoint]:
    """Sum finer points into buckets of ``width`` seconds, in order, empty ones left out."""
    sums: dict[float, tuple[int, int]] = {}
    for p in points:
        start = math.floor(p.start / width) * width
        n, m = sums.get(start, (0, 0))
        sums[start] = (n + p.compared, m + p.matched)
    return [TimePoint(float(t), n, m) for t, (n, m) in sorted(sums.items()) if n]


def bucket_name(width: int) -> str:
    """``1 minute``, ``30 minutes``, ``3 hours``, ``1 day``."""
    for size, unit in _UNITS:
        if width % size == 0:
            n = width // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{width} seconds"  # pragma: no cover - 1 divides everything


def time_format(width: int, span: float) -> str:
    """The strftime format naming a bucket of ``width`` in a period of ``span``."""
    if width >= 86400:
        return "%Y-%m-%d"
    clock = "%H:%M:%S" if width < 60 else "%H:%M"
    return f"%m-%d {clock}" if span >= 86400 else clock


def ticks(start: float, end: float, width: int, most: int = 7) -> list[float]:
    """Round times for the axis between ``start`` and ``end``: bucket starts, at most ``most``."""
    step = next(
        (w for w in LADDER if w >= width and (end - start) / w <= most - 1),
        LADDER[-1] * max(1, math.ceil((end - start) / LADDER[-1] / (most - 1))),
    )
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, step)]


def label(t: float, fmt: str) -> str:
    """An epoch second in UTC, as ``fmt``."""
    return time.strftime(fmt, time.gmtime(t))
