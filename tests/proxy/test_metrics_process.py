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


GROWTH = textwrap.dedent(
    """
    import json, os, sys, time
    from prometheus_client import values
    from prometheus_client.mmap_dict import MmapedDict
    from migrated._metric_values import MmapValue
    from migrated._prometheus import Counter, Gauge

    assert values.ValueClass is MmapValue
    first = Counter("first_total", "written before the file grows")
    first.inc(1)
    many = Counter("many_total", "makes the file grow", ["n"])
    for n in range(3000):  # about 300 KiB of keys: the 64 KiB file is mapped again, twice
        many.labels(str(n)).inc(n)
    first.inc(2)  # through the view made before the growth
    many.labels("0").inc(5)
    gauge = Gauge("recent", "a timestamped value", multiprocess_mode="mostrecent")
    gauge.set(7)
    gauge.set(8)
    path = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], f"counter_{os.getpid()}.db")
    assert os.path.getsize(path) >= 4 * 65536, os.path.getsize(path)  # grown twice from 64 KiB
    pid = os.fork()
    if pid == 0:  # the child's files are its own; its views are of them
        first.inc(10)
        os._exit(0)
    os.waitpid(pid, 0)
    first.inc(4)
    read = {}
    for name in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]):
        for key, value, stamp, _ in MmapedDict.read_all_values_from_file(
            os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], name)
        ):
            _, sample, labels, _ = json.loads(key)
            read[(int(name[:-3].split("_")[-1]), sample, labels.get("n"))] = (value, stamp)
    me = os.getpid()
    print(read[(me, "first_total", None)], read[(pid, "first_total", None)])
    print(read[(me, "many_total", "0")], read[(me, "many_total", "2999")])
    print(read[(me, "recent", None)][0], read[(me, "recent", None)][1] > time.time() - 60)
    """
)


def test_values_written_before_a_file_grows_stay_in_place(tmp_path: Path) -> None:
    """A value keeps being written where it is after its file is mapped again (grown), in
    a forked child's own file, and a timestamped gauge's timestamp is written beside it."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", GROWTH], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    first, many, recent = done.stdout.splitlines()
    assert first == "(7.0, 0.0) (10.0, 0.0)"  # the child counts in a file of its own
    assert many == "(5.0, 0.0) (2999.0, 0.0)"
    assert recent == "8.0 True"
