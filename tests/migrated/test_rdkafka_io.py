"""``QueueWakeup``: only a confluent-kafka producer handle gets a pipe."""

from __future__ import annotations

import os
import select

import pytest
from confluent_kafka import Consumer, Producer

from migrated._rdkafka_io import QueueWakeup

# No brokers: librdkafka never connects, so only what a test does reaches the pipe.
# (With a refused bootstrap it reports each failed reconnect, a write at any time.)
_NOWHERE = {"log_level": 0}


def test_a_producer_gets_a_pipe_that_its_queue_writes_to() -> None:
    producer = Producer(_NOWHERE)
    wakeup = QueueWakeup.enable(producer)
    assert wakeup is not None
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
    assert wakeup is not None
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
    assert wakeup is not None
    pipe = os.fstat(wakeup.fileno)
    wakeup.close(producer)
    try:
        now = os.fstat(wakeup.fileno)
    except OSError:
        return
    # librdkafka's threads may have reused the number (a socket): not the pipe, though.
    assert (now.st_dev, now.st_ino) != (pipe.st_dev, pipe.st_ino), "the read end is still open"


def test_anything_but_a_producer_gets_none() -> None:
    consumer = Consumer({**_NOWHERE, "group.id": "g"})
    try:
        assert QueueWakeup.enable(consumer) is None
        assert QueueWakeup.enable(object()) is None
    finally:
        consumer.close()
