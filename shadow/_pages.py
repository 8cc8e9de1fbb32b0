"""The shadow-diff pages: a self-contained HTML report and the dashboard's sections.

Strategy: reading and rendering are separate.  ``collect`` asks a
``ShadowReader`` everything once and returns a ``Snapshot``; every renderer
below is a pure function of that snapshot, returning HTML text.  The charts are
SVG drawn here in Python, so the report is one file with no script and no
external asset, and the dashboard refreshes by swapping the very same
fragments (``fragments``) into its page: one renderer for both, tested once.

Everything that came from a request or an answer is untrusted: every string
goes through ``html.escape`` (``_e``) on its way into the page, and the page
carries a Content-Security-Policy that forbids scripts (the dashboard allows
only its own, by nonce), so a missed escape still could not run code.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._model import (
    Answer,
    Difference,
    Example,
    RouteSummary,
    ShadowReader,
    SideEffect,
    SignatureSummary,
    TimePoint,
)
from ._readiness import Thresholds, Verdict, error_rate, verdict

MAX_POINTS = 120  # per timeline series; finer buckets are merged
MAX_BODY_CHARS = 20_000
PALETTE = ("#2563eb", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569", "#b91c1c")
TONES = {
    "ready to canary": "good",
    "not enough traffic": "wait",
    "too slow": "wait",
    "mismatches": "bad",
    "candidate errors": "bad",
}
_e = html.escape


@dataclass(frozen=True, slots=True)
class RouteView:
    """One route's totals, its verdict and its match-rate timeline."""

    summary: RouteSummary
    verdict: Verdict
    timeline: list[TimePoint]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a page shows, read from a ``ShadowReader`` at one moment."""

    generated_at: float
    since: float | None
    route: str | None
    thresholds: Thresholds
    routes: list[RouteView]
    signatures: list[SignatureSummary]
    examples: dict[str, list[Example]] = field(default_factory=dict)


def collect(
    reader: ShadowReader,
    *,
    route: str | None = None,
    since: float | None = None,
    thresholds: Thresholds = Thresholds(),  # noqa: B008 (frozen, so sharing is safe)
    with_examples: bool = True,
    signature_limit: int = 20,
) -> Snapshot:
    """Read everything the pages show.

    Args:
        reader: where the shadow records are.
        route: only this route (default: every route).
        since: only records from this epoch second on.
        thresholds: the readiness bar.
        with_examples: also read the examples of each signature (the drill-down).
        signature_limit: how many of the most frequent signatures to show.
    """
    summaries = [s for s in reader.routes(since) if route is None or s.route == route]
    views = [
        RouteView(s, verdict(s, thresholds), reader.timeline(s.route, 60.0, since))
        for s in summaries
    ]
    signatures = reader.signatures(route, since, signature_limit)
    examples = (
        {s.signature: reader.examples(s.signature) for s in signatures} if with_examples else {}
    )
    return Snapshot(time.time(), since, route, thresholds, views, signatures, examples)


def render_report(
    reader: ShadowReader,
    *,
    route: str | None = None,
    since: float | None = None,
    thresholds: Thresholds = Thresholds(),  # noqa: B008
) -> str:
    """The whole report as one self-contained HTML document (see ``collect``)."""
    return render_page(collect(reader, route=route, since=since, thresholds=thresholds))


def write_report_html(
    reader: ShadowReader,
    path: str | Path,
    *,
    route: str | None = None,
    since: float | None = None,
    thresholds: Thresholds = Thresholds(),  # noqa: B008
) -> None:
    """Write ``render_report``'s document to ``path`` (UTF-8)."""
    text = render_report(reader, route=route, since=since, thresholds=thresholds)
    Path(path).write_text(text, encoding="utf-8")


