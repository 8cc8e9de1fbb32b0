"""Noise: places where legacy itself answers differently to the same request.

Strategy: the proxy asks legacy twice on a sample of safe requests and hands
both answers to ``NoiseModel.learn``, which compares them with the route's
own rules and remembers the normalised ``where`` of every difference
(``body/items/*/ts``, ``header:expires``).  A later difference at a learned
place, or under one, is noise: listed, not counted.

What is never learned, because it would hide real regressions for good:
``status`` (a flaky legacy status would mask every status change), the whole
``body`` (a text or binary body differing once would mask every body change;
scrub rules are the remedy there), and nothing at all from a pair whose
statuses differ or that has an error.  Each route keeps at most
``max_paths`` places; later ones are dropped.  There is no lock: learning and
lookups run without awaits, so one event loop never interleaves them.
"""

from __future__ import annotations

from ._compare import iter_differences
from ._model import Answer
from ._normalize import normalise_where
from ._rules import CompareRules

_NEVER_LEARNED = frozenset({"status", "body"})


class NoiseModel:
    """Per-route sets of places where two legacy answers to one request differ.

    Args:
        max_paths: the most places kept per route.
    """

    def __init__(self, max_paths: int = 500) -> None:
        self._max_paths = max_paths
        self._paths: dict[str, set[str]] = {}

    def learn(
        self, route: str, first: Answer, second: Answer, rules: CompareRules
    ) -> frozenset[str]:
        """Record where two legacy answers to the same request differ.

        Args:
            route: the route name.
            first: legacy's first answer.
            second: legacy's second answer to the same request.
            rules: the route's comparison rules (ignored paths are not learned).

        Returns:
            The places newly learned by this call.
        """
        if first.error is not None or second.error is not None or first.status != second.status:
            return frozenset()
        paths = self._paths.setdefault(route, set())
        added: set[str] = set()
        for difference in iter_differences(first, second, rules):
            where = normalise_where(difference.where)
            if where in _NEVER_LEARNED or where in paths:
                continue
            if len(paths) >= self._max_paths:
                break
            paths.add(where)
            added.add(where)
        return frozenset(added)

    def is_noise(self, route: str, where: str) -> bool:
        """Whether ``where`` (or a place above it) was learned as noise on ``route``."""
        paths = self._paths.get(route)
        if not paths:
            return False
        where = normalise_where(where)
        while True:
            if where in paths:
                return True
            if "/" not in where:
                return False
            where = where.rpartition("/")[0]

    def learned(self, route: str) -> frozenset[str]:
        """The places learned as noise on ``route``."""
        return frozenset(self._paths.get(route, ()))
