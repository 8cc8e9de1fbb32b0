"""A pipe that librdkafka writes to when a producer has reports to serve.

Why: confluent-kafka serves delivery reports only inside ``Producer.poll()``
and takes the GIL for every report it serves, so a thread blocked in
``poll()`` while the event loop runs Python waits for the GIL once per
message (``strace -c`` on a worker under ``ops/bench/cpu_per_request.py
--migrated`` counts the ``futex`` calls).
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
anything unexpected gives the reason instead, and the caller keeps polling
from a thread.

This reads confluent-kafka's C struct layout, which it does not promise to
keep, so it sits behind a switch (``[kafka] wakeup = "poll"`` never comes
here), the producer logs which path it took (``kafka_wakeup``), and
``tests/migrated/test_rdkafka_io.py`` holds the contract: each thing relied
on here is checked there by name, so an upgrade that breaks one fails there.
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
# The librdkafka functions called here (all public in librdkafka's rdkafka.h).
SYMBOLS = (
    "rd_kafka_type",
    "rd_kafka_name",
    "rd_kafka_outq_len",
    "rd_kafka_queue_get_main",
    "rd_kafka_queue_destroy",
    "rd_kafka_queue_io_event_enable",
)
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
    def enable(cls, producer: Any) -> QueueWakeup | str:
        """Make ``producer``'s main queue write to a new pipe, or say why it cannot be done."""
        library = load_librdkafka()
        if isinstance(library, str):
            return library
        rk = handle(library, producer)
        if isinstance(rk, str):
            return rk
        if library.rd_kafka_outq_len(rk) != len(producer):
            return "the handle's queue length is not the producer's"
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
        rk = handle(self._lib, producer)
        if isinstance(rk, str):
            return
        queue = self._lib.rd_kafka_queue_get_main(rk)
        try:
            payload = b"!" if fd >= 0 else None
            self._lib.rd_kafka_queue_io_event_enable(queue, fd, payload, 1 if payload else 0)
        finally:
            self._lib.rd_kafka_queue_destroy(queue)


def load_librdkafka() -> ctypes.CDLL | str:
    """The librdkafka confluent-kafka loaded, with the signatures used here, or why not."""
    global _library
    if _library is not None:
        return _library
    try:
        with open("/proc/self/maps") as maps:
            paths = [line.split()[-1] for line in maps if "librdkafka" in line]
    except OSError as exc:
        return f"cannot read /proc/self/maps: {exc.strerror}"
    if not paths:
        return "no librdkafka in /proc/self/maps (linked into confluent-kafka's module?)"
    library = ctypes.CDLL(paths[0])  # the loaded copy: same handle, same state
    missing = [name for name in SYMBOLS if not hasattr(library, name)]
    if missing:
        return f"{paths[0]} lacks {', '.join(missing)}"
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


def handle(library: ctypes.CDLL, producer: Any) -> int | str:
    """``producer``'s ``rd_kafka_t *`` if it is what confluent-kafka's ``Handle`` holds, or why not.

    The pointer is read as the first field after the object header.
    """
    if type(producer) is not Producer:
        return f"not a confluent_kafka.Producer: {type(producer).__name__}"
    rk = ctypes.c_void_p.from_address(id(producer) + object.__basicsize__).value
    if not rk:
        return "no pointer after the Producer's object header"
    name = library.rd_kafka_name(rk) or b""
    if library.rd_kafka_type(rk) != _RD_KAFKA_PRODUCER or b"#producer-" not in name:
        log.warning("kafka_handle_unrecognised", name=name.decode(errors="replace"))
        return "the pointer after the Producer's object header is not a producer handle"
    return int(rk)
