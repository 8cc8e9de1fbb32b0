"""The shared producer against a real Kafka-protocol broker (Tansu).

Outages are made by freezing the broker (SIGSTOP) or cutting a TCP relay,
never by restarting it (a memory-storage restart wipes data; see the notes).
The property checked after each outage: every ``send`` that returned is on the
broker afterwards (directly, or spooled and replayed): same set of values.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from confluent_kafka import KafkaError
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from migrated._api import Message, Outbox
from migrated._exceptions import (
    AuthenticationFailed,
    BrokerUnreachable,
    ProducerError,
    QueueFull,
    TLSHandshakeFailed,
)
from migrated._producer import KafkaProducer, _Acknowledgement, _Batch, replay_spool
from migrated._producer_settings import ProducerSettings
from migrated._spool import Spool
from ops.services import Tansu, free_port
from tests.fakes.tcp_relay import tcp_relay

from .conftest import TlsFiles, consume_values

pytestmark = [pytest.mark.anyio, pytest.mark.service]
MakeSettings = Callable[..., ProducerSettings]


def _topic() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _messages(topic: str, n: int, prefix: str = "v") -> list[Message]:
    return [
        Message(
            topic, f"{prefix}{i}".encode(), key=f"k{i % 3}".encode(), headers=(("i", b"%d" % i),)
        )
        for i in range(n)
    ]


async def _consume(bootstrap: str, topic: str, values: set[bytes], **config: Any) -> set[bytes]:
    return {value for _, value, _ in await _records(bootstrap, topic, values, **config)}


Record = tuple[bytes | None, bytes, tuple[tuple[str, bytes], ...]]


async def _records(bootstrap: str, topic: str, values: set[bytes], **config: Any) -> set[Record]:
    """``(key, value, headers)`` of every message of ``topic`` once ``values`` are there."""
    read = partial(consume_values, bootstrap, topic, values, config, to_the_end=True)
    return {(k, v, tuple(h or ())) for k, v, h in await anyio.to_thread.run_sync(read)}


def _record(message: Message) -> Record:
    return message.key, message.value, message.headers


async def _until_spool_empty(producer: KafkaProducer) -> None:
    with anyio.fail_after(30):
        while producer.spooled:  # noqa: ASYNC110 the background replay has no event to await
            await anyio.sleep(0.05)


def _spooled_total() -> float:
    return REGISTRY.get_sample_value("strangler_producer_spooled_total") or 0.0


def _delivery_samples() -> tuple[float, float, float, float]:
    """The delivery histogram's count, its sum, its count under 120 s, and the acked messages."""
    name = "strangler_producer_delivery_seconds"
    return (
        REGISTRY.get_sample_value(name + "_count") or 0.0,
        REGISTRY.get_sample_value(name + "_sum") or 0.0,
        REGISTRY.get_sample_value(name + "_bucket", {"le": "120.0"}) or 0.0,
        REGISTRY.get_sample_value("strangler_producer_acked_total") or 0.0,
    )


