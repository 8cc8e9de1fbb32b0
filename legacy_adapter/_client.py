"""Who the client is behind trusted proxies, and the host it asked for, as nginx sees them.

``trusted_client`` reproduces ``real_ip_header X-Forwarded-For;
real_ip_recursive on``: walking the header right to left, trusted hops are
skipped, the first untrusted address wins, an unparsable entry stops the walk
keeping the last good one (``garbage, 10.0.0.1`` -> ``10.0.0.1``;
``1.2.3.4, garbage`` -> the peer), all-trusted gives the leftmost, and a hop
without a port leaves the port 0 (nginx: empty ``$remote_port``).
``valid_host`` is ``ngx_http_validate_host`` and ``host_variable`` nginx's
``$host``, which the proxy checks at the edge and PHP gets as ``HTTP_HOST``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._types import Headers

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def _first(headers: Headers, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
