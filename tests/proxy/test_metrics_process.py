"""Multiprocess metric values with the process id pinned: no getpid() per update, and still
one file per process after a fork, summed by the admin listener's collector."""

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
    from proxy import _metrics as m

    # What each update calls to notice a fork: prometheus-client's default is os.getpid.
    check = values.ValueClass._MmapedValue__check_for_pid_change
    cells = dict(zip(check.__code__.co_freevars, check.__closure__))
    assert cells["process_identifier"].cell_contents is not os.getpid, "getpid() per update"
    m.observe_request("r", "legacy", 200, 0.003)  # a counter and a histogram
    pid = os.fork()
    if pid == 0:
        m.observe_request("r", "legacy", 200, 0.003)
        os._exit(0)
    os.waitpid(pid, 0)
    m.observe_request("r", "legacy", 200, 0.003)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    total = registry.get_sample_value(
        "strangler_requests_total", {"route": "r", "mode": "legacy", "status": "2xx"}
    )
    print(os.getpid(), pid, total)
    """
)


def test_pinned_values_are_written_per_process_and_summed(tmp_path: Path) -> None:
    """No system call per update; three requests in two processes sum to three, one file each."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    parent, child, total = done.stdout.split()
    assert float(total) == 3.0
    files = {p.name for p in tmp_path.iterdir()}
    assert {f"counter_{parent}.db", f"counter_{child}.db"} <= files
