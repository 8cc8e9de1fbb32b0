"""Is a route ready to canary?  A pure verdict over one route's shadow totals.

Strategy: every threshold is checked and each failure adds a reason, so the
engineer sees everything that stands in the way at once; the label names the
first failure in this order, most fundamental first:

1. ``not enough traffic``: too few comparisons to trust any rate;
2. ``candidate errors``: a crashing candidate also mismatches, so errors are
   named before the mismatches they cause;
3. ``mismatches``: the match rate is below the bar;
4. ``too slow``: the candidate's p50 or p99 latency is too far above the
   control's.

Candidate failures are counted from both ``candidate_errors`` and the
``candidate_error`` skips: a failure that was never compared must still block
the route (if a store counts one failure in both places the verdict only gets
stricter, never laxer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ._model import RouteSummary

Label = Literal[
    "ready to canary", "not enough traffic", "mismatches", "candidate errors", "too slow"
]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The bar a route must clear to be called ready to canary.

    Args:
        min_compared: fewest compared requests before any verdict but
            ``not enough traffic``.
        min_match_rate: lowest acceptable share of matching answers.
        max_error_rate: highest acceptable share of candidate failures.
        max_latency_ratio: highest acceptable candidate/control ratio of p50
            and of p99 latency.
    """

    min_compared: int = 200
    min_match_rate: float = 0.999
    max_error_rate: float = 0.001
    max_latency_ratio: float = 1.5


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one route: a label for the table and every reason behind it."""

    ready: bool
    label: Label
    reasons: list[str] = field(default_factory=list)


def verdict(summary: RouteSummary, t: Thresholds) -> Verdict:
    """Judge one route's totals against the thresholds.

    Args:
        summary: the route's totals over the window being judged.
        t: the thresholds.
    """
    failures: list[tuple[Label, str]] = []
    if summary.compared < t.min_compared:
        failures.append(
            ("not enough traffic", f"{summary.compared} compared, need {t.min_compared}")
        )
    errors, rate = error_rate(summary)
    if rate > t.max_error_rate:
        failures.append(
            ("candidate errors", f"{errors} candidate errors ({rate:.2%} > {t.max_error_rate:.2%})")
        )
    if summary.compared and summary.match_rate < t.min_match_rate:
        failures.append(
            (
                "mismatches",
                f"{summary.mismatched} mismatches: match rate "
                f"{summary.match_rate:.2%} < {t.min_match_rate:.2%}",
            )
        )
    failures += [("too slow", reason) for reason in _latency_reasons(summary, t)]
    if not failures:
        return Verdict(True, "ready to canary", [])
    return Verdict(False, failures[0][0], [reason for _, reason in failures])


def error_rate(summary: RouteSummary) -> tuple[int, float]:
    """Candidate failures and their share of the requests the candidate ran on."""
    skipped = summary.skips.get("candidate_error", 0)
    errors = summary.candidate_errors + skipped
    attempts = summary.compared + skipped
    return errors, (errors / attempts if attempts else 0.0)


def _latency_reasons(summary: RouteSummary, t: Thresholds) -> list[str]:
    reasons = []
    pairs = (
        ("p50", summary.control_p50, summary.candidate_p50),
        ("p99", summary.control_p99, summary.candidate_p99),
    )
    for name, control, candidate in pairs:
        if control > 0 and candidate / control > t.max_latency_ratio:
            reasons.append(
                f"candidate {name} {candidate * 1000:.1f} ms is {candidate / control:.1f}x "
                f"control's {control * 1000:.1f} ms (max {t.max_latency_ratio:g}x)"
            )
    return reasons
