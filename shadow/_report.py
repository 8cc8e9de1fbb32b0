"""``strangler report``: which routes are ready, and what differs where.

Strategy: the command gathers everything it shows into one plain dict first
(``build_report``; the ``--json`` output is exactly that dict, with sorted
keys), and the terminal table is a pure rendering of it (``render_table``),
so both say the same thing and the rendering is tested without a store.  The
gate is a pure function of the route summaries.  Exit codes: 0 fine, 1 the
gate failed, 2 a usage or I/O error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict
from functools import partial
from typing import Any, TextIO

from ._model import Difference, RouteSummary, ShadowReader, SignatureSummary
from ._report_text import (
    Durations,
    failing_routes,
    gate_failures,
    parse_rate,
    parse_since,
    render_table,
)
from ._signature import describe, labels

__all__ = ["build_report", "gate_failures", "parse_since", "render_table", "report_main"]


def build_report(
    reader: ShadowReader, *, route: str | None = None, since: float | None = None, top: int = 10
) -> dict[str, Any]:
    """Route totals, the top signatures (with one example each) and the learned noise.

    A signature's ``differences`` are those of its latest comparison (what
    the store keeps per signature); its ``example`` carries the example
    request's own ``differences``, so a request is shown with its own values.
    """
    routes = [r for r in reader.routes(since) if route is None or r.route == route]
    found = reader.signatures(route, since, top)
    named = labels((s.signature, s.route, s.differences) for s in found)
    signatures = []
    for s in found:
        examples = reader.examples(s.signature, limit=1)
        example = None
        if examples:
            m, c = examples[0].record.mirrored, examples[0].record.comparison
            example = {"request_id": m.request_id, "at": m.at, "method": m.method}
            example |= {"path": m.path, "query": m.query}
            example["differences"] = [_difference(d) for d in c.differences]
            if m.candidate.error is not None:
                example["error"] = m.candidate.error
                example["traceback"] = m.candidate.traceback
        signatures.append(
            {
                "route": s.route,
                "signature": s.signature,
                "label": named[s.signature],
                "count": s.count,
                "first_seen": s.first_seen,
                "last_seen": s.last_seen,
                "differences": [_difference(d) for d in s.differences],
                "example": example,
            }
        )
    noise = [asdict(n) for n in reader.noise(route)]
    return {
        "since": since,
        "routes": [_route(r) for r in routes],
        "signatures": signatures,
        "set_aside": [_set_aside(s) for s in reader.set_aside(route, since)],
        "noise": noise,
    }


def _set_aside(s: SignatureSummary) -> dict[str, Any]:
    """A re-judged, accepted or unlearned-noise signature: what it is, why it no longer counts."""
    return {
        "route": s.route,
        "signature": s.signature,
        "status": s.status,
        "reason": s.reason,
        "count": s.count,
        "label": describe(s.route, s.differences),
        "differences": [_difference(d) for d in s.differences],
    }


def _route(r: RouteSummary) -> dict[str, Any]:
    return {
        "route": r.route,
        "compared": r.compared,
        "matched": r.matched,
        "mismatched": r.mismatched,
        "match_rate": r.match_rate,
        "noise_only": r.noise_only,
        "candidate_errors": r.candidate_errors,
        "rejudged": r.rejudged,
        "accepted": r.accepted,
        "unlearned": r.unlearned,
        "skips": dict(sorted(r.skips.items())),
        "latency": {
            "control": {"p50": r.control_p50, "p99": r.control_p99},
            "candidate": {"p50": r.candidate_p50, "p99": r.candidate_p99},
        },
    }


def _difference(d: Difference) -> dict[str, str]:
    return {"kind": d.kind, "where": d.where, "control": d.control, "candidate": d.candidate}


def _parser(parse_duration: Durations | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strangler report", description="Shadow comparison results per route."
    )
    parser.add_argument("--store", required=True, help="the SQLite shadow store")
    parser.add_argument("--kafka", metavar="BOOTSTRAP", help="aggregate this cluster's records")
    parser.add_argument("--topic", help="the shadow topic (with --kafka)")
    parser.add_argument("--route", help="only this route")
    parser.add_argument(
        "--since",
        type=partial(parse_since, parse_duration=parse_duration),
        help="how long ago, as the config writes durations (90, 30s, 15m, 1h, 7d),"
        " or an ISO date/time",
    )
    parser.add_argument("--top", type=int, default=10, help="signatures shown (default 10)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--html", metavar="FILE", help="also write the HTML report")
    parser.add_argument("--gate", type=parse_rate, metavar="MIN_RATE", help="0.99 or 99%%")
    parser.add_argument("--min-compared", type=int, default=1, metavar="N")
    triage = parser.add_mutually_exclusive_group()
    triage.add_argument(
        "--accept",
        metavar="SIGNATURE",
        help="accept this cause (with --reason): shown apart, out of the verdict",
    )
    triage.add_argument("--reopen", metavar="SIGNATURE", help="take an acceptance back")
    parser.add_argument("--reason", help="why the signature is accepted (with --accept)")
    return parser


def report_main(
    argv: list[str],
    *,
    parse_duration: Durations | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``strangler report`` with ``argv`` (the arguments after ``report``).

    Args:
        argv: the command-line arguments.
        parse_duration: the duration grammar of ``--since`` (the ``strangler``
            command passes the config's); without it ``--since`` takes ISO
            dates only.
        out, err: where the report and the messages go (stdout, stderr by default).

    Returns:
        0, or 1 when the gate failed, or 2 on a usage, store, Kafka or HTML error.
    """
    out, err = out or sys.stdout, err or sys.stderr
    try:
        with redirect_stdout(out), redirect_stderr(err):
            args = _parser(parse_duration).parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already printed
        return int(exc.code or 0)
    if args.kafka and not args.topic:
        print("strangler report: --kafka needs --topic", file=err)
        return 2
    if args.accept or args.reopen:
        return _triage(args, err)
    try:
        if args.kafka:
            _aggregate(args.kafka, args.topic, args.store, err)
        data = _read(args)
    except Exception as exc:  # one boundary for every I/O failure of the command
        print(f"strangler report: {exc}", file=err)
        return 2
    if args.json:
        data["gate"] = _gate_json(data, args)
        print(json.dumps(data, indent=2, sort_keys=True), file=out)
    else:
        colour = out.isatty() and "NO_COLOR" not in os.environ
        out.write(render_table(data, colour=colour, good_rate=args.gate or 0.99))
    return _gate(data, args, err)


