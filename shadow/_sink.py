"""Shadow records for a fleet: sent to a Kafka topic, aggregated into a local store.

Strategy.  Each proxy worker's ``KafkaSink`` has the store's API (``offer``,
``run``, ``aclose``) and the same bounded queue, so the request path never
waits for Kafka: the sink's task hands whole batches to the worker's shared
producer with ``wait="queued"``; when the producer's queue is full the batch
is dropped and counted, never retried (shadow data is worth less than
memory).  Records are redacted before they leave the process.  Messages are
keyed by route, so one route's records stay in order on one partition.

``aggregate_from_kafka`` is the reading side, run by the report command: it
assigns every partition (a consumer-group join is slow on Tansu), starts
where the store's saved offsets say (the beginning the first time), writes
what it reads into the store together with the new offsets, and stops when
nothing arrived for ``until_idle`` seconds.  Producers deliver at least once,
so a record may rarely be counted twice.  Blocking (confluent-kafka): call it
from a thread in async code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog

from migrated import Message, QueueFull, read_topic

from . import _codec as codec
from ._codec import Item
from ._model import ShadowRecord
from ._redact import redact
from ._store import QueuedWriter, ShadowStore
from ._sums import Sums

log = structlog.get_logger("strangler.shadow")
_BATCH = 500


class Publisher(Protocol):
    """What the sink needs of the worker's shared producer (``migrated.KafkaProducer``)."""

    async def send(
        self, messages: Sequence[Message], *, wait: Literal["acked", "queued"]
    ) -> None: ...


class KafkaSink(QueuedWriter):
    """Sends records and skips to a Kafka topic through the shared producer.

    Args:
        producer: the worker's started producer (not closed by the sink).
        topic: where shadow records go.
        redact_fields: JSON field names hidden before sending.
        queue_size: items waiting; ``offer`` drops (and counts) beyond it.
        batch_size: most items in one ``send``.
    """

    def __init__(
        self,
        producer: Publisher,
        topic: str,
        *,
        redact_fields: Iterable[str] = (),
        queue_size: int = 10_000,
        batch_size: int = _BATCH,
        linger: float = 0.0,
    ) -> None:
        super().__init__(queue_size=queue_size, batch_size=batch_size, linger=linger)
        self.producer = producer
        self.topic = topic
        self.redact_fields = tuple(redact_fields)

    async def _write(self, batch: list[Item], tallied: list[Sums]) -> None:
        # ``tallied`` is always empty: only the SQLite store sums matched records.
        messages = [self._message(item) for item in batch]
        try:
            await self.producer.send(messages, wait="queued")
        except QueueFull:
            self.dropped += len(batch)
        except Exception:  # a shadow failure must not stop the sink
            self.dropped += len(batch)
            log.exception("shadow_sink_send_failed", topic=self.topic, items=len(batch))

    def _message(self, item: Item) -> Message:
        if isinstance(item, ShadowRecord):
            item = redact(item, self.redact_fields)
            route = item.mirrored.route
        else:
            route = item.route
        return Message(self.topic, codec.encode(item), key=route.encode())


@dataclass(frozen=True, slots=True)
class Aggregated:
    """What ``aggregate_from_kafka`` did: items stored and values it could not decode."""

    items: int
    invalid: int


def aggregate_from_kafka(
    bootstrap: str,
    topic: str,
    store: ShadowStore,
    *,
    until_idle: float = 2.0,
    config: dict[str, Any] | None = None,
) -> Aggregated:
    """Read the fleet's records from ``topic`` into ``store``, resuming where it stopped.

    Args:
        bootstrap: ``host:port[,host:port]`` of the brokers.
        topic: the topic the proxies' ``KafkaSink`` writes to.
        store: the local store (written directly; do not run its writer meanwhile).
        until_idle: stop after this many seconds without a new message.
        config: extra librdkafka settings (security, for MSK).

    Raises:
        ConsumerError: the brokers cannot be reached or the topic's metadata read.
    """
    batch: list[Item] = []
    offsets: dict[tuple[str, int], int] = {}
    stored = invalid = 0
    start = store.kafka_offsets(topic)
    for partition, offset, value in read_topic(
        bootstrap, topic, start, until_idle=until_idle, config=config
    ):
        offsets[topic, partition] = offset + 1
        try:
            batch.append(codec.decode(value))
        except codec.CodecError as exc:
            invalid += 1
            log.warning("shadow_record_invalid", offset=offset, reason=exc.reason)
        if len(batch) >= _BATCH:
            store.write(batch, offsets=offsets)
            stored, batch, offsets = stored + len(batch), [], {}
    store.write(batch, offsets=offsets)
    return Aggregated(stored + len(batch), invalid)
