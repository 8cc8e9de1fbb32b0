"""The request path's counters reach the registry through the custom collector."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from proxy import _metrics as m
from proxy._metrics_hot import register
from shadow import _metrics as shadow_metrics


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_requests_and_durations_are_collected_as_prometheus_families() -> None:
    """Counts, cumulative buckets, counts and sums appear as a Histogram's would."""
    registry = CollectorRegistry()
    register(registry)
    for seconds in (0.002, 0.02, 7.0):
        m.observe_request("hot-route", "legacy", 200, seconds)
    m.observe_request("hot-route", "legacy", 502, 0.0005)
    m.observe_upstream("hot-backend", 0.3)
    samples = _samples(registry)
    route = (("mode", "legacy"), ("route", "hot-route"))
    assert samples[("strangler_requests_total", (*route, ("status", "2xx")))] == 3
    assert samples[("strangler_requests_total", (*route, ("status", "5xx")))] == 1
    bucket = "strangler_request_duration_seconds_bucket"
    assert samples[(bucket, (("le", "0.001"), *route))] == 1
    assert samples[(bucket, (("le", "0.0025"), *route))] == 2
    assert samples[(bucket, (("le", "0.025"), *route))] == 3
    assert samples[(bucket, (("le", "5.0"), *route))] == 3
    assert samples[(bucket, (("le", "+Inf"), *route))] == 4
    assert samples[("strangler_request_duration_seconds_count", route)] == 4
    total = samples[("strangler_request_duration_seconds_sum", route)]
    assert total == pytest.approx(7.0225)
    upstream = (("backend", "hot-backend"),)
    assert samples[("strangler_upstream_duration_seconds_count", upstream)] == 1
    le = (("backend", "hot-backend"), ("le", "0.5"))
    assert samples[("strangler_upstream_duration_seconds_bucket", le)] == 1


def test_shadow_counts_are_collected_as_counters() -> None:
    """Comparisons by result and skips by reason, per route, as Counters' ``_total``."""
    registry = CollectorRegistry()
    register(registry)
    shadow_metrics.count_compared("hot-shadow", matched=True)
    shadow_metrics.count_compared("hot-shadow", matched=True)
    shadow_metrics.count_compared("hot-shadow", matched=False)
    shadow_metrics.count_compared("hot-shadow", matched=False, failed=True)
    shadow_metrics.count_skip("hot-shadow", "queue_full")
    samples = _samples(registry)
    route = ("route", "hot-shadow")
    compared = "strangler_shadow_compared_total"
    assert samples[(compared, (("result", "match"), route))] == 2
    assert samples[(compared, (("result", "mismatch"), route))] == 1
    assert samples[(compared, (("result", "error"), route))] == 1
    skips = "strangler_shadow_skips_total"
    assert samples[(skips, (("reason", "queue_full"), route))] == 1
    assert (skips, (("reason", "timeout"), route)) not in samples
