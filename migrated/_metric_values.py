"""prometheus-client's multiprocess metric value, written so that the compiled build compiles it.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set, as in the proxy's
workers) every counter increment and histogram observation goes through
prometheus-client's ``MmapedValue``: a lock, a process-id check, a dictionary
lookup and a 16-byte write into the process's mmapped ``.db`` file.  A
pass-through request makes five such updates; in Python they cost about
3 µs, a tenth of the compiled lane.  ``MmapValue`` does the same work, in the
same files and the same format (prometheus-client's ``MmapedDict`` still
creates the files and their keys, and its collector reads them):

* the position of a value in its file is looked up once, on the first write,
  and the 16 bytes are written by slice assignment, as ``MmapedDict`` does
  (``struct.pack_into`` briefly writes zeros a scrape could read);
* the process id is not asked on every update: a fork is seen by
  ``os.register_at_fork``, after which the child reopens files of its own and
  re-reads every value, as prometheus-client does when it notices a new pid;
* one lock serialises updates, as prometheus-client's does, because a
  file's map is replaced when it grows (a thread may update a metric).

``migrated._prometheus`` installs it as prometheus-client's value class.
``HistogramValues`` is ``Histogram.observe`` over those values, compiled, for
the histograms observed per request or per message.
"""

from __future__ import annotations

import os
import struct
import threading
from typing import Any, ClassVar

from prometheus_client.mmap_dict import MmapedDict, mmap_key

_TWO_DOUBLES = struct.Struct("dd")
_LOCK = threading.Lock()
_FILES: dict[str, MmapedDict] = {}
_VALUES: list[MmapValue] = []
_PID = [os.getpid()]


class MmapValue:
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
        self._position = -1
        self._file: Any = None
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
        self._position = -1

    def inc(self, amount: float) -> None:
        with _LOCK:
            self._value += amount
            self._timestamp = 0.0
            self._write()

    def set(self, value: float, timestamp: float | None = None) -> None:
        with _LOCK:
            self._value = value
            self._timestamp = timestamp or 0.0
            self._write()

    def set_exemplar(self, exemplar: Any) -> None:
        """Exemplars are not kept in multiprocess mode (nor by prometheus-client)."""

    def get(self) -> float:
        with _LOCK:
            return self._value

    def get_exemplar(self) -> Any:
        return None

    def _write(self) -> None:
        file = self._file
        if self._position < 0:  # first write: the key gets its place in the file
            file.write_value(self._key, self._value, self._timestamp)
            self._position = file._positions[self._key]
            return
        position = self._position
        file._m[position : position + 16] = _TWO_DOUBLES.pack(self._value, self._timestamp)


class HistogramValues:
    """A histogram's values, updated as ``Histogram.observe`` does.

    ``histogram`` is a labelled child, or a histogram without labels.
    prometheus-client's ``observe`` and ``inc`` are interpreted and check what a
    histogram on the request path never needs (observability, exemplars);
    these are the same updates of the same values, compiled.
    """

    __slots__ = ("bounds", "buckets", "sum")

    def __init__(self, histogram: Any) -> None:
        self.sum = histogram._sum
        self.bounds: list[float] = list(histogram._upper_bounds)
        self.buckets: list[Any] = list(histogram._buckets)

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
    for file in _FILES.values():
        file.close()  # type: ignore[no-untyped-call]
    _FILES.clear()
    for value in _VALUES:
        value._open()


os.register_at_fork(after_in_child=_forked)
