"""``QueueWakeup``: only a confluent-kafka producer handle gets a pipe.

The contract tests below check, one by one, what ``migrated._rdkafka_io`` relies on in
confluent-kafka and librdkafka beyond their public Python API.  None of them skips: an
upgrade that breaks one fails here, by name, before ``[kafka] wakeup = "pipe"`` would
quietly fall back to polling in production.
"""

from __future__ import annotations

import os
import select

import pytest
from confluent_kafka import Consumer, Producer

from migrated._rdkafka_io import SYMBOLS, QueueWakeup, handle, load_librdkafka

# No brokers: librdkafka never connects, so only what a test does reaches the pipe.
# (With a refused bootstrap it reports each failed reconnect, a write at any time.)
_NOWHERE = {"log_level": 0}


def test_a_producer_gets_a_pipe_that_its_queue_writes_to() -> None:
    producer = Producer(_NOWHERE)
    wakeup = QueueWakeup.enable(producer)
    assert isinstance(wakeup, QueueWakeup), wakeup
    try:
        producer.poll(0)  # librdkafka writes when the queue goes from empty to non-empty
        wakeup.drain()
        producer.produce("t", b"v", on_delivery=lambda err, msg: None)
        producer.purge()  # the purged message's report goes to the queue: a write to the pipe
        readable, _, _ = select.select([wakeup.fileno], [], [], 5.0)
        assert readable == [wakeup.fileno]
        wakeup.drain()
        assert select.select([wakeup.fileno], [], [], 0)[0] == []
    finally:
        wakeup.close(producer)
        producer.flush(0)


@pytest.mark.parametrize("size", [1, 4096, 8192, 10_000])
def test_drain_empties_the_pipe_whatever_it_holds(size: int) -> None:
    """Short reads end the drain; a pipe holding whole chunks ends on EAGAIN."""
    producer = Producer(_NOWHERE)
    wakeup = QueueWakeup.enable(producer)
    assert isinstance(wakeup, QueueWakeup), wakeup
    try:
        producer.poll(0)
        wakeup.drain()
        os.write(wakeup._write_fd, b"w" * size)
        wakeup.drain()
        assert select.select([wakeup.fileno], [], [], 0)[0] == []
    finally:
        wakeup.close(producer)
        producer.flush(0)


def test_after_close_the_pipe_is_gone() -> None:
    producer = Producer(_NOWHERE)
    wakeup = QueueWakeup.enable(producer)
    assert isinstance(wakeup, QueueWakeup), wakeup
    pipe = os.fstat(wakeup.fileno)
    wakeup.close(producer)
    try:
        now = os.fstat(wakeup.fileno)
    except OSError:
        return
    # librdkafka's threads may have reused the number (a socket): not the pipe, though.
    assert (now.st_dev, now.st_ino) != (pipe.st_dev, pipe.st_ino), "the read end is still open"


def test_anything_but_a_producer_gets_the_reason_instead() -> None:
    """A consumer's handle or any other object is refused, saying why."""
    consumer = Consumer({**_NOWHERE, "group.id": "g"})
    try:
        assert QueueWakeup.enable(consumer) == "not a confluent_kafka.Producer: Consumer"
        assert QueueWakeup.enable(object()) == "not a confluent_kafka.Producer: object"
    finally:
        consumer.close()


def test_contract_librdkafka_is_a_loaded_library_exporting_every_function_called() -> None:
    """confluent-kafka loads librdkafka as a shared library of its own, with each symbol."""
    library = load_librdkafka()
    assert not isinstance(library, str), library
    assert [name for name in SYMBOLS if not hasattr(library, name)] == []


def test_contract_the_producers_handle_pointer_follows_its_object_header() -> None:
    """The first field of confluent-kafka's ``Handle`` is the ``rd_kafka_t *`` of this producer:
    librdkafka names it after our client id and counts the messages Python counts."""
    library = load_librdkafka()
    assert not isinstance(library, str), library
    producer = Producer({**_NOWHERE, "client.id": "contract-probe"})
    try:
        rk = handle(library, producer)
        assert not isinstance(rk, str), rk
        assert library.rd_kafka_name(rk).startswith(b"contract-probe#producer-")
        assert library.rd_kafka_type(rk) == 0  # RD_KAFKA_PRODUCER
        producer.produce("t", b"v")
        producer.produce("t", b"w")
        assert (library.rd_kafka_outq_len(rk), len(producer)) == (2, 2)
    finally:
        producer.purge()
        producer.flush(0)
