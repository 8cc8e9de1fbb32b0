"""CPU time per request: nginx's workers against strangler's worker, same PHP-FPM.

Throughput on a shared 2-core machine is noisy; the CPU a proxy spends per
request is not.  This drives the validator through nginx and then through
strangler (one worker, the given runtime) with a fixed ``wrk`` run each, and
reads the processes' user and system CPU from /proc before and after:

    .venv/bin/python ops/bench/cpu_per_request.py [--runtime uvloop-compiled] [--seconds 5]

``--runtime`` takes the benchmark's names (``_build``); with ``--baseline
REF``, ``baseline-uvicorn-compiled`` and the like measure that older build
(``_baseline``).

``--shadow`` measures the benchmark's three shadow configurations instead
(legacy-only, shadow, shadow-sleep; each with its broker, producer, cache and
store): what shadowing costs per request, apart from throughput's noise.

``--whole-box`` runs the benchmark's load (``wrk -t2 -c64``, 8 PHP children,
nginx with 2 workers) and splits each request's CPU over the whole machine:
the proxy's processes, PHP-FPM's children, wrk, the kernel's softirq work and
what was left idle.  It measures strangler with one worker and with
``--workers`` (default 2), the pool taking every PHP child, then nginx
again: the PHP share shows what a proxy's own CPU costs the backend it shares
the cores with (``docs/operations.md``, "Sizing workers").

``--migrated`` does the same for the benchmark's migrated route (the
validator's port, producing each event to a Tansu broker with ``delivery =
"acked"``) with ``--workers`` workers, and splits the proxy's CPU by thread:
the workers' event loops, librdkafka's threads, and the rest (poll and
replay threads): where the route's CPU goes (``docs/log.md``, "Where that
leaves the migrated route").

``--batch`` does the same for the batch route (the batch validator's port,
20 events a request, one message per accepted event) and divides by the
messages too; ``--no-emit`` runs the same handler with its outbox emptied
before it is published, so the difference between the two is what the
messages cost, from ``emit`` to the acknowledgement and the broker's share
(``docs/performance.md``, "Batches of events").
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ops.bench import _baseline, _build, _migrated, _shadow
from ops.bench._build import Build
from ops.services import Nginx, PhpFpm, Tansu, build_config, child_pids

APP = Path(__file__).resolve().parents[1] / "demo" / "app" / "public"
LUA = Path(__file__).resolve().parent / "post_validate.lua"
BATCH_LUA = Path(__file__).resolve().parent / "post_validate_batch.lua"
NO_EMIT_HANDLER = "ops.bench._no_emit:validate_batch_without_messages"
BATCH_MESSAGES = 15  # accepted events of post_validate_batch.lua's batch
TICKS = os.sysconf("SC_CLK_TCK")
_CHILDREN = resource.RUSAGE_CHILDREN  # wrk, the one child that runs meanwhile


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds of ``pids`` so far."""
    user = system = 0.0
    for pid in pids:
        _, pid_user, pid_system = _stat(Path(f"/proc/{pid}/stat"))
        user, system = user + pid_user, system + pid_system
    return user, system


def _stat(path: Path) -> tuple[str, float, float]:
    """A process's or thread's name, and its user and system CPU seconds, from ``stat``."""
    stat = path.read_text()
    fields = stat.rpartition(")")[2].split()
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    return name, int(fields[11]) / TICKS, int(fields[12]) / TICKS


def wrk_requests(out: str) -> int:
    """The number of requests a wrk run reports having completed."""
    found = re.search(r"(\d+) requests in", out)
    if found is None:
        raise SystemExit(f"cpu: cannot read wrk's output:\n{out}")
    return int(found.group(1))


def measure(url: str, pids: list[int], seconds: int) -> tuple[float, float, float]:
    """Requests/s and user and system µs per request over one wrk run."""
    user0, sys0 = cpu_seconds(pids)
    cmd = ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(LUA), url + "/validate.php"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    user1, sys1 = cpu_seconds(pids)
    n = wrk_requests(out)
    return n / seconds, (user1 - user0) / n * 1e6, (sys1 - sys0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default=_build.DEFAULT_RUNTIME)
    parser.add_argument("--baseline", metavar="REF", help="the build a baseline-* runtime runs")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--shadow", action="store_true", help="the shadow configurations")
    parser.add_argument("--whole-box", action="store_true", help="every process's share")
    parser.add_argument("--migrated", action="store_true", help="the migrated route, by thread")
    parser.add_argument("--batch", action="store_true", help="the batch route, per message too")
    parser.add_argument("--no-emit", action="store_true", help="--batch without its messages")
    parser.add_argument("--workers", type=int, default=2, help="--whole-box, --migrated (2)")
    args = parser.parse_args()
    build = resolve(args.runtime, args.baseline)
    if args.migrated or args.batch:
        migrated_box(build, max(args.seconds, 8), args.workers, args.batch, args.no_emit)
        return
    if args.shadow:
        shadow_cases(build, args.seconds)
        return
    if args.whole_box:
        whole_box(build, max(args.seconds, 8), args.workers)
        return
    with PhpFpm(max_children=8) as fpm:
        with Nginx(fpm.address, APP, keepalive=4) as nginx:
            assert nginx.process is not None
            workers = child_pids(nginx.process.pid)
            measure(nginx.url, workers, 2)  # warm-up
            report("nginx", *measure(nginx.url, workers, args.seconds))
        config = build_config(fpm.address, APP, runtime=build.runtime, pool_size=8)
        with _build.strangler(build, config + "\n[log]\naccess_log = false\n") as proxy:
            assert proxy.process is not None
            workers = child_pids(proxy.process.pid)
            measure(proxy.url, workers, 2)
            report(f"strangler {args.runtime}", *measure(proxy.url, workers, args.seconds))


