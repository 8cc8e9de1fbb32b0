"""The soak: does a strangler worker's memory stay flat under a long mixed load?

One strangler (``--workers``, each runtime of ``--soak-runtimes`` and of a
``--baseline`` in turn) in
front of PHP-FPM serves every kind of route at once: legacy validate.php and
static files, the migrated validator producing to a Tansu broker, a 50%
canary keyed on a header (``Host: canary.local``), and a rules cache
refreshed every 2 s from a copy of rules.json that a background thread
rewrites every second (so each refresh really swaps in a new snapshot).

wrk drives ``soak_mixed.lua`` (a rotating cycle of paths, bodies, headers)
in bounded runs: a 3 s calibration gives the rate, a warm-up brings the total
to 10% of ``--soak-requests``, then runs of at most ``_CHUNK_SECONDS`` go on
until the count is reached.  Each worker's VmRSS is read after the warm-up
and after every run; growth from the post-warm-up value to the end above
``--soak-max-growth`` % fails the soak (exit 1, naming the worker).  5xx
answers or socket errors fail it too (exit 2), as does a lost message.

``--soak-trace`` runs the workers with tracemalloc (``profile_hook``) and
prints the allocation sites that grew most between warm-up and end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops.bench import _build, _migrated
from ops.bench._wrk import WrkError, WrkResult, run_wrk_text, wrk_command
from ops.services import PhpFpm, ServiceError, Strangler, Tansu, build_config, child_pids

if TYPE_CHECKING:
    from ops.bench.bench import Plan

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parents[1]
DOC_ROOT = REPO_ROOT / "ops" / "demo" / "app" / "public"
RULES = REPO_ROOT / "ops" / "demo" / "app" / "rules.json"
LUA_SCRIPT = BENCH_DIR / "soak_mixed.lua"
PROFILE_HOOK = BENCH_DIR / "profile_hook"
_CHUNK_SECONDS = 10
_CALIBRATE_SECONDS = 3
_STATUSES = re.compile(r"statuses 2xx=(\d+) 3xx=(\d+) 4xx=(\d+) 5xx=(\d+)")

CANARY = """
[[routes]]
name = "validate-canary"
match = { path = "/validate.php", methods = ["POST"], host = ["canary.local"] }
mode = "canary"
handler = "ops.demo.handlers.validator:validate"
percent = 50
key = "header:x-user"
backend = "php"
"""


@dataclass
class Tally:
    """Requests sent so far and how they were answered."""

    requests: int = 0
    statuses: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("2xx", "3xx", "4xx", "5xx"), 0)
    )
    socket_errors: dict[str, int] = field(default_factory=dict)

    def add(self, result: WrkResult, stdout: str) -> None:
        """Count one wrk run."""
        self.requests += result.requests
        found = _STATUSES.search(stdout)
        if found is None:
            raise WrkError(f"soak script printed no statuses:\n{stdout}")
        for name, value in zip(self.statuses, found.groups(), strict=True):
            self.statuses[name] += int(value)
        for name, value in result.errors.items():
            if name != "non_2xx_3xx":  # the 422s of invalid bodies: counted by status above
                self.socket_errors[name] = self.socket_errors.get(name, 0) + value


class RulesWriter:
    """Rewrites a copy of rules.json every ``interval`` s (new description, same rules)."""

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self.rules = json.loads(RULES.read_text())
        self.writes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rules-writer", daemon=True)
        self.write()

    def write(self) -> None:
        """Replace the file atomically (the cache's version is mtime and size)."""
        self.writes += 1
        data = {**self.rules, "description": f"{self.rules['description']} (rev {self.writes})"}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def __enter__(self) -> RulesWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 when the process is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found[1]) if found else 0


def worker_pids(proxy: Strangler) -> list[int]:
    """The supervisor's worker processes (``python -m proxy worker``)."""
    assert proxy.process is not None
    pids = []
    for pid in child_pids(proxy.process.pid):
        with contextlib.suppress(OSError):
            if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                pids.append(pid)
    return sorted(pids)


def soak_config(plan: Plan, php: PhpFpm, runtime: str, resources: str) -> str:
    """Legacy, static, migrated and canary routes on one PHP-FPM; access log off."""
    text = build_config(
        php.address,
        DOC_ROOT,
        runtime=runtime,
        workers=plan.strangler_workers,
        pool_size=plan.pool_size,
        extra_routes=_migrated.migrated_route() + CANARY,
    )
    return text + resources + "\n[log]\naccess_log = false\n"


def run_chunk(url: str, plan: Plan, seconds: int, tally: Tally) -> WrkResult:
    """One bounded wrk run of the mixed script, counted into ``tally``."""
    command = wrk_command(
        url,
        threads=plan.threads,
        connections=plan.connections,
        duration=seconds,
        script=LUA_SCRIPT,
    )
    result, stdout = run_wrk_text(command, seconds)
    tally.add(result, stdout)
    return result


