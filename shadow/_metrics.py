"""Metrics of shadow mode, labelled by route and a closed set of outcomes.

Routes are bounded by the config and outcomes and skip reasons are closed
sets, so no label grows without bound.  Only the counting lives here: the
counts are plain numbers (this module is compiled), since a shadowed request
adds one and a skipped one too; the proxy hands them to prometheus-client as
``strangler_shadow_compared_total`` and ``strangler_shadow_skips_total``
when it is scraped (``proxy._metrics_hot``), as it does for its own
per-request series (``ops/bench/engine_cpu.py --shadow`` measures the path).
"""

from __future__ import annotations

from typing import Final

from ._model import SkipReason

# (route, result) -> comparisons: result is "match", "mismatch" or "error"
COMPARED: Final[dict[tuple[str, str], int]] = {}
# (route, reason) -> requests not compared
SKIPS: Final[dict[tuple[str, str], int]] = {}


def count_compared(route: str, matched: bool, failed: bool = False) -> None:
    """Count one comparison of ``route``: a match, a mismatch, or an ``error`` (candidate raised).

    A failing candidate was counted as a ``candidate_error`` skip before it
    became a record; ``result="error"`` keeps it apart from mismatches.
    """
    key = (route, "error" if failed else "match" if matched else "mismatch")
    COMPARED[key] = COMPARED.get(key, 0) + 1


def count_skip(route: str, reason: SkipReason) -> None:
    """Count one request of ``route`` that was not compared, and why."""
    key = (route, str(reason))
    SKIPS[key] = SKIPS.get(key, 0) + 1
