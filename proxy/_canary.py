"""Canary bucketing: which requests a canary route sends to the migrated handler.

Strategy: a request's sticky key (client address, a header, a cookie or a
query parameter) is hashed with the route name into a fixed bucket in
[0, 10000).  The request goes to the new side when its bucket is below
``percent * 100``.  So a key always lands on the same side, the share over many
keys matches the percentage, and raising the percentage only moves keys from
legacy to new (every key already on the new side stays there), the
"consistent" property that lets a rollout grow without flapping users.

A route may also let a request pin itself to a side, as ingress-nginx's
``canary-by-header`` and ``canary-by-cookie`` do (``forced_side``): the header
is looked at first, then the cookie, then the percentage decides.

Pure functions: values in, values out.
"""

from __future__ import annotations

import hashlib
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

BUCKETS = 10_000


def bucket(route: str, key: str) -> int:
    """A stable bucket in ``[0, BUCKETS)`` for ``key`` on ``route``."""
    digest = hashlib.blake2b(f"{route}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def goes_to_new(percent: float, route: str, key: str) -> bool:
    """Whether the canary sends this key to the migrated handler."""
    return bucket(route, key) < round(percent * BUCKETS / 100)


def forced_side(
    header: bytes, value: bytes, cookie: str, headers: list[tuple[bytes, bytes]]
) -> tuple[bool, str] | None:
    """Whether the request forces a side: ``(to_new, "header" or "cookie")``, else ``None``.

    As ingress-nginx: without a custom ``value`` the header's ``always`` means
    new and ``never`` legacy; with one, only that exact value counts (it means
    new) and any other, ``never`` included, is ignored.  The cookie's
    ``always`` and ``never`` come next.  Any other value leaves the choice to
    the percentage, so a stray header cannot break stickiness.

    Args:
        header: lower-case header name, ``b""`` for none.
        value: the custom header value meaning new, ``b""`` for always/never.
        cookie: cookie name, ``""`` for none.
        headers: the request's headers, lower-case names.
    """
    if header:
        got = next((v for k, v in headers if k == header), None)
        if got is not None:
            if value:
                if got == value:
                    return True, "header"
            elif got == b"always":
                return True, "header"
            elif got == b"never":
                return False, "header"
    if cookie:
        crumb = _cookie(headers, cookie)
        if crumb == "always":
            return True, "cookie"
        if crumb == "never":
            return False, "cookie"
    return None


def sticky_key(
    spec: str, headers: list[tuple[bytes, bytes]], query_string: bytes, client: str
) -> str:
    """The value named by ``spec`` (``client``, ``header:X``, ``cookie:X``, ``query:X``).

    A missing header, cookie or parameter falls back to the client address, so
    every request still has a stable key.
    """
    kind, _, name = spec.partition(":")
    value: str | None = None
    if kind == "header":
        raw = next((v for k, v in headers if k == name.lower().encode()), None)
        value = raw.decode("latin-1") if raw is not None else None
    elif kind == "cookie":
        value = _cookie(headers, name)
    elif kind == "query":
        values = parse_qs(query_string.decode("latin-1")).get(name)
        value = values[0] if values else None
    return value if value else client


def _cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, raw in headers:
        if key != b"cookie":
            continue
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw.decode("latin-1"))
        except CookieError:
            continue
        if name in jar:
            return jar[name].value
    return None
