"""The drill-down: each signature, its places, and its examples with both answers.

Strategy: a signature's own table lists its places with the values of its
latest comparison (that is what the store keeps per signature); every
example then shows *its own* differences next to its own request and both
its answers, so a request is never paired with another request's values.
Values that differ but read alike are shown with escapes and code points
(``_reveal``), and the differing fields are marked inside both bodies, the
headers and the status (``_body_html``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ._body_html import Side, body_html, body_marks, changed_headers, status_changed
from ._model import Answer, Difference, Example, SideEffect, SignatureSummary
from ._reveal import Revealed, reveal
from ._view import Snapshot, anchor, colour, e, ms, when


def drilldown(snap: Snapshot) -> str:
    """Every signature as a ``<details>`` (the most frequent open): places, examples."""
    if not snap.signatures:
        return '<p class="muted">No mismatch signatures.</p>'
    return "".join(
        _signature(snap, s, snap.examples.get(s.signature, []), open_=i == 0)
        for i, s in enumerate(snap.signatures)
    )


def differences_table(differences: Iterable[Difference], *, latest: bool = False) -> str:
    """Kind, place and both values of each difference; look-alike values revealed."""
    rows = "".join(_difference_row(d) for d in differences)
    suffix = " (latest)" if latest else ""
    return (
        '<table class="diffs"><thead><tr><th>Kind</th><th>Where</th>'
        f"<th>Control{suffix}</th><th>Candidate{suffix}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _difference_row(d: Difference) -> str:
    shown = reveal(d.control, d.candidate)
    control = f'<code class="control">{e(d.control)}</code>'
    candidate = f'<code class="candidate">{e(d.candidate)}</code>'
    if shown is not None:
        control += _revealed(shown[0])
        candidate += _revealed(shown[1])
    cls = ' class="invisible"' if shown is not None else ""
    hint = '<div class="hint">reads alike: differs in code points</div>' if shown else ""
    return (
        f'<tr{cls}><td><span class="kind">{e(d.kind)}</span></td><td><code>{e(d.where)}</code>'
        f"{hint}</td><td>{control}</td><td>{candidate}</td></tr>"
    )


def _revealed(side: Revealed) -> str:
    return f'<div class="reveal"><code>{e(side.escaped)}</code> <span>{e(side.points)}</span></div>'


def _signature(snap: Snapshot, s: SignatureSummary, examples: list[Example], *, open_: bool) -> str:
    shown = "".join(_example(x, open_=i == 0) for i, x in enumerate(examples))
    shown = shown or '<p class="muted">No stored examples.</p>'
    return (
        f'<details class="sig" id="{anchor(s.signature)}"{" open" if open_ else ""}><summary>'
        f'<span class="count">{s.count}&times;</span> '
        f'<i class="swatch" style="background:{colour(snap, s.route)}"></i>'
        f'<span class="sig-label">{e(snap.label(s))}</span> '
        f'<code class="muted">{e(s.signature)}</code> <span class="muted">seen '
        f"{when(s.first_seen)} &ndash; {when(s.last_seen)}</span></summary>"
        f"{differences_table(s.differences, latest=True)}"
        f"<h4>Examples ({len(examples)})</h4>{shown}</details>"
    )


def _example(x: Example, *, open_: bool) -> str:
    m, c = x.record.mirrored, x.record.comparison
    target = m.path + (f"?{m.query}" if m.query else "")
    control, candidate = ("migrated", "legacy") if m.reverse else ("legacy", "migrated")
    effects = "".join(_effect(fx) for fx in m.side_effects)
    effects_html = (
        '<h5>Captured side effects (candidate)</h5><table class="effects"><thead><tr><th>Topic</th>'
        f"<th>Key</th><th>Value</th><th>Headers</th></tr></thead><tbody>{effects}</tbody></table>"
        if effects
        else '<p class="muted">No captured side effects.</p>'
    )
    noise = (
        f'<p class="muted noise-note">Excused as learned noise: '
        f"{e(', '.join(sorted({f'{d.kind} {d.where}' for d in c.noise})))}</p>"
        if c.noise
        else ""
    )
    return (
        f'<details class="example" data-request="{e(m.request_id)}"{" open" if open_ else ""}>'
        f"<summary><code>{e(m.method)} {e(target)}</code> "
        f'<span class="muted">{e(m.request_id)} · {when(m.at)}</span></summary>'
        f"<h5>This request's differences</h5>{differences_table(c.differences)}{noise}"
        f'<div class="request"><h5>Request</h5>{_headers(m.request_headers)}'
        f"{body_html(m.request_body)}</div>"
        f'<div class="sides">{_side(f"Control ({control})", m.control, x, "control")}'
        f"{_side(f'Candidate ({candidate})', m.candidate, x, 'candidate')}</div>"
        f"{effects_html}</details>"
    )


def _effect(fx: SideEffect) -> str:
    key = e(fx.key.decode("utf-8", "replace")) if fx.key is not None else "&ndash;"
    headers = _headers((k, v.decode("utf-8", "replace")) for k, v in fx.headers)
    return (
        f"<tr><td><code>{e(fx.topic)}</code></td><td><code>{key}</code></td>"
        f"<td>{body_html(fx.value)}</td><td>{headers}</td></tr>"
    )


def _side(title: str, a: Answer, x: Example, side: Side) -> str:
    c = x.record.comparison
    error = f'<p class="error">{e(a.error)}</p>' if a.error else ""
    if a.traceback:
        error += (
            '<details class="traceback"><summary>Traceback</summary>'
            f"<pre>{e(a.traceback)}</pre></details>"
        )
    status = f'<b class="diff">{a.status}</b>' if status_changed(c.differences) else ""
    status = status or f"<b>{a.status}</b>"
    marks = body_marks(c.differences, c.noise, side)
    return (
        f'<div class="side {side}"><h5>{e(title)}: {status} '
        f'<span class="muted">{ms(a.seconds)}</span></h5>{error}'
        f"{_headers(a.headers, changed_headers(c.differences))}{body_html(a.body, marks)}</div>"
    )


def _headers(headers: Iterable[tuple[str, str]], changed: frozenset[str] = frozenset()) -> str:
    rows = "".join(
        f"<tr{' class=diff' if k.lower() in changed else ''}><th>{e(k)}</th><td>{e(v)}</td></tr>"
        for k, v in headers
    )
    return f'<table class="headers">{rows}</table>' if rows else ""
