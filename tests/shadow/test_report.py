"""``strangler report`` on a store filled with synthetic records: table, JSON, gate."""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import time
from pathlib import Path

import pytest

from proxy._cli import main as cli_main
from proxy._config_reader import parse_duration
from shadow._codec import Item
from shadow._model import Comparison, Difference, ShadowRecord, Skip
from shadow._report import build_report, report_main
from shadow._report_text import parse_rate, parse_since, render_table
from shadow._store import ShadowStore
from shadow._store_read import StoreReader

from .test_store import NOW, record

OLD = NOW - 3 * 3600


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """/good matches 100 of 100, /bad 80 of 100, /tiny 0 of 1; /bad's misses are 3 h old."""
    path = tmp_path / "shadow.db"
    store = ShadowStore.open(path)
    items: list[Item] = [record("/good", request_id=f"g{i}") for i in range(100)]
    items += [record("/bad", request_id=f"b{i}") for i in range(80)]
    items += [record("/bad", at=OLD, signature="sig-total", request_id="b-x") for _ in range(20)]
    items += [record("/tiny", signature="sig-tiny"), Skip("/good", "timeout", NOW)]
    store.write(items)
    store.close()
    return path


def run(*argv: str) -> tuple[int, str, str]:
    """Run the command as ``strangler report`` does; its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = report_main(list(argv), parse_duration=parse_duration, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_table_shows_routes_signatures_and_an_example(store_path: Path) -> None:
    """The table has a row per route and each signature with an example request and diff."""
    code, out, _ = run("--store", str(store_path))
    assert code == 0
    lines = out.splitlines()
    bad = next(line for line in lines if line.startswith("/bad"))
    assert bad.split()[:6] == ["/bad", "100", "80.00%", "20", "0", "0"]
    assert "timeout=1" in next(line for line in lines if line.startswith("/good"))
    assert "sig-total" in out
    assert "e.g. POST /bad?a=1  (request b-x)" in out
    assert "value   body/total: control '10' | candidate '10.0'" in out
    assert "\x1b[" not in out


def test_table_columns_are_aligned(store_path: Path) -> None:
    """Every row of the routes table puts the match-rate column at the same place."""
    _, out, _ = run("--store", str(store_path))
    header, *rows = out.splitlines()[1:5]
    end = header.index("match") + len("match")
    assert all(row[end - 1] in "%-" for row in rows)


def test_json_has_stable_keys(store_path: Path) -> None:
    """--json prints the report data with sorted, documented keys."""
    code, out, _ = run("--store", str(store_path), "--json", "--route", "/bad")
    data = json.loads(out)
    assert code == 0
    assert sorted(data) == [
        "gate",
        "generated_at",
        "noise",
        "routes",
        "set_aside",
        "signatures",
        "since",
    ]
    [route] = data["routes"]
    assert list(route) == sorted(route)
    assert (route["route"], route["compared"], route["match_rate"]) == ("/bad", 100, 0.8)
    assert set(route["latency"]) == {"control", "candidate"}
    assert [s["signature"] for s in data["signatures"]] == ["sig-total"]
    assert data["signatures"][0]["example"]["request_id"] == "b-x"


def test_since_leaves_out_older_minutes(store_path: Path) -> None:
    """--since 1h counts only the last hour: /bad's old mismatches disappear."""
    _, out, _ = run("--store", str(store_path), "--json", "--since", "1h")
    data = json.loads(out)
    bad = next(r for r in data["routes"] if r["route"] == "/bad")
    assert (bad["compared"], bad["match_rate"]) == (80, 1.0)
    assert [s["signature"] for s in data["signatures"]] == ["sig-tiny"]


