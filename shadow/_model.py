"""The values shadow mode passes between mirroring, comparing, storing and reporting.

Vocabulary (GitHub's Scientist / laboratory): the *control* is the answer the
client got, the *candidate* the one computed on the copy.  In shadow mode the
control is legacy and the candidate the migrated handler; in reverse shadow
(migrated or canary routes) it is the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

DifferenceKind = Literal[
    "status",
    "header",
    "missing",
    "extra",
    "type",
    "value",
    "order",
    "token",
    "text",
    "digest",
    "error",
]
SkipReason = Literal[
    "sampled_out", "queue_full", "body_too_large", "timeout", "candidate_error", "unsafe_method"
]


@dataclass(frozen=True, slots=True, init=False)
class Answer:
    """One side's answer to the request (or its failure).

    A side that raised has ``error`` (``KeyError: 'price'``) and, when the
    exception was at hand, its ``traceback``; both are redacted before storing.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    seconds: float
    error: str | None = None
    traceback: str | None = None

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        status: int,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        seconds: float,
        error: str | None = None,
        traceback: str | None = None,
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "seconds", seconds)
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "traceback", traceback)


@dataclass(frozen=True, slots=True, init=False)
class SideEffect:
    """A message the candidate emitted into its outbox (captured, never sent)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: tuple[tuple[str, bytes], ...] = (),
    ) -> None:
        object.__setattr__(self, "topic", topic)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "headers", headers)


@dataclass(frozen=True, slots=True, init=False)
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

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        route: str,
        request_id: str,
        at: float,
        method: str,
        path: str,
        query: str,
        request_headers: tuple[tuple[str, str], ...],
        request_body: bytes,
        control: Answer,
        candidate: Answer,
        reverse: bool = False,
        second_control: Answer | None = None,
        side_effects: tuple[SideEffect, ...] = (),
    ) -> None:
        object.__setattr__(self, "route", route)
        object.__setattr__(self, "request_id", request_id)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "request_headers", request_headers)
        object.__setattr__(self, "request_body", request_body)
        object.__setattr__(self, "control", control)
        object.__setattr__(self, "candidate", candidate)
        object.__setattr__(self, "reverse", reverse)
        object.__setattr__(self, "second_control", second_control)
        object.__setattr__(self, "side_effects", side_effects)


@dataclass(frozen=True, slots=True)
class Difference:
    """One place where the answers differ.

    ``where`` is ``status``, ``header:<name>`` or ``body`` plus a JSON pointer
    (``body/items/0/price``), or for a ``token`` of a text or HTML body
    ``body:`` plus its place (``body:html/body/form/input[name=csrf]@value``);
    values are short renderings for people.  An ``order`` difference is an
    array holding the same elements in another order.
    """

    kind: DifferenceKind
    where: str
    control: str
    candidate: str


@dataclass(frozen=True, slots=True, init=False)
class Comparison:
    """The outcome of comparing one mirrored request."""

    matched: bool
    differences: tuple[Difference, ...]
    noise: tuple[Difference, ...]  # differences on paths learned as noise: not counted
    signature: str  # stable id of (route, set of (kind, normalised where)); "" when matched

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        matched: bool,
        differences: tuple[Difference, ...],
        noise: tuple[Difference, ...],
        signature: str,
    ) -> None:
        object.__setattr__(self, "matched", matched)
        object.__setattr__(self, "differences", differences)
        object.__setattr__(self, "noise", noise)
        object.__setattr__(self, "signature", signature)


@dataclass(frozen=True, slots=True, init=False)
class ShadowRecord:
    """What is stored and reported: the request, both answers, the comparison."""

    mirrored: Mirrored
    comparison: Comparison

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        mirrored: Mirrored,
        comparison: Comparison,
    ) -> None:
        object.__setattr__(self, "mirrored", mirrored)
        object.__setattr__(self, "comparison", comparison)


@dataclass(frozen=True, slots=True, init=False)
class Skip:
    """Requests that were not compared, and why (``count`` of them in ``at``'s second)."""

    route: str
    reason: SkipReason
    at: float
    count: int = 1

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        route: str,
        reason: SkipReason,
        at: float,
        count: int = 1,
    ) -> None:
        object.__setattr__(self, "route", route)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "count", count)


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
    rejudged: int = 0  # mismatches whose differences are all noise now: in ``matched``
    accepted: int = 0  # mismatches of accepted signatures: out of ``mismatched`` and the rate
    unlearned: int = 0  # mismatches that look like noise never learned: out of both too

    @property
    def match_rate(self) -> float:
        """Matched share of the compared requests judged (1.0 when there are none).

        Accepted and unlearned-noise records are neither matches nor
        mismatches, so they leave the denominator.
        """
        judged = self.compared - self.accepted - self.unlearned
        return self.matched / judged if judged > 0 else 1.0


SignatureStatus = Literal["open", "rejudged", "accepted", "unlearned"]
"""``open``: counted as mismatches.  ``rejudged``: every difference is learned
noise now, so its records count as matches.  ``accepted``: an engineer
accepted the cause (``reason``); its records count neither way.
``unlearned``: every difference is a volatile value (a uuid, time, hex id or
CSRF token on both sides) at a place legacy was never seen to vary: most
likely noise not learned yet; its records count neither way (``reason``
says which values)."""


@dataclass(frozen=True, slots=True)
class SignatureSummary:
    """One cause of mismatches: how often, since when, and what differs."""

    route: str
    signature: str
    count: int
    first_seen: float
    last_seen: float
    differences: tuple[Difference, ...]  # of the latest example
    status: SignatureStatus = "open"
    reason: str = ""  # why it was accepted


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


@dataclass(frozen=True, slots=True)
class LearnedNoise:
    """A place and kind learned as noise on a route, and how it was learned.

    ``how`` names the way (``legacy asked twice``, ``text tokens``, ...);
    ``first`` and ``second`` are legacy's two renderings that taught it, for
    the request ``request_id``; empty strings when the learner kept none.
    """

    route: str
    where: str  # normalised: ``body/items/*/ts``, ``header:expires``
    kind: str  # ``value``, ``header``, ``order`` or ``token``
    learned_at: float
    how: str = ""
    request_id: str = ""
    first: str = ""
    second: str = ""


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

    def noise(self, route: str | None = None) -> list[LearnedNoise]: ...

    def set_aside(
        self, route: str | None = None, since: float | None = None
    ) -> list[SignatureSummary]: ...
