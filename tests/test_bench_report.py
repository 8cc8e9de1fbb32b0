"""The benchmark's summary: each row's ratio pairs it with nginx's run of the same round."""

from __future__ import annotations

import pytest

from ops.bench._report import Run, format_table, summarize
from ops.bench._wrk import WrkResult


def _run(path: str, target: str, round_: int, rps: float, runtime: str = "uvicorn") -> Run:
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
