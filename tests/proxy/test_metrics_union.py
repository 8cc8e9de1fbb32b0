"""The union ``/metrics`` shows: workers' snapshots of real registries, added up by the rules
of ``proxy._metrics_union``, then rendered and parsed back with prometheus-client."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.process_collector import ProcessCollector

from proxy._metrics_snapshot import Snapshot, decode, encode, take_snapshot
from proxy._metrics_union import MetricsUnion


class Worker:
    """One worker's registry: the project's kinds of metric and a process collector."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.registry = CollectorRegistry()
        self.requests = Counter("strangler_requests_total", "r", ["route"], registry=self.registry)
        self.duration = Histogram(
            "strangler_request_duration_seconds", "d", buckets=(0.1, 1.0), registry=self.registry
        )
        self.idle = Gauge("strangler_pool_connections_idle", "i", registry=self.registry)
        self.age = Gauge("strangler_cache_snapshot_age_seconds", "a", registry=self.registry)
        ProcessCollector(registry=self.registry)

    def snapshot(self) -> Snapshot:
        """What the worker sends: through JSON, with its own pid."""
        return dataclasses.replace(decode(encode(take_snapshot(self.registry))), pid=self.pid)


def render(union: MetricsUnion) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` as prometheus-client parses it: ``{(sample, labels): value}``."""
    registry = CollectorRegistry()
    registry.register(union)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    shown: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float | None:
    return shown.get((name, tuple(sorted(labels.items()))))


def test_counters_and_histograms_are_summed_over_workers() -> None:
    """Two workers' counts and observations show as one total per label set."""
    a, b = Worker(100), Worker(200)
    a.requests.labels("r").inc(3)
    b.requests.labels("r").inc(4)
    a.duration.observe(0.05)
    b.duration.observe(0.5)
    union = MetricsUnion()
    union.update("0", a.snapshot())
    union.update("1", b.snapshot())
    shown = render(union)
    assert value(shown, "strangler_requests_total", route="r") == 7
    assert value(shown, "strangler_request_duration_seconds_bucket", le="0.1") == 1
    assert value(shown, "strangler_request_duration_seconds_bucket", le="1.0") == 2
    assert value(shown, "strangler_request_duration_seconds_count") == 2
    assert value(shown, "strangler_request_duration_seconds_sum") == pytest.approx(0.55)


def test_gauges_are_summed_except_the_cache_age_which_is_the_oldest() -> None:
    """Pool gauges add up over workers; the cache age is the largest of them."""
    a, b = Worker(100), Worker(200)
    a.idle.set(2)
    b.idle.set(3)
    a.age.set(10)
    b.age.set(40)
    union = MetricsUnion()
    union.update("0", a.snapshot())
    union.update("1", b.snapshot())
    shown = render(union)
    assert value(shown, "strangler_pool_connections_idle") == 5
    assert value(shown, "strangler_cache_snapshot_age_seconds") == 40


def test_a_restarted_worker_never_lowers_a_counter() -> None:
    """A new process at an index counts from zero; its predecessor's last count stays in."""
    a, b = Worker(100), Worker(200)
    a.requests.labels("r").inc(5)
    b.requests.labels("r").inc(7)
    union = MetricsUnion()
    union.update("0", a.snapshot())
    union.update("1", b.snapshot())
    before = value(render(union), "strangler_requests_total", route="r")
    restarted = Worker(101)  # worker 0 died and came back
    restarted.requests.labels("r").inc(1)
    union.update("0", restarted.snapshot())
    union.update("1", b.snapshot())
    after = value(render(union), "strangler_requests_total", route="r")
    assert (before, after) == (12, 13)
    restarted.requests.labels("r").inc(1)
    union.update("0", restarted.snapshot())  # the same process again: no double count
    assert value(render(union), "strangler_requests_total", route="r") == 14


def test_a_worker_that_does_not_answer_keeps_its_counts_but_not_its_gauges() -> None:
    """Counters keep the silent worker's last values; gauges and process series drop it."""
    a, b = Worker(100), Worker(200)
    a.requests.labels("r").inc(5)
    b.requests.labels("r").inc(7)
    a.idle.set(2)
    b.idle.set(3)
    union = MetricsUnion()
    union.update("0", a.snapshot())
    union.update("1", b.snapshot())
    union.update("0", None)
    shown = render(union)
    assert value(shown, "strangler_requests_total", route="r") == 12
    assert value(shown, "strangler_pool_connections_idle") == 3
    workers = {dict(k[1]).get("worker") for k in shown if k[0] == "process_cpu_seconds_total"}
    assert workers == {"1"}


def test_process_series_are_shown_per_process_with_a_worker_label() -> None:
    """``process_*`` series are back, one per live process, the supervisor's included."""
    union = MetricsUnion()
    union.update("supervisor", Worker(1).snapshot())
    union.update("0", Worker(100).snapshot())
    union.update("1", Worker(200).snapshot())
    shown = render(union)
    workers = {dict(k[1]).get("worker") for k in shown if k[0] == "process_cpu_seconds_total"}
    assert workers == {"supervisor", "0", "1"}


def test_created_samples_are_left_out_of_snapshots() -> None:
    """A sum of creation times means nothing: snapshots carry no ``_created`` sample."""
    worker = Worker(100)
    worker.requests.labels("r").inc()
    names = {s[0] for f in worker.snapshot().families for s in f.samples}
    assert "strangler_requests_total" in names
    assert not [n for n in names if n.endswith("_created")]


def test_a_snapshot_survives_its_encoding() -> None:
    """Infinite bucket bounds, labels and help text come back as they were sent."""
    worker = Worker(100)
    worker.duration.observe(5.0)
    sent = take_snapshot(worker.registry)
    assert decode(encode(sent)) == sent


@pytest.mark.parametrize(
    "data",
    [b"", b"{}", b'{"pid": 1, "families": [[1]]}', b"\xff"],
    ids=["empty", "keys", "short", "bytes"],
)
def test_decoding_anything_but_a_snapshot_is_a_value_error(data: bytes) -> None:
    """A truncated or foreign answer is refused as a ValueError, never half-read."""
    with pytest.raises(ValueError, match="not a metrics snapshot"):
        decode(data)
