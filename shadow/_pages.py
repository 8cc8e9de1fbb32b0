"""The shadow-diff pages: a self-contained HTML report and the dashboard's sections.

Strategy: reading and rendering are separate.  ``collect`` (``_view``) asks a
``ShadowReader`` everything once and returns a ``Snapshot``; every renderer
is a pure function of that snapshot, returning HTML text: the routes table
and the learned noise here, the charts in ``_charts``, the drill-down in
``_drilldown``.  The charts are drawn in Python, so the report is one file
with no script and no external asset, and the dashboard refreshes by
swapping the very same fragments (``fragments``) into its page: one renderer
for both, tested once.

Everything that came from a request or an answer is untrusted: every string
goes through ``html.escape`` on its way into the page, and the page carries a
Content-Security-Policy that forbids scripts (the dashboard allows only its
own, by nonce), so a missed escape still could not run code.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ._charts import signature_chart, timeline_chart
from ._drilldown import drilldown
from ._model import RouteSummary, ShadowReader, SignatureSummary
from ._readiness import Thresholds, error_rate
from ._signature import describe
from ._view import RouteView, Snapshot, collect, colour, e, ms, pct, when

__all__ = [
    "RouteView",
    "Snapshot",
    "collect",
    "csp",
    "fragments",
    "pct",
    "render_page",
    "render_report",
    "snapshot_json",
    "write_report_html",
]
TONES = {
    "ready to canary": "good",
    "not enough traffic": "wait",
    "too slow": "wait",
    "mismatches": "bad",
    "candidate errors": "bad",
}
FRAGMENTS = ("stamp", "overview", "summary", "timeline", "signatures", "aside", "noise")


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
        f'<header><h1>{e(title)}</h1><p class="stamp" id="stamp">{parts["stamp"]}</p>'
        f'<p class="muted" id="live"></p></header>'
        f'<section><h2>Routes</h2><div id="overview">{parts["overview"]}</div>'
        f'<div id="summary">{parts["summary"]}</div></section>'
        f'<section><h2>Match rate over time</h2><div id="timeline">{parts["timeline"]}</div>'
        "</section>"
        f'<section><h2>Mismatch signatures by volume</h2><div id="signatures">'
        f"{parts['signatures']}</div></section>"
        "<section><h2>Set aside: re-judged, accepted and unlearned noise</h2>"
        f'<div id="aside">{parts["aside"]}</div></section>'
        f'<section><h2>Learned noise</h2><div id="noise">{parts["noise"]}</div></section>'
        f"<section><h2>Drill-down</h2>{frozen}{drilldown(snap)}</section>"
    )
    tag = f'<script nonce="{e(nonce)}">{script}</script>' if script else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp(nonce if script else ""))}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>"
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
        "aside": aside_table(snap),
        "noise": noise_table(snap),
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
        "labels": snap.labels,
        "timeline_bucket": snap.bucket,
        "timelines": {v.summary.route: [asdict(p) for p in v.timeline] for v in snap.routes},
        "noise": [asdict(n) for n in snap.noise],
        "set_aside": [asdict(s) for s in snap.aside],
    }


# -- the summary ------------------------------------------------------------------


def _stamp(snap: Snapshot) -> str:
    window = f" · since {when(snap.since)}" if snap.since is not None else " · all stored records"
    return e(f"Generated {when(snap.generated_at)}{window}")


def _overview(snap: Snapshot) -> str:
    ready = sum(v.verdict.ready for v in snap.routes)
    t = snap.thresholds
    bar = (
        f"needs ≥ {t.min_compared} compared, match rate ≥ {pct(t.min_match_rate)}, "
        f"errors ≤ {t.max_error_rate:.2%}, latency ≤ {t.max_latency_ratio:g}x control"
    )
    return (
        f'<p class="overview"><b>{ready} of {len(snap.routes)}</b> routes ready to canary '
        f'<span class="muted">({e(bar)})</span></p>'
    )


def summary_table(snap: Snapshot) -> str:
    """The per-route table: totals, latencies and the verdict, narrow enough for 1280 px."""
    if not snap.routes:
        return '<p class="muted">No shadow records yet.</p>'
    head = (
        "<tr><th>Route</th><th>Verdict</th><th>Compared</th><th>Match rate</th>"
        "<th>Mis&shy;matches</th><th>Noise only</th><th>Candidate errors</th><th>Skipped</th>"
        "<th>Latency p50 / p99</th></tr>"
    )
    rows = "".join(_summary_row(v, snap) for v in snap.routes)
    return f'<table class="summary"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _summary_row(view: RouteView, snap: Snapshot) -> str:
    s, v, t = view.summary, view.verdict, snap.thresholds
    tone = TONES[v.label]
    reasons = "".join(f"<li>{e(r)}</li>" for r in v.reasons)
    skips = "".join(f"<div>{e(k)} {n}</div>" for k, n in sorted(s.skips.items()) if n)
    rate_tone = "good" if s.match_rate >= t.min_match_rate else "bad"
    errors, _ = error_rate(s)
    slow = any(r.startswith("candidate p") for r in v.reasons)
    return (
        f'<tr data-route="{e(s.route)}">'
        f'<th scope="row"><span class="swatch" style="background:{colour(snap, s.route)}">'
        f"</span>{e(s.route)}</th>"
        f'<td><span class="badge {tone}">{e(v.label)}</span>'
        f'<ul class="reasons">{reasons}</ul></td>'
        f'<td class="num">{s.compared}</td>'
        f'<td class="num rate {rate_tone}">{pct(s.match_rate)}</td>'
        f'<td class="num">{s.mismatched}{_moved(s)}</td><td class="num">{s.noise_only}</td>'
        f'<td class="num{" bad" if errors else ""}">{errors}</td>'
        f'<td class="skips">{skips or "&ndash;"}</td>'
        f'<td class="latency"><div><span class="muted">control</span> '
        f"{_pair(s.control_p50, s.control_p99)}</div>"
        f'<div class="{"wait" if slow else ""}"><span class="muted">candidate</span> '
        f"{_pair(s.candidate_p50, s.candidate_p99)}</div></td></tr>"
    )


def _moved(s: RouteSummary) -> str:
    """The mismatches no longer counted, under the count: re-judged, accepted, unlearned."""
    moved = ((s.rejudged, "re-judged"), (s.accepted, "accepted"), (s.unlearned, "unlearned noise"))
    notes = [f"{n} {what}" for n, what in moved if n]
    return "".join(f'<div class="muted">{note}</div>' for note in notes)


# -- set aside --------------------------------------------------------------------


def aside_table(snap: Snapshot) -> str:
    """Signatures that no longer count: re-judged, accepted with a reason, or unlearned noise."""
    if not snap.aside:
        return '<p class="muted">Nothing set aside: every mismatch signature counts.</p>'
    rows = "".join(
        f'<tr data-route="{e(s.route)}" data-status="{e(s.status)}">'
        f'<td><span class="swatch" style="background:{colour(snap, s.route)}"></span>'
        f"{e(describe(s.route, s.differences))} <code>{e(s.signature)}</code></td>"
        f'<td class="num">{s.count}</td>'
        f"<td>{_why(s)}</td></tr>"
        for s in snap.aside
    )
    return (
        '<table class="noise"><thead><tr><th>Signature</th><th>Records</th><th>Why it no '
        f"longer counts</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _why(s: SignatureSummary) -> str:
    if s.status == "accepted":
        return f'<span class="kind">accepted</span> {e(s.reason)}'
    if s.status == "unlearned":
        return (
            f'<span class="kind">unlearned noise</span> only volatile values differ'
            f" ({e(s.reason)} on both sides) where legacy was never seen to vary:"
            " scrub them, or let noise learn"
        )
    return '<span class="kind">re-judged</span> every difference is learned noise now: matches'


def _pair(p50: float, p99: float) -> str:
    """``12.0 / 45.0 ms``: one unit for both when they share it."""
    a, b = ms(p50), ms(p99)
    if a.endswith(" ms") and b.endswith(" ms"):
        return f"{a[:-3]} / {b}"
    return f"{a} / {b}"


# -- learned noise ----------------------------------------------------------------


def noise_table(snap: Snapshot) -> str:
    """The places learned as noise, per route: where, what kind, and how they were learned."""
    if not snap.noise:
        return (
            '<p class="muted">No noise learned yet: every difference counts. Noise is learned '
            "where legacy answers the same request twice differently.</p>"
        )
    by_route: dict[str, list[str]] = {}
    for n in snap.noise:
        seen = f"{n.first} then {n.second}" if n.first or n.second else ""
        source = f" (request {n.request_id})" if n.request_id else ""
        by_route.setdefault(n.route, []).append(
            f'<tr data-route="{e(n.route)}"><td><code>{e(n.where)}</code></td>'
            f'<td><span class="kind">{e(n.kind)}</span></td>'
            f"<td>{e(n.how or 'legacy asked twice')}{e(source)}"
            f"{f'<div><code>{e(seen)}</code></div>' if seen else ''}</td>"
            f'<td class="nowrap">{when(n.learned_at)}</td></tr>'
        )
    return "".join(
        f'<h3><span class="swatch" style="background:{colour(snap, route)}"></span>{e(route)} '
        f'<span class="muted">{len(rows)} place{"s" if len(rows) != 1 else ""}</span></h3>'
        '<table class="noise"><thead><tr><th>Where</th><th>Kind</th><th>How it was learned'
        f"</th><th>Learned</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        for route, rows in by_route.items()
    )


CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa;--good:#1a7f37;--wait:#9a6700;
--bad:#cf222e;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg)}
body{margin:0 auto;padding:16px 28px 48px;max-width:1320px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 8px;padding-bottom:4px;
border-bottom:1px solid var(--line)}h3{font-size:14px;margin:14px 0 4px}h4{margin:14px 0 6px}
h5{margin:10px 0 4px;font-size:13px}
.muted{color:var(--muted)}.stamp{margin:0;color:var(--muted)}#live:empty{display:none}
#live{margin:2px 0}.live-bad{color:var(--bad)}.nowrap{white-space:nowrap}
table{border-collapse:collapse}
.summary{width:100%}.summary tbody th{overflow-wrap:anywhere;min-width:90px}
.summary th,.summary td{padding:6px 8px;border-bottom:1px solid var(--line);
text-align:left;vertical-align:top}.summary thead th{background:var(--bg);font-size:12px;
color:var(--muted);vertical-align:bottom}
.num{text-align:right!important;font-variant-numeric:tabular-nums;white-space:nowrap}
td.good,.rate.good{color:var(--good)}td.bad{color:var(--bad);font-weight:600}
.wait{color:var(--wait);font-weight:600}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-weight:600;font-size:12px;
white-space:nowrap;border:1px solid}
.badge.good{color:var(--good);background:#dafbe1;border-color:#8ee2a0}
.badge.wait{color:var(--wait);background:#fff8c5;border-color:#e9cf6a}
.badge.bad{color:var(--bad);background:#ffebe9;border-color:#f5a8a8}
.summary td:nth-child(2){min-width:200px}.skips{font-size:13px}.skips div{white-space:nowrap}
.latency{white-space:nowrap;font-variant-numeric:tabular-nums;font-size:13px}
.latency .muted{display:inline-block;width:68px;font-weight:400}
#summary{overflow-x:auto}
.reasons{margin:3px 0 0;padding-left:16px;font-size:12px;color:var(--muted)}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.chart{width:100%;height:auto;display:block}.chart text{font-size:11px;fill:var(--muted)}
.grid{stroke:#eaeef2}.tick{stroke:var(--muted)}.threshold{stroke:var(--good);
stroke-dasharray:5 4}.series{fill:none;stroke-width:2}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:4px 0 0 60px;font-size:12px}
ol.bars{list-style:none;margin:0;padding:0}
ol.bars a{display:grid;grid-template-columns:minmax(0,5fr) minmax(0,4fr);gap:12px;
align-items:center;padding:3px 0;color:inherit;text-decoration:none}
ol.bars a:hover .bar{opacity:.8}ol.bars .label{text-align:right;overflow-wrap:anywhere}
.track{display:flex;align-items:center;gap:6px}.bar{display:block;height:18px;border-radius:3px}
.overview{margin:4px 0 10px}
details.sig{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:0 12px}
details.sig>summary{padding:8px 0;cursor:pointer}
details.sig[open]>summary{border-bottom:1px solid var(--line)}
.count{font-weight:700;font-variant-numeric:tabular-nums}.sig-label{font-weight:600}
details.example{margin:8px 0 12px;padding:6px 10px;background:var(--bg);border-radius:6px}
details.example>summary{cursor:pointer}
.diffs th,.diffs td,.effects th,.effects td,.noise th,.noise td{padding:4px 10px;
border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
.diffs td,.noise td{overflow-wrap:anywhere}table.noise{width:100%}.noise td:first-child{width:24%}
.noise td:nth-child(2){width:8%}.noise td:last-child{width:16%}
.kind{font-size:12px;font-weight:600;text-transform:uppercase}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code.control{background:#ffebe9;padding:1px 4px;border-radius:3px}
code.candidate{background:#dafbe1;padding:1px 4px;border-radius:3px}
tr.invisible{background:#fff8c5}.hint{font-size:12px;color:var(--wait);font-weight:600}
.reveal{margin-top:3px;font-size:12px}.reveal span{font:12px ui-monospace,monospace;
color:var(--bad);font-weight:600}
.sides{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:12px}
.headers{font:12px ui-monospace,monospace;margin:2px 0 6px}.headers th{text-align:left;
padding-right:12px;color:var(--muted);font-weight:400}
.headers tr.diff td,.headers tr.diff th,b.diff{background:#ffd8b5;color:var(--fg)}
pre.body{background:#fff;border:1px solid var(--line);border-radius:4px;padding:8px;margin:0;
max-height:320px;overflow:auto;white-space:pre-wrap;word-break:break-word;font-size:12px}
mark.diff{background:#ffd8b5;outline:1px solid #e8a366;border-radius:2px;color:inherit}
mark.noise{background:#eaeef2;color:var(--muted)}
.error{color:var(--bad);font-weight:600;margin:4px 0}.traceback pre{white-space:pre-wrap;
overflow-wrap:anywhere;font-size:12px;margin:4px 0}
"""
