"""A worker's shadow side: the jobs it is offered, run off the client's path.

Strategy: the proxy decides which requests are offered (sticky sampling, the
methods a route allows, a mirror with room) and keeps bounded ``Capture``s of
what streams past the client.  Only once the client has its whole answer does
it call ``offer_shadow`` or ``offer_reverse``; they check what can be compared
(bodies within ``max_body``) and queue a closure on the ``Mirror``, never
awaiting.  A shadow job runs the candidate on the copy (outbox captured, never
published), optionally asks legacy a second time to learn noise, compares, and
offers the record to the sink; the places it learns go to ``on_learned``
(the store, which shares them with the other workers).  A reverse job is the
mirror image for migrated and canary routes: the handler answered, and the
job asks legacy with a marked copy.  A candidate that raises is a record
too: logged with the request id, and compared as a failed answer (its
exception and traceback kept, redacted by the store), so each kind of
failure has a signature and examples; one that overruns its timeout stays a
``timeout`` skip.  Nothing here knows routes or modes: the proxy passes
names and values.
"""

from __future__ import annotations

import dataclasses
import random
import time
import traceback
from collections.abc import Callable
from typing import Any, Final, Protocol

import anyio.abc
import structlog

from legacy_adapter import Backend, LegacyRequest
from migrated import HandlerFailed, TimeLimit, decoded_headers

from . import _metrics
from ._candidate import Candidate, run_candidate, shadow_copy
from ._capture import Capture, ask_legacy
from ._compare import compare
from ._mirror import Mirror
from ._model import Answer, Difference, LearnedNoise, Mirrored, ShadowRecord, SideEffect
from ._noise import NoiseModel, Place
from ._redact import redact_text
from ._rules import CompareRules

# RFC 9110's safe methods: only these are sent to legacy a second time, unless the
# route declares its requests idempotent (the operator's word, never guessed).
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_REVERSE_DEADLINE: Final = 60.0
log = structlog.get_logger("strangler.shadow")


class Sink(Protocol):
    """Where compared records go (the SQLite store or the Kafka sink)."""

    def offer(self, item: Any) -> bool: ...

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None: ...

    async def aclose(self) -> None: ...


