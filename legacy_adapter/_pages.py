"""Answers the adapter makes itself, shaped like nginx's so clients see no change.

nginx's built-in error page is a tiny HTML document naming the status; a
directory URL without its trailing slash gets a 301 to the slashed URL.
"""

from __future__ import annotations

from http import HTTPStatus

from ._streams import iter_bytes
from ._types import Headers, LegacyRequest, UpstreamResponse

SERVER_TOKEN = "strangler"
# Where nginx's page titles (ngx_http_special_response.c) differ from the RFC phrases.
_NGINX_PHRASES = {
    401: "Authorization Required",
    405: "Not Allowed",
    408: "Request Time-out",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    416: "Requested Range Not Satisfiable",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def error_page(status: int, *, head: bool = False) -> UpstreamResponse:
    """An nginx-style HTML error page for ``status``."""
    body = page_html(status)
    headers: Headers = [
        (b"content-type", b"text/html"),
        (b"content-length", str(len(body)).encode()),
    ]
    content = b"" if head else body
    return UpstreamResponse(status, headers, iter_bytes((content,)), "strangler", content)


def page_html(status: int) -> bytes:
    """The body nginx writes for ``status`` (server token replaced by ours)."""
    title = f"{status} {_NGINX_PHRASES.get(status) or HTTPStatus(status).phrase}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>{SERVER_TOKEN}</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def directory_redirect(request: LegacyRequest, location_path: str) -> UpstreamResponse:
    """nginx's 301 from ``/dir`` to ``/dir/`` (absolute, keeping the query string)."""
    host = next((v for k, v in request.headers if k == b"host"), b"").decode("latin-1")
    host = host or request.server_name
    location = f"{request.scheme}://{host}{_quote(location_path)}"
    if request.query_string:
        location += "?" + request.query_string.decode("latin-1")
    response = error_page(301, head=request.method == "HEAD")
    response.headers.append((b"location", location.encode("latin-1")))
    return response


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path.encode("utf-8", "surrogateescape"), safe="/:@!$&'()*+,;=-._~")