def render_page(
    snap: Snapshot, *, title: str = "Shadow report", script: str = "", nonce: str = ""
) -> str:
    """The full document; the dashboard adds its refresh ``script`` under ``nonce``."""
    title += f": {snap.route}" if snap.route else ""
    frozen = '<p class="muted">As of page load: reload for newer examples.</p>' if script else ""
    parts = fragments(snap)
    body = (
        f'<header><h1>{_e(title)}</h1><p class="stamp" id="stamp">{parts["stamp"]}</p>'
        f'<p class="muted" id="live"></p></header>'
        f'<section><h2>Routes</h2><div id="overview">{parts["overview"]}</div>'
        f'<div id="summary">{parts["summary"]}</div></section>'
        f'<section><h2>Match rate over time</h2><div id="timeline">{parts["timeline"]}</div>'
        "</section>"
        f'<section><h2>Mismatch signatures by volume</h2><div id="signatures">'
        f"{parts['signatures']}</div></section>"
        f"<section><h2>Drill-down</h2>{frozen}{drilldown(snap)}</section>"
    )
    tag = f'<script nonce="{_e(nonce)}">{script}</script>' if script else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp(nonce if script else ""))}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}{tag}</body></html>\n"
    )


def csp(nonce: str = "") -> str:
    """The page's Content-Security-Policy: no script at all, or only the nonced one."""
    scripts = f"'nonce-{nonce}'" if nonce else "'none'"
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src {scripts}; connect-src 'self'; base-uri 'none'; form-action 'none'"
    )


def fragments(snap: Snapshot) -> dict[str, str]:
    """The parts of the page that change as records arrive, by element id."""
    return {
        "stamp": _stamp(snap),
        "overview": _overview(snap),
        "summary": summary_table(snap),
        "timeline": timeline_chart(snap),
        "signatures": signature_chart(snap),
    }


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """The snapshot's numbers as JSON-ready data (examples left out)."""
    routes = [
        {
            "route": v.summary.route,
            "summary": {**asdict(v.summary), "match_rate": v.summary.match_rate},
            "verdict": asdict(v.verdict),
        }
        for v in snap.routes
    ]
    return {
        "generated_at": snap.generated_at,
        "since": snap.since,
        "thresholds": asdict(snap.thresholds),
        "routes": routes,
        "signatures": [asdict(s) for s in snap.signatures],
        "timelines": {v.summary.route: [asdict(p) for p in v.timeline] for v in snap.routes},
    }


# -- formatting ---------------------------------------------------------------


def pct(rate: float) -> str:
    """A rate as a percentage that never rounds up to 100% (``97.5%``, ``99.95%``)."""
    if rate >= 1.0:
        return "100%"
    digits = 1 if rate < 0.99 else 2
    value = min(round(rate * 100, digits), 100 - 10**-digits)
    return f"{value:.{digits}f}%"