def _progress(label: str, tally: Tally, target: int, rate: float, pids: Sequence[int]) -> str:
    rss = " ".join(f"{pid}:{rss_kib(pid) / 1024:.1f}MiB" for pid in pids)
    load = os.getloadavg()[0]
    return (
        f"  [{label}] {tally.requests:,}/{target:,} requests, {rate:,.0f} req/s, "
        f"RSS {rss}, load {load:.2f}"
    )


@contextlib.contextmanager
def soak_services(
    plan: Plan, php: PhpFpm, runtime: str, trace_dir: Path | None
) -> Iterator[tuple[Strangler, Tansu, RulesWriter]]:
    """Broker, rules copy (rewritten every second), and strangler for one runtime."""
    with Tansu() as broker, tempfile.TemporaryDirectory(prefix="strangler-soak-") as tmp:
        rules = Path(tmp) / "rules.json"
        writer = RulesWriter(rules)
        resources = _migrated.resources(broker.address, Path(tmp) / "spool", rules, refresh="2s")
        env = {}
        if trace_dir is not None:
            env = {"STRANGLER_BENCH_TRACEMALLOC": str(trace_dir), "PYTHONPATH": str(PROFILE_HOOK)}
        build = plan.build(runtime)
        text = soak_config(plan, php, build.runtime, resources)
        with writer, _build.strangler(build, text, env) as proxy:
            yield proxy, broker, writer


def soak_runtime(plan: Plan, php: PhpFpm, runtime: str, args: argparse.Namespace) -> dict[str, Any]:
    """The whole soak of one runtime; returns its JSON record."""
    target = args.soak_requests
    trace_dir = Path(tempfile.mkdtemp(prefix="strangler-soak-trace-")) if args.soak_trace else None
    try:
        with soak_services(plan, php, runtime, trace_dir) as (proxy, broker, writer):
            record = _drive(plan, proxy, runtime, target, trace_dir)
            delivery = _migrated.delivery_report(proxy.admin_url)
            samples = _migrated.scrape(proxy.admin_url)
            refreshes = _migrated.metric_sum(
                samples, "strangler_cache_refreshes_total", 'result="changed"'
            )
            record["rules_rewrites"] = writer.writes
            proxy.close()  # flushes the producers; the broker stays up to be read
            consumed = _migrated.count_topic(broker.address)
        delivery = dataclasses.replace(delivery, consumed=consumed)
        print(f"  {delivery.line()}", flush=True)
        print(f"  rules cache: {refreshes} snapshot swaps over {writer.writes} rewrites")
        record |= {"broker": delivery.to_json(), "cache_swaps": refreshes}
        record["broker_ok"] = not delivery.problems()
        if trace_dir is not None:
            record["trace"] = print_trace(trace_dir)
        return record
    finally:
        if trace_dir is not None:
            shutil.rmtree(trace_dir, ignore_errors=True)


