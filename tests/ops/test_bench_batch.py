"""The benchmark's batch rows: the batch it posts, the loads chosen, the per-id
count of the broker's messages, the msg/s figures and the batch target.

Pure parts only; ``tests/migrated/test_routes_e2e.py`` reads a real broker
back with ``count_keys`` after the batch route published to it.
"""

from __future__ import annotations

import json

import pytest

from ops.bench import bench
from ops.bench._migrated import BatchDelivery, accepted_ids, split_counts
from ops.bench._report import Run, format_ratios, format_table, summarize
from ops.bench._targets import check
from ops.bench._wrk import WrkResult
from ops.demo.handlers._batch import validate_batch_body

from .test_demo_validator import RULES

IDS = ("evt_a", "evt_b", "evt_c")


def test_the_benchmark_batch_is_twenty_distinct_events_fifteen_accepted() -> None:
    """The wrk body: 20 distinct events, 15 accepted, 5 rejected each for another rule."""
    content = bench.validate_body(bench.BATCH_SCRIPT)
    events = json.loads(content)["events"]
    answer = validate_batch_body(content, RULES)
    results = json.loads(answer.body)["results"]
    rejected = [r["errors"][0]["rule"] for r in results if not r["ok"]]
    assert answer.status == 200
    assert len(events) == 20
    assert len({json.dumps(e, sort_keys=True) for e in events}) == 20
    assert len(answer.events) == 15
    assert len(accepted_ids(answer.body)) == 15
    assert sorted(rejected) == ["enum", "enum", "min", "pattern", "required"]
    fields = [r["errors"][0]["field"] for r in results if not r["ok"]]
    assert sorted(fields) == ["age", "currency", "ip", "order_id", "type"]


STATIC = ["validate", "static", "static-large"]


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        pytest.param([], [*STATIC, "migrated", "validate-batch", "batch"], id="all"),
        pytest.param(["--no-batch"], [*STATIC, "migrated"], id="no-batch"),
        pytest.param(["--no-migrated"], STATIC, id="no-migrated"),
    ],
)
def test_the_batch_rows_are_on_by_default_with_the_migrated_row(
    flags: list[str], names: list[str]
) -> None:
    """Both batch rows come with the migrated row; --no-batch or --no-migrated drops them."""
    plan = bench.make_plan(bench.parse_args(["--runtimes", "uvloop", "--no-shadow", *flags]))
    assert [load.name for load in plan.loads] == names
    assert plan.batch == ("batch" in names)
    assert "validate-batch" not in [load.name for load in plan.strangler_loads]
    assert "batch" not in [load.name for load in plan.nginx_loads]


def test_the_batch_target_defaults_to_twice_nginx() -> None:
    """--target-batch is 2.0 unless given."""
    assert bench.make_plan(bench.parse_args([])).target_batch == 2.0
    assert bench.parse_args(["--target-batch", "0"]).target_batch == 0.0


def test_split_counts_separates_the_batch_ids_from_the_other_messages() -> None:
    """Messages keyed by a batch id are counted per id; every other key is the rest."""
    counts: dict[bytes | None, int] = {b"evt_a": 4, b"evt_c": 4, b"evt_single": 7, None: 1}
    assert split_counts(counts, IDS) == (8, (4, 0, 4))


@pytest.mark.parametrize(
    ("per_id", "problem"),
    [
        pytest.param((10, 10, 10), "", id="once-per-answer"),
        pytest.param((12, 12, 12), "", id="dropped-batches-published"),
        pytest.param((9, 9, 9), "on the broker 9 times for 10 batches", id="lost"),
        pytest.param((13, 13, 13), "more than every batch sent", id="too-many"),
        pytest.param((10, 11, 10), "published in part", id="partial"),
    ],
)
def test_each_accepted_id_must_be_on_the_broker_once_per_answer(
    per_id: tuple[int, ...], problem: str
) -> None:
    """Each id as often as the batches answered 200, up to those dropped at the end."""
    delivery = BatchDelivery(IDS, answered=10, dropped=2, per_id=per_id)
    problems = "; ".join(delivery.problems())
    assert (problem in problems) if problem else problems == ""
    assert delivery.expected == 30
    assert delivery.to_json()["consumed"] == sum(per_id)


def test_a_batch_without_accepted_events_cannot_be_checked() -> None:
    """No accepted id to count is a problem, not a pass."""
    assert BatchDelivery((), answered=5, dropped=0, per_id=()).problems()


def _run(path: str, target: str, rps: float) -> Run:
    result = WrkResult(rps, int(rps * 10), {"p50": 1.0, "p99": 5.0})
    return Run(path, target, "uvloop" if target != "nginx" else "-", 1, result)


def test_batch_rows_show_messages_per_second_and_their_ratio() -> None:
    """msg/s is req/s times the accepted events; the ratio is against validate-batch."""
    runs = [
        _run("validate", "nginx", 10_000),
        _run("validate-batch", "nginx", 1_000),
        _run("batch", "strangler", 1_500),
    ]
    rows = summarize(runs, {"batch": "validate-batch"})
    table = format_table(rows, {"validate-batch": 15, "batch": 15})
    header, validate, nginx, ours = table.splitlines()
    assert header.split()[:5] == ["path", "target", "runtime", "req/s", "msg/s"]
    assert validate.split()[4] == "-"
    assert (nginx.split()[4], ours.split()[4]) == ("15,000", "22,500")
    assert rows[2].ratio == pytest.approx(1.5)
    assert "msg/s" not in format_table(rows)


@pytest.mark.parametrize(("target", "outcome"), [(2.0, "FAIL"), (1.5, "ok"), (0.0, None)])
def test_the_batch_target_judges_the_batch_row(target: float, outcome: str | None) -> None:
    """--target-batch compares the batch row with nginx's validate-batch; 0 turns it off."""
    runs = [_run("validate-batch", "nginx", 1_000), _run("batch", "strangler", 1_500)]
    rows = summarize(runs, {"batch": "validate-batch"})
    verdicts = check(rows, [], ratio=None, default=0, trio=0, migrated=0, baseline=0, batch=target)
    assert [v.outcome for v in verdicts] == ([outcome] if outcome else [])
    if outcome:
        assert "1.50x nginx's validate-batch" in verdicts[0].text


def test_the_ratio_table_leaves_out_a_path_only_nginx_ran() -> None:
    """validate-batch has no strangler row: the per-runtime ratio table skips it."""
    runs = [_run("validate-batch", "nginx", 1_000), _run("batch", "strangler", 1_500)]
    rows = summarize(runs, {"batch": "validate-batch"})
    paths = [line.split()[0] for line in format_ratios(rows, ["uvloop"]).splitlines()[1:]]
    assert paths == ["batch"]