def ms(seconds: float) -> str:
    """A latency for people: ``12.3 ms`` or ``1.20 s``."""
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def when(t: float, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """An epoch second in UTC."""
    return time.strftime(fmt, time.gmtime(t))


def anchor(signature: str) -> str:
    """The element id of a signature's drill-down."""
    return "sig-" + re.sub(r"[^A-Za-z0-9_-]", "_", signature)


def describe(differences: Iterable[Difference]) -> str:
    """A one-line name for a set of differences: the first one and how many more."""
    diffs = list(differences)
    if not diffs:
        return "(no differences)"
    more = f" +{len(diffs) - 1} more" if len(diffs) > 1 else ""
    return f"{diffs[0].kind} at {diffs[0].where}{more}"


def _colour(snap: Snapshot, route: str) -> str:
    names = [v.summary.route for v in snap.routes]
    index = names.index(route) if route in names else len(names)
    return PALETTE[index % len(PALETTE)]


# -- the summary ------------------------------------------------------------------


def _stamp(snap: Snapshot) -> str:
    window = f" · since {when(snap.since)}" if snap.since is not None else " · all stored records"
    return _e(f"Generated {when(snap.generated_at)}{window}")


def _overview(snap: Snapshot) -> str:
    ready = sum(v.verdict.ready for v in snap.routes)
    t = snap.thresholds
    bar = (
        f"needs ≥ {t.min_compared} compared, match rate ≥ {pct(t.min_match_rate)}, "
        f"errors ≤ {t.max_error_rate:.2%}, latency ≤ {t.max_latency_ratio:g}x control"
    )
    return (
        f'<p class="overview"><b>{ready} of {len(snap.routes)}</b> routes ready to canary '
        f'<span class="muted">({_e(bar)})</span></p>'
    )


def summary_table(snap: Snapshot) -> str:
    """The per-route table: totals, latencies and the verdict."""
    if not snap.routes:
        return '<p class="muted">No shadow records yet.</p>'
    head = (
        "<tr><th>Route</th><th>Verdict</th><th>Compared</th><th>Match rate</th>"
        "<th>Mismatches</th><th>Noise only</th><th>Candidate errors</th><th>Skipped</th>"
        "<th>Control p50 / p99</th><th>Candidate p50 / p99</th></tr>"
    )
    rows = "".join(_summary_row(v, snap) for v in snap.routes)
    return f'<table class="summary"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _summary_row(view: RouteView, snap: Snapshot) -> str:
    s, v, t = view.summary, view.verdict, snap.thresholds
    tone = TONES[v.label]
    reasons = "".join(f"<li>{_e(r)}</li>" for r in v.reasons)
    skips = "".join(f"<div>{_e(k)} {n}</div>" for k, n in sorted(s.skips.items()) if n)
    rate_tone = "good" if s.match_rate >= t.min_match_rate else "bad"
    errors, _ = error_rate(s)
    slow = any(r.startswith("candidate p") for r in v.reasons)
    return (
        f'<tr data-route="{_e(s.route)}">'
        f'<th scope="row"><span class="swatch" style="background:{_colour(snap, s.route)}">'
        f"</span>{_e(s.route)}</th>"
        f'<td><span class="badge {tone}">{_e(v.label)}</span>'
        f'<ul class="reasons">{reasons}</ul></td>'
        f'<td class="num">{s.compared}</td>'
        f'<td class="num rate {rate_tone}">{pct(s.match_rate)}</td>'
        f'<td class="num">{s.mismatched}</td><td class="num">{s.noise_only}</td>'
        f'<td class="num{" bad" if errors else ""}">{errors}</td>'
        f'<td class="skips">{skips or "&ndash;"}</td>'
        f'<td class="num">{ms(s.control_p50)} / {ms(s.control_p99)}</td>'
        f'<td class="num{" wait" if slow else ""}">{ms(s.candidate_p50)} / '
        f"{ms(s.candidate_p99)}</td></tr>"
    )


# -- charts ---------------------------------------------------------------------


def coarsen(
    series: dict[str, list[TimePoint]], max_points: int = MAX_POINTS
) -> dict[str, list[TimePoint]]:
    """Merge buckets so no series has more than ``max_points`` (one grid for all series)."""
    if all(len(points) <= max_points for points in series.values()):
        return series
    starts = [p.start for points in series.values() for p in points]
    t0 = min(starts)
    width = (max(starts) - t0) / (max_points - 1) or 1.0
    out: dict[str, list[TimePoint]] = {}
    for route, points in series.items():
        merged: dict[int, tuple[int, int]] = {}
        for p in points:
            slot = int((p.start - t0) // width)
            n, m = merged.get(slot, (0, 0))
            merged[slot] = (n + p.compared, m + p.matched)
        out[route] = [TimePoint(t0 + k * width, n, m) for k, (n, m) in sorted(merged.items())]
    return out


def timeline_chart(snap: Snapshot, width: int = 960, height: int = 280) -> str:
    """A line per route of its match rate per time bucket, as inline SVG."""
    series = coarsen({v.summary.route: [p for p in v.timeline if p.compared] for v in snap.routes})
    points = [p for ps in series.values() for p in ps]
    if not points:
        return '<p class="muted">No comparisons in this window.</p>'
    left, right, top, bottom = 60, 16, 12, 30
    t_lo, t_hi = min(p.start for p in points), max(p.start for p in points)
    low = min(p.matched / p.compared for p in points)
    y_lo = min(math.floor(low * 20) / 20, 0.99)  # 5% steps, never narrower than 99-100%
    y_lo = min(y_lo, snap.thresholds.min_match_rate)

    def x(t: float) -> float:
        return left + (t - t_lo) / ((t_hi - t_lo) or 1) * (width - left - right)

    def y(rate: float) -> float:
        return top + (1 - rate) / (1 - y_lo) * (height - top - bottom)

    out = [
        f'<svg class="chart timeline" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Match rate over time per route">'
    ]
    for i in range(5):
        rate = y_lo + (1 - y_lo) * i / 4
        out.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(rate):.1f}" '
            f'y2="{y(rate):.1f}"/><text class="axis" x="{left - 6}" y="{y(rate) + 4:.1f}" '
            f'text-anchor="end">{pct(rate)}</text>'
        )
    fmt = "%H:%M" if t_hi - t_lo < 86_400 else "%m-%d %H:%M"
    for i in range(5 if t_hi > t_lo else 1):
        t = t_lo + (t_hi - t_lo) * i / 4
        out.append(
            f'<text class="axis" x="{x(t):.1f}" y="{height - 8}" text-anchor="middle">'
            f"{when(t, fmt)}</text>"
        )
    bar = y(snap.thresholds.min_match_rate)
    out.append(
        f'<line class="threshold" x1="{left}" x2="{width - right}" y1="{bar:.1f}" y2="{bar:.1f}"/>'
    )
    for route, ps in series.items():
        colour, name = _colour(snap, route), _e(route)
        coords = " ".join(f"{x(p.start):.1f},{y(p.matched / p.compared):.1f}" for p in ps)
        out.append(
            f'<polyline class="series" data-route="{name}" stroke="{colour}" points="{coords}"/>'
        )
        out.extend(
            f'<circle class="pt" data-route="{name}" fill="{colour}" r="2.5" '
            f'cx="{x(p.start):.1f}" cy="{y(p.matched / p.compared):.1f}"><title>{name} '
            f"{when(p.start, '%H:%M')}: {pct(p.matched / p.compared)} of {p.compared}"
            "</title></circle>"
            for p in ps
        )
    out.append("</svg>")
    legend = "".join(
        f'<span><i class="swatch" style="background:{_colour(snap, r)}"></i>{_e(r)}</span>'
        for r in series
    )
    note = f"dashed: the {pct(snap.thresholds.min_match_rate)} bar"
    return "".join(out) + f'<p class="legend">{legend}<span class="muted">{_e(note)}</span></p>'


