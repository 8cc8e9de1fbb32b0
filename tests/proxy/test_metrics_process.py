"""Multiprocess metric values (``migrated._metric_values``): no getpid() per update, one file
per process after a fork, and counters and histograms summed by the admin listener's collector
exactly as prometheus-client's own values would be."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from prometheus_client import CollectorRegistry, multiprocess, values
    from migrated._metric_values import MmapValue
    from proxy import _metrics as m

    assert values.ValueClass is MmapValue
    m.observe_request("r", "legacy", 200, 0.003)  # a counter and a histogram
    m.observe_upstream("php", 0.2)
    calls = []
    real_getpid = os.getpid
    os.getpid = lambda: calls.append(1) or real_getpid()
    m.observe_request("r", "legacy", 200, 0.003)
    os.getpid = real_getpid
    assert not calls, "getpid() per update"
    pid = os.fork()
    if pid == 0:
        m.observe_request("r", "legacy", 200, 0.003)
        os._exit(0)
    os.waitpid(pid, 0)
    m.observe_request("r", "legacy", 200, 0.7)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    labels = {"route": "r", "mode": "legacy"}
    total = registry.get_sample_value("strangler_requests_total", {**labels, "status": "2xx"})
    duration = "strangler_request_duration_seconds"
    assert registry.get_sample_value(duration + "_count", labels) == 4
    assert abs(registry.get_sample_value(duration + "_sum", labels) - 0.709) < 1e-9
    assert registry.get_sample_value(duration + "_bucket", {**labels, "le": "0.0025"}) == 0
    assert registry.get_sample_value(duration + "_bucket", {**labels, "le": "0.005"}) == 3
    assert registry.get_sample_value(duration + "_bucket", {**labels, "le": "0.5"}) == 3
    assert registry.get_sample_value(duration + "_bucket", {**labels, "le": "1.0"}) == 4
    upstream = {"backend": "php", "le": "0.25"}
    assert registry.get_sample_value("strangler_upstream_duration_seconds_bucket", upstream) == 1
    print(os.getpid(), pid, total)
    """
)


def test_pinned_values_are_written_per_process_and_summed(tmp_path: Path) -> None:
    """No system call per update; four requests in two processes sum to four, one file each."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    parent, child, total = done.stdout.split()
    assert float(total) == 4.0
    files = {p.name for p in tmp_path.iterdir()}
    assert {f"counter_{parent}.db", f"counter_{child}.db"} <= files
