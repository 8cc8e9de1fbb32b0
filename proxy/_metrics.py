"""Prometheus metrics, labelled by route, mode and backend (never by unbounded values).

Each worker process keeps its samples in memory, in prometheus-client's
default registry, through its public classes; the supervisor asks every
worker for them when ``/metrics`` is scraped and shows their union
(``proxy._metrics_union``).

The three series every request updates (its count, its duration, its
backend's time to the head) are kept as plain numbers in this compiled
module instead, and ``proxy._metrics_hot`` hands them to the registry as a
custom collector when it is scraped: prometheus-client's classes are
interpreted Python with a lock per update (``ops/bench/engine_cpu.py``
measures the request path).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Final

from prometheus_client import Counter, Gauge

_BUCKETS: Final[tuple[float, ...]] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

BUCKETS: Final[tuple[float, ...]] = _BUCKETS
# (route, mode, status // 100) -> requests answered
REQUEST_COUNTS: Final[dict[tuple[str, str, int], int]] = {}
# label values -> bucket counts (one per bound, then +Inf, not cumulative), then the sum
REQUEST_DURATIONS: Final[dict[tuple[str, str], list[float]]] = {}
UPSTREAM_DURATIONS: Final[dict[str, list[float]]] = {}
UPSTREAM_ERRORS: Final = Counter(
    "strangler_upstream_errors_total", "Backend failures by kind", ["backend", "route", "kind"]
)
# Gauges are summed over the live workers unless ``proxy._metrics_union`` says otherwise.
POOL_IN_USE: Final = Gauge(
    "strangler_pool_connections_in_use", "Pooled backend connections lent out", ["backend"]
)
POOL_IDLE: Final = Gauge(
    "strangler_pool_connections_idle", "Pooled backend connections open and idle", ["backend"]
)
RELOADS: Final = Counter("strangler_config_reloads_total", "Configuration reloads", ["result"])


def observe_request(route: str, mode: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration."""
    key = (route, mode, status // 100)
    REQUEST_COUNTS[key] = REQUEST_COUNTS.get(key, 0) + 1
    pair = (route, mode)
    histogram = REQUEST_DURATIONS.get(pair)
    if histogram is None:
        histogram = REQUEST_DURATIONS[pair] = [0.0] * (len(_BUCKETS) + 2)
    histogram[bisect_left(_BUCKETS, seconds)] += 1
    histogram[-1] += seconds


_LABELLED: Final[dict[tuple[Any, tuple[str, ...]], Any]] = {}


def labelled(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once and kept (labels are bounded by the config)."""
    key = (metric, labels)
    child = _LABELLED.get(key)
    if child is None:
        child = _LABELLED[key] = metric.labels(*labels)
    return child


def observe_upstream(backend: str, seconds: float) -> None:
    """Time to a backend's response head."""
    histogram = UPSTREAM_DURATIONS.get(backend)
    if histogram is None:
        histogram = UPSTREAM_DURATIONS[backend] = [0.0] * (len(_BUCKETS) + 2)
    histogram[bisect_left(_BUCKETS, seconds)] += 1
    histogram[-1] += seconds


def status_class(status: int) -> str:
    """``2xx``... a bounded label for a status code."""
    return f"{status // 100}xx"


HANDLER_FAILURES: Final = Counter(
    "strangler_handler_failures_total",
    "Migrated handler failures (error or timeout)",
    ["route", "kind"],
)
FALLBACKS: Final = Counter(
    "strangler_fallbacks_total", "Requests answered by legacy after the handler failed", ["route"]
)
CANARY_FORCED: Final = Counter(
    "strangler_canary_forced_total",
    "Canary requests a header or cookie pinned to a side",
    ["route", "side", "by"],
)
