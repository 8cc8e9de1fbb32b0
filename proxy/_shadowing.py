"""Shadow mode in the proxy: copy the request, capture the answer, hand the rest off-path.

Strategy: on a sampled request the body is teed while it streams to legacy
(kept only up to ``max_body``) and the legacy answer is captured while it is
relayed to the client (same bound).  Only once the client has its whole answer
does the proxy offer a job to the ``Mirror``; the job runs the migrated
handler on the copy (outbox captured, never published), optionally asks
legacy a second time to learn noise, compares, and offers the record to the
sink.  Reverse shadow is the mirror image for migrated and canary routes: the
handler answered, and the job asks legacy with a marked copy.

Sampling is a hash of the route's sample key with its own salt, so it is
sticky and independent of canary bucketing.
"""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Any, Protocol

import anyio.abc

from legacy_adapter import LegacyRequest, iter_bytes
from migrated import HandlerFailed, Outcome, Request, TimeLimit, run_handler
from shadow import Answer, Mirror, Mirrored, NoiseModel, ShadowRecord, SideEffect, compare

from . import _metrics as m
from ._canary import bucket, sticky_key
from ._migrated import decoded_headers, handler_request
from ._routing import SAFE_METHODS

MARKER = (b"x-strangler-shadow", b"1")  # tells a legacy app it may dry-run


class Sink(Protocol):
    """Where compared records go (the SQLite store or the Kafka sink)."""

    def offer(self, item: Any) -> bool: ...

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None: ...

    async def aclose(self) -> None: ...


class Capture:
    """A bounded copy of one answer (or request body) as it streams past."""

    __slots__ = ("chunks", "headers", "limit", "overflow", "size", "started", "status")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.status = 0
        self.headers: tuple[tuple[str, str], ...] = ()
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False
        self.started = time.perf_counter()

    def head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.overflow, self.chunks = True, []
        elif not self.overflow:
            self.chunks.append(chunk)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def answer(self) -> Answer:
        return Answer(self.status, self.headers, self.body, time.perf_counter() - self.started)


def sampled(route: str, rate: float, key_spec: str, request: LegacyRequest) -> bool:
    """Sticky sampling: the same key is always in or out at a given rate."""
    if rate >= 1.0:
        return True
    client = request.client[0] if request.client else ""
    key = sticky_key(key_spec, request.headers, request.query_string, client)
    return bucket(f"shadow:{route}", key) < round(rate * 10_000)


@dataclasses.dataclass
class ShadowRuntime:
    """A worker's shadow machinery: the mirror, learned noise, rules and the sink."""

    mirror: Mirror
    sink: Sink
    noise: NoiseModel
    noise_rate: float = 0.05
    max_body: int = 1024 * 1024
    time_limit: TimeLimit | None = None  # how candidates' timeouts are enforced (run_handler)

    def record(self, mirrored: Mirrored, rules: Any) -> None:
        """Compare and hand the record to the sink (runs inside a mirror job)."""
        if mirrored.second_control is not None:
            self.noise.learn(mirrored.route, mirrored.control, mirrored.second_control, rules)
        result = compare(
            mirrored.control, mirrored.candidate, rules, noise=self.noise, route=mirrored.route
        )
        outcome = "match" if result.matched else "mismatch"
        m.labelled(m.SHADOW_COMPARED, mirrored.route, outcome).inc()
        self.sink.offer(ShadowRecord(mirrored, result))

    def wants_noise_sample(self, method: str) -> bool:
        return method in SAFE_METHODS and random.random() < self.noise_rate


_MARKED = ((MARKER[0].decode(), MARKER[1].decode()),)


def shadow_copy(
    request: LegacyRequest,
    params: dict[str, str],
    body: bytes,
    headers: tuple[tuple[str, str], ...] | None = None,
) -> Request:
    """The candidate's copy of a request, marked so that it can tell.

    ``headers``: the request's headers already decoded (``decoded_headers``).
    """
    return handler_request(request, params, body, _MARKED, headers)


async def run_candidate(
    name: str,
    handler: Any,
    request: Request,
    caches: Any,
    timeout: float | None,  # noqa: ASYNC109 - the candidate's budget, passed to run_handler
    time_limit: TimeLimit | None = None,
) -> tuple[Answer, tuple[SideEffect, ...]]:
    """Run the handler as a candidate: its outbox is captured, never published.

    ``timeout=None``: the mirror's deadline for the job bounds the candidate.

    Raises:
        HandlerFailed: the candidate raised or timed out (counted as a skip).
    """
    outcome: Outcome = await run_handler(
        name, handler, request, caches, timeout=timeout, time_limit=time_limit
    )
    response = outcome.response
    answer = Answer(response.status, tuple(response.headers), response.body, outcome.seconds)
    effects = tuple(SideEffect(x.topic, x.key, x.value, x.headers) for x in outcome.messages)
    return answer, effects


async def ask_legacy(backend: Any, request: LegacyRequest, body: bytes, limit: int) -> Answer:
    """Send a marked copy of ``request`` to legacy and capture its whole answer."""
    copy = dataclasses.replace(
        request,
        headers=[*request.headers, MARKER],
        body=iter_bytes((body,) if body else ()),
        content_length=len(body) if body or request.content_length is not None else None,
    )
    capture = Capture(limit)
    async with backend.send(copy) as response:
        capture.head(response.status, response.headers)
        async for chunk in response.body:
            capture.add(chunk)
    return capture.answer()


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


__all__ = ["HandlerFailed"]
