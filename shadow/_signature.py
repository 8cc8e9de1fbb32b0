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


def describe(route: str, differences: Iterable[Difference], max_places: int = 3) -> str:
    """A person's name for a cause: the route and its first places with their kinds.

    The places are the signature's own keys (``value body/items/*/price``), in
    the order they were found, so two sets of differences that make different
    signatures read differently unless more than ``max_places`` are cut off
    (``labels`` settles those).
    """
    keys = list(dict.fromkeys(signature_key(d) for d in differences))
    if not keys:
        return f"{route} · (no differences)"
    shown = ", ".join(f"{kind} {where}" for kind, where in keys[:max_places])
    more = f" +{len(keys) - max_places} more" if len(keys) > max_places else ""
    return f"{route} · {shown}{more}"


def labels(causes: Iterable[tuple[str, str, Iterable[Difference]]]) -> dict[str, str]:
    """One distinct label per signature: ``describe``, plus a short id where two read alike.

    Args:
        causes: ``(signature, route, differences)`` for each signature shown together.

    Returns:
        Signature to label.  A label shared by several signatures gets each
        one's id, cut to the shortest prefix (at least 4) telling them apart.
    """
    named = {sig: describe(route, diffs) for sig, route, diffs in causes}
    alike: dict[str, list[str]] = {}
    for sig, text in named.items():
        alike.setdefault(text, []).append(sig)
    out = {}
    for text, sigs in alike.items():
        size = _distinct_prefix(sigs) if len(sigs) > 1 else 0
        for sig in sigs:
            out[sig] = f"{text} · #{sig[:size]}" if size else text
    return out


def _distinct_prefix(ids: list[str]) -> int:
    size = 4
    while size < max(len(i) for i in ids) and len({i[:size] for i in ids}) < len(ids):
        size += 1
    return size
