"""The FastCGI params nginx sends for a request and the script that answers it.

Strategy: ``build_params`` lists the params in the order of Debian's
``/etc/nginx/fastcgi_params`` followed by ``SCRIPT_FILENAME`` and ``PATH_INFO``
from the location, then ``extra`` (our ``fastcgi_param`` lines), then one
``HTTP_*`` pair per request header.  This is where "which file" (the
``RunScript`` of ``_resolve``) meets "talk FastCGI": the client sends the
params it is given and knows nothing of scripts.  Observed with nginx 1.22.1
and a FastCGI server that echoed its params:

* Headers are NOT joined: two ``X-Dup`` (or two ``Cookie``) headers give two
  ``HTTP_X_DUP`` pairs, in arrival order (joining arrived in nginx 1.23).
* A name with ``_`` or any byte other than letters, digits and ``-`` is
  dropped (``underscores_in_headers off``, ``ignore_invalid_headers on``).
* ``Content-Type``/``Content-Length`` are sent as ``CONTENT_*`` and also as
  ``HTTP_CONTENT_*``; empty headers as empty values.
* ``HTTP_HOST`` is ``$host`` (Debian's fastcgi_params): the Host header
  lower-cased without port or trailing dot, else the server name; a
  ``fastcgi_param HTTP_X`` hides the client's ``X`` header.
* ``SERVER_NAME`` is nginx's ``$server_name``, the server block's first name,
  which a proxy cannot know: we send ``$host`` unless ``params`` sets
  ``SERVER_NAME`` (as a ``server_name example.com;`` line translates).
* ``REMOTE_USER`` is the user of a ``Basic`` Authorization header, else empty;
  ``HTTPS`` is absent on plain HTTP (``if_not_empty``).

Deliberate difference: the ``Proxy`` header is never passed (httpoxy); stock
nginx passes it as ``HTTP_PROXY``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from types import MappingProxyType

from ._client import host_variable
from ._resolve import RunScript
from ._types import Headers, LegacyRequest

_NO_EXTRA: Mapping[str, str] = MappingProxyType({})
_VALID_NAME = re.compile(rb"[A-Za-z0-9-]+")
_HIDDEN = frozenset({b"host", b"proxy"})
_PROTOCOLS = {"1.0": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "HTTP/2.0", "3": "HTTP/3.0"}
_READ_HEADERS = frozenset({b"content-type", b"content-length", b"authorization", b"host"})
_HIDDEN_BY_HOST = frozenset({b"HTTP_HOST"})  # HTTP_HOST is $host, never the raw header
# Encodings kept per name: building params is on every request's path.
_CACHED_NAMES = 1024
_PARAM_NAMES: dict[str, bytes] = {}
_HEADER_PARAMS: dict[bytes, bytes] = {}  # request header name -> its HTTP_* param


def build_params(
    request: LegacyRequest,
    script: RunScript,
    *,
    document_root: str,
    server_software: str = "strangler",
    https: bool,
    remote: tuple[str, int] | None,
    extra: Mapping[str, str] = _NO_EXTRA,
    content_length: int | None = None,
) -> list[tuple[bytes, bytes]]:
    """The FastCGI params nginx would send for ``request`` running ``script``.

    Args:
        request: the client request (headers, query, server address).
        script: the resolved script (SCRIPT_NAME, PATH_INFO, ...).
        document_root: the backend's root; a trailing ``/`` is dropped as nginx does.
        server_software: value of SERVER_SOFTWARE (nginx sends ``nginx/1.22.1``).
        https: whether the client reached us over TLS (sets HTTPS and REQUEST_SCHEME).
        remote: client address after trusted-proxy processing; ``None`` for a unix socket.
        extra: further params; a name already listed replaces its value, an
            ``HTTP_*`` name also hides the request header it stands for.
        content_length: the body length when the proxy measured it (chunked
            uploads), else the Content-Length header is used.
    """
    fixed = _fixed_params(request, script, document_root, server_software, https, remote)
    if content_length is not None:
        fixed["CONTENT_LENGTH"] = str(content_length)
    hidden = _HIDDEN_BY_HOST
    if extra:
        fixed.update(extra)
        hidden = frozenset(_name(n) for n in fixed if n.startswith("HTTP_"))
    params = [
        (_name(name), value.encode("utf-8", "surrogateescape"))
        for name, value in fixed.items()
        if value is not None
    ]
    params += _header_params(request.headers, hidden)
    return params


def script_params(
    request: LegacyRequest,
    script: RunScript,
    document_root: str,
    extra: Mapping[str, str],
    content_length: int | None,
) -> list[tuple[bytes, bytes]]:
    """``build_params`` as a FastCGI backend calls it: HTTPS and REMOTE_* from the request."""
    return build_params(
        request,
        script,
        document_root=document_root,
        https=request.scheme == "https",
        remote=request.client,
        extra=extra,
        content_length=content_length,
    )


def _fixed_params(
    request: LegacyRequest,
    script: RunScript,
    document_root: str,
    server_software: str,
    https: bool,
    remote: tuple[str, int] | None,
) -> dict[str, str | None]:
    server_addr, server_port = _address(request.server)
    remote_addr, remote_port = _address(remote)
    first = _first_values(request.headers)
    query = request.query_string.decode("latin-1")
    request_uri = request.raw_path.decode("latin-1") + (f"?{query}" if query else "")
    return {
        "QUERY_STRING": query,
        "REQUEST_METHOD": request.method,
        "CONTENT_TYPE": first.get(b"content-type") or "",
        "CONTENT_LENGTH": first.get(b"content-length") or "",
        "SCRIPT_NAME": script.script_name,
        "REQUEST_URI": request_uri,
        "DOCUMENT_URI": script.document_uri,
        "DOCUMENT_ROOT": document_root.rstrip("/"),
        "SERVER_PROTOCOL": _PROTOCOLS.get(request.http_version, "HTTP/1.1"),
        "REQUEST_SCHEME": "https" if https else "http",
        "HTTPS": "on" if https else None,
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": server_software,
        "REMOTE_ADDR": remote_addr,
        "REMOTE_PORT": remote_port,
        "REMOTE_USER": basic_auth_user(first.get(b"authorization")),
        "SERVER_ADDR": server_addr,
        "SERVER_PORT": server_port,
        "SERVER_NAME": request.server_name,
        "REDIRECT_STATUS": "200",
        "HTTP_HOST": host_variable(first.get(b"host"), request.server_name),
        "SCRIPT_FILENAME": script.script_filename,
        "PATH_INFO": script.path_info,
    }


def _header_params(headers: Headers, hidden: frozenset[bytes]) -> list[tuple[bytes, bytes]]:
    params = []
    for name, value in headers:
        param = _HEADER_PARAMS.get(name)
        if param is None:
            if name.lower() in _HIDDEN or not _VALID_NAME.fullmatch(name):
                continue
            param = b"HTTP_" + name.upper().replace(b"-", b"_")
            if len(_HEADER_PARAMS) < _CACHED_NAMES:  # names come from clients: bounded
                _HEADER_PARAMS[name] = param
        if param not in hidden:
            params.append((param, value))
    return params


def _first_values(headers: Headers) -> dict[bytes, str]:
    """The first value of each header ``_fixed_params`` reads, in one pass."""
    first: dict[bytes, str] = {}
    for key, value in headers:
        key = key.lower()
        if key in _READ_HEADERS and key not in first:
            first[key] = value.decode("latin-1")
    return first


def _name(name: str) -> bytes:
    encoded = _PARAM_NAMES.get(name)
    if encoded is None:
        encoded = name.encode("utf-8", "surrogateescape")
        if len(_PARAM_NAMES) < _CACHED_NAMES:  # ours and the config's: a small set
            _PARAM_NAMES[name] = encoded
    return encoded


def _address(address: tuple[str, int | None] | None) -> tuple[str, str]:
    host, port = address or ("unix:", None)
    if port is None:
        # A unix socket: no peer address, or a listener ASGI servers give as (path, None).
        return "unix:", ""  # nginx's $remote_addr / $server_addr on a unix socket
    return host, str(port) if 0 < port < 65536 else ""


def basic_auth_user(authorization: str | None) -> str:
    """nginx's ``$remote_user``: the user part of ``Basic`` credentials, else ``""``."""
    if authorization is None or authorization[:6].lower() != "basic ":
        return ""
    encoded = authorization[6:].lstrip(" ").partition("=")[0]
    if not encoded or len(encoded) % 4 == 1:
        return ""
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return ""
    user, colon, _ = decoded.partition(b":")
    return user.decode("utf-8", "surrogateescape") if colon and user else ""
