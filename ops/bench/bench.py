"""Benchmark: nginx + PHP-FPM against strangler in front of the same PHP-FPM.

One PHP-FPM pool (``pm = static``) serves the demo app.  nginx (per-path
config, ``fastcgi_keep_conn on`` with an upstream keepalive pool, as many
worker processes as strangler has) is the reference; strangler runs with each
runtime in turn (``uvloop``, the default; ``asyncio``; ``trio``), and
``uvloop-compiled`` and ``trio-compiled`` are those runtimes on the compiled
build (``setup.py``; built once per run by ``ops.compile``).  ``--baseline
REF`` adds an older build of the project, measured through the same rows in
the same rounds (``_baseline``: its own worktree, virtualenv and compiled
copy, cached under ``var/``), as ``baseline-uvicorn-compiled`` by default.
Each round measures, for nginx and for every runtime (nginx first in odd
rounds, last in even ones; strangler's runtimes in the opposite order in even
rounds, so neither build always runs on a warmer or cooler machine):

* ``validate``: ``POST /validate.php`` with a fixed valid JSON body
  (``post_validate.lua``), the legacy FastCGI pass-through;
* ``validate-1w`` (uvloop, uvloop-compiled and trio-compiled, and the
  baseline; ``--one-worker-runtimes``): the same pass-through through a
  strangler of one worker, its pool taking the PHP children the two workers
  shared.  On a box whose cores PHP-FPM also needs, one Python worker leaves
  PHP more CPU and cache than two (``docs/operations.md``, "Sizing
  workers"), so the pass-through is measured both ways and the pass-through
  targets take the better;
* ``static``: ``GET /assets/style.css``, the static file path;
* ``static-large``: ``GET /assets/catalog.json``, a 200 KiB file, sent from
  the file (``sendfile``) where ``static``'s is read and sent with its head;
* ``migrated``: ``POST /api/v2/validate`` with the same body, answered by the
  in-process port of validate.php (``ops.demo.handlers.validator:validate``),
  rules from a ``file://`` cache, each accepted event produced to a Tansu
  broker with ``delivery = "acked"`` (strangler only; its ratio is against
  nginx's ``validate``, and its answer must equal nginx's byte for byte).
  After each instance the bench checks that every accepted event reached the
  broker (``_migrated.py``);
* ``validate-batch`` (nginx only): ``POST /validate_batch.php`` with one fixed
  batch of 20 events, 15 valid and 5 rejected for different reasons
  (``post_validate_batch.lua``), answered by the PHP original;
* ``batch``: the same batch to ``POST /api/v2/validate-batch``, the in-process
  port (``ops.demo.handlers.batch:validate_batch``), each of the 15 accepted
  events produced as one message with ``delivery = "acked"`` (strangler
  only; its ratio is against nginx's ``validate-batch``, its answer must
  equal nginx's byte for byte).  After each instance the topic is read back
  and counted per event id: each accepted id once per batch answered 200
  (``_migrated.BatchDelivery``).  The table's ``msg/s`` column gives both
  rows in accepted events per second.  ``--no-batch`` (or ``--no-migrated``)
  leaves both out; a baseline whose tree has no batch port is measured
  without it (``Plan.loads_for``);
* ``shadow`` and ``shadow-sleep`` (uvloop-compiled, trio and the baseline,
  ``--shadow-runtimes``): the same ``POST /validate.php`` with the route in
  shadow mode, 100% of it mirrored to the validator port, then to a candidate
  that sleeps 2 s, each configuration in a strangler of its own; compared
  with the ``legacy-only`` row of the same runtime, and the shadow store read
  back after each instance (``_shadow.py``).  ``--shadow`` measures only
  these and the legacy rows they are compared with; ``--no-shadow`` leaves
  them out of the full run.

Every answer is checked against nginx's, byte for byte, before a target is
measured.  A row's ratio is paired: in each round, its requests/s over
nginx's in the same round; the table gives the median of those and each
round's, then every runtime's ratio side by side with the baseline's, and
per path this build's best row over the baseline's, paired the same way
(``_report``).

Targets (``_targets``; each printed ok, FAIL or n/a when its rows were not
measured; 0 turns one off): ``--target-default`` pass-through on the default
runtime (uvloop, either build); ``--target-trio`` pass-through on trio;
``--target-migrated`` the migrated route; ``--target-batch`` the batch route
against nginx's ``validate-batch``; ``--target-shadow`` 100% shadow
against legacy-only, per shadow runtime of this build, and
``--target-shadow-p99-ms``; ``--target-baseline`` each path's best compiled
row of this build against the baseline's; ``--target-ratio`` the best
pass-through of any runtime (off unless given).

PHP-FPM's children are shared fairly: nginx runs only for its turn, since
a kept-alive FastCGI connection pins a PHP-FPM child even while idle
(``docs/operations.md``, "Sizing the pool against PHP-FPM"), and its idle
connections would hold children through strangler's turn.  strangler's pool
takes every child it can share evenly (``pm.max_children // workers`` per
worker).  nginx keeps a quarter of them alive (``--nginx-keepalive``, by
default ``children / (4 * workers)`` per worker); its other requests open a
connection each, which waits in PHP-FPM's backlog for a child.  More kept
connections gave nginx up to 12% more requests/s by starving those waiting
ones: with 2 or 3 per worker of two, its p99 went from 34-40 ms to 0.5-1.8
s, and 3 had wrk time requests out (``docs/log.md``, 2026-12-07).  Access
logs are off on both sides (nginx's reference config has ``access_log
off``).

Exit status: 0 ok; 1 a target was missed, some accepted event did not reach
the broker, or a shadow check failed; 2 some run had errors (non-2xx/3xx or
socket errors); 3 a service, wrk or the baseline's setup failed.  Results go
to ``results/latest.json`` and a chart (``latest.png`` with matplotlib, else
``latest.svg``).

``--soak`` instead drives a few hundred thousand mixed requests through one
strangler per runtime and checks that its workers' memory stays flat
(``_soak.py``).

``--profile`` instead runs the validate load once through one runtime with
cProfile in each worker (``profile_hook/sitecustomize.py``) and prints the
functions where the workers spent their time.

Usage: ``ops/bench/run [--quick] [--rounds N] [--runtimes uvloop,trio] [--baseline e56be82] ...``
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import os
import platform
import re
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `ops` importable
    sys.path.insert(0, str(REPO_ROOT))

from ops.bench import _baseline, _build, _migrated, _shadow, _targets  # noqa: E402
from ops.bench._build import RUNTIMES, Build  # noqa: E402
from ops.bench._report import (  # noqa: E402
    Row,
    Run,
    format_ratios,
    format_table,
    summarize,
    write_chart,
    write_json,
)
from ops.bench._wrk import WrkError, WrkResult, run_wrk, wrk_command  # noqa: E402
from ops.services import Nginx, PhpFpm, ServiceError, Strangler, Tansu, build_config  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
DOC_ROOT = REPO_ROOT / "ops" / "demo" / "app" / "public"
LUA_SCRIPT = BENCH_DIR / "post_validate.lua"
BATCH_SCRIPT = BENCH_DIR / "post_validate_batch.lua"
PROFILE_HOOK = BENCH_DIR / "profile_hook"
RULES = REPO_ROOT / "ops" / "demo" / "app" / "rules.json"


@dataclass(frozen=True)
class Load:
    """What one measured path sends: URL path, and the wrk script (None: plain GET).

    ``reference`` names the nginx load whose answer and requests/s it is
    compared with; ``on_nginx`` is False for paths only strangler serves,
    ``on_strangler`` False for those only nginx serves (the PHP original of
    a migrated route).
    """

    name: str
    path: str
    script: Path | None
    reference: str = ""
    on_nginx: bool = True
    on_strangler: bool = True

    @property
    def compared_with(self) -> str:
        """The nginx load this one is measured against."""
        return self.reference or self.name


VALIDATE = Load("validate", "/validate.php", LUA_SCRIPT)
STATIC = Load("static", "/assets/style.css", None)
STATIC_LARGE = Load("static-large", "/assets/catalog.json", None)
VALIDATE_1W = Load("validate-1w", VALIDATE.path, LUA_SCRIPT, reference="validate", on_nginx=False)
MIGRATED = Load("migrated", _migrated.PATH, LUA_SCRIPT, reference="validate", on_nginx=False)
VALIDATE_BATCH = Load("validate-batch", "/validate_batch.php", BATCH_SCRIPT, on_strangler=False)
BATCH = Load(
    "batch", _migrated.BATCH_PATH, BATCH_SCRIPT, reference="validate-batch", on_nginx=False
)
SHADOW_LOADS = tuple(
    Load(case.name, VALIDATE.path, LUA_SCRIPT, reference="validate", on_nginx=False)
    for case in _shadow.CASES
)


@dataclass(frozen=True)
class Plan:
    """Everything that decides what is measured, from the command line."""

    runtimes: tuple[str, ...]
    loads: tuple[Load, ...]
    rounds: int
    duration: int  # seconds (wrk takes whole seconds)
    warmup: int
    threads: int
    connections: int
    workers: int  # nginx's worker processes
    strangler_workers: int  # the same unless --strangler-workers says otherwise
    php_children: int
    nginx_keepalive: int  # idle FastCGI connections per nginx worker
    pool_size: int  # FastCGI connections per strangler worker
    unix_socket: bool
    target_ratio: float | None
    target_migrated: float = 0.0  # 0: not checked
    target_batch: float = 0.0  # the batch route over nginx's validate-batch
    with_nginx: bool = True  # False when profiling one runtime
    shadow_runtimes: tuple[str, ...] = ()  # runtimes also measured in shadow mode
    target_shadow: float = 0.85  # shadow req/s over legacy-only req/s, at least
    target_shadow_p99_ms: float = 1.0  # p99 added by a sleeping candidate, below
    one_worker_runtimes: tuple[str, ...] = ()  # runtimes also measured with one worker
    one_worker_pool: int = 0  # its FastCGI connections: the PHP children two workers shared
    target_default: float = 0.0  # pass-through of the default runtime over nginx's
    target_trio: float = 0.0  # pass-through of trio over nginx's
    target_baseline: float = 0.0  # each path's best compiled row over the baseline's
    baseline_ref: str | None = None  # --baseline
    baselines: tuple[Build, ...] = ()  # its runtimes, once prepared (``_baseline``)

    def build(self, runtime: str) -> Build:
        """What ``runtime`` runs (the baseline's runtimes once prepared)."""
        return _build.resolve(runtime, self.baselines)

    def loads_for(self, runtime: str) -> tuple[Load, ...]:
        """The loads ``runtime`` is measured on: the batch route only where the build has it."""
        if self.build(runtime).has_batch_handler:
            return self.strangler_loads
        return tuple(load for load in self.strangler_loads if load is not BATCH)

    def serves_batch(self, runtime: str) -> bool:
        """Whether strangler on ``runtime`` serves (and is measured on) the batch route."""
        return BATCH in self.loads_for(runtime)

    @property
    def new_runtimes(self) -> tuple[str, ...]:
        """The runtimes of this build (the baseline's left out)."""
        return tuple(r for r in self.runtimes if not _build.is_baseline(r))

    @property
    def baseline_runtimes(self) -> tuple[str, ...]:
        """The runtimes of the baseline build."""
        return tuple(r for r in self.runtimes if _build.is_baseline(r))

    @property
    def nginx_loads(self) -> tuple[Load, ...]:
        """The loads nginx is measured on."""
        return tuple(load for load in self.loads if load.on_nginx) if self.with_nginx else ()

    @property
    def strangler_loads(self) -> tuple[Load, ...]:
        """The loads strangler is measured on."""
        return tuple(load for load in self.loads if load.on_strangler)

    @property
    def migrated(self) -> bool:
        """Whether strangler needs a migrated route, its broker and its cache."""
        return MIGRATED in self.loads or self.batch

    @property
    def batch(self) -> bool:
        """Whether strangler serves the migrated batch route."""
        return BATCH in self.loads

    @property
    def total_runs(self) -> int:
        """wrk runs in the whole benchmark (warm-ups not counted)."""
        shadow = len(self.shadow_runtimes) * (len(SHADOW_LOADS) + len(_shadow.PACED))
        mine = sum(len(self.loads_for(r)) for r in self.runtimes) + len(self.one_worker_runtimes)
        return self.rounds * (len(self.nginx_loads) + mine + shadow)


class Progress:
    """Numbered progress lines: ``[3/10] round 1 strangler uvloop validate 10s ...``."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0

    def step(self, text: str) -> None:
        """Announce the next measured run."""
        self.done += 1
        print(f"[{self.done}/{self.total}] {text} ...", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    p = argparse.ArgumentParser(prog="ops/bench/run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 s runs, 1 round, short warm-up")
    p.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    p.add_argument("--connections", "-c", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--threads", "-t", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--rounds", type=int, default=2, help="rounds over all targets (2)")
    p.add_argument("--workers", type=int, default=2, help="nginx workers = strangler workers (2)")
    p.add_argument(
        "--strangler-workers", type=int, help="strangler workers, when not --workers (measured)"
    )
    p.add_argument("--php-children", type=int, default=8, help="PHP-FPM pm.max_children (8)")
    p.add_argument(
        "--nginx-keepalive",
        type=_at_least_one,
        help="idle FastCGI connections per nginx worker (default: a quarter of the PHP "
        "children, shared over the workers)",
    )
    p.add_argument(
        "--one-worker-runtimes",
        default="uvloop,uvloop-compiled,trio-compiled",
        help="runtimes whose pass-through is also measured with one worker, the "
        "config's default (uvloop,uvloop-compiled,trio-compiled, and the baseline's; "
        "empty for none)",
    )
    p.add_argument(
        "--runtimes",
        default=",".join(RUNTIMES),
        help=f"comma-separated runtimes ({','.join(RUNTIMES)})",
    )
    p.add_argument(
        "--baseline",
        metavar="REF",
        help="also measure the build at git REF (e.g. e56be82) through the same rows",
    )
    p.add_argument(
        "--baseline-runtimes",
        default=",".join(_baseline.DEFAULT_RUNTIMES),
        help="the baseline's runtimes, in its own config's names "
        f"({','.join(_baseline.DEFAULT_RUNTIMES)}; reported as baseline-<runtime>)",
    )
    p.add_argument("--no-static", action="store_true", help="skip the static file rows")
    p.add_argument("--no-migrated", action="store_true", help="skip the migrated route rows")
    p.add_argument("--no-batch", action="store_true", help="skip the batch rows (both sides)")
    p.add_argument(
        "--shadow", action="store_true", help="only the shadow rows and their legacy rows"
    )
    p.add_argument("--no-shadow", action="store_true", help="skip the shadow rows")
    p.add_argument(
        "--shadow-runtimes",
        default="uvloop-compiled,trio",
        help="runtimes with shadow rows (uvloop-compiled,trio, and the baseline's)",
    )
    p.add_argument(
        "--target-shadow",
        type=float,
        default=0.85,
        help="fail when 100%% shadow req/s is below this share of legacy-only (0.85)",
    )
    p.add_argument(
        "--target-shadow-p99-ms",
        type=float,
        default=1.0,
        help="fail when the 2 s candidate adds this much p99 or more, ms (1.0)",
    )
    p.add_argument("--unix-socket", action="store_true", help="PHP-FPM on a unix socket")
    p.add_argument(
        "--target-ratio", type=float, help="fail when the best pass-through ratio is below"
    )
    p.add_argument(
        "--target-default",
        type=float,
        default=0.9,
        help=f"fail when {_build.DEFAULT_RUNTIME}'s best pass-through ratio is below (0.9)",
    )
    p.add_argument(
        "--target-trio",
        type=float,
        default=0.6,
        help="fail when trio's best pass-through ratio is below (0.6)",
    )
    p.add_argument(
        "--target-migrated",
        type=float,
        default=2.2,
        help="fail when the best migrated ratio (vs nginx validate) is below (2.2)",
    )
    p.add_argument(
        "--target-batch",
        type=float,
        default=2.0,
        help="fail when the best batch ratio (vs nginx validate-batch) is below (2.0)",
    )
    p.add_argument(
        "--target-baseline",
        type=float,
        default=1.0,
        help="fail when a path's best compiled row is below this share of the baseline's (1.0)",
    )
    p.add_argument("--soak", action="store_true", help="memory soak instead of the benchmark")
    p.add_argument(
        "--soak-requests", type=int, default=300_000, help="soak requests per runtime (300000)"
    )
    p.add_argument(
        "--soak-runtimes",
        default="uvloop-compiled,trio",
        help="runtimes soaked, in turn (uvloop-compiled,trio, and the baseline's)",
    )
    p.add_argument("--soak-max-growth", type=float, default=5.0, help="RSS growth limit, %% (5)")
    p.add_argument(
        "--soak-trace", action="store_true", help="tracemalloc in the workers: print what grew"
    )
    p.add_argument("--output", type=Path, default=BENCH_DIR / "results", help="results dir")
    p.add_argument("--profile", metavar="RUNTIME", help="cProfile the workers of RUNTIME")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.rounds = 3, 1
    if args.shadow and args.no_shadow:
        p.error("--shadow and --no-shadow exclude each other")
    args.baseline_names = (
        _baseline.names(_runtimes(args.baseline_runtimes)) if args.baseline else ()
    )
    return args


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def make_plan(args: argparse.Namespace) -> Plan:
    """Check the arguments and size the pools against ``pm.max_children``."""
    base = args.baseline_names
    runtimes = (*_runtimes(args.runtimes), *base)
    shadow: tuple[str, ...] = ()
    if not (args.no_shadow or args.profile or args.soak):
        shadow = (*_runtimes(args.shadow_runtimes), *base)
    shadow = tuple(r for r in shadow if r in runtimes)
    if args.shadow:
        runtimes = shadow
    if args.soak:
        runtimes = tuple(dict.fromkeys((*_runtimes(args.soak_runtimes), *base)))
    if args.profile:
        runtimes = (args.profile,)
    known = (*RUNTIMES, *base)
    unknown = [r for r in runtimes if r not in known]
    if unknown or not runtimes:
        sys.exit(f"bench: unknown runtime(s) {unknown}; choose from {', '.join(known)}")
    keepalive = args.nginx_keepalive or max(1, args.php_children // (4 * args.workers))
    ours = args.strangler_workers or args.workers
    pool_size = args.php_children // ours
    if pool_size < 1:
        sys.exit(f"bench: {args.php_children} PHP children are too few for {ours} workers")
    one_worker: tuple[str, ...] = ()
    if not (args.profile or args.shadow or args.soak) and ours > 1:
        chosen = (*_runtimes(args.one_worker_runtimes), *base)
        one_worker = tuple(r for r in chosen if r in runtimes)
    return Plan(
        runtimes=runtimes,
        loads=choose_loads(args),
        rounds=1 if args.profile else args.rounds,
        duration=args.duration,
        warmup=min(2, max(1, args.duration // 5)),
        threads=args.threads,
        connections=args.connections,
        workers=args.workers,
        strangler_workers=ours,
        php_children=args.php_children,
        nginx_keepalive=keepalive,
        pool_size=pool_size,
        unix_socket=args.unix_socket,
        target_ratio=args.target_ratio,
        target_migrated=args.target_migrated,
        target_batch=args.target_batch,
        with_nginx=not args.profile,
        shadow_runtimes=shadow,
        target_shadow=args.target_shadow,
        target_shadow_p99_ms=args.target_shadow_p99_ms,
        one_worker_runtimes=one_worker,
        one_worker_pool=pool_size * ours,
        target_default=args.target_default,
        target_trio=args.target_trio,
        target_baseline=args.target_baseline,
        baseline_ref=args.baseline,
    )


def _runtimes(text: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in text.split(",") if r.strip())


def choose_loads(args: argparse.Namespace) -> tuple[Load, ...]:
    """The measured paths, from ``--no-static``, ``--no-migrated``, ``--no-batch``, ``--shadow``."""
    if args.profile or args.shadow:
        return (VALIDATE,)
    loads = [VALIDATE]
    loads += [] if args.no_static else [STATIC, STATIC_LARGE]
    loads += [] if args.no_migrated else [MIGRATED]
    loads += [] if args.no_migrated or args.no_batch else [VALIDATE_BATCH, BATCH]
    return tuple(loads)


def validate_body(script: Path = LUA_SCRIPT) -> bytes:
    """The JSON body wrk posts, read from the Lua script (one source of truth)."""
    found = re.search(r"^wrk\.body = '(.*)'$", script.read_text(), re.MULTILINE)
    if found is None:
        sys.exit(f"bench: no `wrk.body = '...'` line in {script}")
    return found[1].encode()


def fetch(base_url: str, load: Load) -> tuple[int, bytes]:
    """One request of ``load`` (status and body), for the pre-flight check."""
    host, _, port = base_url.removeprefix("http://").rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        if load.script is None:
            conn.request("GET", load.path)
        else:
            headers = {"Content-Type": "application/json"}
            conn.request("POST", load.path, body=validate_body(load.script), headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def preflight(base_url: str, load: Load, reference: dict[str, bytes]) -> None:
    """Refuse to measure a target whose answer is not a 200 identical to nginx's."""
    status, body = fetch(base_url, load)
    if status != 200:
        raise ServiceError("bench", f"{base_url}{load.path} answered {status}: {body[:200]!r}")
    expected = reference.setdefault(load.compared_with, body)
    if body != expected:
        raise ServiceError("bench", f"{base_url}{load.path} differs from nginx: {body[:200]!r}")


def measure(plan: Plan, base_url: str, load: Load) -> WrkResult:
    """A short warm-up run (discarded), then the measured one."""
    url = base_url + load.path
    for duration in (plan.warmup, plan.duration):
        command = wrk_command(
            url,
            threads=plan.threads,
            connections=plan.connections,
            duration=duration,
            script=load.script,
        )
        result = run_wrk(command, duration)
    return result


def measure_paced(plan: Plan, base_url: str, load: Load, rate: float, tmp: Path) -> WrkResult:
    """One run with every connection paced so that together they offer about ``rate`` req/s."""
    assert load.script is not None
    script = tmp / f"paced-{load.script.name}"
    script.write_text(_shadow.paced_script(load.script.read_text(), plan.connections, rate))
    command = wrk_command(
        base_url + load.path,
        threads=plan.threads,
        connections=plan.connections,
        duration=plan.duration,
        script=script,
    )
    return run_wrk(command, plan.duration)


def measure_target(
    plan: Plan,
    base_url: str,
    target: str,
    runtime: str,
    round_: int,
    progress: Progress,
    loads: Sequence[Load] | None = None,
) -> list[Run]:
    """Every load of the plan (or ``loads``) against one running target."""
    runs = []
    for load in plan.strangler_loads if loads is None else loads:
        progress.step(f"round {round_} {target} {runtime} {load.name} {plan.duration:g}s")
        result = measure(plan, base_url, load)
        runs.append(Run(load.name, target, runtime, round_, result))
        flag = f"  ! errors {result.errors}" if result.errors else ""
        print(f"      {result.requests_per_second:,.0f} req/s{flag}", flush=True)
    return runs


def strangler_for(
    plan: Plan,
    php: PhpFpm,
    runtime: str,
    env: dict[str, str],
    resources: str = "",
    routes: str | None = None,
    *,
    one_worker: bool = False,
) -> Strangler:
    """A strangler config for ``runtime`` on the shared PHP-FPM, access log off.

    ``resources`` (the ``[kafka]`` and ``[caches]`` tables) comes with the
    migrated routes (the batch one when the plan measures it), unless
    ``routes`` gives the routes in front of the catch-all legacy one.
    ``one_worker``: one worker with the whole pool.
    """
    if routes is None:
        batch = _migrated.batch_route() if plan.serves_batch(runtime) else ""
        routes = _migrated.migrated_route() + batch if resources else ""
    build = plan.build(runtime)
    config = build_config(
        php.address,
        DOC_ROOT,
        runtime=build.runtime,
        workers=1 if one_worker else plan.strangler_workers,
        pool_size=plan.one_worker_pool if one_worker else plan.pool_size,
        extra_routes=routes,
    )
    config += resources + "\n[log]\naccess_log = false\n"
    return _build.strangler(build, config, env)


@contextlib.contextmanager
def strangler_target(
    plan: Plan,
    php: PhpFpm,
    runtime: str,
    env: dict[str, str],
    deliveries: list[dict[str, object]],
    reference: dict[str, bytes],
) -> Iterator[Strangler]:
    """strangler for one runtime; with the migrated routes, its own broker and spool.

    On a clean exit the producer's counters (read before stopping) and the
    topic's messages (read after) are appended to ``deliveries``: the batch
    route's counted per accepted id of nginx's answer to the batch (in
    ``reference``), the migrated route's being all the others.
    """
    if not plan.migrated:
        with strangler_for(plan, php, runtime, env) as proxy:
            yield proxy
        return
    with Tansu() as broker, tempfile.TemporaryDirectory(prefix="strangler-bench-") as tmp:
        text = _migrated.resources(broker.address, Path(tmp) / "spool", RULES)
        with strangler_for(plan, php, runtime, env, text) as proxy:
            yield proxy
            delivery = _migrated.delivery_report(proxy.admin_url)
            serves_batch = plan.serves_batch(runtime)
            answered, dropped = _migrated.batch_counts(proxy.admin_url) if serves_batch else (0, 0)
        # Stopped: whatever was queued is delivered or spooled; now count the topic.
        counts = _migrated.count_keys(broker.address)
        ids = _migrated.accepted_ids(reference[BATCH.compared_with]) if serves_batch else ()
        others, per_id = _migrated.split_counts(counts, ids)
        delivery = dataclasses.replace(delivery, consumed=others)
        print(f"      {runtime} {delivery.line()}", flush=True)
        entry: dict[str, object] = {"runtime": runtime, **delivery.to_json()}
        problems = delivery.problems()
        if serves_batch:
            batch = _migrated.BatchDelivery(ids, answered, dropped, per_id)
            print(f"      {runtime} {batch.line()}", flush=True)
            entry["batch"] = batch.to_json()
            problems += batch.problems()
        deliveries.append({**entry, "ok": not problems})


def measure_shadow(
    plan: Plan,
    php: PhpFpm,
    runtime: str,
    env: dict[str, str],
    round_: int,
    progress: Progress,
    reference: dict[str, bytes],
    counts: list[_shadow.StoreCounts],
) -> list[Run]:
    """Each shadow configuration of ``runtime`` in a strangler (and broker) of its own.

    The store is read once the instance has stopped and its writer flushed.
    """
    runs: list[Run] = []
    rate = 0.0  # the paced load: a share of this round's legacy-only req/s
    for case, load in zip(_shadow.CASES, SHADOW_LOADS, strict=True):
        with _shadow.shadow_workspace() as (broker, tmp):
            text = _shadow.shadow_resources(broker.address, tmp, RULES)
            route = _shadow.shadow_route(case)
            with strangler_for(plan, php, runtime, env, text, route) as proxy:
                preflight(proxy.url, load, reference)
                [run] = measure_target(
                    plan, proxy.url, "strangler", runtime, round_, progress, [load]
                )
                runs.append(run)
                if case.name in _shadow.PACED:
                    if not rate:
                        rate = run.result.requests_per_second * _shadow.PACED_SHARE
                    step = f"round {round_} strangler {runtime} {case.name} at {rate:,.0f}/s"
                    progress.step(step)
                    result = measure_paced(plan, proxy.url, load, rate, tmp)
                    print(f"      {result.requests_per_second:,.0f} req/s", flush=True)
                    runs.append(Run(_shadow.paced(case.name), "strangler", runtime, round_, result))
                served = _shadow.served(proxy.admin_url)
            if case.handler is None:
                continue  # the baseline compares nothing
            found = _shadow.read_store(tmp / "shadow.sqlite", runtime, case.name, served)
        print(f"      {runtime} {case.name} store: {found.line()}", flush=True)
        counts.append(found)
    return runs


def run_rounds(
    plan: Plan,
    php: PhpFpm,
    env: dict[str, str],
    deliveries: list[dict[str, object]],
    shadow_counts: list[_shadow.StoreCounts],
    reference: dict[str, bytes] | None = None,
) -> list[Run]:
    """All rounds: nginx and each runtime (started for its turn, stopped after).

    Odd rounds measure nginx first (in round 1 its answers become the
    reference strangler's are checked against), even rounds last, and the
    runtimes in reverse, so a machine that drifts faster or slower during a
    run favours neither nginx nor one build (the baseline runs last in odd
    rounds) in the per-round ratios (see ``_report``).  A runtime with
    shadow rows is then started again for each shadow configuration.
    nginx's answers are kept in ``reference``, by load.
    """
    progress = Progress(plan.total_runs)
    reference = {} if reference is None else reference
    runs: list[Run] = []
    for round_ in range(1, plan.rounds + 1):
        nginx_last = round_ % 2 == 0
        if not nginx_last:
            runs += measure_nginx(plan, php, reference, round_, progress)
        for runtime in reversed(plan.runtimes) if nginx_last else plan.runtimes:
            with strangler_target(plan, php, runtime, env, deliveries, reference) as proxy:
                loads = plan.loads_for(runtime)
                for load in loads:
                    preflight(proxy.url, load, reference)
                runs += measure_target(
                    plan, proxy.url, "strangler", runtime, round_, progress, loads
                )
            if runtime in plan.one_worker_runtimes:
                with strangler_for(plan, php, runtime, env, one_worker=True) as proxy:
                    preflight(proxy.url, VALIDATE_1W, reference)
                    runs += measure_target(
                        plan, proxy.url, "strangler", runtime, round_, progress, [VALIDATE_1W]
                    )
            if runtime in plan.shadow_runtimes:
                runs += measure_shadow(
                    plan, php, runtime, env, round_, progress, reference, shadow_counts
                )
        if nginx_last:
            runs += measure_nginx(plan, php, reference, round_, progress)
    return runs


def measure_nginx(
    plan: Plan, php: PhpFpm, reference: dict[str, bytes], round_: int, progress: Progress
) -> list[Run]:
    """nginx's loads for one round (its answers checked against the reference first).

    nginx is started for its turn and stopped after it, so that its idle kept
    connections hold none of PHP-FPM's children while strangler is measured.
    """
    if not plan.nginx_loads:
        return []
    with Nginx(
        php.address,
        DOC_ROOT,
        style="per_path",
        keepalive=plan.nginx_keepalive,
        workers=plan.workers,
    ) as nginx:
        for load in plan.nginx_loads:
            preflight(nginx.url, load, reference)
        return measure_target(plan, nginx.url, "nginx", "-", round_, progress, plan.nginx_loads)


@contextlib.contextmanager
def services(plan: Plan) -> Iterator[PhpFpm]:
    """PHP-FPM for the whole benchmark; stopped on exit, Ctrl-C included."""
    with PhpFpm(max_children=plan.php_children, unix_socket=plan.unix_socket) as php:
        yield php


def metadata(plan: Plan, argv: Sequence[str]) -> dict[str, object]:
    """How the numbers were made, for the JSON file."""
    return {
        "command": "ops/bench/run " + " ".join(argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": sys.version},
        "wrk": wrk_command(
            "URL",
            threads=plan.threads,
            connections=plan.connections,
            duration=plan.duration,
            script=None,
        ),
        "plan": {k: v for k, v in plan.__dict__.items() if k not in ("loads", "baselines")},
        "builds": [plan.build(r).to_json() for r in plan.runtimes],
        "baseline": (
            _baseline.describe(plan.baseline_ref, plan.baselines) if plan.baseline_ref else None
        ),
        "loads": [load.__dict__ | {"script": str(load.script or "")} for load in plan.loads],
        "php_fpm": {"pm": "static", "max_children": plan.php_children},
        "nginx": {
            "workers": plan.workers,
            "keepalive_per_worker": plan.nginx_keepalive,
            "fastcgi_keep_conn": True,
            "style": "per_path",
        },
    }


def report(
    plan: Plan,
    runs: list[Run],
    output: Path,
    argv: Sequence[str],
    load_before: tuple[float, float, float],
    deliveries: list[dict[str, object]],
    shadow_counts: Sequence[_shadow.StoreCounts] = (),
    messages: dict[str, int] | None = None,
) -> int:
    """Print the tables, write JSON and chart, check the targets, return the exit status.

    ``messages``: the events accepted per request of the batch paths (``msg/s``).
    """
    loads = (*plan.loads, *(SHADOW_LOADS if plan.shadow_runtimes else ()))
    loads += (VALIDATE_1W,) if plan.one_worker_runtimes else ()
    rows = summarize(runs, {load.name: load.compared_with for load in loads})
    paced = [_shadow.paced(name) for name in _shadow.PACED]  # fixed load: no speed to compare
    versus = _targets.compare_with_baseline(runs, rows, plan.runtimes, paced)
    print()
    print(format_table(rows, messages))
    print("\nratio to nginx per runtime (median of the per-round ratios)")
    print(format_ratios(rows, plan.runtimes, versus))
    meta = metadata(plan, argv)
    meta["loadavg"] = {"before": load_before, "after": os.getloadavg()}
    meta["broker"] = deliveries
    shadow_status = 0
    if plan.shadow_runtimes:
        shadow_status, meta["shadow"] = report_shadow(plan, rows, shadow_counts)
    print()
    verdicts = _targets.check(
        rows,
        versus,
        ratio=plan.target_ratio,
        default=plan.target_default,
        trio=plan.target_trio,
        migrated=plan.target_migrated,
        baseline=plan.target_baseline,
        batch=plan.target_batch,
    )
    for verdict in verdicts:
        print(verdict.line())
    meta["targets"] = [dataclasses.asdict(v) for v in verdicts]
    write_json(output / "latest.json", meta, runs, rows, versus, messages)
    title = (
        f"strangler vs nginx, {_workers(plan)}, wrk -c{plan.connections} "
        f"-d{plan.duration:g}s, median of {plan.rounds} rounds, {meta['date']}"
    )
    chart = write_chart(output, rows, title, messages)
    print(f"\nwrote {output / 'latest.json'} and {chart}")
    status = 1 if any(v.failed for v in verdicts) else 0
    lost = [d for d in deliveries if not d["ok"]]
    for d in lost:
        print(f"FAIL: strangler/{d['runtime']}: not every accepted event reached the broker: {d}")
    status |= (1 if lost else 0) | shadow_status
    flagged = [r for r in rows if r.errors]
    for row in flagged:
        print(f"ERRORS: {row.path} {row.label}: {row.errors} (numbers not trustworthy)")
    return status or (2 if flagged else 0)


def report_shadow(
    plan: Plan, rows: Sequence[Row], counts: Sequence[_shadow.StoreCounts]
) -> tuple[int, dict[str, object]]:
    """The shadow table, the store's counts and the two checks of this build (ok/FAIL)."""
    print(f"\nshadow mode on POST /validate.php, against legacy-only (median of {plan.rounds}):")
    print(_shadow.format_shadow_table(rows, plan.shadow_runtimes))
    stored = _shadow.print_store_counts(counts)
    print()
    ours = [r for r in plan.shadow_runtimes if not _build.is_baseline(r)]
    status, verdicts = _shadow.check(rows, ours, plan.target_shadow, plan.target_shadow_p99_ms)
    return status, {"store": stored, "checks": verdicts}


def profile(plan: Plan, php: PhpFpm, out: Path) -> None:
    """Run the validate load through one runtime with cProfile in each worker."""
    import pstats

    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("worker-*.prof"):
        old.unlink()
    env = {"STRANGLER_BENCH_PROFILE": str(out), "PYTHONPATH": str(PROFILE_HOOK)}
    runtime = plan.runtimes[0]
    with strangler_for(plan, php, runtime, env) as proxy:
        preflight(proxy.url, VALIDATE, {})
        runs = measure_target(plan, proxy.url, "strangler", runtime, 1, Progress(1))
    # The workers write their profiles while the supervisor stops them (on leaving ``with``).
    files = sorted(str(p) for p in out.glob("worker-*.prof"))
    if not files:
        raise ServiceError("bench", f"no profile written to {out}")
    stats = pstats.Stats(*files)
    print(f"\nprofile of {len(files)} workers ({runs[0].result.requests} requests): {out}")
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(r"(proxy|legacy_adapter)/", 30)


def warn_if_busy() -> tuple[float, float, float]:
    """The load average; warn when other processes already keep the CPUs busy."""
    load = os.getloadavg()
    if load[0] > 0.5 * (os.cpu_count() or 1):
        print(f"bench: WARNING load average {load[0]:.2f} before start: numbers will be noisy")
    return load


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so every service is stopped on the way out."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or the profile) and return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    plan = make_plan(args)
    _stop_on_sigterm()
    load_before = warn_if_busy()
    try:
        plan = prepare_builds(plan, plan.runtimes)
    except _baseline.BaselineError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 3
    if args.soak:
        from ops.bench._soak import soak

        return soak(args, plan, argv, load_before)
    print(
        f"bench: php-fpm {plan.php_children} children; nginx {plan.workers} workers x keepalive "
        f"{plan.nginx_keepalive}; strangler {plan.strangler_workers} workers "
        f"x pool {plan.pool_size}"
        + (f" (and 1 x pool {plan.one_worker_pool})" if plan.one_worker_runtimes else "")
        + "; "
        f"runtimes: {', '.join(plan.runtimes)}; "
        f"shadow rows: {', '.join(plan.shadow_runtimes) or 'none'}; "
        f"{plan.total_runs} runs of {plan.duration:g}s (+{plan.warmup:g}s warm-up)",
        flush=True,
    )
    deliveries: list[dict[str, object]] = []
    shadow_counts: list[_shadow.StoreCounts] = []
    reference: dict[str, bytes] = {}
    try:
        with services(plan) as php:
            if args.profile:
                profile(plan, php, Path(tempfile.gettempdir()) / "strangler-bench-profile")
                return 0
            runs = run_rounds(plan, php, {}, deliveries, shadow_counts, reference)
    except (ServiceError, WrkError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("bench: interrupted; services stopped", file=sys.stderr)
        return 130
    messages = messages_per_request(plan, reference)
    return report(plan, runs, args.output, argv, load_before, deliveries, shadow_counts, messages)


def messages_per_request(plan: Plan, reference: dict[str, bytes]) -> dict[str, int]:
    """The events accepted per request of each batch load, from nginx's answer to it.

    On strangler's batch route each one is a message produced to the broker.
    """
    if not plan.batch or VALIDATE_BATCH.name not in reference:
        return {}
    accepted = len(_migrated.accepted_ids(reference[VALIDATE_BATCH.name]))
    return {VALIDATE_BATCH.name: accepted, BATCH.name: accepted}


def prepare_builds(plan: Plan, names: Sequence[str]) -> Plan:
    """Build what ``names`` run (the compiled copy, the baseline) before any service starts.

    Raises:
        _baseline.BaselineError: the baseline could not be set up.
    """
    _build.prepare(names)
    if plan.baseline_ref is None:
        return plan
    wanted = [n.removeprefix(_build.BASELINE) for n in names if _build.is_baseline(n)]
    builds = _baseline.prepare(plan.baseline_ref, tuple(dict.fromkeys(wanted)))
    return dataclasses.replace(plan, baselines=builds)


def _workers(plan: Plan) -> str:
    if plan.strangler_workers == plan.workers:
        return f"{plan.workers} workers"
    return f"nginx {plan.workers} workers, strangler {plan.strangler_workers}"


if __name__ == "__main__":
    sys.exit(main())
