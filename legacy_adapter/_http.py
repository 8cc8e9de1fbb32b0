"""An existing web server reached over HTTP (httpx), streaming both ways.

The request is passed on as a reverse proxy should: hop-by-hop headers
(RFC 9110 7.6.1, plus any named in ``Connection``) are removed, the client's
``Host`` is kept, and ``X-Forwarded-For/Proto/Host`` are added.  The response
body is relayed raw (no decompression), so bytes reach the client unchanged.
httpx errors are translated in ``_map_httpx_errors`` and nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx

from ._exceptions import PoolExhausted, UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from ._settings import HTTPSettings
from ._types import Headers, LegacyRequest, UpstreamResponse

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


class HTTPBackend:
    """A legacy web server behind an HTTP base URL.

    Args:
        settings: base URL and pool limits.
    """

    def __init__(self, settings: HTTPSettings) -> None:
        self.name = settings.name
        self.settings = settings
        self._prefix = httpx.URL(settings.url).raw_path.rstrip(b"/")
        pool = settings.pool
        self._client = bare_client(
            httpx.Timeout(
                connect=pool.connect_timeout,
                read=pool.read_timeout,
                write=pool.send_timeout,
                pool=pool.acquire_timeout,
            ),
            httpx.Limits(
                max_connections=pool.size,
                max_keepalive_connections=pool.size,
                keepalive_expiry=pool.idle_timeout,
            ),
            base_url=settings.url,
        )

    @asynccontextmanager
    async def send(self, request: LegacyRequest) -> AsyncIterator[UpstreamResponse]:
        """Relay ``request`` and yield the answer with its body still streaming."""
        target = self._prefix + request.raw_path
        if request.query_string:
            target += b"?" + request.query_string
        outgoing = self._client.build_request(
            request.method,
            self.settings.url,
            headers=forward_headers(request),
            content=request.body if _has_body(request) else None,
            # The target as the client sent it, as nginx's proxy_pass without a URI
            # passes it: parsed as a URL, "/admin#/../x" would become "/admin".
            extensions={"target": target},
        )
        with _map_httpx_errors(self.name):
            response = await self._client.send(outgoing, stream=True)
        try:
            headers = [
                (k.lower(), v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP
            ]
            yield UpstreamResponse(response.status_code, headers, self._relay(response), self.name)
        finally:
            await response.aclose()

    async def ping(self) -> None:
        """Any HTTP answer from the server counts as ready."""
        with _map_httpx_errors(self.name):
            await self._client.request("HEAD", "/")

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def _relay(self, response: httpx.Response) -> AsyncIterator[bytes]:
        with _map_httpx_errors(self.name):
            async for chunk in response.aiter_raw():
                yield chunk


def bare_client(
    timeout: httpx.Timeout, limits: httpx.Limits, base_url: str = ""
) -> httpx.AsyncClient:
    """An httpx client that sends the client's headers and no defaults of its own.

    httpx adds ``Accept``, ``Accept-Encoding``, ``User-Agent`` to every
    request; a proxy relaying bodies raw must not ask for a compression the
    client never asked for, nor name itself.
    """
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        trust_env=False,
    )
    for name in _CLIENT_DEFAULTS:
        client.headers.pop(name, None)
    return client


_CLIENT_DEFAULTS = ("accept", "accept-encoding", "user-agent")


def connection_named(headers: Headers) -> frozenset[bytes]:
    """The header names a ``Connection`` header lists: hop-by-hop too (RFC 9110 7.6.1)."""
    return frozenset(
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    )


def forward_headers(request: LegacyRequest) -> Headers:
    """The client's headers minus hop-by-hop ones, plus ``X-Forwarded-*`` and the request id."""
    drop = (
        HOP_BY_HOP
        | connection_named(request.headers)
        | {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
    )
    drop |= (
        {b"x-request-id", b"content-length"}
        if request.content_length is None
        else {b"x-request-id"}
    )
    out = [(k, v) for k, v in request.headers if k not in drop]
    prior = b", ".join(v for k, v in request.headers if k == b"x-forwarded-for")
    client = (request.client[0] if request.client else "unknown").encode()
    out.append((b"x-forwarded-for", prior + b", " + client if prior else client))
    out.append((b"x-forwarded-proto", request.scheme.encode()))
    host = next((v for k, v in request.headers if k == b"host"), None)
    if host is not None:
        out.append((b"x-forwarded-host", host))
    out.append((b"x-request-id", request.request_id.encode()))
    return out


def _has_body(request: LegacyRequest) -> bool:
    return request.content_length != 0 and request.method not in ("GET", "HEAD")


@contextmanager
def _map_httpx_errors(backend: str) -> Iterator[None]:
    try:
        yield
    except httpx.PoolTimeout:
        raise PoolExhausted(backend, "all connections busy") from None
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(backend, f"{type(exc).__name__}") from None
    except httpx.RemoteProtocolError as exc:
        raise UpstreamProtocolError(backend, str(exc) or "malformed HTTP") from None
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(backend, str(exc) or type(exc).__name__) from None
