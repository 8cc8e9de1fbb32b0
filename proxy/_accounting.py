"""Counting an answered request and writing its access-log line, on every path.

The engine ends every request here, whichever driver brought it in.  It is
one of the modules the compiled build (``setup.py``) turns into C: it runs
once per request, and interpreted, the keyword call and the lookups cost
CPU even with the access log off (``ops/bench/engine_cpu.py`` measures the
request path on either build).
"""

from __future__ import annotations

from typing import Protocol

import structlog

from . import _metrics as m
from ._routing import Route
from ._state import State

access = structlog.get_logger("strangler.access")


class Outcome(Protocol):
    """What ``account`` needs to know of an answered request."""

    request_id: str
    status: int
    sent_bytes: int
    upstream_seconds: float
    side: str
    fallback: bool
    error: str | None


def account(
    state: State, route: Route | None, outcome: Outcome, *, method: str, path: str, elapsed: float
) -> None:
    """Count an answered request and write its access log line."""
    route_name, mode = (route.name, route.mode.name) if route is not None else ("-", "-")
    m.observe_request(route_name, mode, outcome.status, elapsed)
    if state.config.log.access_log:
        access.info(
            "request",
            request_id=outcome.request_id,
            method=method,
            path=path,
            route=route_name,
            mode=mode,
            status=outcome.status,
            bytes=outcome.sent_bytes,
            duration_ms=round(elapsed * 1000, 3),
            upstream_ms=round(outcome.upstream_seconds * 1000, 3),
            side=outcome.side,
            fallback=outcome.fallback,
            error=outcome.error,
        )