@dataclasses.dataclass
class ShadowRuntime:
    """A worker's shadow machinery: the mirror, learned noise and the sink.

    Attributes:
        noise_rate: share of safe shadowed requests for which legacy is asked twice.
        max_body: request or answer bodies above this are not compared.
        time_limit: how candidates' timeouts are enforced (see ``run_handler``).
        on_learned: told each place learned as noise here, with what taught it
            (the store keeps them; None: the model stays this process's own).
    """

    mirror: Mirror
    sink: Sink
    noise: NoiseModel
    noise_rate: float = 0.05
    max_body: int = 1024 * 1024
    time_limit: TimeLimit | None = None
    on_learned: Callable[[list[LearnedNoise]], None] | None = None

    def offer_shadow(
        self,
        route: str,
        candidate: Candidate,
        backend: Backend,
        request: LegacyRequest,
        params: dict[str, str],
        body: Capture,
        legacy: Capture,
        rules: CompareRules,
    ) -> None:
        """Queue the candidate's run for a request ``backend`` (legacy) has answered.

        Args:
            route: the route's name (metrics, records).
            candidate: the handler to run on the copy.
            backend: legacy, asked again when the request is a noise sample.
            request: the client's request; ``body`` holds its body.
            params: the path segments the route captured.
            body: the request body as it streamed to legacy.
            legacy: legacy's answer as it was relayed to the client.
            rules: how the route's answers are compared.
        """
        if body.overflow or legacy.overflow:
            self.mirror.skip(route, "body_too_large")
            return
        answer, data = legacy.answer(), body.body
        noise = self.wants_noise_sample(request.method, idempotent=rules.idempotent)

        async def job() -> None:
            headers = decoded_headers(request)  # once, for the candidate's copy and the record
            started = time.perf_counter()
            try:
                candidate_answer, effects = await run_candidate(
                    candidate,
                    shadow_copy(request, params, data, headers, candidate.php_site),
                    candidate.timeout if noise else None,  # else the job's deadline bounds it
                    self.time_limit,
                )
            except HandlerFailed as exc:
                if exc.timed_out:
                    self.mirror.skip(route, "timeout")
                    return
                failed = failed_answer(exc, time.perf_counter() - started)
                log.warning(
                    "shadow candidate failed",
                    request_id=request.request_id,
                    route=route,
                    handler=candidate.name,
                    error=redact_text(failed.error or ""),
                )
                record = mirrored(
                    route, request, data, answer, failed, reverse=False, headers=headers
                )
                self.record(record, rules)
                return
            second = await ask_legacy(backend, request, data, self.max_body) if noise else None
            record = mirrored(
                route,
                request,
                data,
                answer,
                candidate_answer,
                reverse=False,
                second=second,
                effects=effects,
                headers=headers,
            )
            self.record(record, rules)

        # A candidate-only job has the candidate's timeout as its deadline (the
        # mirror cancels it there: a ``timeout`` skip).  A noise sample also asks
        # legacy again, which can trickle: the candidate keeps its own timeout
        # inside and the whole job gets a longer deadline.
        deadline = candidate.timeout * 2 + 30.0 if noise else candidate.timeout
        self.mirror.offer(route, deadline, job, len(data) + len(answer.body))

    def has_room(self, route: str) -> bool:
        """Whether a job would be queued now; if not, the request is counted as skipped.

        Asked before any copy is made, so a mirror that cannot keep up costs a
        skipped request almost nothing.
        """
        if self.mirror.full:
            self.mirror.skip(route, "queue_full")
            return False
        return True

    def offer_reverse(
        self,
        route: str,
        backend: Backend,
        request: LegacyRequest,
        body: bytes,
        answer: Capture,
        rules: CompareRules,
    ) -> None:
        """Queue legacy's run on a marked copy of a request the handler has answered.

        Args:
            route: the route's name (metrics, records).
            backend: the legacy backend to ask.
            request: the client's request, whose whole body is ``body``.
            body: the request body, read before the handler ran.
            answer: the handler's answer as it was relayed to the client.
            rules: how the route's answers are compared.
        """
        if answer.overflow or len(body) > self.max_body:
            self.mirror.skip(route, "body_too_large")
            return
        candidate = answer.answer()

        async def job() -> None:
            legacy = await ask_legacy(backend, request, body, self.max_body)
            self.record(mirrored(route, request, body, legacy, candidate, reverse=True), rules)

        self.mirror.offer(route, _REVERSE_DEADLINE, job, len(body) + len(candidate.body))

    def record(self, mirrored: Mirrored, rules: CompareRules) -> None:
        """Compare and hand the record to the sink (runs inside a mirror job)."""
        if mirrored.second_control is not None:
            taught = self.noise.learn_places(
                mirrored.route, mirrored.control, mirrored.second_control, rules
            )
            if taught and self.on_learned is not None:
                self.on_learned([_learned(mirrored, place, d) for place, d in taught])
        result = compare(
            mirrored.control, mirrored.candidate, rules, noise=self.noise, route=mirrored.route
        )
        failed = mirrored.candidate.error is not None and not mirrored.reverse
        _metrics.count_compared(mirrored.route, result.matched, failed)
        self.sink.offer(ShadowRecord(mirrored, result))

    def wants_noise_sample(self, method: str, *, idempotent: bool = False) -> bool:
        """Whether legacy is asked twice for this request, to learn what differs by itself.

        Args:
            method: the request's method; only safe ones are repeated, unless
            idempotent: the route declares every request of it idempotent
                (``compare.idempotent``), so its POSTs may be repeated too.
        """
        repeatable = idempotent or method in _SAFE_METHODS
        return repeatable and random.random() < self.noise_rate


def failed_answer(failure: HandlerFailed, seconds: float) -> Answer:
    """The candidate's side of a record when it raised: the exception, not an answer."""
    cause = failure.cause if failure.cause is not None else failure
    text = "".join(traceback.format_exception(cause))
    return Answer(500, (), b"", seconds, f"{type(cause).__name__}: {cause}", text)


def _learned(mirrored: Mirrored, place: Place, difference: Difference) -> LearnedNoise:
    where, kind = place
    return LearnedNoise(
        mirrored.route,
        where,
        kind,
        mirrored.at,
        "legacy asked twice",
        mirrored.request_id,
        difference.control,
        difference.candidate,
    )


def mirrored(
    route: str,
    request: LegacyRequest,
    body: bytes,
    legacy: Answer,
    candidate: Answer,
    *,
    reverse: bool,
    second: Answer | None = None,
    effects: tuple[SideEffect, ...] = (),
    headers: tuple[tuple[str, str], ...] | None = None,
) -> Mirrored:
    """Assemble what the comparer and the store need about one mirrored request.

    ``headers``: the request's headers already decoded (``decoded_headers``).
    """
    return Mirrored(
        route=route,
        request_id=request.request_id,
        at=time.time(),
        method=request.method,
        path=request.raw_path.decode("latin-1"),
        query=request.query_string.decode("latin-1"),
        request_headers=decoded_headers(request) if headers is None else headers,
        request_body=body,
        control=legacy,
        candidate=candidate,
        reverse=reverse,
        second_control=second,
        side_effects=effects,
    )
