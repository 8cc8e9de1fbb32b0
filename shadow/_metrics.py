"""Prometheus metrics of shadow mode, labelled by route and a closed set of outcomes.

Routes are bounded by the config and outcomes and skip reasons are closed
sets, so no label grows without bound.  Only the definitions and the counting
live here: how a worker's samples reach ``/metrics`` is the proxy's business.
A labelled child is looked up once and kept, so a comparison costs one
``inc``.
"""

from __future__ import annotations

from typing import Any, Final

from prometheus_client import Counter

from ._model import SkipReason

COMPARED: Final = Counter(
    "strangler_shadow_compared_total", "Mirrored requests compared", ["route", "result"]
)
SKIPS: Final = Counter(
    "strangler_shadow_skips_total", "Requests not compared, by reason", ["route", "reason"]
)

_CHILDREN: Final[dict[tuple[Any, str, str], Any]] = {}


def count_compared(route: str, matched: bool, failed: bool = False) -> None:
    """Count one comparison of ``route``: a match, a mismatch, or an ``error`` (candidate raised).

    A failing candidate was counted as a ``candidate_error`` skip before it
    became a record; ``result="error"`` keeps it apart from mismatches.
    """
    result = "error" if failed else "match" if matched else "mismatch"
    _child(COMPARED, route, result).inc()


def count_skip(route: str, reason: SkipReason) -> None:
    """Count one request of ``route`` that was not compared, and why."""
    _child(SKIPS, route, reason).inc()


def _child(metric: Any, route: str, value: str) -> Any:
    key = (metric, route, value)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(route, value)
    return child
