"""Reading a topic from given offsets: the one place outside the producer that uses confluent-kafka.

Used by tools (``strangler report --kafka``), not by the request path: it is
blocking and meant for a thread or a command.  Partitions are assigned
directly instead of joining a consumer group, which is fast and needs no group
coordination (a report reads every partition anyway).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from ._exceptions import ProducerError


class ConsumerError(ProducerError):
    """The brokers could not be read (unreachable, refused, fatal error)."""


def read_topic(
    bootstrap: str,
    topic: str,
    start: Mapping[int, int],
    *,
    until_idle: float = 2.0,
    config: Mapping[str, Any] | None = None,
) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(partition, offset, value)`` from ``start`` offsets until idle.

    Args:
        bootstrap: ``host:port[,host:port]`` of the brokers.
        topic: the topic to read; a missing topic yields nothing.
        start: next offset per partition; partitions not listed start at the beginning.
        until_idle: stop after this many seconds without a new message.
        config: extra librdkafka settings (security, for MSK).

    Raises:
        ConsumerError: the topic's metadata cannot be read, or a fatal error.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "strangler-report",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **(config or {}),
        }
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as exc:
            raise ConsumerError(f"cannot read {topic} at {bootstrap}: {exc}") from None
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return
        parts = [
            TopicPartition(topic, p, start.get(p, OFFSET_BEGINNING)) for p in metadata.partitions
        ]
        consumer.assign(parts)
        yield from _poll(consumer, until_idle)
    finally:
        consumer.close()


def _poll(consumer: Consumer, until_idle: float) -> Iterator[tuple[int, int, bytes]]:
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < until_idle:
        message = consumer.poll(min(0.2, until_idle))
        if message is None:
            continue
        error, partition, offset = message.error(), message.partition(), message.offset()
        if error is not None and error.fatal():
            raise ConsumerError(f"fatal consumer error: {error}")
        if error is not None or partition is None or offset is None:
            continue
        idle_since = time.monotonic()
        yield partition, offset, message.value() or b""
