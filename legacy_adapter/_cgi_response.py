"""The client's response headers from a CGI response head, as nginx's FastCGI module passes them.

nginx hides the ``X-Accel-*`` headers that steer nginx itself
(``fastcgi_hide_header`` defaults), and when it buffered the whole answer it
sends a Content-Length the script did not set.  Pure, and on every PHP
answer's path, so it is compiled (``proxy/_build.py``).
"""

from __future__ import annotations

from typing import Final

from ._fastcgi_proto import ResponseHead
from ._types import Headers

# nginx's fastcgi_hide_header defaults: X-Accel-* steer nginx itself, never the client.
_HIDDEN_RESPONSE_HEADERS: Final = frozenset(
    {
        b"x-accel-expires",
        b"x-accel-redirect",
        b"x-accel-limit-rate",
        b"x-accel-buffering",
        b"x-accel-charset",
    }
)


def client_headers(head: ResponseHead, body: bytes | None, *, head_only: bool) -> Headers:
    """The response headers the client gets: hidden ones dropped, a length for a whole body.

    Args:
        head: the parsed CGI head.
        body: the whole body when END_REQUEST came with it (the proxy then
            sends a Content-Length, as nginx buffering does), else ``None``.
        head_only: a HEAD request (no length is invented for it).
    """
    headers = [(k, v) for k, v in head.headers if k not in _HIDDEN_RESPONSE_HEADERS]
    if body is None or head_only or not _may_have_body(head.status):
        return headers
    if not any(k == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(body)).encode()))
    return headers


def _may_have_body(status: int) -> bool:
    return status >= 200 and status not in (204, 304)
