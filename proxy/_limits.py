"""The edge's limits, as nginx holds them: timeouts, connections, and the answer when full.

The defaults are nginx's: ``client_header_timeout`` and
``client_body_timeout`` 60 s, ``send_timeout`` 60 s; ``keep_alive_timeout``
is the config's own (nginx's ``keepalive_timeout`` is 75 s).  The connection
limit is the config's ``max_connections``, lowered to what the worker's
descriptor limit leaves after the backends' pools and a reserve, so that a
flood of connections is refused by the proxy instead of failing ``accept``
with ``EMFILE`` (which stops every new connection, the legitimate ones too).
"""

from __future__ import annotations

import resource
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol, TypeVar

import structlog

from legacy_adapter import page_html

from ._config import Config

log = structlog.get_logger("strangler.http")
_RESERVE = 64  # listening sockets, log files, static files open at once, the admin channel


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """One worker's connection limits (see the module docstring)."""

    header_timeout: float = 60.0
    body_timeout: float = 60.0
    send_timeout: float = 60.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1024


def edge_limits(config: Config) -> EdgeLimits:
    """The limits ``config`` asks for, the connection limit fitted to the descriptor limit."""
    server = config.server
    return EdgeLimits(
        header_timeout=server.client_header_timeout,
        body_timeout=server.client_body_timeout,
        send_timeout=server.send_timeout,
        keep_alive_timeout=server.keep_alive_timeout,
        max_connections=fitted_connections(server.max_connections, _pooled(config)),
    )


def fitted_connections(wanted: int, pooled: int) -> int:
    """``wanted``, or fewer when the descriptor limit cannot hold them besides ``pooled``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - pooled - _RESERVE))


def _pooled(config: Config) -> int:
    total = 0
    for backend in config.backends:
        pool = getattr(backend, "pool", None)
        total += getattr(pool, "size", 0) or 0
    return total


_REFUSED_BODY = page_html(503)
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\n"
    b"content-length: %d\r\nx-strangler-error: connection limit reached\r\n"
    b"connection: close\r\n\r\n%s" % (len(_REFUSED_BODY), _REFUSED_BODY)
)


def refused_answer() -> bytes:
    """The whole answer to a connection over the limit (it is then closed)."""
    return _REFUSED


class Idle(Protocol):
    """A connection as the limit sees it: idle or not, and a way to end it."""

    def reusable(self) -> bool:
        """Idle: kept alive between requests, or open without a byte of a request yet."""
        ...

    def close(self) -> None:
        """End the connection."""
        ...


C = TypeVar("C", bound=Idle)


def admit(connections: Collection[C], new: C, limit: int) -> bool:
    """Whether ``new`` may stay: over ``limit``, idle connections close first, oldest first.

    ``connections`` holds ``new`` already, in order of arrival.  nginx reuses
    idle connections the same way when it runs out; when none is idle, the
    caller refuses ``new`` (a 503) instead of letting ``accept`` fail.
    """
    excess = len(connections) - limit
    if excess <= 0:
        return True
    for conn in list(connections):
        if excess <= 0:
            break
        if conn is not new and conn.reusable():
            conn.close()
            excess -= 1
    if excess <= 0:
        return True
    log.warning("connection_limit_reached", limit=limit)
    return False
