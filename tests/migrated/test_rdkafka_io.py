"""``QueueWakeup``: only a confluent-kafka producer handle gets a pipe."""

from __future__ import annotations

import os
import select

from confluent_kafka import Consumer, Producer

from migrated._rdkafka_io import QueueWakeup

_NOWHERE = {"bootstrap.servers": "127.0.0.1:9", "log_level": 0}


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


def test_after_close_the_pipe_is_gone() -> None:
    producer = Producer(_NOWHERE)
    wakeup = QueueWakeup.enable(producer)
    assert wakeup is not None
    wakeup.close(producer)
    try:
        os.fstat(wakeup.fileno)
        raise AssertionError("the read end is still open")
    except OSError:
        pass


def test_anything_but_a_producer_gets_none() -> None:
    consumer = Consumer({**_NOWHERE, "group.id": "g"})
    try:
        assert QueueWakeup.enable(consumer) is None
        assert QueueWakeup.enable(object()) is None
    finally:
        consumer.close()
