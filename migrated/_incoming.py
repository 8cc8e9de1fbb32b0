"""A proxied request as a migrated handler sees it.

The proxy answers a migrated or canary route, and shadow mode runs a
candidate, on the same view of the client's request: both build it here, so
the handler cannot tell a live request from a shadow copy except by the
marker header that shadow mode adds.
"""

from __future__ import annotations

from legacy_adapter import LegacyRequest

from ._api import Request
from ._php_view import PhpSite


def handler_request(
    request: LegacyRequest,
    params: dict[str, str],
    body: bytes,
    extra: tuple[tuple[str, str], ...] = (),
    headers: tuple[tuple[str, str], ...] | None = None,
    php_site: PhpSite | None = None,
) -> Request:
    """The migrated-handler view of a request.

    Args:
        request: the request as the proxy received and routed it.
        params: the named path segments the route captured.
        body: the whole body, already read (bounded by ``max_body_size``).
        extra: headers appended after the client's (a shadow copy's marker).
        headers: the request's headers already decoded (``decoded_headers``),
            when the caller needs them for something else too.
        php_site: the route's fallback backend, for ``Request.php``.
    """
    if headers is None:
        headers = decoded_headers(request)
    return Request(
        method=request.method,
        path=request.path,
        path_params=params,
        query_string=request.query_string.decode("latin-1"),
        headers=(*headers, *extra) if extra else headers,
        body=body,
        client=request.client,
        request_id=request.request_id,
        origin=request,
        php_site=php_site,
    )


def decoded_headers(request: LegacyRequest) -> tuple[tuple[str, str], ...]:
    """The request's headers as ``str`` pairs (latin-1, as HTTP/1.1 sends them)."""
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers)
