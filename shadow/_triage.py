"""Which causes still count: re-judging by the current noise, and accepted signatures.

Strategy: the store keeps totals and one row per signature, not every record,
so a cause is judged as a whole.  A signature's key is its set of (kind,
place); when every difference of it is a kind of change now learned as noise
at its place (``_noise.excused``), each of its records would match under the
current model: they are *re-judged*, moved from mismatched to matched.  Every
record of such a signature was made before its places were learned (after,
it would have matched already), so nothing made later is touched.  A
signature an engineer *accepted* (with a reason) is neither: its records
leave the mismatches and the match rate's denominator, so the verdict is
taken over what is left.  Both are shown apart, never hidden.  A signature
whose stored differences were cut at ``MAX_DIFFERENCES`` is never re-judged:
the differences beyond the cut are unknown.  Pure functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from ._compare import MAX_DIFFERENCES
from ._model import LearnedNoise, RouteSummary, SignatureSummary
from ._noise import Place, excused


def classify(
    found: Iterable[SignatureSummary],
    noise: Iterable[LearnedNoise],
    accepted: Mapping[tuple[str, str], str],
) -> tuple[list[SignatureSummary], list[SignatureSummary]]:
    """Split signatures into those still counted and those set aside (re-judged or accepted).

    Args:
        found: signatures with their counts in the window, most frequent first.
        noise: the places learned as noise.
        accepted: ``(route, signature)`` to the reason it was accepted.

    Returns:
        ``(open, aside)``, each in the order found; the aside ones carry
        their ``status`` (and ``reason``).
    """
    places: dict[str, set[Place]] = {}
    for n in noise:
        places.setdefault(n.route, set()).add((n.where, n.kind))  # type: ignore[arg-type]
    still: list[SignatureSummary] = []
    aside: list[SignatureSummary] = []
    for s in found:
        reason = accepted.get((s.route, s.signature))
        if reason is not None:
            aside.append(dataclasses.replace(s, status="accepted", reason=reason))
        elif len(s.differences) < MAX_DIFFERENCES and excused(
            s.differences, frozenset(places.get(s.route, ()))
        ):
            aside.append(dataclasses.replace(s, status="rejudged"))
        else:
            still.append(s)
    return still, aside


def settle(summaries: Mapping[str, RouteSummary], aside: Iterable[SignatureSummary]) -> None:
    """Move the records of set-aside signatures out of their routes' mismatches (in place)."""
    for s in aside:
        summary = summaries.get(s.route)
        if summary is None:
            continue
        moved = min(s.count, summary.mismatched)
        summary.mismatched -= moved
        if s.status == "rejudged":
            summary.matched += moved
            summary.rejudged += moved
        elif s.status == "accepted":
            summary.accepted += moved
