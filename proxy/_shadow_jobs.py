"""The two shadow jobs: candidate behind legacy (shadow) and legacy behind the handler (reverse).

Each ``offer_*`` runs on the request task after the client has its whole
answer, checks what can be compared (bodies within ``max_body``), and queues
a closure on the mirror; nothing here awaits.
"""

from __future__ import annotations

from typing import Any

from legacy_adapter import LegacyRequest

from ._migrated import decoded_headers
from ._routing import Canary, Migrated, Route, Shadow
from ._shadowing import (
    Capture,
    HandlerFailed,
    ShadowRuntime,
    ask_legacy,
    mirrored,
    run_candidate,
    sampled,
    shadow_copy,
)
from ._state import State


def offer_shadow(
    runtime: ShadowRuntime,
    route: Route,
    mode: Shadow,
    state: State,
    request: LegacyRequest,
    params: dict[str, str],
    body: Capture,
    legacy: Capture,
    resources: Any,
) -> None:
    """Queue the candidate run for a request legacy has answered."""
    if body.overflow or legacy.overflow:
        runtime.mirror.skip(route.name, "body_too_large")
        return
    answer, data = legacy.answer(), body.body
    handler = state.handlers[mode.handler]
    backend = state.backends[mode.backend]
    caches = resources.caches if resources is not None else None
    noise = runtime.wants_noise_sample(request.method)

    async def job() -> None:
        headers = decoded_headers(request)  # once, for the candidate's copy and the record
        try:
            candidate, effects = await run_candidate(
                mode.handler,
                handler,
                shadow_copy(request, params, data, headers),
                caches,
                mode.timeout if noise else None,  # else the job's deadline bounds it
                runtime.time_limit,
            )
        except HandlerFailed as exc:
            runtime.mirror.skip(route.name, "timeout" if exc.timed_out else "candidate_error")
            return
        second = await ask_legacy(backend, request, data, runtime.max_body) if noise else None
        record = mirrored(
            route.name,
            request,
            data,
            answer,
            candidate,
            reverse=False,
            second=second,
            effects=effects,
            headers=headers,
        )
        runtime.record(record, mode.rules)

    size = len(data) + len(answer.body)
    # A candidate-only job has the candidate's timeout as its deadline (the
    # mirror cancels it there: a ``timeout`` skip).  A noise sample also asks
    # legacy again, which can trickle: the candidate keeps its own timeout
    # inside and the whole job gets a longer deadline.
    deadline = mode.timeout * 2 + 30.0 if noise else mode.timeout
    runtime.mirror.offer(route.name, deadline, job, size)


def wants_reverse(
    runtime: ShadowRuntime, route: Route, mode: Migrated | Canary, request: LegacyRequest
) -> bool:
    """Whether this handler-answered request is also sent to legacy for comparison."""
    if mode.reverse_rate <= 0 or mode.backend is None:
        return False
    if request.method not in mode.reverse_methods:
        return False
    if not sampled(route.name, mode.reverse_rate, "client", request):
        return False
    if runtime.mirror.full:  # no copy is kept for a job that would be dropped
        runtime.mirror.skip(route.name, "queue_full")
        return False
    return True


def offer_reverse(
    runtime: ShadowRuntime,
    route: Route,
    mode: Migrated | Canary,
    backend: Any,
    request: LegacyRequest,
    body: bytes,
    handler_answer: Capture,
) -> None:
    """Queue the legacy copy for a request the handler has answered."""
    if handler_answer.overflow or len(body) > runtime.max_body:
        runtime.mirror.skip(route.name, "body_too_large")
        return
    candidate = handler_answer.answer()

    async def job() -> None:
        legacy = await ask_legacy(backend, request, body, runtime.max_body)
        runtime.record(
            mirrored(route.name, request, body, legacy, candidate, reverse=True), mode.rules
        )

    runtime.mirror.offer(route.name, 60.0, job, len(body) + len(candidate.body))
