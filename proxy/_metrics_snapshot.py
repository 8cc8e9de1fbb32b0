"""A process's metrics as a snapshot, and the channel a worker hands it over on.

A snapshot is the process id and every family a registry collects
(``registry.collect()``, prometheus-client's public API): name, type, help,
unit and samples, sent as JSON.  Counters' and histograms' ``_created``
samples are left out: the supervisor adds samples up, and a sum of creation
times means nothing.

Each worker answers on a Unix socket of its own in the run directory
(``worker-<index>.metrics``, next to its status file): a connection gets one
snapshot, then the worker closes it.  A thread answers, as prometheus-client's
own ``start_http_server`` does, so the event loop does no metrics work
between scrapes, and a worker whose loop is busy still answers.  The
supervisor reads every worker's snapshot when ``/metrics`` is scraped
(``fetch_snapshots``) and shows their union (``proxy._metrics_union``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from prometheus_client import REGISTRY, CollectorRegistry

Sample = tuple[str, dict[str, str], float]  # sample name, labels, value


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family as collected: ``name`` as prometheus-client gives it."""

    name: str
    type: str
    documentation: str
    unit: str
    samples: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every family of one process's registry at one moment."""

    pid: int
    families: tuple[Family, ...]


def take_snapshot(registry: CollectorRegistry = REGISTRY) -> Snapshot:
    """The samples ``registry`` collects now, without ``_created`` ones."""
    families = tuple(
        Family(
            metric.name,
            metric.type,
            metric.documentation,
            metric.unit,
            tuple(
                (s.name, dict(s.labels), s.value)
                for s in metric.samples
                if not s.name.endswith("_created")
            ),
        )
        for metric in registry.collect()
    )
    return Snapshot(os.getpid(), families)


def encode(snapshot: Snapshot) -> bytes:
    """``snapshot`` as JSON (Python's, which keeps ``NaN`` and infinities)."""
    families = [
        [f.name, f.type, f.documentation, f.unit, [list(s) for s in f.samples]]
        for f in snapshot.families
    ]
    return json.dumps({"pid": snapshot.pid, "families": families}).encode()


def decode(data: bytes) -> Snapshot:
    """The snapshot ``encode`` wrote.

    Raises:
        ValueError: ``data`` is not a snapshot.
    """
    try:
        raw = json.loads(data)
        families = tuple(
            Family(name, typ, doc, unit, tuple((s, dict(labels), float(v)) for s, labels, v in ss))
            for name, typ, doc, unit, ss in raw["families"]
        )
        return Snapshot(int(raw["pid"]), families)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a metrics snapshot: {exc}") from None


def snapshot_path(run_dir: str, index: int) -> str:
    """Where worker ``index`` answers with its snapshot."""
    return str(Path(run_dir) / f"worker-{index}.metrics")


class SnapshotServer:
    """A thread answering every connection to ``path`` with a snapshot of ``registry``.

    Args:
        path: the Unix socket to listen on (a stale one is replaced).
        registry: what to collect; the process's default registry by default.
    """

    def __init__(self, path: str, registry: CollectorRegistry = REGISTRY) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(8)
        self._registry = registry
        thread = threading.Thread(target=self._answer, name="metrics-snapshots", daemon=True)
        thread.start()

    def _answer(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed
                return
            with conn, contextlib.suppress(OSError):  # the supervisor gave up: its loss
                conn.sendall(encode(take_snapshot(self._registry)))

    def close(self) -> None:
        """Stop answering (``shutdown`` wakes the thread's ``accept``; ``close`` alone may not)."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()


async def fetch_snapshot(path: str, timeout: float) -> Snapshot | None:  # noqa: ASYNC109
    """The snapshot of the worker answering on ``path``, or ``None`` if it does not answer."""
    chunks: list[bytes] = []
    try:
        with anyio.fail_after(timeout):
            async with await anyio.connect_unix(path) as stream:
                async for chunk in stream:
                    chunks.append(chunk)
    except (OSError, TimeoutError, anyio.BrokenResourceError):
        return None
    try:
        return decode(b"".join(chunks))
    except ValueError:
        return None


async def fetch_snapshots(paths: Sequence[str], timeout: float) -> list[Snapshot | None]:  # noqa: ASYNC109
    """``fetch_snapshot`` of every path at once, in the order given."""
    found: list[Snapshot | None] = [None] * len(paths)

    async def fetch(i: int) -> None:
        found[i] = await fetch_snapshot(paths[i], timeout)

    async with anyio.create_task_group() as tg:
        for i in range(len(paths)):
            tg.start_soon(fetch, i)
    return found