async def test_produced_messages_come_back_with_keys_values_headers(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """wait='acked' returns after the broker has every message, intact."""
    topic = _topic()
    sent = _messages(topic, 20)
    count, total, under, acked = _delivery_samples()
    async with KafkaProducer(make_settings(kafka_broker.address)) as producer:
        started = time.monotonic()
        await producer.send(sent[:10], wait="acked")
        await producer.send(sent[10:], wait="acked")
        took = time.monotonic() - started
    read = partial(consume_values, kafka_broker.address, topic, {m.value for m in sent})
    records = await anyio.to_thread.run_sync(read)
    assert sorted(records) == sorted((m.key, m.value, list(m.headers)) for m in sent)
    count_after, total_after, under_after, acked_after = _delivery_samples()
    assert (count_after - count, under_after - under) == (2, 2)  # each send observed once
    assert acked_after - acked == 20  # and each message counted once
    assert 0 < total_after - total <= took


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_on_asyncio_the_loop_serves_every_report_itself(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """librdkafka wakes the loop, which polls: no report waits for the GIL in another thread.

    And acks of messages not in the spool leave the poll thread nothing to do.
    """
    topic = _topic()
    sent = _messages(topic, 1000)
    loop_thread = threading.get_ident()
    served = {"loop": 0, "elsewhere": 0}

    handed_over: list[Any] = []  # spool work given to the poll thread: none, nothing is spooled

    class Counting(deque[Any]):  # the served reports' queue, counting where each is served
        def append(self, report: Any) -> None:
            served["loop" if threading.get_ident() == loop_thread else "elsewhere"] += 1
            super().append(report)

    class Recording(deque[Any]):
        def append(self, work: Any) -> None:
            handed_over.append(work)
            super().append(work)

    async with KafkaProducer(make_settings(kafka_broker.address)) as producer:
        producer._reports, producer._loop_work = Counting(), Recording()
        async with anyio.create_task_group() as tg:
            for message in sent:  # one send per loop iteration, for longer than an ack takes
                tg.start_soon(partial(producer.send, [message], wait="acked"))
                await anyio.lowlevel.checkpoint()
    assert served == {"loop": len(sent), "elsewhere": 0}
    assert handed_over == []
    values = {m.value for m in sent}
    assert await _consume(kafka_broker.address, topic, values) == values


@pytest.mark.parametrize(
    ("anyio_backend", "wakeup", "path", "served_on"),
    [
        pytest.param("asyncio", "pipe", "pipe", "loop", id="asyncio-pipe"),
        pytest.param("asyncio", "poll", "poll", "elsewhere", id="asyncio-poll"),
        pytest.param("trio", "pipe", "poll", "elsewhere", id="trio-pipe"),
    ],
)
async def test_the_wakeup_switch_chooses_who_serves_reports_and_start_logs_it(
    kafka_broker: Tansu, make_settings: MakeSettings, wakeup: str, path: str, served_on: str
) -> None:
    """``wakeup = "poll"`` (and trio) leave librdkafka's internals alone: a thread serves the
    reports; the pipe lets the loop serve them.  Start says which, in one line."""
    topic = _topic()
    loop_thread = threading.get_ident()
    served = {"loop": 0, "elsewhere": 0}

    class Counting(deque[Any]):  # the served reports' queue, counting where each is served
        def append(self, report: Any) -> None:
            served["loop" if threading.get_ident() == loop_thread else "elsewhere"] += 1
            super().append(report)

    settings = make_settings(kafka_broker.address, wakeup=wakeup)
    with capture_logs() as logs:
        async with KafkaProducer(settings) as producer:
            producer._reports = Counting()
            await producer.send(_messages(topic, 3), wait="acked")
    chosen = [(e["path"], e["log_level"]) for e in logs if e["event"] == "kafka_wakeup"]
    assert chosen == [(path, "info")]
    assert served[served_on] == 3


async def test_queued_sends_are_marked_done_and_the_spool_emptied(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """wait='queued' goes through the spool; acks empty it and delete its segments."""
    settings = make_settings(kafka_broker.address)
    topic = _topic()
    sent = _messages(topic, 30)
    async with KafkaProducer(settings) as producer:
        for i in range(0, 30, 5):
            await producer.send(sent[i : i + 5], wait="queued")
        await _until_spool_empty(producer)
    assert list(settings.spool_dir.glob("w0/*.seg")) == []
    values = {m.value for m in sent}
    assert await _consume(kafka_broker.address, topic, values) == values


async def _send_through_outage(
    producer: KafkaProducer,
    topic: str,
    outage: Callable[[], None],
    recover: Callable[[], None],
    *,
    submit: bool = False,
    same_values: bool = False,
    size: int = 3,
) -> set[Record]:
    """Send 40 concurrent batches of ``size`` during an outage that starts after a first ack.

    ``submit``: through ``submit`` and its callback (the lane's inline handlers)
    instead of ``send``; ``same_values``: the three messages of a batch share
    their value (told apart by a header).  Returns the records of the sends
    that returned.
    """
    returned: set[Record] = set()

    async def sender(prefix: str) -> None:
        messages = _messages(topic, size, prefix=prefix)
        if same_values:
            messages = [dataclasses.replace(m, value=prefix.encode()) for m in messages]
        if submit:
            await _submitted(producer, messages)
        else:
            await producer.send(messages, wait="acked")
        returned.update(_record(m) for m in messages)

    await sender("before-")
    outage()
    try:
        async with anyio.create_task_group() as tg:
            for batch in range(40):
                tg.start_soon(sender, f"b{batch}-")
    finally:
        recover()
    return returned


async def test_paused_broker_loses_nothing(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """Sends during a SIGSTOP outage are spooled, replayed after SIGCONT, all arrive."""
    await _paused_broker_loses_nothing(kafka_broker, make_settings, submit=False)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_paused_broker_loses_nothing_submitted(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """The same through ``submit``: every future that resolved is on the broker after recovery."""
    await _paused_broker_loses_nothing(kafka_broker, make_settings, submit=True)


async def test_paused_broker_loses_no_header_of_messages_sharing_a_value(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """A batch whose messages share a value spools each failed one with its own headers."""
    await _paused_broker_loses_nothing(kafka_broker, make_settings, same_values=True)


async def test_paused_broker_loses_no_message_sent_alone(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """Sends of one message (produced at once, not held for the loop turn) lose nothing."""
    await _paused_broker_loses_nothing(kafka_broker, make_settings, size=1)


async def _paused_broker_loses_nothing(
    broker: Tansu,
    make_settings: MakeSettings,
    *,
    submit: bool = False,
    same_values: bool = False,
    size: int = 3,
) -> None:
    topic = _topic()
    spooled_before = _spooled_total()
    async with KafkaProducer(make_settings(broker.address)) as producer:
        returned = await _send_through_outage(
            producer,
            topic,
            broker.pause,
            broker.resume,
            submit=submit,
            same_values=same_values,
            size=size,
        )
        await _until_spool_empty(producer)
    assert _spooled_total() > spooled_before
    assert len(returned) == 41 * size
    # keys and headers too: a failed message is spooled from its delivery report
    values = {v for _, v, _ in returned}
    assert await _records(broker.address, topic, values) == returned


async def test_cut_connections_lose_nothing(
    relayed_broker: Tansu, make_settings: MakeSettings
) -> None:
    """Sends while a relay drops every connection are spooled and replayed."""
    topic = _topic()
    spooled_before = _spooled_total()
    async with tcp_relay(relayed_broker.port, port=relayed_broker.advertised_port) as relay:
        async with KafkaProducer(make_settings(relay.address)) as producer:
            returned = await _send_through_outage(producer, topic, relay.cut, relay.restore)
            await _until_spool_empty(producer)
        assert _spooled_total() > spooled_before
        values = {v for _, v, _ in returned}
        assert await _records(relay.address, topic, values) == returned


async def test_concurrent_sends_keep_each_ones_order_per_key(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """Sends of one loop turn go out together, each send's messages in order per key."""
    topic = _topic()
    sends = [_messages(topic, 30, prefix=f"s{n}-") for n in range(20)]
    async with (
        KafkaProducer(make_settings(kafka_broker.address)) as producer,
        anyio.create_task_group() as tg,
    ):
        for messages in sends:
            tg.start_soon(partial(producer.send, messages, wait="acked"))
    values = {m.value for messages in sends for m in messages}
    read = partial(consume_values, kafka_broker.address, topic, values)
    records = await anyio.to_thread.run_sync(read)
    assert {v for _, v, _ in records} == values
    for n, messages in enumerate(sends):
        for key in (b"k0", b"k1", b"k2"):
            sent = [m.value for m in messages if m.key == key]
            mine = {m.value for m in messages}
            got = [v for k, v, _ in records if k == key and v in mine]
            assert list(dict.fromkeys(got)) == sent, f"send {n}, key {key!r}"


async def test_a_fatal_error_swaps_the_producer_and_loses_nothing(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """After a fatal error (a fenced producer) a new producer takes over mid-traffic.

    The broker is frozen meanwhile, so the old producer still holds messages
    when it is swapped: they are purged, spooled and replayed through the new
    one.  Every send that returned is on the broker, keys and headers included.
    The error is set where a fatal delivery report of the producer sets it.
    (The race the swap on the loop closes, a burst cut by a thread switch
    while the poll thread swaps, is not provoked: this is the path's test.)
    """
    topic = _topic()
    returned: set[Record] = set()
    spooled_before = _spooled_total()

    async def sender(prefix: str) -> None:
        messages = _messages(topic, 30, prefix=prefix)
        await producer.send(messages, wait="acked")
        returned.update(_record(m) for m in messages)

    with capture_logs() as logs:
        async with KafkaProducer(make_settings(kafka_broker.address)) as producer:
            await sender("before-")
            first = producer._producer
            kafka_broker.pause()
            try:
                async with anyio.create_task_group() as tg:
                    for n in range(20):
                        tg.start_soon(sender, f"old{n}-")
                    await anyio.sleep(0.1)  # held by the old producer
                    producer._fatal = KafkaError(KafkaError._FENCED, "test", fatal=True)
                    with anyio.fail_after(10):
                        while producer._producer is first:  # noqa: ASYNC110 - the poll thread swaps
                            await anyio.sleep(0.01)
                    for n in range(20):
                        tg.start_soon(sender, f"new{n}-")
                    await anyio.sleep(0.1)
                    kafka_broker.resume()
            finally:
                kafka_broker.resume()
            await _until_spool_empty(producer)
    assert [e["event"] for e in logs].count("kafka_producer_recreated") == 1
    assert _spooled_total() >= spooled_before + 20 * 30  # what the old one held
    assert len(returned) == 41 * 30
    values = {v for _, v, _ in returned}
    assert await _records(kafka_broker.address, topic, values) == returned


async def test_full_queue_raises_queue_full_at_once(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """With the broker frozen and the queue at its bound, send raises QueueFull."""
    topic = _topic()
    settings = make_settings(kafka_broker.address, queue_max_messages=5)
    async with KafkaProducer(settings) as producer:
        kafka_broker.pause()
        try:
            await producer.send(_messages(topic, 5), wait="queued")
            with pytest.raises(QueueFull):
                await producer.send(_messages(topic, 1, prefix="extra"), wait="queued")
            with pytest.raises(QueueFull):
                await producer.send(_messages(topic, 1, prefix="extra"), wait="acked")
        finally:
            kafka_broker.resume()
        await _until_spool_empty(producer)
    values = {m.value for m in _messages(topic, 5)}
    assert await _consume(kafka_broker.address, topic, values) == values


def _submitted(producer: KafkaProducer, messages: list[Message]) -> asyncio.Future[None]:
    """``submit``, its callback turned into a future (called once: see the test below)."""
    future = asyncio.get_running_loop().create_future()

    def acked(error: ProducerError | None) -> None:
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    producer.submit(messages, acked)
    return future


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_acknowledgement_calls_back_once_with_the_loss() -> None:
    """The last message settled calls back; a late second settle does not call again."""
    calls: list[ProducerError | None] = []
    acknowledgement = _Acknowledgement(calls.append)
    batch = acknowledgement.batch = _Batch(2, acknowledgement, deque())
    batch.resolve(True)
    assert calls == []
    batch.resolve(True)
    acknowledgement.set()
    assert calls == [None]

    lost: list[ProducerError | None] = []
    acknowledgement = _Acknowledgement(lost.append)
    batch = acknowledgement.batch = _Batch(1, acknowledgement, deque())
    batch.lost = 1  # the disk failed as it was spooled
    batch.resolve(False)
    assert [str(error) for error in lost] == ["1 message(s) could not be delivered nor spooled"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_submitted_messages_are_reported_once_acked(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """``submit``'s callback comes when the broker has every message; the bound counts them."""
    topic = _topic()
    sent = _messages(topic, 20)
    settings = make_settings(kafka_broker.address, queue_max_messages=25)
    async with KafkaProducer(settings) as producer:
        first, second = _submitted(producer, sent[:10]), _submitted(producer, sent[10:])
        assert not first.done()  # never called inside ``submit``; nothing was awaited yet
        with pytest.raises(QueueFull):  # held for the end of this loop turn, they count
            producer.submit(_messages(topic, 6, prefix="extra"), _never_called)
        with anyio.fail_after(30):
            await first
            await second
        kafka_broker.pause()
        try:
            stuck = _submitted(producer, _messages(topic, 5, prefix="held"))
            await anyio.sleep(0.05)  # produced: in librdkafka's queue now
            with pytest.raises(QueueFull):
                producer.submit(_messages(topic, 21, prefix="extra"), _never_called)
        finally:
            kafka_broker.resume()
        with anyio.fail_after(30):
            await stuck
        nothing = _submitted(producer, [])
        assert not nothing.done()  # not called inside ``submit`` either
        with anyio.fail_after(5):
            await nothing
    held = {m.value for m in _messages(topic, 5, prefix="held")}
    values = {m.value for m in sent} | held
    assert await _consume(kafka_broker.address, topic, values) == values


def _never_called(error: ProducerError | None) -> None:
    raise AssertionError(f"a refused submit's callback was called with {error!r}")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_raising_submit_callback_is_logged_and_the_rest_settled(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """A callback's bug does not stop the reports settled after it (nor lose their acks)."""
    topic = _topic()

    def broken(error: ProducerError | None) -> None:
        raise RuntimeError("the caller's bug")

    async with KafkaProducer(make_settings(kafka_broker.address)) as producer:
        with capture_logs() as logs:
            producer.submit(_messages(topic, 3, prefix="broken"), broken)
            after = _submitted(producer, _messages(topic, 3, prefix="after"))
            with anyio.fail_after(30):
                await after
    failed = [e for e in logs if e["event"] == "kafka_submit_callback_failed"]
    assert [e["log_level"] for e in failed] == ["error"]
    values = {m.value for m in _messages(topic, 3, prefix="broken")}
    values |= {m.value for m in _messages(topic, 3, prefix="after")}
    assert await _consume(kafka_broker.address, topic, values) == values


@pytest.mark.parametrize(
    "anyio_backend", [pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop")]
)
async def test_closes_cleanly_on_uvloop(kafka_broker: Tansu, make_settings: MakeSettings) -> None:
    """On uvloop (the uvicorn runtime's loop) the close completes: threads, spool, client."""
    topic = _topic()
    producer = KafkaProducer(make_settings(kafka_broker.address))
    with capture_logs() as logs:
        async with producer:
            await _submitted(producer, _messages(topic, 3))
    assert "kafka_producer_closed" in [e["event"] for e in logs]
    assert not producer._poller.is_alive()
    assert not producer._replayer.is_alive()


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_submit_is_refused_off_asyncio(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """On trio there is no loop future to hand out: ``submit`` says so, ``send`` works."""
    topic = _topic()
    async with KafkaProducer(make_settings(kafka_broker.address)) as producer:
        with pytest.raises(ProducerError, match="asyncio"):
            producer.submit(_messages(topic, 1), _never_called)
        await producer.send(_messages(topic, 1), wait="acked")


async def test_spool_left_by_a_crashed_worker_is_replayed_at_start(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """Messages spooled (acknowledged to clients) but never sent are sent by the next start."""
    settings = make_settings(kafka_broker.address)
    topic = _topic()
    spool = await Spool.claim(settings.spool_dir)
    await spool.append(_messages(topic, 7))
    await spool.aclose()  # what a killed worker leaves: appended, never marked done
    async with KafkaProducer(settings) as producer:
        await _until_spool_empty(producer)
    values = {m.value for m in _messages(topic, 7)}
    assert await _consume(kafka_broker.address, topic, values) == values


async def test_replay_spool_sends_every_orphaned_slot(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """replay_spool (the CLI command) empties every free slot and reports progress."""
    settings = make_settings(kafka_broker.address)
    topic = _topic()
    first, second = await Spool.claim(settings.spool_dir), await Spool.claim(settings.spool_dir)
    await first.append(_messages(topic, 4, prefix="a"))
    await second.append(_messages(topic, 3, prefix="b"))
    await first.aclose()
    await second.aclose()
    seen: list[tuple[int, int]] = []
    assert await replay_spool(settings, progress=lambda s, left: seen.append((s, left))) == (7, 0)
    assert seen[-1] == (7, 0)
    values = {m.value for m in _messages(topic, 4, "a") + _messages(topic, 3, "b")}
    assert await _consume(kafka_broker.address, topic, values) == values


async def test_unreachable_broker_fails_startup(make_settings: MakeSettings) -> None:
    """No broker at the address: start() raises BrokerUnreachable naming it."""
    address = f"127.0.0.1:{free_port()}"
    producer = KafkaProducer(make_settings(address, startup_timeout=1.0))
    with pytest.raises(BrokerUnreachable, match=f"no broker reachable at {address} within 1s"):
        await producer.start()


async def test_refused_credentials_fail_startup(
    sasl_broker: Tansu, tls_files: TlsFiles, make_settings: MakeSettings
) -> None:
    """SCRAM over TLS to a broker that refuses the login: 'authentication failed'."""
    context = tls_files.sasl_server_context
    async with tcp_relay(sasl_broker.port, port=sasl_broker.advertised_port, tls=context) as relay:
        settings = make_settings(
            relay.address, auth="scram", username="u", password="p", ca_file=tls_files.ca_file
        )
        with pytest.raises(AuthenticationFailed, match=r"authentication failed: .*unknown-user"):
            await KafkaProducer(settings).start()


def _mtls(
    make_settings: MakeSettings, address: str, tls: TlsFiles, ca_file: str
) -> ProducerSettings:
    return make_settings(
        address, auth="mtls", ca_file=ca_file, cert_file=tls.cert_file, key_file=tls.key_file
    )


async def test_mtls_through_a_tls_terminator(
    relayed_broker: Tansu, tls_files: TlsFiles, make_settings: MakeSettings
) -> None:
    """auth='mtls' with the right CA produces over TLS with a client certificate."""
    topic = _topic()
    sent = _messages(topic, 5)
    context = tls_files.server_context
    port = relayed_broker.advertised_port
    async with tcp_relay(relayed_broker.port, port=port, tls=context) as relay:
        settings = _mtls(make_settings, relay.address, tls_files, tls_files.ca_file)
        async with KafkaProducer(settings) as producer:
            await producer.send(sent, wait="acked")
        tls_config = {
            "security.protocol": "SSL",
            "ssl.ca.location": tls_files.ca_file,
            "ssl.certificate.location": tls_files.cert_file,
            "ssl.key.location": tls_files.key_file,
        }
        values = {m.value for m in sent}
        assert await _consume(relay.address, topic, values, **tls_config) == values


async def test_wrong_ca_fails_startup_with_tls_error(
    relayed_broker: Tansu, tls_files: TlsFiles, make_settings: MakeSettings
) -> None:
    """A CA that did not sign the broker's certificate: 'TLS handshake failed'."""
    context = tls_files.server_context
    port = relayed_broker.advertised_port
    async with tcp_relay(relayed_broker.port, port=port, tls=context) as relay:
        settings = _mtls(make_settings, relay.address, tls_files, tls_files.other_ca_file)
        with pytest.raises(TLSHandshakeFailed, match=r"TLS handshake failed: .*certificate"):
            await KafkaProducer(settings).start()


async def test_start_and_aclose_may_be_in_different_cancel_scopes(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """As in the proxy's lifespan: start inside a task group, aclose after it exited."""
    topic = _topic()
    producer = KafkaProducer(make_settings(kafka_broker.address))
    async with anyio.create_task_group() as tg:
        await producer.start()
        await producer.send(_messages(topic, 2), wait="acked")
        tg.cancel_scope.cancel()
    await producer.send(_messages(topic, 2, prefix="after"), wait="queued")
    await producer.aclose()
    values = {m.value for m in _messages(topic, 2) + _messages(topic, 2, prefix="after")}
    assert await _consume(kafka_broker.address, topic, values) == values


async def test_stop_waiting_answers_sends_held_by_a_frozen_broker_once_spooled(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """After stop_waiting, sends waiting on a frozen broker return spooled; later ones too."""
    topic = _topic()
    settings = make_settings(kafka_broker.address, message_timeout=300.0)
    async with KafkaProducer(settings) as producer:
        await producer.send(_messages(topic, 1, prefix="warm"), wait="acked")
        kafka_broker.pause()
        try:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    for prefix in ("a", "b", "c"):
                        tg.start_soon(
                            partial(producer.send, wait="acked"), _messages(topic, 5, prefix)
                        )
                    await anyio.sleep(0.5)
                    assert producer.spooled == 0  # they are waiting for acks
                    await producer.stop_waiting(0.2)
                await producer.send(_messages(topic, 2, prefix="late"), wait="acked")
            assert producer.spooled == 17
        finally:
            kafka_broker.resume()
    assert await replay_spool(settings) == (17, 0)
    values = {m.value for p in "abc" for m in _messages(topic, 5, p)}
    values |= {m.value for m in _messages(topic, 2, "late") + _messages(topic, 1, "warm")}
    assert await _consume(kafka_broker.address, topic, values) == values


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_stop_waiting_answers_submitted_messages_once_spooled(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """``submit`` the same: held ones are acked once spooled, and so are later ones."""
    topic = _topic()
    settings = make_settings(kafka_broker.address, message_timeout=300.0)
    async with KafkaProducer(settings) as producer:
        await _submitted(producer, _messages(topic, 1, prefix="warm"))
        kafka_broker.pause()
        try:
            held = _submitted(producer, _messages(topic, 4, prefix="a"))
            await anyio.sleep(0.5)
            assert not held.done()
            with anyio.fail_after(10):
                await producer.stop_waiting(0.2)
                await held
                await _submitted(producer, _messages(topic, 3, prefix="late"))
            assert producer.spooled == 7
        finally:
            kafka_broker.resume()
    assert await replay_spool(settings) == (7, 0)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_sends_held_when_stop_waiting_begins_are_spooled_and_answered(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """A send held for the loop turn's end when shutdown begins is spooled, not stranded."""
    topic = _topic()
    settings = make_settings(kafka_broker.address)
    answered: list[str] = []
    async with KafkaProducer(settings) as producer:

        async def sender() -> None:
            await producer.send(_messages(topic, 3, prefix="held"), wait="acked")
            answered.append("held")

        async with anyio.create_task_group() as tg:
            tg.start_soon(sender)
            await asyncio.sleep(0)  # the sender holds its messages; they are not produced yet
            assert producer._held_count == 3
            with anyio.fail_after(10):
                await producer.stop_waiting(0.2)
        assert answered == ["held"]
        assert producer.spooled == 3
    assert await replay_spool(settings) == (3, 0)
    values = {m.value for m in _messages(topic, 3, prefix="held")}
    assert await _consume(kafka_broker.address, topic, values) == values


async def test_a_send_the_byte_limit_refuses_whole_raises_queue_full(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """Held or not, a send librdkafka takes none of is refused with QueueFull, not spooled."""
    topic = _topic()
    big = [Message(topic, bytes([65 + i]) * 4096, key=b"k") for i in range(2)]
    spooled_before = _spooled_total()
    settings = make_settings(kafka_broker.address, queue_max_kbytes=1)
    async with KafkaProducer(settings) as producer:
        with pytest.raises(QueueFull):
            await producer.send(big, wait="acked")
        assert producer.spooled == 0
    assert _spooled_total() == spooled_before


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_message_librdkafka_cannot_take_fails_its_send_alone(
    kafka_broker: Tansu, make_settings: MakeSettings
) -> None:
    """Produced in one burst, a send with a bad header fails; the send beside it arrives."""
    topic = _topic()
    good = _messages(topic, 3, prefix="good")
    bad = [*_messages(topic, 2, prefix="bad"), Message(topic, b"bad-header", None, (("n", 5),))]  # type: ignore[arg-type]
    outcomes: dict[str, BaseException | None] = {}
    async with KafkaProducer(make_settings(kafka_broker.address)) as producer:

        async def sender(name: str, messages: list[Message]) -> None:
            try:
                await producer.send(messages, wait="acked")
                outcomes[name] = None
            except ProducerError as exc:
                outcomes[name] = exc

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(sender, "bad", bad)
                tg.start_soon(sender, "good", good)
    assert outcomes["good"] is None
    assert isinstance(outcomes["bad"], ProducerError)
    values = {m.value for m in good}
    # (the bad send's first two messages were produced before the third failed)
    assert values <= await _consume(kafka_broker.address, topic, values)


def test_emit_refuses_what_is_neither_bytes_nor_str() -> None:
    """A bad header value fails the handler that emits it, not a burst shared with others."""
    outbox = Outbox()  # (compiled, mypyc's own argument check raises the TypeError)
    with pytest.raises(TypeError):
        outbox.emit("t", b"v", headers=(("n", 5),))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        outbox.emit("t", 5)  # type: ignore[arg-type]
    assert outbox.messages == []
