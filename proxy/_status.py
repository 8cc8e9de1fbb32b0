"""Worker status files: how workers tell the supervisor they are ready.

Each worker writes ``worker-<index>.json`` into the run directory (atomically:
temp file + rename) once its resources are up, and again every second with
their status (cache ages, producer state).  The supervisor reads them for
``/ready`` and to tell a worker that failed at startup (exited before its first
status) from one that died later (restarted).  Beside its status file a
worker answers the supervisor's requests for its metrics
(``proxy._metrics_snapshot``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from ._metrics_hot import register as register_hot_metrics
from ._metrics_snapshot import SnapshotServer, snapshot_path

RUN_DIR_ENV = "STRANGLER_RUN_DIR"
FRESH_FOR = 5.0  # seconds a status stays valid without being rewritten


def status_path(run_dir: str, index: int) -> Path:
    """Where worker ``index`` writes its status."""
    return Path(run_dir) / f"worker-{index}.json"


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the status file in one rename, so readers never see half of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**status, "pid": os.getpid(), "time": time.time()}))
    os.replace(tmp, path)


def read_status(run_dir: str, index: int) -> dict[str, Any] | None:
    """The worker's last status, or ``None`` when absent, unreadable or stale."""
    try:
        status: dict[str, Any] = json.loads(status_path(run_dir, index).read_text())
    except (OSError, ValueError):
        return None
    if time.time() - float(status.get("time", 0)) > FRESH_FOR:
        return None
    return status


async def report_status(index: int, status: Callable[[], dict[str, Any]]) -> None:
    """Write this worker's status now and every second, and answer for its metrics,
    until cancelled."""
    run_dir = os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        return
    path = status_path(run_dir, index)
    register_hot_metrics()
    metrics = SnapshotServer(snapshot_path(run_dir, index))
    try:
        while True:
            write_status(path, status())
            await anyio.sleep(1.0)
    finally:
        metrics.close()


def clear_status(run_dir: str, index: int) -> None:
    """Forget a worker's status (before it is restarted)."""
    status_path(run_dir, index).unlink(missing_ok=True)