def _drive(
    plan: Plan, proxy: Strangler, runtime: str, target: int, trace_dir: Path | None
) -> dict[str, Any]:
    pids = worker_pids(proxy)
    tally = Tally()
    started = time.monotonic()
    calibration = run_chunk(proxy.url, plan, _CALIBRATE_SECONDS, tally)
    rate = calibration.requests_per_second
    print(_progress("calibrate", tally, target, rate, pids), flush=True)
    warm_seconds = max(1, math.ceil((target // 10 - tally.requests) / max(rate, 1.0)))
    rate = run_chunk(proxy.url, plan, warm_seconds, tally).requests_per_second
    print(_progress("warm-up", tally, target, rate, pids), flush=True)
    if trace_dir is not None:
        take_snapshots(trace_dir, "1-warm", pids)
    baseline = {pid: rss_kib(pid) for pid in pids}
    rss_series = {pid: [baseline[pid]] for pid in pids}
    for _ in range(math.ceil(target / max(rate, 1.0) / _CHUNK_SECONDS) + 10):
        left = target - tally.requests
        if left <= 0:
            break
        seconds = max(1, min(_CHUNK_SECONDS, math.ceil(left / max(rate, 1.0))))
        rate = run_chunk(proxy.url, plan, seconds, tally).requests_per_second
        for pid in pids:
            rss_series[pid].append(rss_kib(pid))
        print(_progress("soak", tally, target, rate, pids), flush=True)
    if trace_dir is not None:
        take_snapshots(trace_dir, "2-end", pids)
    end = {pid: rss_kib(pid) for pid in pids}
    return {
        "runtime": runtime,
        "requests": tally.requests,
        "seconds": round(time.monotonic() - started, 1),
        "statuses": tally.statuses,
        "socket_errors": tally.socket_errors,
        "workers_at_start": pids,
        "workers_at_end": worker_pids(proxy),
        "rss_kib": {
            str(pid): {
                "after_warmup": baseline[pid],
                "end": end[pid],
                "growth_pct": round(100 * (end[pid] - baseline[pid]) / baseline[pid], 2),
                "series": rss_series[pid],
            }
            for pid in pids
        },
    }


def take_snapshots(trace_dir: Path, tag: str, pids: Sequence[int]) -> None:
    """Ask every worker for a tracemalloc snapshot and wait (bounded) until written."""
    (trace_dir / f"take-{tag}").touch()
    deadline = time.monotonic() + 60
    wanted = [trace_dir / f"worker-{pid}-{tag}.snap" for pid in pids]
    while not all(p.exists() for p in wanted) and time.monotonic() < deadline:
        time.sleep(0.2)


def print_trace(trace_dir: Path, top: int = 12) -> dict[str, list[str]]:
    """The allocation sites that grew most in each worker, warm-up to end."""
    import tracemalloc

    out: dict[str, list[str]] = {}
    for first in sorted(trace_dir.glob("worker-*-1-warm.snap")):
        last = first.with_name(first.name.replace("1-warm", "2-end"))
        if not last.exists():
            continue
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        old = tracemalloc.Snapshot.load(str(first)).filter_traces(ignore)
        new = tracemalloc.Snapshot.load(str(last)).filter_traces(ignore)
        stats = new.compare_to(old, "lineno")[:top]
        lines = [str(s) for s in stats]
        pid = first.name.split("-")[1]
        print(f"  tracemalloc worker {pid}, top growth warm-up -> end:")
        for line in lines:
            print(f"    {line}")
        out[pid] = lines
    return out


def verdict(record: dict[str, Any], max_growth: float) -> int:
    """Print the RSS table of one runtime; 1 memory grew, 2 errors or lost messages."""
    status = 0
    runtime = record["runtime"]
    print(
        f"\nsoak {runtime}: {record['requests']:,} requests in {record['seconds']}s, "
        f"statuses {record['statuses']}, socket errors {record['socket_errors'] or 0}"
    )
    print(f"  {'worker':>8}  {'after warm-up':>14}  {'end':>10}  {'growth':>7}")
    for pid, rss in record["rss_kib"].items():
        flag = ""
        if rss["growth_pct"] > max_growth:
            flag, status = f"  FAIL: above {max_growth:g}%", 1
        print(
            f"  {pid:>8}  {rss['after_warmup'] / 1024:>10.1f} MiB  {rss['end'] / 1024:>6.1f} MiB"
            f"  {rss['growth_pct']:>6.2f}%{flag}"
        )
    if record["workers_at_start"] != record["workers_at_end"]:
        print(f"  FAIL: workers changed {record['workers_at_start']} -> {record['workers_at_end']}")
        status = status or 1
    if record["statuses"]["5xx"] or record["socket_errors"] or not record["broker_ok"]:
        print("  ERRORS: 5xx answers, socket errors or lost messages (see above)")
        status = status or 2
    return status


def soak(
    args: argparse.Namespace, plan: Plan, argv: Sequence[str], load_before: tuple[float, ...]
) -> int:
    """Run the soak for each runtime of ``--soak-runtimes`` (and the baseline's).

    Writes ``results/soak.json``.
    """
    runtimes = plan.runtimes
    print(
        f"soak: {args.soak_requests:,} mixed requests per runtime ({', '.join(runtimes)}), "
        f"strangler {plan.strangler_workers} workers x pool {plan.pool_size}, wrk -t{plan.threads} "
        f"-c{plan.connections}; load average {load_before[0]:.2f}",
        flush=True,
    )
    records = []
    try:
        with PhpFpm(max_children=plan.php_children) as php:
            for runtime in runtimes:
                print(f"soak {runtime}:", flush=True)
                records.append(soak_runtime(plan, php, runtime, args))
    except (ServiceError, WrkError) as exc:
        print(f"soak: {exc}", flush=True)
        return 3
    except KeyboardInterrupt:
        print("soak: interrupted; services stopped", flush=True)
        return 130
    statuses = [verdict(r, args.soak_max_growth) for r in records]
    meta = {
        "command": "ops/bench/run " + " ".join(argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg": {"before": load_before, "after": os.getloadavg()},
        "max_growth_pct": args.soak_max_growth,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    target = args.output / "soak.json"
    target.write_text(json.dumps({"meta": meta, "runtimes": records}, indent=2) + "\n")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}; wrote {target}")
    return 1 if 1 in statuses else max(statuses, default=0)
