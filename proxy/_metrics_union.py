"""The union of every process's metrics, as the admin listener's ``/metrics`` shows it.

Strategy.  The supervisor gives ``MetricsUnion`` one snapshot per process at
each scrape (``update``), ``None`` for a worker that did not answer, and
renders it as a prometheus-client collector.  The rules:

* The project's families (``strangler_*``) are added up over the workers, as
  prometheus-client's multiprocess mode did, so dashboards keep their queries.
  Counters and histograms are summed over every worker process seen: the
  live ones' latest values, plus the last values seen of each process that
  was replaced (a new process id at the same index).  A restarted worker counts
  from zero; keeping its predecessor's last values in the sum keeps the total
  from going down, which Prometheus would take for a reset and ``rate()`` for
  a burst.  What a worker counted after the last scrape before it died is
  lost: it was never shown, so the total still never goes down.
* Gauges are a value now: only the workers that answered count.  Their sum,
  or their maximum for the gauges named in ``GAUGE_MODES``.
* Every other family (``process_*``, ``python_*``: what prometheus-client
  collects about a process) describes one process.  Each live process's
  samples are shown with a ``worker`` label: the index, or ``supervisor``.
  These counters restart at zero with their process, which ``rate()``
  handles per series.

No I/O here: the admin listener fetches the snapshots
(``proxy._metrics_snapshot``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Literal

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ._metrics_snapshot import Family, Sample, Snapshot

GaugeMode = Literal["sum", "max"]
GAUGE_MODES: Final[Mapping[str, GaugeMode]] = {
    "strangler_cache_snapshot_age_seconds": "max",  # the oldest cache is what alerts need
}
OURS: Final = "strangler_"
_CUMULATIVE: Final = frozenset({"counter", "histogram", "summary"})

_Key = tuple[str, tuple[tuple[str, str], ...]]  # sample name, sorted labels


class _Sum:
    """One family's samples, added up over processes."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.values: dict[_Key, float] = {}

    def copy(self) -> _Sum:
        new = _Sum(self.family)
        new.values = dict(self.values)
        return new

    def add(self, samples: Iterable[Sample], mode: GaugeMode, extra: Mapping[str, str]) -> None:
        values = self.values
        for name, labels, value in samples:
            key = (name, tuple(sorted({**labels, **extra}.items())))
            old = values.get(key)
            if old is None:
                values[key] = value
            else:
                values[key] = max(old, value) if mode == "max" else old + value

    def metric(self) -> Metric:
        f = self.family
        metric = Metric(f.name, f.documentation, f.type, f.unit)
        for (name, labels), value in self.values.items():
            metric.add_sample(name, dict(labels), value)
        return metric


class MetricsUnion(Collector):
    """Every process's latest snapshot, shown as one set of families (module docstring)."""

    def __init__(self) -> None:
        self._last: dict[str, Snapshot] = {}  # by process name: "0", "1"..., "supervisor"
        self._live: set[str] = set()
        self._retired: dict[str, _Sum] = {}  # replaced processes' cumulative samples

    def update(self, process: str, snapshot: Snapshot | None) -> None:
        """Take ``process``'s snapshot of this scrape (``None``: it did not answer)."""
        if snapshot is None:
            self._live.discard(process)
            return
        last = self._last.get(process)
        if last is not None and last.pid != snapshot.pid:
            self._retire(last)
        self._last[process] = snapshot
        self._live.add(process)

    def _retire(self, snapshot: Snapshot) -> None:
        for family in snapshot.families:
            if family.name.startswith(OURS) and family.type in _CUMULATIVE:
                retired = self._retired.setdefault(family.name, _Sum(family))
                retired.add(family.samples, "sum", {})

    def collect(self) -> list[Metric]:
        """The families of the union, each once."""
        sums = {name: retired.copy() for name, retired in self._retired.items()}
        for process, snapshot in self._last.items():
            live = process in self._live
            for family in snapshot.families:
                ours = family.name.startswith(OURS)
                if not live and not (ours and family.type in _CUMULATIVE):
                    continue
                mode = GAUGE_MODES.get(family.name, "sum") if ours else "sum"
                extra = {} if ours else {"worker": process}
                sums.setdefault(family.name, _Sum(family)).add(family.samples, mode, extra)
        return [total.metric() for total in sums.values()]
