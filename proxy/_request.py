"""From a parsed request head to a ``LegacyRequest``: request id, target, Host, limits.

Everything here is checked before any backend is contacted: an invalid path or
header, a declared body over the limit, or a bad ``Content-Length`` is refused
with a 4xx and a reason.
"""

from __future__ import annotations

import random
import re
from typing import Final

import httptools

from legacy_adapter import (
    BadRequest,
    LegacyRequest,
    host_variable,
    normalize_path,
    trusted_client,
    valid_host,
)

from ._body import NO_BODY, BodyReader, BodyStream, Peer
from ._config import ServerConfig
from ._errors import BodyTooLarge, RequestError
from ._http1 import RequestHead
from ._request_log import REQUEST_LOG, RequestLog

Headers = list[tuple[bytes, bytes]]
_REQUEST_ID: Final = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_BAD_VALUE: Final = re.compile(rb"[\x00\r\n]")


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-Id`` when it is sane, else a new one."""
    for name, value in headers:
        if name == b"x-request-id" and _REQUEST_ID.match(value):
            return value.decode("ascii")
    # 32 hex digits, unique enough for tracing (not a secret); cheaper than
    # formatting the int with ``:032x`` (``ops/bench/engine_cpu.py``).
    return random.getrandbits(128).to_bytes(16, "big").hex()


def bind_request_log(request_id: str) -> None:
    """Put ``request_id`` on every log line of this request, and no route yet.

    One context variable per request, set once (``RequestLog``); the
    route and mode are written into it when matched.  On asyncio each request
    runs in a task, and so a context, of its own; the trio driver runs a
    connection's requests one after the other in its task, and each sets a
    new value as it starts, so none of its lines carries the fields of the
    request before.
    """
    REQUEST_LOG.set(RequestLog(request_id))


def bind_route_log(route: str, mode: str) -> None:
    """Put the matched route's name and mode on this request's log lines."""
    fields = REQUEST_LOG.get()
    if fields is not None:
        fields.route = route
        fields.mode = mode


def build_request(
    head: RequestHead, peer: Peer, body: BodyReader, server: ServerConfig, request_id: str
) -> LegacyRequest:
    """Check the request and describe it for a backend.

    Raises:
        RequestError: a bad target, ``Host``, header or ``Content-Length`` (400)
            or a body declared larger than the limit (413).
    """
    received = head.headers
    # One search over all the values, not one per header.
    if _BAD_VALUE.search(b"".join([value for _, value in received])):
        raise RequestError("header value contains a control character")
    raw_path, query, url_host = _split_target(head.target, head.method)
    host = _checked_host(received, url_host, head.http_version)
    headers = [(name, value) for name, value in received if name != b"x-request-id"]
    headers.append((b"x-request-id", request_id.encode()))  # the backend sees the id we log
    try:
        path = normalize_path(raw_path)
    except BadRequest as exc:
        raise RequestError(exc.detail) from None
    length = _content_length(headers, server.max_body_size)
    client = trusted_client(peer.client, headers, server.trusted_proxies, scheme=peer.scheme)
    chunked = length is None and any(k == b"transfer-encoding" for k, _ in headers)
    stream = BodyStream(body, server.max_body_size) if length or chunked else NO_BODY
    # An absolute URI names the host; else the Host header (or a trusted proxy's X-Forwarded-Host).
    server_name = host_variable(host if url_host is not None else client.host, "localhost")
    return LegacyRequest(
        method=head.method,
        raw_path=raw_path,
        path=path,
        query_string=query,
        headers=headers,
        client=(client.addr, client.port) if client.addr else None,
        server=peer.server,
        scheme=client.scheme,
        http_version=head.http_version,
        request_id=request_id,
        body=stream,
        content_length=length,
        server_name=server_name,
    )


def _split_target(target: bytes, method: str) -> tuple[bytes, bytes, bytes | None]:
    """Path, query and (for an absolute URI) host of the request target, as nginx takes them."""
    if target.startswith(b"/"):
        path, _, query = target.partition(b"?")
        return path, query, None
    if method == "OPTIONS" and target == b"*":
        raise RequestError("request target '*' is not served")  # nginx: 400
    try:
        url = httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        raise RequestError("invalid request target") from None
    if url.schema not in (b"http", b"https") or not url.host:
        raise RequestError("invalid request target")
    authority = url.host + (b":%d" % url.port if url.port else b"")
    return url.path or b"/", url.query or b"", authority


def _checked_host(headers: Headers, url_host: bytes | None, http_version: str) -> str:
    """The request's host, checked as nginx checks it: one ``Host``, a valid name.

    Raises:
        RequestError: two ``Host`` headers, an invalid one, or none on HTTP/1.1 (400).
    """
    values = [value for name, value in headers if name == b"host"]
    if len(values) > 1:
        raise RequestError("duplicate Host header")
    if url_host is not None:
        values = [url_host]  # an absolute URI's host wins over the header, as in nginx
    if not values:
        if http_version == "1.1":
            raise RequestError("HTTP/1.1 request without Host header")
        return ""
    host = valid_host(values[0])
    if host is None:
        raise RequestError("invalid Host header")
    return host


def _content_length(headers: Headers, limit: int) -> int | None:
    values = [v for k, v in headers if k == b"content-length"]
    if not values:
        return None
    if len(set(values)) != 1 or not values[0].strip().isdigit():
        raise RequestError("invalid Content-Length")
    length = int(values[0])
    if length > limit:
        raise BodyTooLarge(f"body of {length} bytes exceeds the limit of {limit}")
    return length
