"""The two charts: match rate over time (inline SVG) and signatures by volume (HTML bars).

Strategy: the timeline draws one point per bucket of the snapshot's width
(chosen from the period, see ``_timeline``), at the bucket's middle, over the
whole period; the axis is labelled at round times and the legend says what
one point is.  The signature bars are HTML, not SVG, so a long label wraps
instead of being cut: the label is what tells causes apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ._model import TimePoint
from ._timeline import bucket_name, label, ticks, time_format
from ._view import Snapshot, anchor, colour, e, pct

Place = Callable[[TimePoint], tuple[float, float]]
WIDTH, HEIGHT = 960, 280
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 12, 30


def timeline_chart(snap: Snapshot, width: int = WIDTH, height: int = HEIGHT) -> str:
    """A line per route of its match rate per time bucket, as inline SVG."""
    series = {v.summary.route: [p for p in v.timeline if p.compared] for v in snap.routes}
    points = [p for ps in series.values() for p in ps]
    if not points:
        return '<p class="muted">No comparisons in this window.</p>'
    bucket = snap.bucket
    t_lo = min(p.start for p in points)
    t_lo = min(t_lo, math.floor(snap.since / bucket) * bucket) if snap.since else t_lo
    t_hi = max(p.start for p in points) + bucket
    t_hi = max(t_hi, snap.generated_at) if snap.since else t_hi
    low = min(p.matched / p.compared for p in points)
    y_lo = min(math.floor(low * 20) / 20, 0.99, snap.thresholds.min_match_rate)

    def x(t: float) -> float:
        return LEFT + (t - t_lo) / ((t_hi - t_lo) or 1) * (width - LEFT - RIGHT)

    def y(rate: float) -> float:
        return TOP + (1 - rate) / (1 - y_lo) * (height - TOP - BOTTOM)

    fmt = time_format(bucket, t_hi - t_lo)
    out = [
        f'<svg class="chart timeline" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Match rate over time per route" data-bucket="{bucket}">'
    ]
    for i in range(5):
        rate = y_lo + (1 - y_lo) * i / 4
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y(rate):.1f}" '
            f'y2="{y(rate):.1f}"/><text class="axis" x="{LEFT - 6}" y="{y(rate) + 4:.1f}" '
            f'text-anchor="end">{pct(rate)}</text>'
        )
    out.extend(
        f'<line class="tick" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{height - BOTTOM}" '
        f'y2="{height - BOTTOM + 4}"/><text class="axis" x="{x(t):.1f}" y="{height - 8}" '
        f'text-anchor="middle">{e(label(t, fmt))}</text>'
        for t in ticks(t_lo, t_hi, bucket)
    )
    bar = y(snap.thresholds.min_match_rate)
    out.append(
        f'<line class="threshold" x1="{LEFT}" x2="{width - RIGHT}" y1="{bar:.1f}" y2="{bar:.1f}"/>'
    )

    def place(p: TimePoint) -> tuple[float, float]:
        return x(p.start + bucket / 2), y(p.matched / p.compared)

    out.extend(_series(snap, route, ps, place, fmt) for route, ps in series.items())
    out.append("</svg>")
    legend = "".join(
        f'<span><i class="swatch" style="background:{colour(snap, r)}"></i>{e(r)}</span>'
        for r in series
    )
    bar_rate = pct(snap.thresholds.min_match_rate)
    note = f"one point per {bucket_name(bucket)} · dashed: the {bar_rate} bar"
    return "".join(out) + f'<p class="legend">{legend}<span class="muted">{e(note)}</span></p>'


def _series(snap: Snapshot, route: str, ps: list[TimePoint], at: Place, fmt: str) -> str:
    colour_, name = colour(snap, route), e(route)
    spots = [(at(p), p) for p in ps]
    coords = " ".join(f"{cx:.1f},{cy:.1f}" for (cx, cy), _ in spots)
    dots = "".join(
        f'<circle class="pt" data-route="{name}" fill="{colour_}" r="2.5" cx="{cx:.1f}" '
        f'cy="{cy:.1f}"><title>{name} {e(label(p.start, fmt))}: '
        f"{pct(p.matched / p.compared)} of {p.compared}</title></circle>"
        for (cx, cy), p in spots
    )
    return (
        f'<polyline class="series" data-route="{name}" stroke="{colour_}" points="{coords}"/>'
        + dots
    )


def signature_chart(snap: Snapshot) -> str:
    """Bars, as HTML: each mismatch signature by how many requests it explains."""
    if not snap.signatures:
        return '<p class="muted">No mismatches: nothing to explain.</p>'
    top = max(s.count for s in snap.signatures)
    rows = "".join(
        f'<li><a href="#{anchor(s.signature)}" title="{e(s.signature)}">'
        f'<span class="label">{e(snap.label(s))}</span><span class="track">'
        f'<span class="bar" data-signature="{e(s.signature)}" style="width:'
        f'{max(0.5, s.count / top * 100):.1f}%;background:{colour(snap, s.route)}"></span>'
        f'<b class="count">{s.count}</b></span></a></li>'
        for s in snap.signatures
    )
    return f'<ol class="bars" aria-label="Mismatch signatures by volume">{rows}</ol>'
