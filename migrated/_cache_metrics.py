"""Prometheus metrics of the hot caches, labelled by cache name (a bounded, configured set).

The age gauge is exported by each worker; the admin listener shows the
oldest one over the live workers (``proxy._metrics_union``), which is what
readiness alerts care about.
The refresh loop re-exports the age every ``AGE_EXPORT_INTERVAL`` seconds
while it sleeps, so the gauge keeps growing between hourly refreshes.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

RefreshResult = Literal["changed", "not_modified", "error"]

AGE_EXPORT_INTERVAL = 15.0

SNAPSHOT_AGE = Gauge(
    "strangler_cache_snapshot_age_seconds",
    "Seconds since the cache's data was last confirmed fresh (loaded or 304)",
    ["cache"],
)
REFRESHES = Counter(
    "strangler_cache_refreshes_total",
    "Refresh attempts by result (changed, not_modified, error)",
    ["cache", "result"],
)
LOAD_DURATION = Histogram(
    "strangler_cache_load_duration_seconds",
    "Time to fetch and parse new data (start and changed refreshes)",
    ["cache"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def export_age(cache: str, age: float) -> None:
    """Set the age gauge of ``cache``."""
    SNAPSHOT_AGE.labels(cache).set(age)


def count_refresh(cache: str, result: RefreshResult) -> None:
    """Count one refresh attempt of ``cache``."""
    REFRESHES.labels(cache, result).inc()


def observe_load(cache: str, seconds: float) -> None:
    """Record how long loading new data for ``cache`` took."""
    LOAD_DURATION.labels(cache).observe(seconds)
