"""The request path as nginx sees it before location matching (``$uri``).

Strategy: one pass over the raw bytes, as ``ngx_http_parse_complex_uri`` does:
percent-decode, then split on ``/`` (a decoded ``%2F`` splits too), drop empty
and ``.`` segments (``merge_slashes on``), pop on ``..``.  The result is decoded
from UTF-8 with ``surrogateescape`` so a non-UTF-8 byte maps back to the same
byte when the path is turned into a file name.

Behaviour checked against nginx 1.22.1 on loopback (``return 200 $uri``):

* ``/a//b`` -> ``/a/b``; ``/a/./b`` -> ``/a/b``; ``/a/%2e%2e/b`` -> ``/b``;
  ``/a%2Fb`` -> ``/a/b``; ``/a%2F%2Fb`` -> ``/a/b``; ``/a/..`` -> ``/``;
  ``/a/.`` -> ``/a/`` (a final dot segment leaves the trailing slash);
  ``/...`` and ``/a/..b`` are ordinary names; ``\\`` is an ordinary byte.
* 400: ``/..``, ``/a/../..``, ``/%2e%2e/x``, ``/%2F..`` (climbing above
  ``/``); ``/%zz``, ``/%2``, ``/a%`` (bad escapes); ``/%00``; a path not
  starting with ``/``; raw control bytes (``\\x01``, ``\\t``, ``\\x7f``).
* ``%0A``, ``%0D``, ``%01``, ``%7F``, ``%FF`` decode without error in nginx.
  We deliberately reject decoded CR and LF as well (400): no legacy page needs
  them and they are the raw material of header injection in PHP code.
"""

from __future__ import annotations

import re
from typing import Final

from ._exceptions import BadRequest

_HEX: Final = b"0123456789abcdefABCDEF"
_REJECT_DECODED: Final = frozenset(b"\x00\r\n")
# Non-empty segments of printable ASCII without "%": the path is its own $uri,
# unless a segment is "." or ".." (any "/." sends it down the full pass).
# Unambiguous: no backtracking.
_PLAIN: Final = re.compile(rb"/(?:[!-$&-.0-~]+(?:/[!-$&-.0-~]+)*/?)?")


def normalize_path(raw_path: bytes) -> str:
    """Decode and normalise a request path exactly as nginx builds ``$uri``.

    Args:
        raw_path: the path as the client sent it (percent-encoded, no query).

    Returns:
        An absolute path without empty, ``.`` or ``..`` segments; it ends with
        ``/`` when the raw path did or when its last segment was ``.``/``..``.

    Raises:
        BadRequest: bad escape, NUL/CR/LF, raw control byte, relative path, or
            a ``..`` above the root (nginx answers 400 to all of these).
    """
    # ``find``, not ``in``: on bytes, ``in`` first tries its operand as an
    # integer, raising and clearing a TypeError on every request
    # (``ops/bench/engine_cpu.py`` under callgrind counts what that costs).
    if _PLAIN.fullmatch(raw_path) and raw_path.find(b"/.") < 0:
        return raw_path.decode("ascii")  # nothing to decode or merge: the common case
    if not raw_path.startswith(b"/"):
        raise _bad(f"path does not start with '/': {raw_path[:64]!r}")
    if any(byte <= 0x20 or byte == 0x7F for byte in raw_path):
        raise _bad(f"raw control character or space in path: {raw_path[:64]!r}")
    decoded = _percent_decode(raw_path)
    segments, trailing_slash = _merge(decoded.split(b"/"))
    path = b"/" + b"/".join(segments)
    if trailing_slash and segments:
        path += b"/"
    return path.decode("utf-8", "surrogateescape")


def _percent_decode(raw: bytes) -> bytes:
    if raw.find(b"%") < 0:  # not ``in``: see ``normalize_path``
        return raw
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte != 0x25:  # "%"
            out.append(byte)
            i += 1
            continue
        pair = raw[i + 1 : i + 3]
        if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            raise _bad(f"invalid percent escape in path: {raw[:64]!r}")
        value = int(pair, 16)
        if value in _REJECT_DECODED:
            raise _bad(f"encoded NUL, CR or LF in path: {raw[:64]!r}")
        out.append(value)
        i += 3
    return bytes(out)


def _merge(parts: list[bytes]) -> tuple[list[bytes], bool]:
    """Resolve dot segments; return the segments and whether a slash ends the path."""
    segments: list[bytes] = []
    trailing_slash = False
    for part in parts[1:]:
        trailing_slash = part in (b"", b".", b"..")
        if part == b"..":
            if not segments:
                raise _bad("'..' climbs above the document root")
            segments.pop()
        elif part not in (b"", b"."):
            segments.append(part)
    return segments, trailing_slash


def _bad(detail: str) -> BadRequest:
    return BadRequest(backend="-", detail=detail)
