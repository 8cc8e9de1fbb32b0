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
taken over what is left.  A signature whose every difference is a volatile
value on both sides (a value, token or header change that the built-in
scrubbers ``uuid``, ``timestamp``, ``hex_id`` and ``csrf`` make equal) at a
place never learned is *unlearned noise*: legacy varies there too, most
likely, but was never seen to (a value bound to the session, a sample too
small); its records count neither way until the place is learned, scrubbed
or the cause accepted.  All three are shown apart, never hidden.  A signature
whose stored differences were cut at ``MAX_DIFFERENCES`` is never re-judged:
the differences beyond the cut are unknown.  Pure functions.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from ._compare import MAX_DIFFERENCES
from ._model import Difference, LearnedNoise, RouteSummary, SignatureSummary
from ._noise import Place, excused, noise_kind
from ._scrub import BUILTIN_SCRUBBERS, compile_scrubbers

_VOLATILE = compile_scrubbers(BUILTIN_SCRUBBERS)


def classify(
    found: Iterable[SignatureSummary],
    noise: Iterable[LearnedNoise],
    accepted: Mapping[tuple[str, str], str],
) -> tuple[list[SignatureSummary], list[SignatureSummary]]:
    """Split signatures into those still counted and those set aside.

    Args:
        found: signatures with their counts in the window, most frequent first.
        noise: the places learned as noise.
        accepted: ``(route, signature)`` to the reason it was accepted.

    Returns:
        ``(open, aside)``, each in the order found; the aside ones carry
        their ``status`` (``rejudged``, ``accepted`` or ``unlearned``) and
        ``reason``.
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
        elif len(s.differences) < MAX_DIFFERENCES and (volatile := unlearned_noise(s.differences)):
            aside.append(dataclasses.replace(s, status="unlearned", reason=volatile))
        else:
            still.append(s)
    return still, aside


def unlearned_noise(differences: tuple[Difference, ...]) -> str:
    """Which volatile values the differences are, if every one is such a value; else "".

    A difference qualifies when its kind could be learned as noise and the
    built-in scrubbers turn both sides into the same text (two uuids, two
    times, two hex ids, two CSRF tokens).  Returns the placeholders seen
    (``<timestamp>, <uuid>``), as the reason shown.
    """
    assert _VOLATILE is not None
    seen: set[str] = set()
    for d in differences:
        scrubbed = _VOLATILE(d.control)
        if noise_kind(d) is None or scrubbed == d.control or scrubbed != _VOLATILE(d.candidate):
            return ""
        seen.update(re.findall(r"<(?:uuid|timestamp|hex|csrf)>", scrubbed))
    return ", ".join(sorted(seen))


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
        elif s.status == "unlearned":
            summary.unlearned += moved
