"""Summaries of the benchmark runs: the table, the JSON file and a bar chart.

Each (path, target, runtime) was measured once per round.  A row reports the
median requests/s over the rounds (and the best), the median p50/p99, its
ratio to nginx on the same path, and every error wrk saw in any round: a row
with errors is flagged with ``!``, never averaged away.

The ratio is paired: each round measures nginx and strangler within a minute
of each other, so a row's ratio in a round is its requests/s over nginx's in
that same round, and the row reports the median of those per-round ratios
(``round_ratios`` keeps them all).  On a shared machine whose speed drifts by
a third within minutes, a round's two sides see the same machine; medians
taken over each side separately can pair nginx's fast round with strangler's
slow one.

A path whose every request carries several events (the batch rows) also
gets a per-message figure: ``messages`` maps it to the events accepted per
request, and its rows show ``msg/s``, requests/s times that (for the
migrated batch route, the messages produced to the broker per second).

A baseline build measured in the same run (``--baseline``) is paired the
same way: ``versus_baseline`` gives, per path, this build's best row over
the baseline's row, round by round, and ``format_ratios`` prints every
runtime's ratio to nginx side by side with the baseline's.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any

from ops.bench._build import BASELINE
from ops.bench._wrk import WrkResult


@dataclass(frozen=True)
class Run:
    """One wrk run against one target."""

    path: str  # "validate" or "static"
    target: str  # "nginx" or "strangler"
    runtime: str  # "-" for nginx
    round: int
    result: WrkResult

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the JSON report."""
        return {
            "path": self.path,
            "target": self.target,
            "runtime": self.runtime,
            "round": self.round,
            **self.result.to_json(),
        }


@dataclass(frozen=True)
class Row:
    """One line of the table: a target on a path, over all rounds."""

    path: str
    target: str
    runtime: str
    rps: float
    best_rps: float
    p50_ms: float
    p99_ms: float
    ratio: float | None  # median of round_ratios (see the module docstring)
    errors: dict[str, int]
    rounds: int
    round_ratios: tuple[float, ...] = ()

    @property
    def label(self) -> str:
        """``nginx`` or ``strangler/<runtime>``."""
        return self.target if self.target == "nginx" else f"{self.target}/{self.runtime}"


def summarize(runs: Sequence[Run], compared_with: Mapping[str, str] | None = None) -> list[Row]:
    """One row per (path, target, runtime), in the order first measured.

    A row's ratios are against nginx's runs of the same rounds on the same
    path, or on ``compared_with[path]`` (the migrated route against nginx's
    validate).
    """
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.path, run.target, run.runtime), []).append(run)
    nginx = {
        (run.path, run.round): run.result.requests_per_second
        for run in runs
        if run.target == "nginx"
    }
    refer = compared_with or {}
    rows = []
    for key, group in groups.items():
        reference = refer.get(key[0], key[0])
        ratios = tuple(
            run.result.requests_per_second / nginx[(reference, run.round)]
            for run in group
            if nginx.get((reference, run.round))
        )
        rows.append(_row(key, [run.result for run in group], ratios))
    return rows


def _row(key: tuple[str, str, str], results: list[WrkResult], ratios: tuple[float, ...]) -> Row:
    path, target, runtime = key
    rps = statistics.median(r.requests_per_second for r in results)
    errors: dict[str, int] = {}
    for result in results:
        for name, count in result.errors.items():
            errors[name] = errors.get(name, 0) + count
    return Row(
        path=path,
        target=target,
        runtime=runtime,
        rps=rps,
        best_rps=max(r.requests_per_second for r in results),
        p50_ms=statistics.median(r.latency_ms["p50"] for r in results),
        p99_ms=statistics.median(r.latency_ms.get("p99", float("nan")) for r in results),
        ratio=statistics.median(ratios) if ratios else None,
        errors=errors,
        rounds=len(results),
        round_ratios=ratios,
    )


def messages_per_second(row: Row, messages: Mapping[str, int]) -> float | None:
    """The row's requests/s times its path's messages per request, if it has some."""
    per_request = messages.get(row.path)
    return row.rps * per_request if per_request else None


