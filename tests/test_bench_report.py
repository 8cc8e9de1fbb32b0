"""The benchmark's summary: each row's ratio pairs it with nginx's run of the same round.

A baseline build's rows are paired with this build's the same way, and the
targets judge this build's rows only.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from ops.bench import bench
from ops.bench._build import Build
from ops.bench._report import Run, format_ratios, format_table, summarize, versus_baseline
from ops.bench._targets import against_baseline, best_ratio
from ops.bench._wrk import WrkResult

BASE = "baseline-uvicorn-compiled"


def _run(path: str, target: str, round_: int, rps: float, runtime: str = "uvloop") -> Run:
    result = WrkResult(rps, int(rps * 10), {"p50": 1.0, "p99": 5.0})
    return Run(path, target, runtime if target != "nginx" else "-", round_, result)


def test_ratio_is_the_median_of_the_per_round_ratios() -> None:
    # The machine was twice as fast in round 2 (and a little slower in round 3)
    # for both sides; medians taken per side would pair nginx's 10,000 with
    # strangler's 18,000 (1.80x) though every round measured 2.0x or better.
    runs = [
        _run("validate", "nginx", 1, 10_000),
        _run("validate", "strangler", 1, 20_000),
        _run("validate", "nginx", 2, 20_000),
        _run("validate", "strangler", 2, 44_000),
        _run("validate", "nginx", 3, 9_000),
        _run("validate", "strangler", 3, 18_000),
    ]
    nginx, strangler = summarize(runs)

    assert strangler.round_ratios == pytest.approx((2.0, 2.2, 2.0))
    assert strangler.ratio == pytest.approx(2.0)
    assert strangler.rps == 20_000  # requests/s stay the median of the rounds
    assert nginx.ratio == pytest.approx(1.0)


def test_a_row_compared_with_another_path_pairs_with_that_paths_rounds() -> None:
    runs = [
        _run("validate", "nginx", 1, 8_000),
        _run("migrated", "strangler", 1, 16_800),
        _run("migrated", "strangler", 2, 15_000),
        _run("validate", "nginx", 2, 10_000),
    ]
    rows = {row.path: row for row in summarize(runs, {"migrated": "validate"})}

    assert rows["migrated"].round_ratios == pytest.approx((2.1, 1.5))
    assert rows["migrated"].ratio == pytest.approx(1.8)


def test_rounds_without_an_nginx_run_give_no_ratio() -> None:
    runs = [
        _run("validate", "nginx", 1, 10_000),
        _run("validate", "strangler", 1, 7_000),
        _run("validate", "strangler", 2, 9_000),  # nginx's round 2 failed before it ran
        _run("static", "strangler", 1, 30_000),  # nginx never served this path
    ]
    rows = {row.path: row for row in summarize(runs)}

    assert rows["validate"].round_ratios == pytest.approx((0.7,))
    assert rows["validate"].ratio == pytest.approx(0.7)
    assert rows["static"].round_ratios == ()
    assert rows["static"].ratio is None


def test_the_table_shows_each_rounds_ratio() -> None:
    runs = [
        _run("validate", "nginx", 1, 10_000),
        _run("validate", "strangler", 1, 19_000),
        _run("validate", "nginx", 2, 10_000),
        _run("validate", "strangler", 2, 21_000),
    ]
    table = format_table(summarize(runs)).splitlines()

    assert table[0].split() == [
        "path", "target", "runtime", "req/s", "best", "p50", "p99", "ratio", "rounds", "errors"
    ]  # fmt: skip
    assert "2.00  1.90 2.10" in table[2]


def _two_builds() -> list[Run]:
    """Two rounds of nginx, uvloop, uvloop-compiled and the baseline on validate."""
    runs = []
    for round_, scale in ((1, 1.0), (2, 2.0)):  # round 2 on a machine twice as fast
        runs += [
            _run("validate", "nginx", round_, 10_000 * scale),
            _run("validate", "strangler", round_, 8_000 * scale, "uvloop"),
            _run("validate", "strangler", round_, 9_500 * scale, "uvloop-compiled"),
            _run("validate", "strangler", round_, 9_000 * scale, BASE),
        ]
    return runs


def test_the_best_row_is_paired_with_the_baseline_round_by_round() -> None:
    """The candidate with the most requests/s is compared, per round, with the baseline."""
    runs = [*_two_builds(), _run("validate", "strangler", 3, 9_000, BASE)]  # alone in round 3
    [versus] = versus_baseline(runs, ["uvloop", "uvloop-compiled"], BASE, ["validate"])

    assert versus.runtime == "uvloop-compiled"
    assert versus.round_ratios == pytest.approx((9_500 / 9_000, 9_500 / 9_000))
    assert versus.ratio == pytest.approx(9_500 / 9_000)


def test_a_path_the_baseline_never_ran_is_left_out() -> None:
    """No baseline run on a path: nothing to compare, no verdict."""
    runs = [*_two_builds(), _run("static", "strangler", 1, 30_000, "uvloop-compiled")]

    paths = [v.path for v in versus_baseline(runs, ["uvloop-compiled"], BASE, ["static"])]

    assert paths == []


def test_the_ratio_table_puts_the_baseline_beside_each_runtime() -> None:
    """One line per path, one column per runtime, then the best against the baseline."""
    runs = _two_builds()
    rows = summarize(runs)
    versus = versus_baseline(runs, ["uvloop-compiled"], BASE, ["validate"])

    header, line = format_ratios(rows, ["uvloop", "uvloop-compiled", BASE], versus).splitlines()

    assert header.split() == ["path", "uvloop", "uvloop-compiled", BASE, "vs", "baseline"]
    assert line.split() == ["validate", "0.80", "0.95", "0.90", "1.06x", "uvloop-compiled"]


@pytest.mark.parametrize(
    ("target", "outcome"), [(0.9, "ok"), (1.0, "FAIL")], ids=["reached", "missed"]
)
def test_a_target_takes_the_best_row_of_this_build_only(target: float, outcome: str) -> None:
    """The baseline's faster row never counts as this build's best."""
    runs = [
        _run("validate", "nginx", 1, 10_000),
        _run("validate", "strangler", 1, 9_200, "uvloop-compiled"),
        _run("validate-1w", "strangler", 1, 9_600, "uvloop"),
        _run("validate", "strangler", 1, 12_000, BASE),
    ]
    rows = summarize(runs, {"validate-1w": "validate"})

    verdict = best_ratio(rows, ("validate", "validate-1w"), target, "--target-default", "x")

    assert verdict.outcome == outcome
    assert "uvloop reaches 0.96x" in verdict.line()


def test_a_target_whose_rows_were_not_measured_is_not_a_failure() -> None:
    """No trio row: n/a, which fails nothing."""
    rows = summarize(
        [_run("validate", "nginx", 1, 10_000), _run("validate", "strangler", 1, 9_000)]
    )

    verdict = best_ratio(rows, ("validate",), 0.6, "--target-trio", "trio", lambda n: "trio" in n)

    assert (verdict.outcome, verdict.failed) == ("n/a", False)


def test_a_row_slower_than_the_baseline_fails_its_target() -> None:
    """Below the baseline on a path: FAIL on that path alone."""
    runs = [
        *_two_builds(),
        _run("migrated", "strangler", 1, 20_000, "uvloop-compiled"),
        _run("migrated", "strangler", 1, 21_000, BASE),
    ]
    versus = versus_baseline(runs, ["uvloop-compiled"], BASE, ["validate", "migrated"])

    verdicts = {v.text.split(":")[0]: v.outcome for v in against_baseline(versus, 1.0, "--t")}

    assert verdicts == {"validate": "ok", "migrated": "FAIL"}


def test_a_baseline_without_the_batch_port_is_not_measured_on_the_batch_route(
    tmp_path: Path,
) -> None:
    """An older tree that has no batch validator gets every other row, not a failed start."""
    plan = bench.make_plan(bench.parse_args(["--baseline", "HEAD"]))
    old = Build("baseline-uvicorn-compiled", "uvicorn", tmp_path, Path(sys.executable))
    plan = dataclasses.replace(plan, runtimes=("uvloop", old.name), baselines=(old,))
    assert bench.BATCH in plan.loads_for("uvloop")
    assert plan.loads_for(old.name) == tuple(
        load for load in plan.loads_for("uvloop") if load is not bench.BATCH
    )
    (tmp_path / "ops" / "demo" / "handlers").mkdir(parents=True)
    (tmp_path / "ops" / "demo" / "handlers" / "batch.py").write_text("")
    assert plan.loads_for(old.name) == plan.loads_for("uvloop")
