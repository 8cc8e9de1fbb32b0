"""The FastCGI params nginx sends, and who the client is behind trusted proxies.

Strategy: ``build_params`` lists the params in the order of Debian's
``/etc/nginx/fastcgi_params`` followed by ``SCRIPT_FILENAME`` and ``PATH_INFO``
from the location, then ``extra`` (our ``fastcgi_param`` lines), then one
``HTTP_*`` pair per request header.  Observed with nginx 1.22.1 and a FastCGI
server that echoed its params:

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

``trusted_client`` reproduces ``real_ip_header X-Forwarded-For;
real_ip_recursive on``: walking the header right to left, trusted hops are
skipped, the first untrusted address wins, an unparsable entry stops the walk
keeping the last good one (``garbage, 10.0.0.1`` -> ``10.0.0.1``;
``1.2.3.4, garbage`` -> the peer), all-trusted gives the leftmost, and a hop
without a port leaves the port 0 (nginx: empty ``$remote_port``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from ._fastcgi_proto import ResponseHead
from ._resolve import RunScript
from ._types import Headers, LegacyRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})
_VALID_NAME = re.compile(rb"[A-Za-z0-9-]+")
_HIDDEN = frozenset({b"host", b"proxy"})
_PROTOCOLS = {"1.0": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "HTTP/2.0", "3": "HTTP/3.0"}
_READ_HEADERS = frozenset({b"content-type", b"content-length", b"authorization", b"host"})
# nginx's fastcgi_hide_header defaults: X-Accel-* steer nginx itself, never the client.
_HIDDEN_RESPONSE_HEADERS = frozenset(
    {
        b"x-accel-expires",
        b"x-accel-redirect",
        b"x-accel-limit-rate",
        b"x-accel-buffering",
        b"x-accel-charset",
    }
)
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


def _first(headers: Headers, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def host_variable(host_header: str | None, server_name: str) -> str:
    """nginx's ``$host``: the Host header lower-cased, without port or final dot."""
    if not host_header:
        return server_name
    host = host_header.strip().lower()
    bracket = host.find("]") if host.startswith("[") else -1
    host = host[: bracket + 1] if bracket > 0 else host.partition(":")[0]
    return host.rstrip(".") or server_name


def valid_host(value: bytes) -> str | None:
    """``value`` when nginx takes it as a host (``ngx_http_validate_host``), else ``None``.

    Refused: two dots in a row, a path separator (``/``, ``\\``), a space or a
    control byte, and a value that is empty once a final dot and the port are gone.
    """
    host_len = len(value)
    dot_pos = -2
    literal = rest = False
    for i, ch in enumerate(value):
        if ch == 0x2E:  # .
            if dot_pos == i - 1:
                return None
            dot_pos = i
        elif ch == 0x3A:  # :
            if not literal and not rest:
                host_len, rest = i, True
        elif ch == 0x5B:  # [
            literal = literal or i == 0
        elif ch == 0x5D:  # ]
            if literal and not rest:
                host_len, rest = i + 1, True
        elif ch in (0x2F, 0x5C) or ch <= 0x20 or ch == 0x7F:
            return None
    if dot_pos == host_len - 1:
        host_len -= 1
    if host_len <= 0:
        return None
    return value.decode("latin-1")


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


@dataclass(frozen=True, slots=True, init=False)
class Client:
    """Who sent the request, after believing only trusted proxies."""

    addr: str
    port: int
    scheme: str
    host: str | None

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(self, addr: str, port: int, scheme: str, host: str | None) -> None:
        object.__setattr__(self, "addr", addr)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "host", host)


def trusted_client(
    peer: tuple[str, int] | None,
    headers: Headers,
    trusted: Sequence[Network],
    *,
    scheme: str = "http",
) -> Client:
    """The client address, port, scheme and host, nginx realip style.

    Args:
        peer: the TCP peer; ``None`` (unix socket) is never trusted.
        headers: request headers, lower-case names.
        trusted: networks whose X-Forwarded-* headers are believed.
        scheme: the scheme of our own listener.

    Returns:
        X-Forwarded-For's rightmost untrusted hop (recursively), the last
        X-Forwarded-Proto (``http``/``https`` only) and last X-Forwarded-Host
        when the peer is trusted; otherwise the peer, ``scheme`` and Host.
    """
    host = _first(headers, b"host")
    if peer is None or not trusted or not _is_trusted(peer[0], trusted):
        addr, port = peer or ("", 0)
        return Client(addr, port, scheme, host)
    addr, port = _forwarded_for(peer, headers, trusted)
    proto = (_last_value(headers, b"x-forwarded-proto") or "").lower()
    forwarded_host = _last_value(headers, b"x-forwarded-host")
    return Client(
        addr, port, proto if proto in ("http", "https") else scheme, forwarded_host or host
    )


def _forwarded_for(
    peer: tuple[str, int], headers: Headers, trusted: Sequence[Network]
) -> tuple[str, int]:
    hops = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-forwarded-for"]
    current = peer
    for item in reversed(re.split(r"[ ,]+", ",".join(hops))):
        if not item:
            continue
        parsed = _parse_hop(item)
        if parsed is None:
            break
        current = parsed
        if not _is_trusted(current[0], trusted):
            break
    return current


def _parse_hop(item: str) -> tuple[str, int] | None:
    """``addr``, ``v4:port``, ``[v6]`` or ``[v6]:port`` as ``ngx_parse_addr_port`` reads them."""
    host, port = item, "0"
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("0" if not rest else "x")
    elif item.count(":") == 1:
        host, port = item.split(":")
    try:
        number = int(port)
        return str(ipaddress.ip_address(host)), number if 0 <= number < 65536 else 0
    except ValueError:
        return None


def _is_trusted(addr: str, trusted: Sequence[Network]) -> bool:
    try:
        ip: _Address = ipaddress.ip_address(addr)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in trusted)


def _last_value(headers: Headers, name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in headers if k.lower() == name]
    items = [item.strip() for item in ",".join(values).split(",") if item.strip()]
    return items[-1] if items else None