@pytest.mark.parametrize(
    ("gate", "min_compared", "code", "named"),
    [
        pytest.param("0.9", "10", 1, ["/bad"], id="bad-route-fails"),
        pytest.param("90%", "1", 1, ["/bad", "/tiny"], id="tiny-counts-with-min-1"),
        pytest.param("0.75", "10", 0, [], id="low-bar-passes"),
        pytest.param("0.9", "500", 0, [], id="too-few-comparisons"),
    ],
)
def test_gate_exit_codes(
    store_path: Path, gate: str, min_compared: str, code: int, named: list[str]
) -> None:
    """The gate fails (exit 1) only for routes with enough comparisons below the rate."""
    result, out, err = run(
        "--store", str(store_path), "--gate", gate, "--min-compared", min_compared
    )
    assert result == code
    assert [line.split()[2].rstrip(":") for line in err.splitlines()] == named
    _, out, _ = run(
        "--store", str(store_path), "--json", "--gate", gate, "--min-compared", min_compared
    )
    assert json.loads(out)["gate"]["failing"] == named


def test_html_report_is_written(store_path: Path, tmp_path: Path) -> None:
    """--html writes the HTML report next to the table."""
    page = tmp_path / "report.html"
    code, _, _ = run("--store", str(store_path), "--html", str(page))
    assert code == 0
    assert "/bad" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--store", "/nonexistent/shadow.db"], id="missing-store"),
        pytest.param(["--store", "x.db", "--kafka", "127.0.0.1:1"], id="kafka-without-topic"),
        pytest.param(["--store", "x.db", "--since", "yesterday"], id="bad-since"),
        pytest.param(["--store", "x.db", "--gate", "2"], id="bad-rate"),
    ],
)
def test_usage_and_store_errors_exit_2(argv: list[str]) -> None:
    """Errors of the command line or the store exit 2 with a message."""
    code, _, err = run(*argv)
    assert code == 2
    assert err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("90", 1000.0 - 90, id="bare-seconds"),
        pytest.param("2.5", 1000.0 - 2.5, id="fractional-seconds"),
        pytest.param("45s", 1000.0 - 45, id="seconds"),
        pytest.param("500ms", 1000.0 - 0.5, id="milliseconds"),
        pytest.param("30m", 1000.0 - 1800, id="minutes"),
        pytest.param("1h", 1000.0 - 3600, id="hours"),
        pytest.param("2d", 1000.0 - 2 * 86400, id="days"),
        pytest.param("2024-05-01T00:00:00Z", 1714521600.0, id="iso-utc"),
    ],
)
def test_parse_since(text: str, expected: float) -> None:
    """Durations in the config's grammar count back from now; ISO dates are absolute."""
    assert parse_since(text, parse_duration, now=1000.0) == expected


@pytest.mark.parametrize("text", ["1w", "-5", "5 minutes", "yesterday"])
def test_parse_since_rejects_what_the_config_rejects(text: str) -> None:
    """A duration the config would refuse (weeks, negative, words) is a usage error."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
    with pytest.raises(argparse.ArgumentTypeError, match="how long ago"):
        parse_since(text, parse_duration, now=1000.0)


def test_parse_since_without_a_duration_grammar_takes_iso_dates_only() -> None:
    """Called without the config's grammar, --since reads ISO dates and refuses durations."""
    assert parse_since("2024-05-01T00:00:00Z") == 1714521600.0
    with pytest.raises(argparse.ArgumentTypeError, match="ISO date"):
        parse_since("90")


