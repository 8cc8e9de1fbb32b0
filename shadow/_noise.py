"""Noise: places where legacy itself answers differently to the same request.

Strategy: the proxy asks legacy twice on a sample of safe requests (and of
POSTs to routes declared ``idempotent``) and hands both answers to
``NoiseModel.learn``, which compares them with the route's own rules and
remembers each difference as a *place and kind*: the normalised ``where``
(``body/items/*/ts``, ``header:expires``) and what changed there.  A later
difference is noise (listed, not counted) only when it has a learned place
and the same kind, so learning that ``took_ms`` varies never hides
``took_ms`` turning into a string or going missing.

Only four kinds are ever learned, the ones legacy can vary in without a
consumer noticing: ``value`` (a JSON scalar changed, its type kept),
``header`` (a header's value changed, present on both sides), ``order``
(an array holding the same elements in another order; the comparer then
walks that array as unordered, so a lost or added element is still found)
and ``token`` (a text or HTML token swapped for one of the same shape at a
place named by its element and attribute or the stable words before it,
see ``_body_text``).  Never learned, because they would hide real
regressions for good: status, content-type, a missing or extra field or
header, a type change, an array grown or shrunk, ``text`` differences (a
line added or lost, a word or tag changed) and digests, and nothing at all
from a pair whose statuses or media types differ or that has an error.
Each route keeps at most ``max_paths`` places; later ones are dropped.
There is no lock: learning and lookups run without awaits, so one event
loop never interleaves them.

The model is a worker's copy of what the store holds: ``load`` adds places
read from the store (at start, and as peers add theirs), ``learn_places``
says what was newly learned, with the difference that taught it, so that
the worker can write it there.  Loading never removes a place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from ._compare import Shuffled, iter_differences
from ._model import Answer, Difference, LearnedNoise
from ._normalize import ABSENT, content_type, media_type, normalise_where
from ._rules import CompareRules

NoiseKind = Literal["value", "header", "order", "token"]
"""The kinds of difference that can be learned as noise."""
Place = tuple[str, NoiseKind]
"""A learned place: the normalised ``where`` and the kind of change seen there."""

_ALWAYS_REPORTED_HEADERS = frozenset({"header:content-type"})
_KINDS: frozenset[str] = frozenset(get_args(NoiseKind))


def noise_kind(difference: Difference) -> NoiseKind | None:
    """The kind under which ``difference`` can be learned and excused, or None if never.

    Args:
        difference: one difference found by the comparer.

    Returns:
        ``value``, ``order`` and ``token`` as they are; ``header`` for a changed value of
        a header present on both sides other than Content-Type; else None.
    """
    if difference.kind in ("value", "order", "token"):
        return difference.kind
    if (
        difference.kind == "header"
        and difference.where not in _ALWAYS_REPORTED_HEADERS
        and ABSENT not in (difference.control, difference.candidate)
    ):
        return "header"
    return None


class NoiseModel:
    """Per-route sets of places and kinds where two legacy answers to one request differ.

    Args:
        max_paths: the most places (place and kind pairs) kept per route.
    """

    def __init__(self, max_paths: int = 500) -> None:
        self._max_paths = max_paths
        self._places: dict[str, set[Place]] = {}
        self._shuffled: dict[str, set[str]] = {}  # the ``order`` places, for the comparer

    def learn(
        self, route: str, first: Answer, second: Answer, rules: CompareRules
    ) -> frozenset[Place]:
        """Record where, and how, two legacy answers to the same request differ.

        Args:
            route: the route name.
            first: legacy's first answer.
            second: legacy's second answer to the same request.
            rules: the route's comparison rules (ignored paths are not learned).

        Returns:
            The places newly learned by this call.
        """
        return frozenset(place for place, _ in self.learn_places(route, first, second, rules))

    def learn_places(
        self, route: str, first: Answer, second: Answer, rules: CompareRules
    ) -> list[tuple[Place, Difference]]:
        """Like ``learn``, but each new place comes with the difference that taught it."""
        if not _comparable(first, second):
            return []
        added: list[tuple[Place, Difference]] = []
        found = iter_differences(first, second, rules, shuffled=self.shuffled(route))
        for difference in found:
            kind = noise_kind(difference)
            if kind is None:
                continue
            place: Place = (normalise_where(difference.where), kind)
            if place in self._places.get(route, ()):
                continue
            if not self._add(route, place):
                break
            added.append((place, difference))
        return added

    def load(self, learned: Iterable[LearnedNoise]) -> int:
        """Add places learned elsewhere (the store); kinds this model cannot excuse are skipped.

        Returns:
            How many places were new to this model.
        """
        added = 0
        for row in learned:
            if row.kind not in _KINDS or (row.where, row.kind) in self._places.get(row.route, ()):
                continue
            added += self._add(row.route, (row.where, row.kind))  # type: ignore[arg-type]
        return added

    def _add(self, route: str, place: Place) -> bool:
        places = self._places.setdefault(route, set())
        if len(places) >= self._max_paths:
            return False
        places.add(place)
        if place[1] == "order":
            self._shuffled.setdefault(route, set()).add(place[0])
        return True

    def is_noise(self, route: str, difference: Difference) -> bool:
        """Whether ``difference`` has a place and kind learned as noise on ``route``."""
        places = self._places.get(route)
        if not places:
            return False
        kind = noise_kind(difference)
        return kind is not None and (normalise_where(difference.where), kind) in places

    def shuffled(self, route: str) -> Shuffled | None:
        """Which arrays of ``route`` were learned as shuffled (None when none were)."""
        arrays = self._shuffled.get(route)
        if not arrays:
            return None

        def learned_order(pointer: str) -> bool:
            return normalise_where("body" + pointer) in arrays

        return learned_order

    def learned(self, route: str) -> frozenset[Place]:
        """The places and kinds learned as noise on ``route``."""
        return frozenset(self._places.get(route, ()))


def _comparable(first: Answer, second: Answer) -> bool:
    """Whether two legacy answers can teach anything: no error, same status and media type."""
    if first.error is not None or second.error is not None or first.status != second.status:
        return False
    return media_type(content_type(first.headers)) == media_type(content_type(second.headers))


def excused(differences: Iterable[Difference], places: frozenset[Place]) -> bool:
    """Whether every one of ``differences`` (at least one) is noise at ``places``.

    The test a record made before its places were learned is re-judged by:
    under the current model it would have matched.
    """
    seen = False
    for difference in differences:
        kind = noise_kind(difference)
        if kind is None or (normalise_where(difference.where), kind) not in places:
            return False
        seen = True
    return seen
