"""A pipe that librdkafka writes to when a producer has reports to serve.

Why: confluent-kafka serves delivery reports only inside ``Producer.poll()``
and takes the GIL for every report it serves, so a thread blocked in
``poll()`` while the event loop runs Python waits for the GIL once per
message (``strace`` on a busy worker: 1.3 ``futex`` calls per answer).
librdkafka itself can instead write a byte to a file descriptor whenever
the producer's main queue (delivery reports, errors, logs) goes from empty to
non-empty (``rd_kafka_queue_io_event_enable``); the event loop watches the
pipe and calls ``poll(0)`` on its own thread, where taking the GIL costs
nothing.  confluent-kafka does not expose that call, so:

How: the librdkafka that confluent-kafka loaded (found in
``/proc/self/maps``) is called through ctypes with the producer's
``rd_kafka_t`` pointer, the first field after the object header of
confluent-kafka's ``Handle`` struct.  Before use the pointer is checked (a
producer handle whose name and queue length are the ones Python sees);
anything unexpected gives ``None`` and the caller keeps polling from a thread.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

import structlog
from confluent_kafka import Producer

log = structlog.get_logger(__name__)

_RD_KAFKA_PRODUCER = 0
_DRAIN_CHUNK = 4096
_library: ctypes.CDLL | None = None


class QueueWakeup:
    """The pipe librdkafka writes to; ``fileno`` is the end to watch.

    Call ``drain()`` before ``poll(0)`` when the pipe is readable (a report
    enqueued after the drain writes again), ``move(old, new)`` when the
    producer is replaced, and ``close(producer)`` before the producer is
    closed: librdkafka must stop writing before the pipe goes.
    """

    def __init__(self, library: ctypes.CDLL, read_fd: int, write_fd: int) -> None:
        self._lib = library
        self.fileno = read_fd
        self._write_fd = write_fd

    @classmethod
    def enable(cls, producer: Any) -> QueueWakeup | None:
        """Make ``producer``'s main queue write to a new pipe (``None``: it cannot be done)."""
        library = _load()
        if library is None:
            return None
        rk = _handle(library, producer)
        if rk is None or library.rd_kafka_outq_len(rk) != len(producer):
            return None
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        wakeup = cls(library, read_fd, write_fd)
        wakeup._point(producer, write_fd)
        return wakeup

    def drain(self) -> None:
        """Empty the pipe (the bytes carry nothing but the wake-up).

        A short read means the pipe is empty: no second read to meet its
        ``BlockingIOError`` (this runs once per served batch of reports).
        """
        try:
            while len(os.read(self.fileno, _DRAIN_CHUNK)) == _DRAIN_CHUNK:
                pass
        except BlockingIOError:
            pass

    def move(self, old: Any, new: Any) -> None:
        """Point a replacement producer at this pipe, and the old one away from it."""
        self._point(new, self._write_fd)
        self._point(old, -1)

    def close(self, producer: Any) -> None:
        """Stop librdkafka writing, then close the pipe."""
        self._point(producer, -1)
        os.close(self.fileno)
        os.close(self._write_fd)

    def _point(self, producer: Any, fd: int) -> None:
        rk = _handle(self._lib, producer)
        if rk is None:
            return
        queue = self._lib.rd_kafka_queue_get_main(rk)
        try:
            payload = b"!" if fd >= 0 else None
            self._lib.rd_kafka_queue_io_event_enable(queue, fd, payload, 1 if payload else 0)
        finally:
            self._lib.rd_kafka_queue_destroy(queue)


def _load() -> ctypes.CDLL | None:
    """The librdkafka confluent-kafka loaded, with the signatures used here."""
    global _library
    if _library is not None:
        return _library
    try:
        with open("/proc/self/maps") as maps:
            paths = [line.split()[-1] for line in maps if "librdkafka" in line]
    except OSError:
        return None
    if not paths:
        return None
    library = ctypes.CDLL(paths[0])  # the loaded copy: same handle, same state
    library.rd_kafka_type.argtypes = [ctypes.c_void_p]
    library.rd_kafka_type.restype = ctypes.c_int
    library.rd_kafka_name.argtypes = [ctypes.c_void_p]
    library.rd_kafka_name.restype = ctypes.c_char_p
    library.rd_kafka_outq_len.argtypes = [ctypes.c_void_p]
    library.rd_kafka_outq_len.restype = ctypes.c_int
    library.rd_kafka_queue_get_main.argtypes = [ctypes.c_void_p]
    library.rd_kafka_queue_get_main.restype = ctypes.c_void_p
    library.rd_kafka_queue_destroy.argtypes = [ctypes.c_void_p]
    library.rd_kafka_queue_destroy.restype = None
    library.rd_kafka_queue_io_event_enable.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    library.rd_kafka_queue_io_event_enable.restype = None
    _library = library
    return library


def _handle(library: ctypes.CDLL, producer: Any) -> int | None:
    """``producer``'s ``rd_kafka_t *`` if it is what confluent-kafka's ``Handle`` holds."""
    if type(producer) is not Producer:
        return None
    rk = ctypes.c_void_p.from_address(id(producer) + object.__basicsize__).value
    if not rk:
        return None
    name = library.rd_kafka_name(rk) or b""
    if library.rd_kafka_type(rk) != _RD_KAFKA_PRODUCER or b"#producer-" not in name:
        log.warning("kafka_handle_unrecognised", name=name.decode(errors="replace"))
        return None
    return int(rk)
