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
from typing import Final

from ._client import host_variable
from ._fastcgi_records import decode_pairs, encode_pairs, put_pair
from ._resolve import RunScript
from ._types import Headers, LegacyRequest

_NO_EXTRA: Final[Mapping[str, str]] = MappingProxyType({})
_VALID_NAME: Final = re.compile(rb"[A-Za-z0-9-]+")
_HIDDEN: Final = frozenset({b"host", b"proxy"})
_PROTOCOLS: Final = {"1.0": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "HTTP/2.0", "3": "HTTP/3.0"}
_READ_HEADERS: Final = frozenset({b"content-type", b"content-length", b"authorization", b"host"})
# Encodings kept per name: building params is on every request's path.
_CACHED_NAMES: Final = 1024
_HEADER_PARAMS: Final[dict[bytes, bytes]] = {}  # request header name -> its HTTP_* param


# The params every script gets, in the order of Debian's fastcgi_params, then
# the location's SCRIPT_FILENAME and PATH_INFO: the slots of a ``ParamPlan``.
_SLOTS: Final[tuple[str, ...]] = (
    "QUERY_STRING",
    "REQUEST_METHOD",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SCRIPT_NAME",
    "REQUEST_URI",
    "DOCUMENT_URI",
    "DOCUMENT_ROOT",
    "SERVER_PROTOCOL",
    "REQUEST_SCHEME",
    "HTTPS",
    "GATEWAY_INTERFACE",
    "SERVER_SOFTWARE",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REMOTE_USER",
    "SERVER_ADDR",
    "SERVER_PORT",
    "SERVER_NAME",
    "REDIRECT_STATUS",
    "HTTP_HOST",
    "SCRIPT_FILENAME",
    "PATH_INFO",
)
_SLOT_NAMES: Final = tuple(name.encode() for name in _SLOTS)
# Each slot's encoded name with its length and a short value's: one piece per pair.
_SLOT_PREFIXES: Final = tuple([bytes((len(n), v)) + n for v in range(0x80)] for n in _SLOT_NAMES)
_PROTOCOL_BYTES: Final = {version: name.encode() for version, name in _PROTOCOLS.items()}


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class ParamPlan:
    """What a backend's config fixes of every request's params, encoded once.

    The slots' order, the values no request changes (``DOCUMENT_ROOT``,
    ``SERVER_SOFTWARE``, ...), the ``fastcgi_param`` lines (``extra``: a name
    already listed replaces its value, another is sent after the slots, an
    ``HTTP_*`` name also hides the request header it stands for) and the
    header params hidden.  A request then encodes only its own values:
    building params is on every request's path (``ops/bench/engine_cpu.py``).

    Args:
        document_root: the backend's root; a trailing ``/`` is dropped as nginx does.
        extra: the backend's further params.
        server_software: value of SERVER_SOFTWARE (nginx sends ``nginx/1.22.1``).
    """

    __slots__ = ("_fixed", "_tail", "hidden")

    def __init__(
        self,
        document_root: str,
        extra: Mapping[str, str] = _NO_EXTRA,
        server_software: str = "strangler",
    ) -> None:
        fixed = {
            "DOCUMENT_ROOT": document_root.rstrip("/"),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_SOFTWARE": server_software,
            "REDIRECT_STATUS": "200",
        }
        fixed.update((name, value) for name, value in extra.items() if name in _SLOTS)
        self._fixed: tuple[bytes | None, ...] = tuple(
            encode_pairs([(_encoded(name), _encoded(fixed[name]))]) if name in fixed else None
            for name in _SLOTS
        )
        self._tail = encode_pairs(
            [(_encoded(n), _encoded(v)) for n, v in extra.items() if n not in _SLOTS]
        )
        self.hidden = frozenset(
            [b"HTTP_HOST"] + [_encoded(name) for name in extra if name.startswith("HTTP_")]
        )

    def encode(
        self,
        request: LegacyRequest,
        script: RunScript,
        *,
        https: bool,
        remote: tuple[str, int] | None,
        content_length: int | None = None,
    ) -> bytes:
        """The encoded FastCGI params nginx would send for ``request`` running ``script``.

        Args:
            request: the client request (headers, query, server address).
            script: the resolved script (SCRIPT_NAME, PATH_INFO, ...).
            https: whether the client reached us over TLS (sets HTTPS and REQUEST_SCHEME).
            remote: client address after trusted-proxy processing; ``None`` for a unix socket.
            content_length: the body length when the proxy measured it (chunked
                uploads), else the Content-Length header is used.
        """
        values = _request_values(request, script, https, remote, content_length)
        parts: list[bytes] = []
        fixed = self._fixed
        for i in range(len(_SLOTS)):
            constant = fixed[i]
            if constant is not None:
                parts.append(constant)
                continue
            value = values[i]
            if value is None:
                continue
            if len(value) < 0x80:
                parts.append(_SLOT_PREFIXES[i][len(value)])
                parts.append(value)
            else:
                put_pair(parts, _SLOT_NAMES[i], value)
        parts.append(self._tail)
        _put_headers(parts, request.headers, self.hidden)
        return b"".join(parts)


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
    """The FastCGI params nginx would send, as pairs: ``ParamPlan.encode``, decoded."""
    plan = ParamPlan(document_root, extra, server_software)
    encoded = plan.encode(
        request, script, https=https, remote=remote, content_length=content_length
    )
    return decode_pairs(encoded)