def signature_chart(snap: Snapshot, width: int = 960) -> str:
    """Horizontal bars: each mismatch signature by how many requests it explains."""
    if not snap.signatures:
        return '<p class="muted">No mismatches: nothing to explain.</p>'
    row, label_w, count_w = 28, 380, 60
    top = max(s.count for s in snap.signatures)
    out = [
        f'<svg class="chart bars" viewBox="0 0 {width} {row * len(snap.signatures) + 4}" '
        'role="img" aria-label="Mismatch signatures by volume">'
    ]
    for i, s in enumerate(snap.signatures):
        y = i * row + 2
        length = max(2.0, s.count / top * (width - label_w - count_w))
        label = f"{s.route} · {describe(s.differences)}"
        short = label if len(label) <= 52 else label[:51] + "…"
        out.append(
            f'<a href="#{anchor(s.signature)}"><title>{_e(label)} ({_e(s.signature)})</title>'
            f'<text class="label" x="{label_w - 8}" y="{y + 17}" text-anchor="end">'
            f"{_e(short)}</text>"
            f'<rect class="bar" data-signature="{_e(s.signature)}" x="{label_w}" y="{y + 4}" '
            f'width="{length:.1f}" height="{row - 8}" rx="3" fill="{_colour(snap, s.route)}"/>'
            f'<text class="count" x="{label_w + length + 6:.1f}" y="{y + 17}">{s.count}</text></a>'
        )
    return "".join(out) + "</svg>"