def resolve(runtime: str, baseline: str | None) -> Build:
    """What ``runtime`` runs, built (the compiled copy, the baseline) if need be."""
    if not _build.is_baseline(runtime):
        _build.prepare([runtime])
        return _build.resolve(runtime)
    if baseline is None:
        raise SystemExit(f"cpu: {runtime} needs --baseline REF")
    try:
        [build] = _baseline.prepare(baseline, (runtime.removeprefix(_build.BASELINE),))
    except _baseline.BaselineError as exc:
        raise SystemExit(f"cpu: {exc}") from None
    return build


def shadow_cases(build: Build, seconds: int) -> None:
    """CPU per request of each shadow configuration (one worker each)."""
    rules = APP.parent / "rules.json"
    with PhpFpm(max_children=8) as fpm:
        for case in _shadow.CASES:
            config = build_config(
                fpm.address,
                APP,
                runtime=build.runtime,
                pool_size=8,
                extra_routes=_shadow.shadow_route(case),
            )
            with _shadow.shadow_workspace() as (broker, tmp):
                resources = _shadow.shadow_resources(broker.address, tmp, rules)
                text = config + resources + "\n[log]\naccess_log = false\n"
                with _build.strangler(build, text) as proxy:
                    assert proxy.process is not None
                    workers = child_pids(proxy.process.pid)
                    measure(proxy.url, workers, 2)
                    report(f"{build.name} {case.name}", *measure(proxy.url, workers, seconds))


_PHP_CHILDREN = 8  # as the benchmark's PHP-FPM
_NGINX_KEEPALIVE = 1  # per worker of two, as the benchmark's nginx (bench.py's docstring)


def whole_box(build: Build, seconds: int, workers: int) -> None:
    """Each request's CPU over the machine, nginx against strangler (one worker and more)."""
    print(f"µs of CPU per request (user+system), wrk -t2 -c64, {seconds}s runs")
    with PhpFpm(max_children=_PHP_CHILDREN) as fpm:
        assert fpm.process is not None
        php = child_pids(fpm.process.pid)
        for turn in ("nginx", 1, workers, "nginx"):
            if turn == "nginx":
                with Nginx(fpm.address, APP, keepalive=_NGINX_KEEPALIVE, workers=2) as nginx:
                    assert nginx.process is not None
                    box_line(
                        "nginx, 2 workers", nginx.url, child_pids(nginx.process.pid), php, seconds
                    )
                continue
            assert isinstance(turn, int)
            pool = _PHP_CHILDREN // turn  # every child: nginx is stopped meanwhile
            config = build_config(
                fpm.address, APP, runtime=build.runtime, workers=turn, pool_size=pool
            )
            text = config + "\n[log]\naccess_log = false\n"
            with _build.strangler(build, text) as proxy:
                assert proxy.process is not None
                name = f"{build.name}, {turn} worker{'s' if turn > 1 else ''}"
                box_line(name, proxy.url, child_pids(proxy.process.pid), php, seconds)


