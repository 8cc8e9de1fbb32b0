"""Prometheus metrics of the migrated side's shared resources (the Kafka producer).

Topics are chosen by handlers at run time, not bounded by the config, so no
metric is labelled by topic; ``reason`` takes a closed set of values.  The
queue depth is a gauge of each worker; the admin listener shows the sum over
the live workers.  Only the definitions live here: how a worker's samples
reach ``/metrics`` is the proxy's business.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

FailureReason = Literal["timeout", "purged", "error"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 120.0)

PRODUCER_QUEUE_DEPTH = Gauge(
    "strangler_producer_queue_messages",
    "Messages in the Kafka producer's local queue (waiting or in flight)",
)
PRODUCER_DELIVERY = Histogram(
    "strangler_producer_delivery_seconds",
    "Time from a send's produce() to the acknowledgement of its last message "
    "(sends whose every message was acknowledged)",
    buckets=_BUCKETS,
)
PRODUCER_ACKED = Counter(
    "strangler_producer_acked_total", "Messages the broker acknowledged (counted per send)"
)
PRODUCER_FAILURES = Counter(
    "strangler_producer_failures_total",
    "Messages whose delivery failed (they are kept in the spool and resent)",
    ["reason"],
)
PRODUCER_SPOOLED = Counter(
    "strangler_producer_spooled_total", "Messages written to the spool after a failed delivery"
)
PRODUCER_REPLAYED = Counter(
    "strangler_producer_replayed_total", "Spooled messages resent and acknowledged"
)
