"""Pure pieces of the report: argument parsing, the gate, and the terminal table.

Strategy: the table is rendered from the report's JSON data (see
``_report.build_report``), padded to aligned columns *before* colours are
added, so ANSI codes never shift a column.  Colours only mark the match rate
(green at or above the good rate, red below) and headings.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ._reveal import reveal

Paint = Callable[[str, str], str]
Durations = Callable[[str], float]
"""A duration parser: text to seconds, ``ValueError`` when it is not a duration."""
_GREEN, _RED, _BOLD, _DIM, _RESET = "\x1b[32m", "\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"
COLUMNS = (
    "route",
    "compared",
    "match",
    "mismatch",
    "noise",
    "cand err",
    "control p50/p99",
    "candidate p50/p99",
    "skips",
)


def parse_since(
    text: str, parse_duration: Durations | None = None, *, now: float | None = None
) -> float:
    """How long ago, as epoch seconds: a duration back from now, or an ISO date/time.

    Args:
        text: a duration in ``parse_duration``'s grammar (the config's:
            ``90``, ``30s``, ``500ms``, ``15m``, ``1h``, ``7d``), or an ISO
            date/time (naive = local time).
        parse_duration: the duration grammar; without it only ISO dates are read.
        now: the present, in epoch seconds (the clock by default).

    Raises:
        argparse.ArgumentTypeError: neither form.
    """
    if parse_duration is not None:
        try:
            seconds = parse_duration(text)
        except ValueError:
            pass
        else:
            return (time.time() if now is None else now) - seconds
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        wanted = "how long ago (90, 30s, 15m, 1h, 7d) or" if parse_duration else "an"
        raise argparse.ArgumentTypeError(f"{text!r}: expected {wanted} ISO date") from None


def parse_rate(text: str) -> float:
    """``0.99`` or ``99%`` as a rate in [0, 1].

    Raises:
        argparse.ArgumentTypeError: not a number, or outside [0, 1].
    """
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a rate like 0.99 or 99%") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a rate is between 0 and 1")
    return rate


def failing_routes(
    routes: list[dict[str, Any]], min_rate: float, min_compared: int
) -> list[dict[str, Any]]:
    """Routes with at least ``min_compared`` (and 1) comparisons matching below ``min_rate``."""
    return [
        r for r in routes if r["compared"] >= max(min_compared, 1) and r["match_rate"] < min_rate
    ]


def gate_failures(routes: list[dict[str, Any]], min_rate: float, min_compared: int) -> list[str]:
    """One line per failing route (see ``failing_routes``) saying why."""
    return [
        f"{r['route']}: match rate {r['match_rate']:.2%} < {min_rate:.2%}"
        f" over {r['compared']} compared"
        for r in failing_routes(routes, min_rate, min_compared)
    ]


def render_table(data: dict[str, Any], *, colour: bool = False, good_rate: float = 0.99) -> str:
    """The routes table and the top signatures, as aligned text."""
    paint = _painter(colour)
    lines = [paint(_BOLD, "Shadow comparisons" + _since(data["since"]))]
    rows = [_row(r) for r in data["routes"]]
    if not rows:
        lines.append("  no comparisons recorded")
    else:
        widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)]
        lines.append(paint(_BOLD, _line(COLUMNS, widths)))
        for r, row in zip(data["routes"], rows, strict=True):
            cells = _cells(row, widths)
            good = r["match_rate"] >= good_rate
            cells[2] = paint(_GREEN if good else _RED, cells[2]) if r["compared"] else cells[2]
            lines.append("  ".join(cells).rstrip())
    lines += _signatures(data["signatures"], paint)
    lines += _set_aside(data.get("set_aside", []), paint)
    if "noise" in data:
        lines += _noise(data["noise"], paint)
    return "\n".join(lines) + "\n"


def _row(r: dict[str, Any]) -> list[str]:
    lat = r["latency"]
    skips = " ".join(f"{k}={n}" for k, n in r["skips"].items()) or "-"
    rate = f"{r['match_rate']:.2%}" if r["compared"] else "-"
    return [
        r["route"],
        str(r["compared"]),
        rate,
        str(r["mismatched"]),
        str(r["noise_only"]),
        str(r["candidate_errors"]),
        f"{_ms(lat['control']['p50'])}/{_ms(lat['control']['p99'])}",
        f"{_ms(lat['candidate']['p50'])}/{_ms(lat['candidate']['p99'])}",
        skips,
    ]


def _cells(row: list[str], widths: list[int]) -> list[str]:
    """Route and skips left-aligned, numbers right-aligned."""
    last = len(row) - 1
    return [
        cell.ljust(w) if i in (0, last) else cell.rjust(w)
        for i, (cell, w) in enumerate(zip(row, widths, strict=True))
    ]


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(_cells(list(cells), widths)).rstrip()


def _signatures(signatures: list[dict[str, Any]], paint: Paint) -> list[str]:
    if not signatures:
        return []
    lines = ["", paint(_BOLD, "Top mismatch signatures")]
    for s in signatures:
        seen = f"{_when(s['first_seen'])} .. {_when(s['last_seen'])}"
        name = s.get("label") or s["route"]
        lines.append(f"  {s['count']:>6}x  {name}  {s['signature']}  {paint(_DIM, seen)}")
        example = s["example"]
        if example is not None:
            query = f"?{example['query']}" if example["query"] else ""
            target = f"{example['method']} {example['path']}{query}"
            lines.append(f"           e.g. {target}  (request {example['request_id']}):")
            differences = example.get("differences") or s["differences"]
            lines += _raised(example)
        else:
            lines.append("           latest:")
            differences = s["differences"]
        lines += [f"           {line}" for d in differences[:5] for line in difference_lines(d)]
        if len(differences) > 5:
            lines.append(f"           ... and {len(differences) - 5} more")
    return lines


def _raised(example: dict[str, Any], last: int = 4) -> list[str]:
    """The candidate's exception and the end of its traceback, when it raised."""
    if not example.get("error"):
        return []
    lines = [f"           candidate raised {example['error']}"]
    tail = (example.get("traceback") or "").rstrip().splitlines()[-last:]
    return lines + [f"             | {line}" for line in tail]


