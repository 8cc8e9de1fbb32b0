"""Values that cross the boundary between the proxy and a legacy backend.

A backend receives a ``LegacyRequest`` (already routed, path decoded and
checked, body still streaming) and yields an ``UpstreamResponse`` whose body
is an async iterator of chunks.  ``Backend.send`` is an async context manager
so that the connection goes back to its pool (or is closed) exactly when the
proxy has finished streaming the body, even when the client went away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True, init=False)
class LegacyRequest:
    """One client request on its way to the legacy backend.

    Attributes:
        method: request method, upper case (``GET``).
        raw_path: the path exactly as the client sent it, percent-encoded, no query.
        path: the decoded, dot-segment-normalised path used for file lookups.
        query_string: the raw query string, without ``?``.
        headers: request headers; names lower-case bytes, in arrival order.
        client: client address after trusted-proxy processing.
        server: the local address the request arrived on.
        scheme: ``http`` or ``https`` after trusted-proxy processing.
        http_version: ``1.0``, ``1.1`` or ``2``.
        request_id: the id this proxy logs and passes on as ``X-Request-Id``.
        body: the request body, streamed as it arrives.
        content_length: the body length when known up front, else ``None``.
        server_name: the host name the request was addressed to (no port).
    """

    method: str
    raw_path: bytes
    path: str
    query_string: bytes
    headers: Headers
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    scheme: str
    http_version: str
    request_id: str
    body: AsyncIterator[bytes]
    content_length: int | None = None
    server_name: str = "localhost"

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        method: str,
        raw_path: bytes,
        path: str,
        query_string: bytes,
        headers: Headers,
        client: tuple[str, int] | None,
        server: tuple[str, int | None] | None,
        scheme: str,
        http_version: str,
        request_id: str,
        body: AsyncIterator[bytes],
        content_length: int | None = None,
        server_name: str = "localhost",
    ) -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "raw_path", raw_path)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "query_string", query_string)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "client", client)
        object.__setattr__(self, "server", server)
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "http_version", http_version)
        object.__setattr__(self, "request_id", request_id)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "content_length", content_length)
        object.__setattr__(self, "server_name", server_name)

    def with_body(self, body: AsyncIterator[bytes]) -> LegacyRequest:
        """This request with another body stream (a replay, a tee): ``dataclasses.replace``
        compiled, as shadow mode makes one per request."""
        return LegacyRequest(
            self.method,
            self.raw_path,
            self.path,
            self.query_string,
            self.headers,
            self.client,
            self.server,
            self.scheme,
            self.http_version,
            self.request_id,
            body,
            self.content_length,
            self.server_name,
        )


@dataclass(slots=True, init=False)
class UpstreamResponse:
    """The head of a legacy answer plus its body.

    ``content`` is the whole body when it is already in memory (a buffered PHP
    answer, a page, a small file, a handler's answer): the proxy then sends it
    with its head in one write.  ``file`` is the body as a span of a file on
    disk (a static file): a server that can send it from the file (``sendfile``)
    does.  ``body`` streams it either way.
    """

    status: int
    headers: Headers
    body: AsyncIterator[bytes]
    upstream: str = ""
    content: bytes | None = None
    file: FileSpan | None = None
    extra: dict[str, object] = field(default_factory=dict)

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        status: int,
        headers: Headers,
        body: AsyncIterator[bytes],
        upstream: str = "",
        content: bytes | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.upstream = upstream
        self.content = content
        self.file = None
        self.extra = {}


class FileSpan:
    """``count`` bytes of the open file ``fd`` from ``offset``: a body to send from disk.

    The backend that opened ``fd`` closes it when its ``send`` context exits.
    """

    __slots__ = ("count", "fd", "offset")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd = fd
        self.offset = offset
        self.count = count


class Backend(Protocol):
    """A legacy backend: PHP-FPM over FastCGI, a web server over HTTP, static files."""

    name: str

    def send(self, request: LegacyRequest) -> AbstractAsyncContextManager[UpstreamResponse]:
        """Pass ``request`` on; the context yields the answer and releases resources on exit.

        Raises:
            LegacyError: a subclass saying why there is no answer.
        """
        ...

    async def ping(self) -> None:
        """Check the backend is reachable (used by ``/ready``); raises ``LegacyError``."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections; in-flight requests keep theirs until they finish."""
        ...
