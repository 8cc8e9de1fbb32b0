"""The Kafka sink and the aggregating consumer, with fakes and against a real Tansu broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import anyio
import pytest

from migrated import KafkaProducer, Message, ProducerSettings, QueueFull
from ops.services import Tansu
from shadow import _codec as codec
from shadow._codec import Item
from shadow._model import ShadowRecord, Skip
from shadow._redact import REDACTED
from shadow._sink import KafkaSink, aggregate_from_kafka
from shadow._store import ShadowStore
from tests.conftest import serving

from .test_store import NOW, record

pytestmark = pytest.mark.anyio


class FakeProducer:
    """Keeps what it is sent; raises ``QueueFull`` while ``full`` is set."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.full = False

    async def send(self, messages: Sequence[Message], *, wait: Literal["acked", "queued"]) -> None:
        assert wait == "queued"
        if self.full:
            raise QueueFull
        self.sent.extend(messages)


@pytest.fixture(scope="module")
def broker() -> Iterator[Tansu]:
    """A Tansu broker for this module."""
    with serving(Tansu) as tansu:
        yield tansu


def fleet_items() -> list[Item]:
    """Records and skips of two routes, as several proxies would produce them."""
    items: list[Item] = []
    for i in range(30):
        items.append(record("/a", at=NOW + i, signature="sa" if i % 3 == 0 else ""))
        items.append(record("/b", at=NOW + i, seconds=(0.002, 0.5), noise=i % 2 == 0))
    items += [Skip("/a", "timeout", NOW), Skip("/b", "body_too_large", NOW)]
    return items


async def test_sink_sends_redacted_records_keyed_by_route() -> None:
    """A message per record, per skipped second: codec value, route key, secrets hidden."""
    producer = FakeProducer()
    sink = KafkaSink(producer, "shadow", redact_fields=["total"])
    secret = record(headers=(("cookie", "sid=1"),), signature="s")
    async with anyio.create_task_group() as tg:
        await tg.start(sink.run)
        assert sink.offer(secret)
        assert sink.offer(Skip("/x", "timeout", NOW))
        assert sink.offer(Skip("/x", "timeout", NOW + 0.5))
        await sink.aclose()
    first, second = producer.sent
    sent = codec.decode(first.value)
    assert isinstance(sent, ShadowRecord)
    assert (first.topic, first.key, second.key) == ("shadow", b"/orders", b"/x")
    assert sent.mirrored.request_headers == (("cookie", f"sid={REDACTED}"),)
    assert REDACTED in sent.mirrored.candidate.body.decode()
    assert codec.decode(second.value) == Skip("/x", "timeout", NOW, count=2)


async def test_sink_drops_and_counts_when_the_producer_is_full() -> None:
    """QueueFull from the producer drops the batch and counts it; the sink keeps going."""
    producer = FakeProducer()
    producer.full = True
    sink = KafkaSink(producer, "shadow")
    for _ in range(3):
        sink.offer(record())
    await sink.aclose()
    assert (sink.dropped, producer.sent) == (3, [])


@pytest.mark.service
async def test_fleet_records_aggregate_to_the_same_summaries(broker: Tansu, tmp_path: Path) -> None:
    """Two proxies' sinks -> Tansu -> aggregate gives the summaries a local store would."""
    topic = f"shadow-{uuid.uuid4().hex[:8]}"
    items = fleet_items()
    halves = (items[::2], items[1::2])
    for n, half in enumerate(halves):
        settings = ProducerSettings(broker.address, tmp_path / f"spool{n}", startup_timeout=5.0)
        async with KafkaProducer(settings) as producer:
            sink = KafkaSink(producer, topic, batch_size=7)
            async with anyio.create_task_group() as tg:
                await tg.start(sink.run)
                assert all(sink.offer(item) for item in half)
                await sink.aclose()
    direct = ShadowStore.open(tmp_path / "direct.db")
    direct.write(items)
    fleet = ShadowStore.open(tmp_path / "fleet.db")
    read = await anyio.to_thread.run_sync(
        lambda: aggregate_from_kafka(broker.address, topic, fleet, until_idle=3.0)
    )
    again = await anyio.to_thread.run_sync(
        lambda: aggregate_from_kafka(broker.address, topic, fleet, until_idle=1.0)
    )
    try:
        assert (read.items, read.invalid, again.items) == (len(items), 0, 0)
        assert fleet.routes() == direct.routes()
        assert fleet.signatures() == direct.signatures()
    finally:
        direct.close()
        fleet.close()


@pytest.mark.service
def test_aggregating_a_missing_topic_reads_nothing(broker: Tansu, tmp_path: Path) -> None:
    """A topic no proxy wrote to yet gives an empty result, not an error."""
    store = ShadowStore.open(tmp_path / "s.db")
    try:
        result = aggregate_from_kafka(broker.address, f"none-{uuid.uuid4().hex}", store)
    finally:
        store.close()
    assert result.items == 0
