"""Every failure a request can meet, mapped to the answer the client gets, in one place.

LegacyError subclasses (from legacy_adapter) and the proxy's own request
errors below are the only exceptions that turn into a status; anything else
is a bug: logged with the request id and answered 500.
"""

from __future__ import annotations

from legacy_adapter import (
    BadRequest,
    LegacyError,
    PoolExhausted,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)


class RequestError(Exception):
    """The client's request is refused before it reaches a backend."""

    status = 400

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class BodyTooLarge(RequestError):
    """The body is larger than ``server.max_body_size``."""

    status = 413


class RequestTimeout(RequestError):
    """The client stopped sending its body for ``client_body_timeout``."""

    status = 408


class ClientDisconnected(Exception):
    """The client went away before the request body was read."""


STATUS_BY_ERROR: dict[type[LegacyError], int] = {
    UpstreamUnavailable: 502,
    UpstreamProtocolError: 502,
    UpstreamTimeout: 504,
    PoolExhausted: 503,
    BadRequest: 400,
}


def status_for(exc: LegacyError | RequestError) -> int:
    """The HTTP status answering ``exc``."""
    if isinstance(exc, RequestError):
        return exc.status
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 502


def error_kind(exc: BaseException) -> str:
    """A short, bounded label for metrics and logs (``timeout``, ``pool_exhausted``...)."""
    return {
        UpstreamUnavailable: "unavailable",
        UpstreamProtocolError: "protocol",
        UpstreamTimeout: "timeout",
        PoolExhausted: "pool_exhausted",
        BadRequest: "bad_request",
        BodyTooLarge: "body_too_large",
        RequestTimeout: "client_timeout",
    }.get(type(exc), "internal")
