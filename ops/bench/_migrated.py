"""The migrated route in the benchmark: its config, and where its messages went.

strangler serves ``/api/v2/validate`` with the in-process port of
validate.php (``ops.demo.handlers.validator:validate``), reading ``rules.json`` through
a ``file://`` hot cache and producing each accepted event to a Tansu broker
with ``delivery = "acked"`` (the client is answered once the broker acked).
Each strangler instance gets a broker of its own, so after the instance is
stopped the topic holds exactly what that instance sent.

The batch route (``/api/v2/validate-batch``, the port of validate_batch.php,
``ops.demo.handlers.batch:validate_batch``) produces to the same topic, one
message per accepted event of the batch, keyed by that event's id.  The
bench posts one fixed batch, so its accepted ids are known from the
pre-flight answer and every one of them must be on the topic once per batch
answered 200: ``BatchDelivery`` counts the topic per key to check that.

``delivery_report`` and ``batch_counts`` read the producer's side from the
admin listener while the proxy still runs (answers per route, acked
deliveries, failures, spool); ``count_keys`` reads the topic back once the
proxy has stopped.  Reading assigns every partition from the beginning (a
consumer group join takes ~23 s on Tansu) and stops after ``idle`` seconds
without a message, bounded.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ops.services import ServiceError

TOPIC = "validated-events"  # ops.demo.handlers.validator.TOPIC
ROUTE = "validate-v2"
PATH = "/api/v2/validate"
HANDLER = "ops.demo.handlers.validator:validate"
BATCH_ROUTE = "validate-batch-v2"
BATCH_PATH = "/api/v2/validate-batch"
BATCH_HANDLER = "ops.demo.handlers.batch:validate_batch"

_SAMPLE = re.compile(r"^(\w+)(?:\{([^}]*)\})? ([0-9.e+-]+|NaN)$", re.MULTILINE)


def migrated_route(name: str = ROUTE, path: str = PATH, handler: str = HANDLER) -> str:
    """The ``[[routes]]`` entry of the migrated validator (or of ``handler``)."""
    return f"""
[[routes]]
name = "{name}"
match = {{ path = "{path}", methods = ["POST"] }}
mode = "migrated"
handler = "{handler}"
delivery = "acked"
"""


def batch_route() -> str:
    """The ``[[routes]]`` entry of the migrated batch validator."""
    return migrated_route(BATCH_ROUTE, BATCH_PATH, BATCH_HANDLER)


def resources(bootstrap: str, spool_dir: Path, rules: Path, refresh: str = "1h") -> str:
    """The ``[kafka]`` producer and the ``[caches.rules]`` file cache."""
    return f"""
[kafka]
bootstrap_servers = {json.dumps(bootstrap)}
spool_dir = {json.dumps(str(spool_dir))}

[caches.rules]
source = {json.dumps(f"file://{rules}")}
refresh = {json.dumps(refresh)}
"""


def scrape(admin_url: str) -> dict[tuple[str, str], float]:
    """The admin ``/metrics`` samples as ``{(name, labels): value}``."""
    with urllib.request.urlopen(admin_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(name, labels or ""): float(value) for name, labels, value in _SAMPLE.findall(text)}


def metric_sum(samples: dict[tuple[str, str], float], name: str, *fragments: str) -> int:
    """The sum of ``name`` over the samples whose labels contain every fragment."""
    return round(
        sum(
            v
            for (n, labels), v in samples.items()
            if n == name and all(f in labels for f in fragments)
        )
    )


@dataclass(frozen=True)
class Delivery:
    """One strangler instance's producer, seen from outside.

    ``acked`` and ``consumed`` may exceed ``accepted`` by up to wrk's
    connection count: the handlers still running when wrk closes its
    connections publish their messages, and their answers are dropped (499).
    """

    accepted: int  # 2xx answers of the migrated route (each one emitted a message)
    acked: int  # messages the broker acknowledged (every route of the instance)
    failed: int
    spooled: int  # written to the spool after a failed delivery
    spool_pending: int  # still in the spool (per worker, from /ready)
    consumed: int | None = None  # read back from the broker after stop

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the JSON report."""
        return asdict(self)

    def problems(self) -> list[str]:
        """What says that some accepted message did not reach the broker."""
        out = []
        # The ack counter is read while the last deliveries may still be in
        # flight; reading the topic back (when done) is the proof that counts.
        if self.consumed is None and self.acked < self.accepted:
            out.append(f"{self.accepted - self.acked} accepted but not acked")
        if self.failed or self.spooled or self.spool_pending:
            out.append(
                f"failed {self.failed}, spooled {self.spooled}, pending {self.spool_pending}"
            )
        if self.consumed is not None and self.consumed < self.accepted:
            out.append(f"only {self.consumed} of {self.accepted} on the broker")
        return out

    def line(self) -> str:
        """One progress line."""
        consumed = "" if self.consumed is None else f", {self.consumed:,} consumed from the broker"
        verdict = "; ".join(self.problems()) or "ok"
        return (
            f"broker: {self.accepted:,} accepted, {self.acked:,} acked, {self.failed} failed, "
            f"{self.spool_pending} in spool{consumed}: {verdict}"
        )


