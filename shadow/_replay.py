"""``strangler replay``: recorded requests through the route's CURRENT handler, offline.

Strategy: a replay answers "did my change fix the differences, and break
nothing?".  For each recorded request it compares the recorded legacy answer
twice with the SAME rules: once against the recorded new-side answer
(*before*) and once against the answer the current handler gives now
(*after*).  Using the same rules for both keeps the verdict honest even when
the route's configured rules or learned noise are not available here: a
field that always differs shows up in both and is not a regression.  A
regression is a request that matched before and differs now, or one whose
difference has a signature that none of the recorded requests had.  Records
come from the store's examples (redacted: secret headers read
``[redacted]``) or from a JSONL file of ``_codec`` records.  Exit codes: 0
no regressions, 1 regressions, 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import anyio

from migrated import (
    Handler,
    HandlerFailed,
    HandlerNotFound,
    Request,
    load_handler,
    run_handler,
)

from . import _codec as codec
from ._compare import compare
from ._model import Answer, Comparison, Mirrored, ShadowRecord
from ._replay_text import Outcome, Progress, Tally, render_summary
from ._rules import CompareRules


class _FileCaches:
    """``--cache NAME=file://path``: reference data read once from JSON files."""

    def __init__(self, specs: Sequence[str]) -> None:
        self._data: dict[str, Any] = {}
        for spec in specs:
            name, _, source = spec.partition("=")
            if not name or not source.startswith("file://"):
                raise ValueError(f"--cache {spec!r}: expected NAME=file://path")
            self._data[name] = json.loads(Path(source.removeprefix("file://")).read_bytes())

    def get(self, name: str) -> Any:
        return self._data[name]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strangler replay",
        description="Replay recorded requests through the current handler and compare.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", help="replay the examples stored in this shadow store")
    source.add_argument("--file", help="replay the records of this JSONL file")
    parser.add_argument("--handler", required=True, help="package.module:function")
    parser.add_argument("--route", help="only records of this route")
    parser.add_argument("--cache", action="append", default=[], metavar="NAME=file://PATH")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    return parser


def replay_main(argv: list[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``strangler replay`` with ``argv`` (the arguments after ``replay``).

    Args:
        argv: the command-line arguments.
        out, err: where the summary and the progress go (stdout, stderr by default).

    Returns:
        0, 1 when there are regressions, 2 on a usage or input error.
    """
    out, err = out or sys.stdout, err or sys.stderr
    try:
        with redirect_stdout(out), redirect_stderr(err):
            args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already printed
        return int(exc.code or 0)
    try:
        handler = load_handler(args.handler)
        caches = _FileCaches(args.cache)
        records = load_records(args.store, args.file, args.route)
    except (HandlerNotFound, ValueError, OSError) as exc:
        print(f"strangler replay: {exc}", file=err)
        return 2
    if not records:
        print(f"strangler replay: no recorded requests in {args.store or args.file}", file=err)
        return 2
    progress = Progress(len(records), err)
    run = partial(_replay_all, records, args.handler, handler, caches, args.timeout, progress)
    tally = anyio.run(run, backend="trio")
    progress.finish(tally)
    out.write(render_summary(tally, args.handler))
    return 1 if tally.regressions else 0


def load_records(store: str | None, file: str | None, route: str | None) -> list[ShadowRecord]:
    """The records to replay, oldest first, optionally of one route.

    Raises:
        OSError: the file or store cannot be read.
        ValueError: a line of the file is not a record (``CodecError``).
    """
    if file is not None:
        lines = Path(file).read_bytes().splitlines()
        items = [codec.decode(line) for line in lines if line.strip()]
        found = [i for i in items if isinstance(i, ShadowRecord)]
        return [r for r in found if route is None or r.mirrored.route == route]
    from ._store_read import StoreReader

    with StoreReader.open(str(store)) as reader:
        return list(reader.records(route))


async def _replay_all(
    records: list[ShadowRecord],
    name: str,
    handler: Handler,
    caches: _FileCaches,
    budget: float,
    progress: Progress,
) -> Tally:
    rules = CompareRules()
    befores = [_before(r.mirrored, rules) for r in records]
    tally = Tally(known={c.signature for c in befores if not c.matched})
    for record, before in zip(records, befores, strict=True):
        answer = await _run(record.mirrored, name, handler, caches, budget)
        after = compare(_legacy(record.mirrored), answer, rules, route=record.mirrored.route)
        tally.add(Outcome(record.mirrored, before, after))
        progress.update(tally)
    return tally


def _legacy(m: Mirrored) -> Answer:
    return m.candidate if m.reverse else m.control


def _before(m: Mirrored, rules: CompareRules) -> Comparison:
    recorded_new = m.control if m.reverse else m.candidate
    return compare(_legacy(m), recorded_new, rules, route=m.route)


async def _run(
    m: Mirrored, name: str, handler: Handler, caches: _FileCaches, budget: float
) -> Answer:
    request = Request(
        method=m.method,
        path=m.path,
        path_params={},
        query_string=m.query,
        headers=tuple((k.lower(), v) for k, v in m.request_headers),
        body=m.request_body,
        client=None,
        request_id=f"replay-{m.request_id}",
    )
    try:
        outcome = await run_handler(name, handler, request, caches, timeout=budget)
    except HandlerFailed as exc:
        return Answer(500, (), b"", 0.0, error=str(exc))
    response = outcome.response
    return Answer(response.status, tuple(response.headers), response.body, outcome.seconds)
