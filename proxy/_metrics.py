"""Prometheus metrics, labelled by route, mode and backend (never by unbounded values).

Each worker process keeps its samples in memory, in prometheus-client's
default registry, through its public classes; the supervisor asks every
worker for them when ``/metrics`` is scraped and shows their union
(``proxy._metrics_union``).  The request path looks a labelled child up once
and keeps it, so a request costs a counter's ``inc`` and a histogram's
``observe``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

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
# Gauges are summed over the live workers unless ``proxy._metrics_union`` says otherwise.
POOL_IN_USE = Gauge(
    "strangler_pool_connections_in_use", "Pooled backend connections lent out", ["backend"]
)
POOL_IDLE = Gauge(
    "strangler_pool_connections_idle", "Pooled backend connections open and idle", ["backend"]
)
RELOADS = Counter("strangler_config_reloads_total", "Configuration reloads", ["result"])


_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(route: str, mode: str, status: int, seconds: float) -> None:
    """Count one answered request; the labelled children are looked up once and kept."""
    key = (route, mode, status // 100)
    children = _CHILDREN.get(key)
    if children is None:
        counter = labelled(REQUESTS, route, mode, status_class(status))
        children = _CHILDREN[key] = counter, labelled(DURATION, route, mode)
    children[0].inc()
    children[1].observe(seconds)


_LABELLED: dict[tuple[Any, tuple[str, ...]], Any] = {}


def labelled(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once and kept (labels are bounded by the config)."""
    key = (metric, labels)
    child = _LABELLED.get(key)
    if child is None:
        child = _LABELLED[key] = metric.labels(*labels)
    return child


def observe_upstream(backend: str, seconds: float) -> None:
    """Time to a backend's response head."""
    labelled(UPSTREAM_DURATION, backend).observe(seconds)


def status_class(status: int) -> str:
    """``2xx``... a bounded label for a status code."""
    return f"{status // 100}xx"


HANDLER_FAILURES = Counter(
    "strangler_handler_failures_total",
    "Migrated handler failures (error or timeout)",
    ["route", "kind"],
)
FALLBACKS = Counter(
    "strangler_fallbacks_total", "Requests answered by legacy after the handler failed", ["route"]
)