def _triage(args: argparse.Namespace, err: TextIO) -> int:
    """``--accept SIGNATURE --reason TEXT`` or ``--reopen SIGNATURE``, written to the store."""
    from ._exceptions import TriageError
    from ._store import ShadowStore

    if args.accept and not (args.reason or "").strip():
        print("strangler report: --accept needs --reason TEXT", file=err)
        return 2
    try:  # retention is the proxy's to apply: this one write must not prune by defaults
        store = ShadowStore.open(args.store, retention_days=1e6, max_records=2**62)
    except Exception as exc:
        print(f"strangler report: {exc}", file=err)
        return 2
    try:
        if args.accept:
            routes = store.accept(args.accept, args.reason)
            done = f"accepted {args.accept} on {', '.join(routes)}: {args.reason.strip()}"
        else:
            routes = store.reopen(args.reopen)
            done = f"reopened {args.reopen} on {', '.join(routes)}"
    except TriageError as exc:
        print(f"strangler report: {exc}", file=err)
        return 2
    finally:
        store.close()
    print(done, file=err)
    return 0


def _read(args: argparse.Namespace) -> dict[str, Any]:
    from ._store_read import StoreReader

    with StoreReader.open(args.store) as reader:
        if args.html:
            _write_html(reader, args)
        data = build_report(reader, route=args.route, since=args.since, top=args.top)
    data["generated_at"] = time.time()
    return data


def _write_html(reader: ShadowReader, args: argparse.Namespace) -> None:
    try:
        from ._pages import write_report_html
    except ImportError:
        raise RuntimeError("--html: the HTML report (shadow._pages) is not available") from None
    write_report_html(reader, args.html, route=args.route, since=args.since)


def _aggregate(bootstrap: str, topic: str, path: str, err: TextIO) -> None:
    from ._sink import aggregate_from_kafka
    from ._store import ShadowStore

    store = ShadowStore.open(path)
    try:
        done = aggregate_from_kafka(bootstrap, topic, store)
    finally:
        store.close()
    print(f"aggregated {done.items} records from {topic} ({done.invalid} invalid)", file=err)


def _gate_json(data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any] | None:
    if args.gate is None:
        return None
    failing = failing_routes(data["routes"], args.gate, args.min_compared)
    return {
        "min_rate": args.gate,
        "min_compared": args.min_compared,
        "failing": [r["route"] for r in failing],
    }


def _gate(data: dict[str, Any], args: argparse.Namespace, err: TextIO) -> int:
    if args.gate is None:
        return 0
    failing = gate_failures(data["routes"], args.gate, args.min_compared)
    for line in failing:
        print(f"gate failed: {line}", file=err)
    return 1 if failing else 0
