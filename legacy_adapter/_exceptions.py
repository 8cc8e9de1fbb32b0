"""Errors raised while talking to a legacy backend.

    LegacyError                      anything that stopped the legacy answer
    ├── UpstreamUnavailable          refused, unreachable, reset before an answer   -> 502
    ├── UpstreamTimeout              connect or read took longer than configured     -> 504
    ├── PoolExhausted                no free connection within the wait bound        -> 503
    ├── UpstreamProtocolError        the backend spoke malformed FastCGI or HTTP     -> 502
    └── BadRequest                   the client request cannot be passed on          -> 400

The proxy maps each class to an HTTP answer in one place (``proxy._errors``).
Every exception names the backend it happened on so logs say where it failed.
"""

from __future__ import annotations


class LegacyError(Exception):
    """Base class: the legacy backend could not produce an answer."""

    def __init__(self, backend: str, detail: str) -> None:
        self.backend = backend
        self.detail = detail
        super().__init__(f"{backend}: {detail}")


class UpstreamUnavailable(LegacyError):
    """The backend refused the connection, was unreachable, or dropped it."""


class UpstreamTimeout(LegacyError):
    """Connecting to, reading from or sending to the backend exceeded its timeout."""


class PoolExhausted(LegacyError):
    """Every pooled connection stayed busy for the whole acquire timeout."""


class UpstreamProtocolError(LegacyError):
    """The backend sent bytes that are not valid FastCGI / HTTP."""


class BadRequest(LegacyError):
    """The client's request cannot be passed to the backend (bad path, bad header)."""
