"""The request path's own series, handed to prometheus-client as a custom collector.

``proxy._metrics`` counts every request into plain dictionaries; this
collector turns them into metric families when the registry is collected
(a scrape), through prometheus-client's public ``Collector`` interface.  It
runs in the worker's snapshot thread while the loop keeps counting, so each
table is copied in one step first (``list(dict.items())`` holds the GIL).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from shadow import COMPARED, SKIPS

from . import _metrics as m


class HotCollector(Collector):
    """``strangler_requests_total``, the two duration histograms and shadow mode's counts."""

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "strangler_requests", "Requests answered", labels=["route", "mode", "status"]
        )
        for (route, mode, klass), count in list(m.REQUEST_COUNTS.items()):
            requests.add_metric([route, mode, f"{klass}xx"], count)
        yield requests
        durations = HistogramMetricFamily(
            "strangler_request_duration_seconds",
            "Time from request start to the last byte sent",
            labels=["route", "mode"],
        )
        for (route, mode), values in list(m.REQUEST_DURATIONS.items()):
            _add_histogram(durations, [route, mode], list(values))
        yield durations
        upstream = HistogramMetricFamily(
            "strangler_upstream_duration_seconds",
            "Time until the backend's response head arrived",
            labels=["backend"],
        )
        for backend, values in list(m.UPSTREAM_DURATIONS.items()):
            _add_histogram(upstream, [backend], list(values))
        yield upstream
        yield _counter(
            "strangler_shadow_compared",
            "Mirrored requests compared",
            ["route", "result"],
            COMPARED,
        )
        yield _counter(
            "strangler_shadow_skips",
            "Requests not compared, by reason",
            ["route", "reason"],
            SKIPS,
        )


def _counter(
    name: str, documentation: str, labels: list[str], counts: Mapping[tuple[str, str], int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for values, count in list(counts.items()):
        family.add_metric(list(values), count)
    return family


def _add_histogram(
    family: HistogramMetricFamily, labels: list[str], values: Sequence[float]
) -> None:
    cumulative = 0.0
    buckets: list[tuple[str, float]] = []
    for bound, count in zip(m.BUCKETS, values, strict=False):
        cumulative += count
        buckets.append((repr(bound), cumulative))
    cumulative += values[len(m.BUCKETS)]
    buckets.append(("+Inf", cumulative))
    family.add_metric(labels, buckets, sum_value=values[-1])


_registered: set[int] = set()


def register(registry: CollectorRegistry = REGISTRY) -> None:
    """Add the collector to ``registry`` (once)."""
    if id(registry) not in _registered:
        _registered.add(id(registry))
        registry.register(HotCollector())