def _machine() -> list[int]:
    """The first line of /proc/stat: user nice system idle iowait irq softirq (ticks)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]


def box_line(name: str, url: str, proxy: list[int], php: list[int], seconds: int) -> None:
    """One wrk run, warm-up first, and one printed line of per-request shares."""
    cmd = ["wrk", "-t2", "-c64", "-s", str(LUA), url + "/validate.php"]
    subprocess.run([*cmd, "-d2s"], capture_output=True, check=True)
    before = cpu_seconds(proxy), cpu_seconds(php), _machine(), resource.getrusage(_CHILDREN)
    out = subprocess.run([*cmd, f"-d{seconds}s"], capture_output=True, text=True, check=True)
    after = cpu_seconds(proxy), cpu_seconds(php), _machine(), resource.getrusage(_CHILDREN)
    n = wrk_requests(out.stdout)

    def per_request(a: float, b: float) -> float:
        return (b - a) / n * 1e6

    ticks = [(b - a) / TICKS for a, b in zip(before[2], after[2], strict=True)]
    shares = {
        "proxy": per_request(sum(before[0]), sum(after[0])),
        "php": per_request(sum(before[1]), sum(after[1])),
        "wrk": per_request(
            before[3].ru_utime + before[3].ru_stime, after[3].ru_utime + after[3].ru_stime
        ),
        "softirq": ticks[6] / n * 1e6,
        "idle": ticks[3] / n * 1e6,
    }
    parts = "  ".join(f"{k} {v:5.1f}" for k, v in shares.items())
    print(f"{name:<28} {n / seconds:>8,.0f} req/s  {parts}", flush=True)


def migrated_box(
    build: Build, seconds: int, workers: int, batch: bool = False, no_emit: bool = False
) -> None:
    """The migrated (or batch) route's CPU per request over the machine, the proxy's by thread."""
    if batch:
        path, lua = _migrated.BATCH_PATH, BATCH_LUA
        handler = NO_EMIT_HANDLER if no_emit else _migrated.BATCH_HANDLER
        route = _migrated.migrated_route(_migrated.BATCH_ROUTE, path, handler)
        what = "batch request" + (" (messages not emitted)" if no_emit else "")
    else:
        path, lua, route, what = _migrated.PATH, LUA, _migrated.migrated_route(), "migrated request"
    print(f"µs of CPU per {what} (user+system), wrk -t2 -c64, {seconds}s run")
    rules = APP.parent / "rules.json"
    with PhpFpm(max_children=2) as fpm, Tansu() as broker, tempfile.TemporaryDirectory() as tmp:
        assert broker.process is not None
        config = build_config(
            fpm.address,
            APP,
            runtime=build.runtime,
            workers=workers,
            pool_size=1,
            extra_routes=route,
        )
        resources = _migrated.resources(broker.address, Path(tmp), rules)
        text = config + resources + "\n[log]\naccess_log = false\n"
        with _build.strangler(build, text) as proxy:
            assert proxy.process is not None
            pids = child_pids(proxy.process.pid)
            cmd = ["wrk", "-t2", "-c64", "-s", str(lua), proxy.url + path]
            subprocess.run([*cmd, "-d2s"], capture_output=True, check=True)
            tansu = [broker.process.pid, *child_pids(broker.process.pid)]
            before = thread_seconds(pids), cpu_seconds(tansu), _machine()
            wrk0 = resource.getrusage(_CHILDREN)
            out = subprocess.run([*cmd, f"-d{seconds}s"], capture_output=True, text=True)
            wrk1 = resource.getrusage(_CHILDREN)
            after = thread_seconds(pids), cpu_seconds(tansu), _machine()
    n = wrk_requests(out.stdout)
    if "Non-2xx" in out.stdout:
        raise SystemExit(f"cpu: the migrated route answered errors:\n{out.stdout}")
    threads = {k: (after[0][k] - before[0].get(k, 0.0)) / n * 1e6 for k in after[0]}
    ticks = [(b - a) / TICKS for a, b in zip(before[2], after[2], strict=True)]
    wrk = (wrk1.ru_utime + wrk1.ru_stime - wrk0.ru_utime - wrk0.ru_stime) / n * 1e6
    shares = {
        "proxy": sum(threads.values()),
        "broker": (sum(after[1]) - sum(before[1])) / n * 1e6,
        "wrk": wrk,
        "softirq": ticks[6] / n * 1e6,
        "idle": ticks[3] / n * 1e6,
    }
    print(f"{build.name}, {workers} workers: {n / seconds:,.0f} req/s")
    print("  " + "  ".join(f"{k} {v:5.1f}" for k, v in shares.items()))
    print("  proxy: " + "  ".join(f"{k} {v:5.1f}" for k, v in sorted(threads.items())))
    if batch and not no_emit:
        per = BATCH_MESSAGES
        print(f"per message ({per} a request): proxy {shares['proxy'] / per:.2f}", end="")
        print("  " + "  ".join(f"{k} {v / per:.2f}" for k, v in sorted(threads.items())), end="")
        print(f"  broker {shares['broker'] / per:.2f}")


def thread_seconds(pids: list[int]) -> dict[str, float]:
    """CPU seconds of ``pids``' threads so far, summed by kind.

    The kinds: the event loops (each process's main thread), librdkafka's
    threads (named ``rdk:...``), and the others (poll and replay threads).
    """
    kinds = {"event loops": 0.0, "librdkafka": 0.0, "other threads": 0.0}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            name, user, system = _stat(task / "stat")
            seconds = user + system
            if task.name == str(pid):
                kinds["event loops"] += seconds
            elif name.startswith("rdk:"):
                kinds["librdkafka"] += seconds
            else:
                kinds["other threads"] += seconds
    return kinds


def report(name: str, rate: float, user: float, system: float) -> None:
    print(f"{name:<20} {rate:>8,.0f} req/s   user {user:6.1f} µs/req   system {system:6.1f} µs/req")


if __name__ == "__main__":
    main()
