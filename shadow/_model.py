"""The values shadow mode passes between mirroring, comparing, storing and reporting.

Vocabulary (GitHub's Scientist / laboratory): the *control* is the answer the
client got, the *candidate* the one computed on the copy.  In shadow mode the
control is legacy and the candidate the migrated handler; in reverse shadow
(migrated or canary routes) it is the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

DifferenceKind = Literal["status", "header", "missing", "extra", "type", "value", "text", "digest"]
SkipReason = Literal[
    "sampled_out", "queue_full", "body_too_large", "timeout", "candidate_error", "unsafe_method"
]


@dataclass(frozen=True, slots=True)
class Answer:
    """One side's answer to the request (or its failure)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    seconds: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SideEffect:
    """A message the candidate emitted into its outbox (captured, never sent)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Mirrored:
    """A request that ran on both sides: what the comparer receives."""

    route: str
    request_id: str
    at: float  # epoch seconds
    method: str
    path: str
    query: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    control: Answer
    candidate: Answer
    reverse: bool = False
    second_control: Answer | None = None  # legacy asked twice, for noise learning
    side_effects: tuple[SideEffect, ...] = ()


@dataclass(frozen=True, slots=True)
class Difference:
    """One place where the answers differ.

    ``where`` is ``status``, ``header:<name>`` or ``body`` plus a JSON pointer
    (``body/items/0/price``); values are short renderings for people.
    """

    kind: DifferenceKind
    where: str
    control: str
    candidate: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome of comparing one mirrored request."""

    matched: bool
    differences: tuple[Difference, ...]
    noise: tuple[Difference, ...]  # differences on paths learned as noise: not counted
    signature: str  # stable id of (route, set of (kind, normalised where)); "" when matched


@dataclass(frozen=True, slots=True)
class ShadowRecord:
    """What is stored and reported: the request, both answers, the comparison."""

    mirrored: Mirrored
    comparison: Comparison


@dataclass(frozen=True, slots=True)
class Skip:
    """Requests that were not compared, and why (``count`` of them in ``at``'s minute)."""

    route: str
    reason: SkipReason
    at: float
    count: int = 1


@dataclass(slots=True)
class RouteSummary:
    """Per-route totals over a time window, for reports and the dashboard."""

    route: str
    compared: int = 0
    matched: int = 0
    mismatched: int = 0
    noise_only: int = 0
    candidate_errors: int = 0
    skips: dict[str, int] = field(default_factory=dict)
    control_p50: float = 0.0
    control_p99: float = 0.0
    candidate_p50: float = 0.0
    candidate_p99: float = 0.0

    @property
    def match_rate(self) -> float:
        """Matched share of compared requests (1.0 when nothing was compared)."""
        return self.matched / self.compared if self.compared else 1.0


@dataclass(frozen=True, slots=True)
class SignatureSummary:
    """One cause of mismatches: how often, since when, and what differs."""

    route: str
    signature: str
    count: int
    first_seen: float
    last_seen: float
    differences: tuple[Difference, ...]  # of the latest example


@dataclass(frozen=True, slots=True)
class Example:
    """A stored full example of a signature (secrets already redacted)."""

    signature: str
    record: ShadowRecord


@dataclass(frozen=True, slots=True)
class TimePoint:
    """Match rate of a route in one time bucket (for the charts)."""

    start: float
    compared: int
    matched: int


class ShadowReader(Protocol):
    """What reports and the dashboard read (implemented by the SQLite store)."""

    def routes(self, since: float | None = None) -> list[RouteSummary]: ...

    def signatures(
        self, route: str | None = None, since: float | None = None, limit: int = 20
    ) -> list[SignatureSummary]: ...

    def examples(self, signature: str, limit: int = 5) -> list[Example]: ...

    def timeline(
        self, route: str, bucket: float = 60.0, since: float | None = None
    ) -> list[TimePoint]: ...
