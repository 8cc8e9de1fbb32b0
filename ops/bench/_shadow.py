"""The shadow rows of the benchmark: does mirroring every request slow legacy down?

For each runtime of ``--shadow-runtimes`` (uvloop-compiled, trio and a
baseline's by default) the
legacy validator route (``POST /validate.php`` through PHP-FPM, the body of
``post_validate.lua``) is measured under three strangler configurations of
the same shape, each started for its turn with its own Tansu broker, spool
and SQLite store, the ``[kafka]`` producer and the ``[caches.rules]`` file
cache, as in production:

* ``legacy-only``: the route in ``mode = "legacy"``: the baseline, so that
  what the rows below add is shadowing alone, not a broker or a producer;
* ``shadow``: ``mode = "shadow"``, ``sample_rate = 1.0``, candidate
  ``ops.demo.handlers.validator:validate`` (the byte-identical port) reading the
  rules cache; its outbox is captured, never produced;
* ``shadow-sleep``: the same with ``tests.shadow.candidates:sleeps``, a
  candidate that sleeps 2 s (``timeout = "3s"``).  The default mirror
  (4 jobs per worker, 1000 queued) fills at once and the rest is skipped as
  ``queue_full``: what is measured is whether legacy's answers notice.

Requests/s of ``shadow`` must reach ``--target-shadow`` of ``legacy-only``'s.

Latency is judged at a paced load.  At saturation (64 connections each
sending as fast as answers come back) p99 is set by how the two cores are
shared between wrk, PHP-FPM and the workers: two identical legacy-only runs
differ by up to 10 ms, and nginx's own p99 moved from 33 to 53 ms between two
rounds.  So after its saturated run, ``legacy-only`` and ``shadow-sleep`` are
each measured again with every connection paced (a wrk ``delay()``) to
``PACED_SHARE`` of legacy-only's requests/s in that round: the same offered
load for both, below capacity, where a delay added by the candidate shows
instead of drowning.  p99 of ``shadow-sleep paced`` may exceed that of
``legacy-only paced`` by less than ``--target-shadow-p99-ms``; the saturated
delta is printed too.  After each instance stops (so its store writer
has flushed) the store is read back (``StoreReader.routes()``) and printed
next to the requests the route answered (``strangler_requests_total``):
warm-up and pre-flight included.  Jobs still queued or asleep at shutdown are
cancelled and never recorded ("unrecorded"); requests in flight when wrk
stops are mirrored but, their client gone, not counted as answered, so
"compared" can exceed "answered" by up to the connection count.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ops.bench import _migrated
from ops.bench._report import Row
from ops.services import Tansu

ROUTE = "validate-shadow"


@dataclass(frozen=True)
class ShadowCase:
    """One shadow configuration: the row name and the candidate it mirrors to."""

    name: str
    handler: str | None  # None: the route stays in legacy mode
    timeout: str = "3s"


BASELINE = "legacy-only"
PACED = (BASELINE, "shadow-sleep")  # also measured at a paced load
PACED_SHARE = 0.5  # of legacy-only's saturated requests/s
CASES = (
    ShadowCase(BASELINE, None),
    ShadowCase("shadow", "ops.demo.handlers.validator:validate"),
    ShadowCase("shadow-sleep", "tests.shadow.candidates:sleeps"),
)


def shadow_route(case: ShadowCase) -> str:
    """The ``[[routes]]`` entry for ``/validate.php``: shadow mode, or legacy for the baseline."""
    route = f"""
[[routes]]
name = "{ROUTE}"
match = {{ path = "/validate.php", methods = ["POST"] }}
backend = "php"
"""
    if case.handler is None:
        return route + 'mode = "legacy"\n'
    return (
        route
        + f"""mode = "shadow"