def _request_values(
    request: LegacyRequest,
    script: RunScript,
    https: bool,
    remote: tuple[str, int] | None,
    content_length: int | None,
) -> tuple[bytes | None, ...]:
    """One request's value of each slot, in ``_SLOTS`` order (``None``: not sent)."""
    content_type, length_header, authorization, host = _first_values(request.headers)
    query = request.query_string
    server_addr, server_port = _address(request.server)
    remote_addr, remote_port = _address(remote)
    host_header = host.decode("latin-1") if host is not None else None
    return (
        query,
        request.method.encode(),
        content_type,
        str(content_length).encode() if content_length is not None else length_header,
        _encoded(script.script_name),
        request.raw_path + b"?" + query if query else request.raw_path,
        _encoded(script.document_uri),
        None,  # DOCUMENT_ROOT: the plan's
        _PROTOCOL_BYTES.get(request.http_version, b"HTTP/1.1"),
        b"https" if https else b"http",
        b"on" if https else None,  # nginx: if_not_empty
        None,  # GATEWAY_INTERFACE: the plan's
        None,  # SERVER_SOFTWARE: the plan's
        remote_addr,
        remote_port,
        _encoded(basic_auth_user(authorization.decode("latin-1") if authorization else None)),
        server_addr,
        server_port,
        _encoded(request.server_name),
        None,  # REDIRECT_STATUS: the plan's
        _encoded(host_variable(host_header, request.server_name)),
        _encoded(script.script_filename),
        _encoded(script.path_info),
    )


def _put_headers(parts: list[bytes], headers: Headers, hidden: frozenset[bytes]) -> None:
    """One ``HTTP_*`` pair per request header nginx passes, in arrival order."""
    for name, value in headers:
        param = _HEADER_PARAMS.get(name)
        if param is None:
            if name.lower() in _HIDDEN or not _VALID_NAME.fullmatch(name):
                continue
            param = b"HTTP_" + name.upper().replace(b"-", b"_")
            if len(_HEADER_PARAMS) < _CACHED_NAMES:  # names come from clients: bounded
                _HEADER_PARAMS[name] = param
        if param not in hidden:
            put_pair(parts, param, value)


def _first_values(headers: Headers) -> tuple[bytes, bytes, bytes | None, bytes | None]:
    """The first Content-Type, Content-Length (``b""`` if absent), Authorization and Host."""
    content_type = length = b""
    authorization: bytes | None = None
    host: bytes | None = None
    seen = 0
    for key, value in headers:
        if key in _READ_HEADERS:
            if key == b"content-type" and not seen & 1:
                content_type, seen = value, seen | 1
            elif key == b"content-length" and not seen & 2:
                length, seen = value, seen | 2
            elif key == b"authorization" and not seen & 4:
                authorization, seen = value, seen | 4
            elif key == b"host" and not seen & 8:
                host, seen = value, seen | 8
    return content_type, length, authorization, host


def _address(address: tuple[str, int | None] | None) -> tuple[bytes, bytes]:
    host, port = address or ("unix:", None)
    if port is None:
        # A unix socket: no peer address, or a listener ASGI servers give as (path, None).
        return b"unix:", b""  # nginx's $remote_addr / $server_addr on a unix socket
    return host.encode(), str(port).encode() if 0 < port < 65536 else b""


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