def _set_aside(aside: list[dict[str, Any]], paint: Paint) -> list[str]:
    """Re-judged, accepted and unlearned-noise signatures: listed, not counted as mismatches."""
    lines: list[str] = []
    rejudged = [s for s in aside if s["status"] == "rejudged"]
    accepted = [s for s in aside if s["status"] == "accepted"]
    unlearned = [s for s in aside if s["status"] == "unlearned"]
    if rejudged:
        lines += ["", paint(_BOLD, "Re-judged: every difference is learned noise now (matches)")]
        lines += [f"  {s['count']:>6}x  {s['label']}  {s['signature']}" for s in rejudged]
    if accepted:
        lines += ["", paint(_BOLD, "Accepted (out of the verdict)")]
        for s in accepted:
            lines.append(f"  {s['count']:>6}x  {s['label']}  {s['signature']}")
            lines.append(f"           reason: {s['reason']}")
    if unlearned:
        title = (
            "Unlearned noise: only volatile values differ, at places never learned (not counted)"
        )
        lines += ["", paint(_BOLD, title)]
        for s in unlearned:
            lines.append(f"  {s['count']:>6}x  {s['label']}  {s['signature']}")
            lines.append(f"           both sides are {s['reason']}: scrub them, or let noise learn")
    return lines


def _noise(noise: list[dict[str, Any]], paint: Paint) -> list[str]:
    if not noise:
        return ["", "No noise learned yet: every difference counts."]
    lines = ["", paint(_BOLD, "Learned noise (not counted as mismatches)")]
    route = None
    for n in noise:
        if n["route"] != route:
            route = n["route"]
            places = sum(1 for m in noise if m["route"] == route)
            lines.append(f"  {route}: {places} place{'s' if places != 1 else ''}")
        how = n["how"] or "legacy asked twice"
        source = f", request {n['request_id']}" if n["request_id"] else ""
        seen = f": {n['first']} then {n['second']}" if n["first"] or n["second"] else ""
        lines.append(
            f"    {n['kind']:<6} {n['where']}  learned {_when(n['learned_at'])} UTC"
            f" ({how}{source}){seen}"
        )
    return lines


def difference_lines(d: dict[str, str]) -> list[str]:
    """A difference on one line, and a second one with code points when the values read alike."""
    lines = [format_difference(d)]
    shown = reveal(d["control"], d["candidate"])
    if shown is not None:
        control, candidate = shown
        lines.append(f"  reads alike: control {control} | candidate {candidate}")
    return lines


def format_difference(d: dict[str, str]) -> str:
    """One difference on one line: kind, where, and both renderings."""
    return f"{d['kind']:<7} {d['where']}: control {d['control']!r} | candidate {d['candidate']!r}"


def _painter(colour: bool) -> Paint:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    return paint


def _ms(seconds: float) -> str:
    if seconds <= 0:
        return "-"
    ms = seconds * 1000
    return f"{ms:.2f}ms" if ms < 10 else f"{ms:.0f}ms"


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _since(since: float | None) -> str:
    return "" if since is None else f" since {_when(since)} UTC"
