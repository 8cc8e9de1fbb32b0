"""Prometheus metrics, labelled by route, mode and backend (never by unbounded values).

With several worker processes the supervisor sets ``PROMETHEUS_MULTIPROC_DIR``
before the workers start; each worker then writes its samples to files there
and the admin listener aggregates them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import multiprocess as _mp

from migrated._metric_values import HistogramValues, Value, value_of
from migrated._prometheus import Counter, Gauge, Histogram

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("strangler_requests_total", "Requests answered", ["route", "mode", "status"])
DURATION = Histogram(
    "strangler_request_duration_seconds",
    "Time from request start to the last byte sent",
    ["route", "mode"],
    buckets=_BUCKETS,
)
UPSTREAM_DURATION = Histogram(
    "strangler_upstream_duration_seconds",
    "Time until the backend's response head arrived",
    ["backend"],
    buckets=_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "strangler_upstream_errors_total", "Backend failures by kind", ["backend", "route", "kind"]
)
POOL_IN_USE = Gauge(
    "strangler_pool_connections_in_use",
    "Pooled backend connections lent out",
    ["backend"],
    multiprocess_mode="livesum",
)
POOL_IDLE = Gauge(
    "strangler_pool_connections_idle",
    "Pooled backend connections open and idle",
    ["backend"],
    multiprocess_mode="livesum",
)
RELOADS = Counter("strangler_config_reloads_total", "Configuration reloads", ["result"])


_CHILDREN: dict[tuple[str, str, int], tuple[Value, HistogramValues]] = {}


def observe_request(route: str, mode: str, status: int, seconds: float) -> None:
    """Count one answered request; the labelled children are looked up once and kept."""
    key = (route, mode, status // 100)
    children = _CHILDREN.get(key)
    if children is None:
        counter = labelled(REQUESTS, route, mode, status_class(status))
        children = value_of(counter._value), histogram(DURATION, route, mode)
        _CHILDREN[key] = children
    children[0].inc(1.0)
    children[1].observe(seconds)


_LABELLED: dict[tuple[Any, tuple[str, ...]], Any] = {}


def labelled(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once and kept (labels are bounded by the config)."""
    key = (metric, labels)
    child = _LABELLED.get(key)
    if child is None:
        child = _LABELLED[key] = metric.labels(*labels)
    return child


_HISTOGRAMS: dict[tuple[Any, tuple[str, ...]], HistogramValues] = {}


def histogram(metric: Any, *labels: str) -> HistogramValues:
    """``labelled`` for a histogram on the request path: its values, updated by compiled code."""
    key = (metric, labels)
    found = _HISTOGRAMS.get(key)
    if found is None:
        found = _HISTOGRAMS[key] = HistogramValues(labelled(metric, *labels))
    return found


def observe_upstream(backend: str, seconds: float) -> None:
    """Time to a backend's response head."""
    histogram(UPSTREAM_DURATION, backend).observe(seconds)


def status_class(status: int) -> str:
    """``2xx``... a bounded label for a status code."""
    return f"{status // 100}xx"


def collect_registry() -> CollectorRegistry | None:
    """A registry aggregating all workers' samples, or ``None`` for the default registry."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    registry = CollectorRegistry()
    _mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (multiprocess mode only)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _mp.mark_process_dead(pid)  # type: ignore[no-untyped-call]


HANDLER_FAILURES = Counter(
    "strangler_handler_failures_total",
    "Migrated handler failures (error or timeout)",
    ["route", "kind"],
)
FALLBACKS = Counter(
    "strangler_fallbacks_total", "Requests answered by legacy after the handler failed", ["route"]
)
SHADOW_COMPARED = Counter(
    "strangler_shadow_compared_total", "Mirrored requests compared", ["route", "result"]
)
SHADOW_SKIPS = Counter(
    "strangler_shadow_skips_total", "Requests not compared, by reason", ["route", "reason"]
)