def delivery_report(admin_url: str, route: str = ROUTE) -> Delivery:
    """The producer's counters of a running strangler (summed over its workers)."""
    samples = scrape(admin_url)
    with urllib.request.urlopen(admin_url + "/ready", timeout=10) as response:
        ready = json.loads(response.read())
    pending = sum(int(w.get("spooled", 0)) for w in ready.get("workers", []))
    return Delivery(
        accepted=metric_sum(
            samples, "strangler_requests_total", f'route="{route}"', 'status="2xx"'
        ),
        acked=metric_sum(samples, "strangler_producer_acked_total"),
        failed=metric_sum(samples, "strangler_producer_failures_total"),
        spooled=metric_sum(samples, "strangler_producer_spooled_total"),
        spool_pending=pending,
    )


def count_topic(bootstrap: str, topic: str = TOPIC, idle: float = 3.0, limit: float = 90.0) -> int:
    """Messages on ``topic``, read from the beginning until ``idle`` s pass without one."""
    return sum(count_keys(bootstrap, topic, idle, limit).values())


def count_keys(
    bootstrap: str, topic: str = TOPIC, idle: float = 3.0, limit: float = 90.0
) -> dict[bytes | None, int]:
    """Messages on ``topic`` per key, read as ``count_topic`` reads them."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    try:
        return _count(Consumer, TopicPartition, OFFSET_BEGINNING, bootstrap, topic, idle, limit)
    except KafkaException as exc:
        raise ServiceError("tansu", f"cannot read {topic} back: {exc}") from None


def _count(
    consumer_class: Any,
    partition_class: Any,
    beginning: int,
    bootstrap: str,
    topic: str,
    idle: float,
    limit: float,
) -> dict[bytes | None, int]:
    consumer = consumer_class(
        {"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or not meta.partitions:
            return {}
        consumer.assign([partition_class(topic, p, beginning) for p in meta.partitions])
        counts: Counter[bytes | None] = Counter()
        last, deadline = time.monotonic(), time.monotonic() + limit
        while time.monotonic() - last < idle and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10_000, timeout=0.5)
            keys = [m.key() for m in batch if m.error() is None]
            if keys:
                counts.update(keys)
                last = time.monotonic()
        return dict(counts)
    finally:
        consumer.close()


def accepted_ids(answer: bytes) -> tuple[str, ...]:
    """The ids of the accepted events of a batch answer (validate_batch.php's 200 body)."""
    return tuple(r["id"] for r in json.loads(answer)["results"] if r["ok"])


def batch_counts(admin_url: str) -> tuple[int, int]:
    """The batch route's answers of a running strangler: (200s, dropped 499s)."""
    samples = scrape(admin_url)
    route = f'route="{BATCH_ROUTE}"'
    return (
        metric_sum(samples, "strangler_requests_total", route, 'status="2xx"'),
        metric_sum(samples, "strangler_requests_total", route, 'status="4xx"'),
    )


@dataclass(frozen=True)
class BatchDelivery:
    """The batch route's messages in one strangler instance's topic, counted per id.

    The bench posts one fixed batch, so each of its accepted ``ids`` must be
    on the topic exactly once per batch answered 200, and all as often as
    each other (a batch's messages are emitted together).  Batches cut off
    when wrk closes its connections (``dropped``, answered 499) may have
    emitted too, as ``Delivery`` explains: an id on the topic between
    ``answered`` and ``answered + dropped`` times is right.
    """

    ids: tuple[str, ...]  # accepted ids of the batch, in order
    answered: int  # batches answered 200
    dropped: int  # batches answered 499 (the client had gone)
    per_id: tuple[int, ...]  # messages on the topic keyed by each id

    @property
    def expected(self) -> int:
        """Messages the 200 answers promised: accepted events x batches answered 200."""
        return len(self.ids) * self.answered

    @property
    def consumed(self) -> int:
        """Messages of the batch route read back from the topic."""
        return sum(self.per_id)

    def problems(self) -> list[str]:
        """What says that the topic does not hold one message per accepted event."""
        if not self.ids:
            return ["the batch had no accepted event to count"]
        low, high = min(self.per_id), max(self.per_id)
        out = []
        if low < self.answered:
            out.append(f"an id is on the broker {low} times for {self.answered} batches")
        if high > self.answered + self.dropped:
            out.append(f"an id is on the broker {high} times, more than every batch sent")
        if low != high:
            out.append(f"ids on the broker {low} to {high} times: a batch published in part")
        return out

    def line(self) -> str:
        """One progress line."""
        extra = self.consumed - self.expected
        dropped = f" (+{extra:,} from {self.dropped} batches dropped at the end)" if extra else ""
        return (
            f"batch: {len(self.ids)} accepted x {self.answered:,} answered 200 = "
            f"{self.expected:,} messages expected, {self.consumed:,} consumed{dropped}: "
            + ("; ".join(self.problems()) or "ok")
        )

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the JSON report."""
        return {
            "accepted_per_batch": len(self.ids),
            "answered": self.answered,
            "dropped": self.dropped,
            "expected": self.expected,
            "consumed": self.consumed,
            "per_id": dict(zip(self.ids, self.per_id, strict=True)),
        }


def split_counts(
    counts: dict[bytes | None, int], ids: tuple[str, ...]
) -> tuple[int, tuple[int, ...]]:
    """The topic's messages keyed by none of ``ids``, and those keyed by each of them."""
    per_id = tuple(counts.get(i.encode(), 0) for i in ids)
    return sum(counts.values()) - sum(per_id), per_id
