"""The fields every log line of a request carries: its id, route and mode.

One object in one context variable, where structlog's ``bind_contextvars``
would set a variable per field: it is set for every request.  The request
path (``_request``) sets it and the log configuration (``_logging``) merges
it into each line; this module imports neither, so the supervisor's logging
does not load the request path.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any, Final


class RequestLog:
    """The fields of the request being handled (``ops/bench/engine_cpu.py`` measures its path)."""

    __slots__ = ("mode", "request_id", "route")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.route: str | None = None
        self.mode: str | None = None


REQUEST_LOG: Final[ContextVar[RequestLog | None]] = ContextVar(
    "strangler_request_log", default=None
)


def merge_request_log(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Add the request's id, route and mode, if any; the line's own keys win."""
    fields = REQUEST_LOG.get()
    if fields is None:
        return event
    merged: dict[str, Any] = {"request_id": fields.request_id}
    if fields.route is not None:
        merged["route"] = fields.route
        merged["mode"] = fields.mode
    merged.update(event)
    return merged