handler = "{case.handler}"
sample_rate = 1.0
timeout = "{case.timeout}"
"""
    )


def paced(name: str) -> str:
    """The row name of a case measured at the paced load."""
    return f"{name} paced"


def paced_script(body_script: str, connections: int, rate: float) -> str:
    """``body_script`` with a ``delay()`` holding ``connections`` to about ``rate`` req/s.

    Each connection waits ``connections / rate`` seconds between requests (wrk
    counts the delay from the previous answer, so the rate reached is a
    little lower, and is printed with the row).
    """
    delay_ms = max(1, round(connections * 1000 / rate))
    return f"{body_script}\nfunction delay()\n  return {delay_ms}\nend\n"


def shadow_resources(bootstrap: str, tmp: Path, rules: Path) -> str:
    """``[kafka]``, ``[caches.rules]`` and ``[shadow]`` with its store under ``tmp``."""
    store = json.dumps(str(tmp / "shadow.sqlite"))
    return _migrated.resources(bootstrap, tmp / "spool", rules) + f"\n[shadow]\nstore = {store}\n"


@contextlib.contextmanager
def shadow_workspace() -> Iterator[tuple[Tansu, Path]]:
    """A broker and a temporary directory (spool, store) for one shadow instance."""
    with Tansu() as broker, tempfile.TemporaryDirectory(prefix="strangler-bench-shadow-") as tmp:
        yield broker, Path(tmp)


@dataclass(frozen=True)
class StoreCounts:
    """What one shadow instance served and what its store holds afterwards."""

    runtime: str
    case: str
    rounds: int  # how many instances these counts add up
    served: int  # answered by the shadow route (warm-up and pre-flight included)
    compared: int = 0
    matched: int = 0
    mismatched: int = 0
    noise_only: int = 0
    candidate_errors: int = 0
    skips: dict[str, int] = field(default_factory=dict)

    @property
    def unrecorded(self) -> int:
        """Answered but neither compared nor skipped: cancelled at shutdown."""
        return max(0, self.served - self.compared - sum(self.skips.values()))

    def line(self) -> str:
        """One line of counts."""
        skips = ", ".join(f"{k} {v:,}" for k, v in sorted(self.skips.items())) or "none"
        return (
            f"answered {self.served:,}: compared {self.compared:,} (matched {self.matched:,}, "
            f"mismatched {self.mismatched:,}, noise-only {self.noise_only:,}, "
            f"candidate errors {self.candidate_errors:,}); skipped: {skips}; "
            f"unrecorded {self.unrecorded:,}"
        )


def served(admin_url: str) -> int:
    """Answers of the shadow route so far (read while the proxy runs)."""
    samples = _migrated.scrape(admin_url)
    return _migrated.metric_sum(samples, "strangler_requests_total", f'route="{ROUTE}"')


def read_store(path: Path, runtime: str, case: str, served: int) -> StoreCounts:
    """The shadow route's totals in the store at ``path`` (no store: nothing recorded)."""
    from shadow import StoreReader

    if not path.is_file():
        return StoreCounts(runtime, case, 1, served)
    with StoreReader.open(path) as reader:
        found = {r.route: r for r in reader.routes()}.get(ROUTE)
    if found is None:
        return StoreCounts(runtime, case, 1, served)
    return StoreCounts(
        runtime,
        case,
        1,
        served,
        found.compared,
        found.matched,
        found.mismatched,
        found.noise_only,
        found.candidate_errors,
        dict(found.skips),
    )


def total(counts: Sequence[StoreCounts]) -> StoreCounts:
    """The counts of several rounds of one (runtime, case), summed."""
    first = counts[0]
    skips: dict[str, int] = {}
    for c in counts:
        for reason, n in c.skips.items():
            skips[reason] = skips.get(reason, 0) + n
    return StoreCounts(
        first.runtime,
        first.case,
        sum(c.rounds for c in counts),
        sum(c.served for c in counts),
        sum(c.compared for c in counts),
        sum(c.matched for c in counts),
        sum(c.mismatched for c in counts),
        sum(c.noise_only for c in counts),
        sum(c.candidate_errors for c in counts),
        skips,
    )


