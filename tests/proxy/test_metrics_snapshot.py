"""The channel a worker hands its metrics over on: a thread answering on a Unix socket."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from proxy._metrics_snapshot import SnapshotServer, fetch_snapshots, snapshot_path


@pytest.fixture
def run_dir() -> Iterator[str]:
    """A short directory: a Unix socket's path must fit in 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="strangler-t-") as path:
        yield path


@pytest.mark.anyio
async def test_a_worker_answers_with_its_registry_and_a_silent_one_with_none(
    run_dir: str,
) -> None:
    """Each connection gets the registry's samples as they are now; no listener gives None."""
    registry = CollectorRegistry()
    requests = Counter("strangler_requests_total", "r", registry=registry)
    server = SnapshotServer(snapshot_path(run_dir, 0), registry)
    try:
        requests.inc(2)
        first, silent = await fetch_snapshots(
            [snapshot_path(run_dir, 0), snapshot_path(run_dir, 1)], 5.0
        )
        requests.inc(3)
        (second,) = await fetch_snapshots([snapshot_path(run_dir, 0)], 5.0)
    finally:
        server.close()
    assert silent is None
    assert first is not None
    assert second is not None
    assert first.pid == os.getpid()
    counts = [
        s[2]
        for snapshot in (first, second)
        for f in snapshot.families
        for s in f.samples
        if s[0] == "strangler_requests_total"
    ]
    assert counts == [2.0, 5.0]


@pytest.mark.anyio
async def test_a_closed_server_stops_answering_and_a_new_one_takes_its_path(run_dir: str) -> None:
    """A restarted worker binds the path its predecessor left behind."""
    path = snapshot_path(run_dir, 0)
    SnapshotServer(path, CollectorRegistry()).close()
    assert await fetch_snapshots([path], 5.0) == [None]
    registry = CollectorRegistry()
    Counter("strangler_reloads_total", "r", registry=registry).inc()
    server = SnapshotServer(path, registry)
    try:
        (found,) = await fetch_snapshots([path], 5.0)
    finally:
        server.close()
    assert found is not None
    assert [f.name for f in found.families] == ["strangler_reloads"]