# -- drill-down -------------------------------------------------------------------


def drilldown(snap: Snapshot) -> str:
    """Every signature as a ``<details>`` (the most frequent open): differences, examples."""
    if not snap.signatures:
        return '<p class="muted">No mismatch signatures.</p>'
    return "".join(
        _signature(s, snap.examples.get(s.signature, []), open_=i == 0)
        for i, s in enumerate(snap.signatures)
    )


def _signature(s: SignatureSummary, examples: list[Example], *, open_: bool) -> str:
    rows = "".join(
        f'<tr><td><span class="kind">{_e(d.kind)}</span></td><td><code>{_e(d.where)}</code></td>'
        f'<td><code class="control">{_e(d.control)}</code></td>'
        f'<td><code class="candidate">{_e(d.candidate)}</code></td></tr>'
        for d in s.differences
    )
    shown = "".join(_example(x, open_=i == 0) for i, x in enumerate(examples))
    shown = shown or '<p class="muted">No stored examples.</p>'
    return (
        f'<details class="sig" id="{anchor(s.signature)}"{" open" if open_ else ""}><summary>'
        f'<span class="count">{s.count}&times;</span> <b>{_e(s.route)}</b> '
        f"{_e(describe(s.differences))} "
        f'<code class="muted">{_e(s.signature)}</code> <span class="muted">seen '
        f"{when(s.first_seen)} &ndash; {when(s.last_seen)}</span></summary>"
        '<table class="diffs"><thead><tr><th>Kind</th><th>Where</th><th>Control</th>'
        f"<th>Candidate</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<h4>Examples ({len(examples)})</h4>{shown}</details>"
    )


def _example(x: Example, *, open_: bool) -> str:
    m = x.record.mirrored
    target = m.path + (f"?{m.query}" if m.query else "")
    control, candidate = ("migrated", "legacy") if m.reverse else ("legacy", "migrated")
    effects = "".join(_effect(fx) for fx in m.side_effects)
    effects_html = (
        '<h5>Captured side effects (candidate)</h5><table class="effects"><thead><tr><th>Topic</th>'
        f"<th>Key</th><th>Value</th><th>Headers</th></tr></thead><tbody>{effects}</tbody></table>"
        if effects
        else '<p class="muted">No captured side effects.</p>'
    )
    return (
        f'<details class="example"{" open" if open_ else ""}><summary><code>{_e(m.method)} '
        f'{_e(target)}</code> <span class="muted">{_e(m.request_id)} · {when(m.at)}</span>'
        f'</summary><div class="request"><h5>Request</h5>{_headers(m.request_headers)}'
        f"{_body(m.request_body)}</div>"
        f'<div class="sides">{_side(f"Control ({control})", m.control)}'
        f"{_side(f'Candidate ({candidate})', m.candidate)}</div>{effects_html}</details>"
    )


def _effect(fx: SideEffect) -> str:
    key = _e(fx.key.decode("utf-8", "replace")) if fx.key is not None else "&ndash;"
    headers = _headers((k, v.decode("utf-8", "replace")) for k, v in fx.headers)
    return (
        f"<tr><td><code>{_e(fx.topic)}</code></td><td><code>{key}</code></td>"
        f"<td>{_body(fx.value)}</td><td>{headers}</td></tr>"
    )


def _side(title: str, a: Answer) -> str:
    error = f'<p class="error">{_e(a.error)}</p>' if a.error else ""
    return (
        f'<div class="side"><h5>{_e(title)}: <b>{a.status}</b> '
        f'<span class="muted">{ms(a.seconds)}</span></h5>{error}{_headers(a.headers)}'
        f"{_body(a.body)}</div>"
    )