def format_table(rows: Sequence[Row], messages: Mapping[str, int] | None = None) -> str:
    """The table printed at the end of a run (``msg/s`` when ``messages`` names a path)."""
    per_message = messages or {}
    header = (
        "path",
        "target",
        "runtime",
        "req/s",
        *(("msg/s",) if per_message else ()),
        "best",
        "p50",
        "p99",
        "ratio",
        "rounds",
        "errors",
    )
    lines = [header]
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        rounds = " ".join(f"{r:.2f}" for r in row.round_ratios) if row.target != "nginx" else "-"
        errors = " ".join(f"{k}={v}" for k, v in row.errors.items())
        msgs = messages_per_second(row, per_message)
        lines.append(
            (
                row.path,
                row.target,
                row.runtime,
                f"{row.rps:,.0f}",
                *((f"{msgs:,.0f}" if msgs is not None else "-",) if per_message else ()),
                f"{row.best_rps:,.0f}",
                f"{row.p50_ms:.2f}ms",
                f"{row.p99_ms:.2f}ms",
                ratio,
                rounds or "-",
                f"! {errors}" if errors else "0",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = set(range(3, len(header) - 2))
    return "\n".join(
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


@dataclass(frozen=True)
class Versus:
    """This build's best row on a path against the baseline's row on the same path."""

    path: str
    runtime: str  # this build's row with the most requests/s (median)
    baseline: str
    ratio: float | None  # median of the per-round requests/s ratios
    round_ratios: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the JSON report."""
        return asdict(self)


def versus_baseline(
    runs: Sequence[Run], candidates: Sequence[str], baseline: str, paths: Sequence[str]
) -> list[Versus]:
    """For each of ``paths``, the best of ``candidates`` over ``baseline``, paired by round.

    The best candidate is the one with the highest median requests/s on that
    path; its ratio is the median over the rounds both measured of its
    requests/s over the baseline's, as nginx's ratio is paired (see the
    module docstring).  A path without a baseline or candidate run is left out.
    """
    rps = {
        (run.path, run.runtime, run.round): run.result.requests_per_second
        for run in runs
        if run.target == "strangler"
    }
    out = []
    for path in paths:
        rounds = sorted(r for (p, rt, r) in rps if p == path and rt == baseline)
        medians = {
            rt: statistics.median(v for (p, name, _), v in rps.items() if p == path and name == rt)
            for rt in candidates
            if any(p == path and name == rt for (p, name, _) in rps)
        }
        if not rounds or not medians:
            continue
        best = max(medians, key=lambda rt: medians[rt])
        ratios = tuple(
            rps[(path, best, r)] / rps[(path, baseline, r)]
            for r in rounds
            if (path, best, r) in rps and rps[(path, baseline, r)]
        )
        ratio = statistics.median(ratios) if ratios else None
        out.append(Versus(path, best, baseline, ratio, ratios))
    return out


def format_ratios(
    rows: Sequence[Row], runtimes: Sequence[str], versus: Sequence[Versus] = ()
) -> str:
    """Each path's ratio to nginx per runtime, side by side, and the best against the baseline.

    A path no strangler row has a ratio on (paced, never served by nginx, or
    served by nginx alone, as the PHP original of the batch route) is left out.
    """
    cells = {(row.path, row.runtime): row for row in rows if row.target == "strangler"}
    against = {v.path: v for v in versus}
    header = ("path", *runtimes, *(("vs baseline",) if versus else ()))
    lines = [header]
    with_ratio = (row.path for row in rows if row.ratio is not None and row.target != "nginx")
    for path in dict.fromkeys(with_ratio):
        line = [path]
        for runtime in runtimes:
            row = cells.get((path, runtime))
            flag = "!" if row is not None and row.errors else ""
            ratio = row.ratio if row is not None else None
            line.append("-" if ratio is None else f"{ratio:.2f}{flag}")
        if versus:
            v = against.get(path)
            ratio = v.ratio if v is not None else None
            line.append("-" if v is None or ratio is None else f"{ratio:.2f}x {v.runtime}")
        lines.append(tuple(line))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left = {0, len(header) - 1} if versus else {0}
    return "\n".join(
        "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


def write_json(
    path: Path,
    meta: dict[str, Any],
    runs: Sequence[Run],
    rows: Sequence[Row],
    versus: Sequence[Versus] = (),
    messages: Mapping[str, int] | None = None,
) -> None:
    """Write everything measured, plus how, to ``path``."""
    per_message = messages or {}
    data = {
        "meta": meta,
        "summary": [
            {
                **asdict(row),
                "label": row.label,
                "messages_per_request": per_message.get(row.path),
                "messages_per_second": messages_per_second(row, per_message),
            }
            for row in rows
        ],
        "versus_baseline": [v.to_json() for v in versus],
        "runs": [run.to_json() for run in runs],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_chart(
    directory: Path, rows: Sequence[Row], title: str, messages: Mapping[str, int] | None = None
) -> Path:
    """A bar chart of requests/s per path: PNG with matplotlib, else a hand-written SVG.

    A bar of a path in ``messages`` is labelled with its messages/s too.
    """
    directory.mkdir(parents=True, exist_ok=True)
    per_message = messages or {}
    try:
        import matplotlib
    except ImportError:
        target = directory / "latest.svg"
        target.write_text(_svg(rows, title, per_message))
        return target
    matplotlib.use("Agg")
    target = directory / "latest.png"
    _png(target, rows, title, per_message)
    return target


def _png(target: Path, rows: Sequence[Row], title: str, messages: Mapping[str, int]) -> None:
    import matplotlib.pyplot as plt

    paths = list(dict.fromkeys(row.path for row in rows))
    fig, axes = plt.subplots(1, len(paths), figsize=(5 * len(paths), 4), squeeze=False)
    for ax, path in zip(axes[0], paths, strict=True):
        group = [row for row in rows if row.path == path]
        bars = ax.bar(
            [row.label.replace("strangler/", "") for row in group],
            [row.rps for row in group],
            color=[_colour(row) for row in group],
        )
        ax.bar_label(bars, [_bar_text(row, messages) for row in group], fontsize=8)
        per_request = messages.get(path)
        ax.set_title(f"{path} ({per_request} msg/request)" if per_request else path)
        ax.set_ylabel("requests/s")
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)


_BAR_W, _GAP, _CHART_H, _TOP, _LEFT = 56, 14, 220, 44, 20


def _svg(rows: Sequence[Row], title: str, messages: Mapping[str, int]) -> str:
    """Grouped bars, one group per path, heights relative to the fastest row."""
    paths = list(dict.fromkeys(row.path for row in rows))
    peak = max((row.rps for row in rows), default=1.0) or 1.0
    parts: list[str] = []
    x = _LEFT
    for path in paths:
        group = [row for row in rows if row.path == path]
        for row in group:
            parts.append(_svg_bar(x, row, peak, messages))
            x += _BAR_W + _GAP
        width = len(group) * (_BAR_W + _GAP) - _GAP
        parts.append(_svg_text(x - _GAP - width / 2, _TOP + _CHART_H + 40, path, 13, bold=True))
        x += 3 * _GAP
    width, height = x + _LEFT, _TOP + _CHART_H + 56
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
        + _svg_text(_LEFT, 20, title, 12, anchor="start")
        + "".join(parts)
        + "</svg>\n"
    )


def _svg_bar(x: float, row: Row, peak: float, messages: Mapping[str, int]) -> str:
    h = _CHART_H * row.rps / peak
    y = _TOP + _CHART_H - h
    centre = x + _BAR_W / 2
    name = row.label.replace("strangler/", "")
    return (
        f'<rect x="{x}" y="{y:.1f}" width="{_BAR_W}" height="{h:.1f}" fill="{_colour(row)}"/>\n'
        + _svg_text(centre, y - 4, _bar_text(row, messages), 10)
        + _svg_text(centre, _TOP + _CHART_H + 16, name, 11)
    )


def _svg_text(
    x: float, y: float, text: str, size: int, *, anchor: str = "middle", bold: bool = False
) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{weight}>'
        f"{escape(text)}</text>\n"
    )


def _bar_text(row: Row, messages: Mapping[str, int]) -> str:
    ratio = f" ({row.ratio:.2f}x)" if row.ratio is not None and row.target != "nginx" else ""
    flag = " !" if row.errors else ""
    msgs = messages_per_second(row, messages)
    per_message = f", {msgs:,.0f} msg/s" if msgs is not None else ""
    return f"{row.rps:,.0f}{ratio}{per_message}{flag}"


def _colour(row: Row) -> str:
    if row.errors:
        return "#d62728"
    if row.target == "nginx":
        return "#2ca02c"
    return "#ff7f0e" if row.runtime.startswith(BASELINE) else "#1f77b4"