def format_shadow_table(rows: Sequence[Row], runtimes: Sequence[str]) -> str:
    """Legacy-only, shadow and shadow-sleep per runtime, against legacy-only."""
    lines = [("runtime", "config", "req/s", "p50", "p99", "vs legacy", "p99 delta", "errors")]
    for runtime in runtimes:
        for path in (*(c.name for c in CASES), *(paced(name) for name in PACED)):
            row = _row(rows, path, runtime)
            if row is None:
                continue
            base = _row(rows, paced(BASELINE) if path.endswith(" paced") else BASELINE, runtime)
            ratio = f"{row.rps / base.rps:.2f}x" if base and base.rps else "-"
            delta = f"{row.p99_ms - base.p99_ms:+.2f}ms" if base else "-"
            errors = " ".join(f"{k}={v}" for k, v in row.errors.items())
            lines.append(
                (
                    runtime,
                    path,
                    f"{row.rps:,.0f}",
                    f"{row.p50_ms:.2f}ms",
                    f"{row.p99_ms:.2f}ms",
                    ratio,
                    delta,
                    f"! {errors}" if errors else "0",
                )
            )
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if 2 <= i <= 6 else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


def check(
    rows: Sequence[Row],
    runtimes: Sequence[str],
    target_ratio: float,
    target_p99_ms: float,
) -> tuple[int, list[dict[str, Any]]]:
    """Print ok/FAIL per runtime for both targets; exit status 1 on any FAIL."""
    status, verdicts = 0, []
    for runtime in runtimes:
        base = _row(rows, BASELINE, runtime)
        full = _row(rows, "shadow", runtime)
        calm = _row(rows, paced(BASELINE), runtime)
        slow = _row(rows, paced("shadow-sleep"), runtime)
        if base is None or full is None or calm is None or slow is None or not base.rps:
            print(f"FAIL: strangler/{runtime}: shadow rows incomplete, nothing to compare")
            status = 1
            continue
        ratio = full.rps / base.rps
        delta = slow.p99_ms - calm.p99_ms
        passed = {"ratio": ratio >= target_ratio, "p99": delta < target_p99_ms}
        for ok, text in (
            (
                passed["ratio"],
                f"100% shadow reaches {ratio:.2f}x legacy-only req/s "
                f"({full.rps:,.0f} vs {base.rps:,.0f}; --target-shadow {target_ratio})",
            ),
            (
                passed["p99"],
                f"2 s candidate adds {delta:+.2f} ms to p99 at {calm.rps:,.0f} req/s "
                f"({slow.p99_ms:.2f} vs {calm.p99_ms:.2f} ms; --target-shadow-p99-ms "
                f"{target_p99_ms})",
            ),
        ):
            print(f"{'ok' if ok else 'FAIL'}: strangler/{runtime}: {text}")
            status |= 0 if ok else 1
        verdicts.append({"runtime": runtime, "ratio": ratio, "p99_delta_ms": delta, **passed})
    return status, verdicts


def print_store_counts(counts: Sequence[StoreCounts]) -> list[dict[str, Any]]:
    """The store's totals per (runtime, case) over all rounds; returned for the JSON."""
    groups: dict[tuple[str, str], list[StoreCounts]] = {}
    for c in counts:
        groups.setdefault((c.runtime, c.case), []).append(c)
    out = []
    print("\nshadow store (all rounds, warm-up and pre-flight included):")
    for (runtime, case), group in groups.items():
        summed = total(group)
        print(f"  strangler/{runtime} {case}: {summed.line()}")
        out.append(asdict(summed))
    return out


def _row(rows: Sequence[Row], path: str, runtime: str) -> Row | None:
    for row in rows:
        if row.path == path and row.target == "strangler" and row.runtime == runtime:
            return row
    return None