def test_strangler_report_since_takes_seconds(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``strangler report --since 90`` reads the window in seconds, as the config would."""
    before = time.time()
    code = cli_main(["report", "--store", str(store_path), "--since", "90", "--json"])
    after = time.time()
    assert code == 0
    since = json.loads(capsys.readouterr().out)["since"]
    assert before - 90 <= since <= after - 90
    assert cli_main(["report", "--store", str(store_path), "--since", "1w"]) == 2
    assert "'1w': expected how long ago" in capsys.readouterr().err


def test_parse_rate_rejects_out_of_range() -> None:
    """A rate above 1 is a usage error."""
    assert parse_rate("99.5%") == pytest.approx(0.995)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_rate("1.5")


def test_colours_only_mark_the_match_rate(store_path: Path) -> None:
    """With colour on, good rates are green and bad ones red; alignment is unchanged."""
    with StoreReader.open(store_path) as reader:
        data = build_report(reader)
    plain = render_table(data, colour=False)
    coloured = render_table(data, colour=True, good_rate=0.9)
    assert "\x1b[32m100.00%\x1b[0m" in coloured
    assert "\x1b[31m 80.00%\x1b[0m" in coloured
    assert _strip(coloured) == plain


def _strip(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _mismatch(request_id: str, at: float, control: str, candidate: str) -> ShadowRecord:
    """A mismatch of one cause (``value body/name``) with its own values."""
    diff = Difference("value", "body/name", f'"{control}"', f'"{candidate}"')
    base = record("/users", at=at, signature="sig-name", request_id=request_id)
    return ShadowRecord(base.mirrored, Comparison(False, (diff,), (), "sig-name"))


def test_the_example_line_shows_that_request_s_own_values(tmp_path: Path) -> None:
    """The oldest example is printed with its values, not the latest comparison's."""
    path = tmp_path / "shadow.db"
    store = ShadowStore.open(path)
    store.write([_mismatch("early", NOW, "Ann", "Anne"), _mismatch("late", NOW + 5, "Bo", "Bob")])
    store.close()
    _, out, _ = run("--store", str(path))
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "(request early)" in line)
    assert lines[at + 1].strip() == "value   body/name: control '\"Ann\"' | candidate '\"Anne\"'"
    assert "Bob" not in out
    data = json.loads(run("--store", str(path), "--json")[1])
    [signature] = data["signatures"]
    assert signature["example"]["differences"][0]["candidate"] == '"Anne"'
    assert signature["differences"][0]["candidate"] == '"Bob"'  # the latest, kept per signature


def test_values_that_read_alike_are_printed_by_code_point(tmp_path: Path) -> None:
    """An NFC name against its NFD twin gets a second line with both sides' code points."""
    path = tmp_path / "shadow.db"
    store = ShadowStore.open(path)
    store.write([_mismatch("r1", NOW, "Jos\u00e9", "Jose\u0301")])
    store.close()
    _, out, _ = run("--store", str(path))
    assert 'reads alike: control "\\u00e9" U+00E9 | candidate "e\\u0301" U+0065 U+0301' in out


def _learn(path: Path, *rows: tuple[object, ...]) -> None:
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO noise VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def test_learned_noise_is_listed_per_route_with_how(store_path: Path) -> None:
    """The places the store holds as noise are printed per route, with kind and source."""
    _learn(
        store_path,
        ("/good", "body/took_ms", "value", NOW, "legacy asked twice", "g7", "12", "15"),
        ("/good", "body/tags", "order", NOW, "legacy asked twice", "g8", "", ""),
        ("/bad", "header:expires", "header", NOW, "", "", "", ""),
    )
    _, out, _ = run("--store", str(store_path))
    section = out[out.index("Learned noise") :].splitlines()
    assert section[1:3] == [
        "  /bad: 1 place",
        f"    header header:expires  learned {_utc(NOW)} UTC (legacy asked twice)",
    ]
    assert "  /good: 2 places" in section
    assert any("body/took_ms" in line and "request g7): 12 then 15" in line for line in section)
    data = json.loads(run("--store", str(store_path), "--json", "--route", "/good")[1])
    assert [(n["where"], n["kind"]) for n in data["noise"]] == [
        ("body/tags", "order"),
        ("body/took_ms", "value"),
    ]


def test_a_store_without_the_noise_table_reads_as_no_noise(store_path: Path) -> None:
    """A store written before the noise table existed still reports, with no noise."""
    with sqlite3.connect(store_path) as db:
        db.execute("DROP TABLE noise")
    with StoreReader.open(store_path) as reader:
        assert reader.noise() == []
    assert "No noise learned yet" in run("--store", str(store_path))[1]


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
