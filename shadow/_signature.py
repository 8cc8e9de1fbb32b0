"""Signatures: one stable short id per *cause* of mismatch on a route.

Strategy: a signature hashes the route and the sorted set of
``(kind, normalised where)``; values are left out and array indices become
``*``, so a thousand requests that each differ at ``body/items/N/price``
(for any N, any prices) share one signature, while a new kind of difference
or a new place makes a new one.  The encoding is canonical JSON, so no
separator inside a key or route can make two different sets collide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable

from ._model import Difference
from ._normalize import normalise_where


def signature_key(difference: Difference) -> tuple[str, str]:
    """What a difference contributes to a signature: ``(kind, normalised where)``."""
    return difference.kind, normalise_where(difference.where)


def signature_of_keys(route: str, keys: Collection[tuple[str, str]]) -> str:
    """The signature of a set of ``signature_key`` values ("" for an empty set)."""
    if not keys:
        return ""
    text = json.dumps([route, sorted(keys)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def signature(route: str, differences: Iterable[Difference]) -> str:
    """A 12-hex-digit id of ``route`` and the set of (kind, normalised where).

    Args:
        route: the route name.
        differences: the counted differences of one comparison.

    Returns:
        "" when there are no differences.
    """
    return signature_of_keys(route, {signature_key(d) for d in differences})
