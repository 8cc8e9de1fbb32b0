"""The candidate: a migrated handler run on a copy of the request, its outbox captured.

A candidate never answers a client and never publishes: the runner keeps its
outbox in the outcome, and the messages become side effects on the record so
that a report can show what the new code would have sent.  Its copy of the
request carries ``MARKER`` among its headers, so the handler can tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from legacy_adapter import LegacyRequest
from migrated import Handler, Outcome, Request, TimeLimit, handler_request, run_handler

from ._capture import MARKER
from ._model import Answer, SideEffect

_MARKED = ((MARKER[0].decode(), MARKER[1].decode()),)


@dataclass(frozen=True, slots=True, init=False)
class Candidate:
    """The new side of a shadowed route.

    Attributes:
        name: the handler's ``package.module:function`` reference (logs, metrics).
        handler: the loaded handler.
        timeout: the handler's own budget, in seconds.
        caches: the worker's hot caches the handler reads (``ctx.cache``).
        php_site: the route's FastCGI backend, so that ``Request.php`` shows
            the candidate what the same handler sees in migrated mode.
    """

    name: str
    handler: Handler
    timeout: float
    caches: Any = None
    php_site: Any = None

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        name: str,
        handler: Handler,
        timeout: float,
        caches: Any = None,
        php_site: Any = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "handler", handler)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "caches", caches)
        object.__setattr__(self, "php_site", php_site)


def shadow_copy(
    request: LegacyRequest,
    params: dict[str, str],
    body: bytes,
    headers: tuple[tuple[str, str], ...] | None = None,
    php_site: Any = None,
) -> Request:
    """The candidate's copy of a request, marked so that it can tell.

    ``headers``: the request's headers already decoded (``decoded_headers``);
    ``php_site``: the route's FastCGI backend, for ``Request.php``.
    """
    return handler_request(request, params, body, _MARKED, headers, php_site)


async def run_candidate(
    candidate: Candidate,
    request: Request,
    timeout: float | None,  # noqa: ASYNC109 - the candidate's budget, passed to run_handler
    time_limit: TimeLimit | None = None,
) -> tuple[Answer, tuple[SideEffect, ...]]:
    """Run the handler as a candidate: its outbox is captured, never published.

    ``timeout=None``: the mirror's deadline for the job bounds the candidate.

    Raises:
        HandlerFailed: the candidate raised or timed out (counted as a skip).
    """
    outcome: Outcome = await run_handler(
        candidate.name,
        candidate.handler,
        request,
        candidate.caches,
        timeout=timeout,
        time_limit=time_limit,
    )
    response = outcome.response
    answer = Answer(response.status, tuple(response.headers), response.body, outcome.seconds)
    effects = tuple(SideEffect(x.topic, x.key, x.value, x.headers) for x in outcome.messages)
    return answer, effects
