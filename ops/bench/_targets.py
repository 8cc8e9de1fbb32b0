"""The benchmark's targets: each a flag, checked against the summary, printed ok or FAIL.

A target whose rows were not measured (``--runtimes`` without trio, a
``--no-migrated`` run) prints ``n/a`` and does not fail the run.  The
targets judge this build only: a baseline's rows (``_build.is_baseline``)
are never its best row, and are only what ``--target-baseline`` compares with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ops.bench._build import DEFAULT_RUNTIME, family, is_baseline, is_compiled
from ops.bench._report import Row, Run, Versus, versus_baseline

Outcome = Literal["ok", "FAIL", "n/a"]
PASS_THROUGH = ("validate", "validate-1w")  # one path, two worker counts: the better counts


@dataclass(frozen=True)
class Verdict:
    """One target's outcome and the sentence that explains it."""

    flag: str
    target: float
    outcome: Outcome
    text: str

    def line(self) -> str:
        """``ok: ... (--flag target)``."""
        return f"{self.outcome}: {self.text} ({self.flag} {self.target:g})"

    @property
    def failed(self) -> bool:
        """Whether this target was measured and missed."""
        return self.outcome == "FAIL"


def best_ratio(
    rows: Sequence[Row],
    paths: Sequence[str],
    target: float,
    flag: str,
    what: str,
    runtimes: Callable[[str], bool] = lambda name: True,
    reference: str = "validate",
) -> Verdict:
    """Whether the best row of this build on ``paths`` (of ``runtimes``) reaches ``target``.

    The best row of any of ``paths`` counts: the pass-through is one path
    measured with two worker counts.  A row with errors never counts.
    """
    candidates = [
        r
        for r in rows
        if r.path in paths
        and r.target == "strangler"
        and not is_baseline(r.runtime)
        and runtimes(r.runtime)
    ]
    if not candidates:
        return Verdict(flag, target, "n/a", f"{what}: not measured")
    clean = [r for r in candidates if not r.errors and r.ratio is not None]
    if not clean:
        return Verdict(flag, target, "FAIL", f"{what}: every row had errors")
    best = max(clean, key=lambda r: r.ratio or 0.0)
    ratio = best.ratio or 0.0
    outcome: Outcome = "ok" if ratio >= target else "FAIL"
    text = f"{what}: {best.runtime} reaches {ratio:.2f}x nginx's {reference} on {best.path}"
    return Verdict(flag, target, outcome, text)


def against_baseline(versus: Sequence[Versus], target: float, flag: str) -> list[Verdict]:
    """One verdict per path: this build's best row over the baseline's, at least ``target``."""
    out = []
    for v in versus:
        what = f"{v.path}: {v.runtime} against {v.baseline}"
        if v.ratio is None:
            out.append(Verdict(flag, target, "n/a", f"{what}: no round measured both"))
            continue
        rounds = " ".join(f"{r:.2f}" for r in v.round_ratios)
        outcome: Outcome = "ok" if v.ratio >= target else "FAIL"
        text = f"{what}: {v.ratio:.2f}x its requests/s (rounds {rounds})"
        out.append(Verdict(flag, target, outcome, text))
    return out


def compare_with_baseline(
    runs: Sequence[Run], rows: Sequence[Row], runtimes: Sequence[str], skip: Sequence[str] = ()
) -> list[Versus]:
    """Per path a baseline runtime measured (but ``skip``), this build's best compiled row.

    Only compiled rows stand against the baseline's, unless no compiled
    runtime of this build was measured.
    """
    ours = [r for r in runtimes if not is_baseline(r)]
    ours = [r for r in ours if is_compiled(r)] or ours
    versus = []
    for baseline in (r for r in runtimes if is_baseline(r)):
        paths = [r.path for r in rows if r.runtime == baseline and r.path not in skip]
        versus += versus_baseline(runs, ours, baseline, paths)
    return versus


def check(
    rows: Sequence[Row],
    versus: Sequence[Versus],
    *,
    ratio: float | None,
    default: float,
    trio: float,
    migrated: float,
    baseline: float,
    batch: float = 0.0,
) -> list[Verdict]:
    """Every target that is on (not 0 or None), in the order printed."""
    out: list[Verdict] = []
    if ratio:
        out.append(best_ratio(rows, PASS_THROUGH, ratio, "--target-ratio", "best pass-through"))
    if default:
        what = f"pass-through on the default runtime ({DEFAULT_RUNTIME})"
        out.append(
            best_ratio(
                rows,
                PASS_THROUGH,
                default,
                "--target-default",
                what,
                lambda name: family(name) == DEFAULT_RUNTIME,
            )
        )
    if trio:
        out.append(
            best_ratio(
                rows,
                PASS_THROUGH,
                trio,
                "--target-trio",
                "pass-through on trio",
                lambda name: family(name) == "trio",
            )
        )
    if migrated:
        out.append(best_ratio(rows, ("migrated",), migrated, "--target-migrated", "migrated route"))
    if batch:
        what = "batch route"
        out.append(
            best_ratio(rows, ("batch",), batch, "--target-batch", what, reference="validate-batch")
        )
    if baseline:
        out += against_baseline(versus, baseline, "--target-baseline")
    return out