def _headers(headers: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in headers)
    return f'<table class="headers">{rows}</table>' if rows else ""


def _body(data: bytes) -> str:
    if not data:
        return '<p class="muted">(empty body)</p>'
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f'<pre class="body">({len(data)} bytes, not UTF-8)\n{_e(data[:512].hex(" "))}</pre>'
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    cut = (
        f"\n… ({len(text) - MAX_BODY_CHARS} more characters)" if len(text) > MAX_BODY_CHARS else ""
    )
    return f'<pre class="body">{_e(text[:MAX_BODY_CHARS])}{_e(cut)}</pre>'


CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa;--good:#1a7f37;--wait:#9a6700;
--bad:#cf222e;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg)}
body{margin:0 auto;padding:16px 28px 48px;max-width:1320px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 8px;padding-bottom:4px;
border-bottom:1px solid var(--line)}h4{margin:14px 0 6px}h5{margin:10px 0 4px;font-size:13px}
.muted{color:var(--muted)}.stamp{margin:0;color:var(--muted)}#live:empty{display:none}
#live{margin:2px 0}.live-bad{color:var(--bad)}
table{border-collapse:collapse}
.summary{width:100%}.summary tbody th{white-space:nowrap}
.summary th,.summary td{padding:6px 10px;border-bottom:1px solid var(--line);
text-align:left;vertical-align:top}.summary thead th{background:var(--bg);font-size:12px;
color:var(--muted);white-space:nowrap}.num{text-align:right!important;font-variant-numeric:tabular-nums;
white-space:nowrap}td.good,.rate.good{color:var(--good)}td.bad{color:var(--bad);font-weight:600}
td.wait{color:var(--wait);font-weight:600}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-weight:600;font-size:12px;
white-space:nowrap;border:1px solid}
.badge.good{color:var(--good);background:#dafbe1;border-color:#8ee2a0}
.badge.wait{color:var(--wait);background:#fff8c5;border-color:#e9cf6a}
.badge.bad{color:var(--bad);background:#ffebe9;border-color:#f5a8a8}
.summary td:nth-child(2){min-width:220px}.skips{white-space:nowrap}
#summary{overflow-x:auto}
.reasons{margin:3px 0 0;padding-left:16px;font-size:12px;color:var(--muted)}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.chart{width:100%;height:auto;display:block}.chart text{font-size:11px;fill:var(--muted)}
.grid{stroke:#eaeef2}.threshold{stroke:var(--good);stroke-dasharray:5 4}
.series{fill:none;stroke-width:2}
.bars .label{fill:var(--fg);font-size:12px}.bars a:hover rect{opacity:.8}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:4px 0 0 60px;font-size:12px}
.overview{margin:4px 0 10px}
details.sig{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:0 12px}
details.sig>summary{padding:8px 0;cursor:pointer}
details.sig[open]>summary{border-bottom:1px solid var(--line)}
.count{font-weight:700;font-variant-numeric:tabular-nums}
details.example{margin:8px 0 12px;padding:6px 10px;background:var(--bg);border-radius:6px}
details.example>summary{cursor:pointer}
.diffs th,.diffs td,.effects th,.effects td{padding:4px 10px;border-bottom:1px solid var(--line);
text-align:left;vertical-align:top}.kind{font-size:12px;font-weight:600;text-transform:uppercase}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code.control{background:#ffebe9;padding:1px 4px;border-radius:3px}
code.candidate{background:#dafbe1;padding:1px 4px;border-radius:3px}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:12px}.side{min-width:0}
.headers{font:12px ui-monospace,monospace;margin:2px 0 6px}.headers th{text-align:left;
padding-right:12px;color:var(--muted);font-weight:400}
pre.body{background:#fff;border:1px solid var(--line);border-radius:4px;padding:8px;margin:0;
max-height:320px;overflow:auto;white-space:pre-wrap;word-break:break-word;font-size:12px}
.error{color:var(--bad);font-weight:600;margin:4px 0}
"""
