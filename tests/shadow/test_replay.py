"""``strangler replay`` with tiny handlers that fix, keep or break the recorded answers.

The recorded traffic: legacy always answers ``{"total": 10}``; the candidate
of the time matched on ``/orders?v=int`` and answered ``"10"`` (a string) on
``/orders?v=str``.  The handlers below are referenced as
``tests.shadow.test_replay:<name>``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from migrated import Request, Response
from shadow import _codec as codec
from shadow._compare import compare
from shadow._model import Answer, Mirrored, ShadowRecord
from shadow._replay import replay_main
from shadow._rules import CompareRules
from shadow._store import ShadowStore

from .test_store import NOW

JSON = (("content-type", "application/json"),)
HERE = "tests.shadow.test_replay"


async def fixed(request: Request, ctx: Any) -> Response:
    """Answers like legacy everywhere."""
    return Response.json({"total": 10})


async def unchanged(request: Request, ctx: Any) -> Response:
    """The candidate as recorded: a string total on ?v=str."""
    return Response.json({"total": "10" if "v=str" in request.query_string else 10})


async def broken(request: Request, ctx: Any) -> Response:
    """A new bug: the total is off by one everywhere."""
    return Response.json({"total": 11})


async def failing(request: Request, ctx: Any) -> Response:
    """Raises on every request."""
    raise RuntimeError("boom")


async def cached(request: Request, ctx: Any) -> Response:
    """Takes the total from the ``prices`` cache."""
    return Response.json({"total": ctx.cache("prices")["total"]})


def recorded(query: str, candidate_body: bytes, request_id: str) -> ShadowRecord:
    """A record of one request, compared with the default rules."""
    control = Answer(200, JSON, b'{"total":10}', 0.01)
    candidate = Answer(200, JSON, candidate_body, 0.01)
    mirrored = Mirrored(
        "/orders", request_id, NOW, "GET", "/orders", query, (), b"", control, candidate
    )
    return ShadowRecord(mirrored, compare(control, candidate, CompareRules(), route="/orders"))


RECORDS = [
    recorded("v=int", b'{"total":10}', "r-int"),
    recorded("v=str", b'{"total":"10"}', "r-str"),
]


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    """The records as a JSONL file."""
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"".join(codec.encode(r) + b"\n" for r in RECORDS))
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The records in a shadow store (a matched sample and a mismatch example)."""
    path = tmp_path / "shadow.db"
    shadow = ShadowStore.open(path)
    shadow.write(RECORDS)
    shadow.close()
    return path


def run(*argv: str) -> tuple[int, str, str]:
    """Run the command; its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = replay_main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("source", ["jsonl", "store"])
@pytest.mark.parametrize(
    ("handler", "code", "expected"),
    [
        pytest.param("fixed", 0, "fixed                 1", id="fixed"),
        pytest.param("unchanged", 0, "still differing       1", id="unchanged"),
        pytest.param("broken", 1, "(1 matched before, 1 new differences)", id="broken"),
        pytest.param("failing", 1, "(1 matched before, 1 new differences)", id="failing"),
    ],
)
def test_exit_code_follows_regressions(
    source: str, handler: str, code: int, expected: str, request: pytest.FixtureRequest
) -> None:
    """Fixed or unchanged handlers exit 0; a new bug or a crash exits 1 and is listed."""
    path = request.getfixturevalue(source)
    option = "--file" if source == "jsonl" else "--store"
    result, out, err = run(option, str(path), "--handler", f"{HERE}:{handler}")
    assert result == code
    assert expected in out
    assert "2/2" in err
    assert ("Regressions:" in out) == bool(code)


def test_regressions_name_the_request_and_the_difference(jsonl: Path) -> None:
    """Each regression shows its request and what differs from legacy now."""
    _, out, _ = run("--file", str(jsonl), "--handler", f"{HERE}:broken")
    assert "r-int  /orders  GET /orders?v=int  matched before, differs now" in out
    assert "body/total: legacy '10' | now '11'" in out


def test_caches_come_from_files(jsonl: Path, tmp_path: Path) -> None:
    """--cache NAME=file://path gives the handler that JSON as ctx.cache(NAME)."""
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"total": 10}))
    code, out, _ = run(
        "--file", str(jsonl), "--handler", f"{HERE}:cached", "--cache", f"prices=file://{prices}"
    )
    assert code == 0
    assert "fixed                 1" in out


def test_route_filter_can_leave_nothing(jsonl: Path) -> None:
    """No record of the route: exit 2 with a message rather than a vacuous pass."""
    code, _, err = run("--file", str(jsonl), "--handler", f"{HERE}:fixed", "--route", "/x")
    assert code == 2
    assert "no recorded requests" in err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--handler", f"{HERE}:fixed"], id="no-source"),
        pytest.param(["--file", "f", "--handler", "nomodule:fn"], id="unknown-handler"),
        pytest.param(["--file", "f", "--handler", f"{HERE}:recorded"], id="not-async"),
        pytest.param(["--file", "/nonexistent.jsonl", "--handler", f"{HERE}:fixed"], id="no-file"),
        pytest.param(["--file", "f", "--handler", f"{HERE}:fixed", "--cache", "x"], id="bad-cache"),
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    """Bad arguments, handlers, caches or files exit 2 with a message."""
    code, _, err = run(*argv)
    assert code == 2
    assert err
