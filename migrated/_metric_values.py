"""prometheus-client's multiprocess metric value, written so that the compiled build compiles it.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set, as in the proxy's
workers) every counter increment and histogram observation goes through
prometheus-client's ``MmapedValue``: a lock, a process-id check, a dictionary
lookup and a 16-byte write into the process's mmapped ``.db`` file.  A
pass-through request makes five such updates; in Python they cost about
3 µs, a tenth of the compiled lane.  ``MmapValue`` does the same work, in the
same files and the same format (prometheus-client's ``MmapedDict`` still
creates the files and their keys, and its collector reads them):

* the position of a value in its file is looked up once, on the first write
  (by ``MmapedDict``, which gives the key its place);
* the process id is not asked on every update: a fork is seen by
  ``os.register_at_fork``, after which the child reopens files of its own and
  re-reads every value, as prometheus-client does when it notices a new pid;
* after the first write, a value is stored as one aligned double through a
  ``memoryview`` of the file's map, cast to doubles (the timestamp beside it
  only when it changed): one 8-byte store, so a scrape never reads a
  half-written value (``struct.pack_into`` briefly writes zeros), and 340
  instructions where ``MmapedDict``'s packing of 16 bytes into a new bytes
  object and assigning a slice of the ``mmap`` took 2,000.
  When a file grows, prometheus-client maps it again; a view keeps the map
  it was made on, and that map still shares the file's pages, so positions
  written before the growth stay where they were;
* one lock serialises updates, as prometheus-client's does, because a
  file's map is replaced when it grows (a thread may update a metric).  It is
  taken with ``acquire``/``release``, bound once: compiled, ``with`` looks
  ``__enter__`` and ``__exit__`` up on the lock's type on every update.

``migrated._prometheus`` installs it as prometheus-client's value class.
``HistogramValues`` is ``Histogram.observe`` over those values, compiled, for
the histograms observed per request or per message; ``value_of`` gives the
request path a counter's value the same way.  Both call ``Value.inc``
natively when the value is an ``MmapValue``, not through a generic method
lookup, keyword parsing and a boxed float; a single process's values,
prometheus-client's own, are wrapped.  Counted with callgrind
(``ops/bench/lane_cpu.py``), an update went from 3,300 instructions to 1,000,
and a request's metrics from 12,200 to 4,300.
"""

from __future__ import annotations

import os
import threading
from typing import Any, ClassVar, Final

from prometheus_client.mmap_dict import MmapedDict, mmap_key

_LOCK = threading.Lock()
_ACQUIRE: Final = _LOCK.acquire  # bound once: compiled, a method call looks the method up
_RELEASE: Final = _LOCK.release
_FILES: dict[str, MmapedDict] = {}
_VALUES: list[MmapValue] = []
_PID = [os.getpid()]


class Value:
    """A sample's float as the request path updates it (``value_of``)."""

    def inc(self, amount: float) -> None:
        raise NotImplementedError


class _Wrapped(Value):
    """Another value class's value (prometheus-client's ``MutexValue``, in a single process)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def inc(self, amount: float) -> None:
        self.value.inc(amount)


def value_of(value: Any) -> Value:
    """A prometheus-client value (a child's ``_value``, a histogram's ``_sum``) as a ``Value``."""
    return value if isinstance(value, Value) else _Wrapped(value)


class MmapValue(Value):
    """One sample's float, kept in this process's mmapped file (prometheus-client's format)."""

    _multiprocess: ClassVar[bool] = True  # prometheus-client reads it

    def __init__(
        self,
        typ: str,
        metric_name: str,
        name: str,
        labelnames: Any,
        labelvalues: Any,
        help_text: str,
        multiprocess_mode: str = "",
        **kwargs: Any,
    ) -> None:
        self._prefix = f"{typ}_{multiprocess_mode}" if typ == "gauge" else typ
        self._key: str = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
        self._value = 0.0
        self._timestamp = 0.0
        self._file: Any = None
        self._doubles: memoryview[float] | None = None  # the map's doubles, after the first write
        self._index: Any = None  # the value's index in them, boxed once
        self._written_timestamp = 0.0
        with _LOCK:
            self._open()
            _VALUES.append(self)

    def _open(self) -> None:
        """Find this process's file for the sample and read the value already in it."""
        file = _FILES.get(self._prefix)
        if file is None:
            directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
            path = os.path.join(directory, f"{self._prefix}_{_PID[0]}.db")
            file = _FILES[self._prefix] = MmapedDict(path)  # type: ignore[no-untyped-call]
        self._file = file
        self._value, self._timestamp = file.read_value(self._key)  # type: ignore[no-untyped-call]
        self._doubles = None

    def _release(self) -> None:
        """Let go of the view, so that the map it holds can be closed (after a fork)."""
        if self._doubles is not None:
            self._doubles.release()
            self._doubles = None

    def inc(self, amount: float) -> None:
        _ACQUIRE()
        try:
            self._value += amount
            self._timestamp = 0.0
            self._write()
        finally:
            _RELEASE()

    def set(self, value: float, timestamp: float | None = None) -> None:
        _ACQUIRE()
        try:
            self._value = value
            self._timestamp = timestamp or 0.0
            self._write()
        finally:
            _RELEASE()

    def set_exemplar(self, exemplar: Any) -> None:
        """Exemplars are not kept in multiprocess mode (nor by prometheus-client)."""

    def get(self) -> float:
        with _LOCK:
            return self._value

    def get_exemplar(self) -> Any:
        return None

    def _write(self) -> None:
        doubles = self._doubles
        if doubles is None:  # first write: the key gets its place in the file
            self._first_write()
            return
        if self._timestamp != self._written_timestamp:
            doubles[self._index + 1] = self._timestamp  # beside the value
            self._written_timestamp = self._timestamp
        doubles[self._index] = self._value

    def _first_write(self) -> None:
        file = self._file
        file.write_value(self._key, self._value, self._timestamp)
        self._written_timestamp = self._timestamp
        position: int = file._positions[self._key]
        if position % 8:  # not where prometheus-client puts values; keep writing by key
            return
        self._doubles = memoryview(file._m).cast("d")  # after any growth: the current map
        self._index = position // 8


class HistogramValues:
    """A histogram's values, updated as ``Histogram.observe`` does.

    ``histogram`` is a labelled child, or a histogram without labels.
    prometheus-client's ``observe`` and ``inc`` are interpreted and check what a
    histogram on the request path never needs (observability, exemplars);
    these are the same updates of the same values, compiled.
    """

    __slots__ = ("bounds", "buckets", "sum")

    def __init__(self, histogram: Any) -> None:
        self.sum = value_of(histogram._sum)
        self.bounds: list[float] = list(histogram._upper_bounds)
        self.buckets: list[Value] = [value_of(bucket) for bucket in histogram._buckets]

    def observe(self, seconds: float) -> None:
        self.sum.inc(seconds)
        bounds = self.bounds
        for i in range(len(bounds)):
            if seconds <= bounds[i]:
                self.buckets[i].inc(1.0)
                return


def _forked() -> None:
    """In a forked child: files of its own, every value read again (prometheus-client's reset)."""
    _PID[0] = os.getpid()
    for value in _VALUES:
        value._release()
    for file in _FILES.values():
        file.close()  # type: ignore[no-untyped-call]
    _FILES.clear()
    for value in _VALUES:
        value._open()


os.register_at_fork(after_in_child=_forked)
