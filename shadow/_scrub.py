"""Scrubbers: volatile tokens replaced by placeholders before two texts are compared.

Strategy: the built-in scrubbers must not interfere, whatever order a route
lists them in.  Two properties make that hold by construction:

* Whole tokens only.  A built-in token pattern matches only where no letter,
  digit or underscore touches it on either side, and its optional parts are
  atomic (``(?>...)``), so it never shrinks to fit inside a longer token: the
  epoch pattern cannot take ten digits out of a hex id, nor the ISO pattern
  the first minutes of a time followed by garbage.
* One pass.  The configured token scrubbers (``uuid``, ``timestamp``,
  ``hex_id``) are alternatives of ONE regex, tried in a fixed precedence, and
  substituted in one left-to-right pass: none of them ever sees another's
  placeholder, and the listed order only says which are on.  Where two could
  take the same token, the precedence decides: an all-digit run of an epoch's
  length (16 digits starting with 1: microseconds) is a ``<timestamp>``
  before it is a ``<hex>``.

``csrf`` rewrites an attribute of a tag, not a token.  It runs first; what it
writes (``<csrf>`` as the value) holds no token, and the token pass does not
change what it matches (a form field's name is not a token), so running it
before or after the token pass gives the same text.  Custom
``(regex, replacement)`` pairs are the operator's: they run last, in the
order given, on the text the built-ins produced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

Scrub = str | tuple[str, str]
"""A built-in scrubber's name, or a ``(regex, replacement)`` pair."""

_HEX = "[0-9a-fA-F]"
_ISO = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
    r"(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_HTTP_DATE = (
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2}[ -]"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[ -][0-9]{2,4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
_EPOCH = r"1[0-9]{9}(?:[0-9]{6}|[0-9]{3})?(?:\.[0-9]+)?"  # s, ms or µs; longest first
_WORD_OR_DOT = r"\w."  # an epoch after a dot is part of a decimal or a version


def _whole(pattern: str, before: str = r"\w") -> str:
    """``pattern`` as a whole token: atomic, with no ``before`` char or word char around it."""
    return rf"(?<![{before}])(?>{pattern})(?!\w)"


TOKEN_SCRUBBERS: Final[Mapping[str, tuple[str, str]]] = {
    "uuid": (_whole(rf"{_HEX}{{8}}(?:-{_HEX}{{4}}){{3}}-{_HEX}{{12}}"), "<uuid>"),
    "timestamp": (
        f"{_whole(_ISO)}|{_whole(_HTTP_DATE)}|{_whole(_EPOCH, before=_WORD_OR_DOT)}",
        "<timestamp>",
    ),
    "hex_id": (_whole(f"{_HEX}{{16,}}"), "<hex>"),
}
"""Token scrubbers in precedence order: name -> (regex, placeholder)."""

_CSRF_NAME = r"""[^"']*(?:csrf|xsrf|token|nonce|authenticity)[^"']*"""
_Q = r"""["']"""
_CSRF: Final = (
    (
        rf"(?i)(<input\b[^>]*?\bname\s*=\s*{_Q}{_CSRF_NAME}{_Q}[^>]*?\bvalue\s*=\s*{_Q})[^\"']*",
        r"\1<csrf>",
    ),
    (
        rf"(?i)(<input\b[^>]*?\bvalue\s*=\s*{_Q})[^\"']*({_Q}[^>]*?\bname\s*=\s*{_Q}{_CSRF_NAME}{_Q})",
        r"\1<csrf>\2",
    ),
    (
        rf"(?i)(<meta\b[^>]*?\bname\s*=\s*{_Q}{_CSRF_NAME}{_Q}[^>]*?\bcontent\s*=\s*{_Q})[^\"']*",
        r"\1<csrf>",
    ),
    (
        rf"(?i)(<meta\b[^>]*?\bcontent\s*=\s*{_Q})[^\"']*({_Q}[^>]*?\bname\s*=\s*{_Q}{_CSRF_NAME}{_Q})",
        r"\1<csrf>\2",
    ),
)

BUILTIN_SCRUBBERS: Final = ("uuid", "timestamp", "csrf", "hex_id")
"""The names a route may list in ``scrub``."""

Pairs = tuple[tuple[re.Pattern[str], str], ...]


@dataclass(frozen=True, slots=True)
class Scrubber:
    """The compiled scrubbers of one route: tag rewrites, one token pass, custom pairs."""

    tags: Pairs
    tokens: re.Pattern[str] | None
    custom: Pairs

    def __call__(self, text: str) -> str:
        """``text`` with every scrubbed token replaced by its placeholder."""
        for pattern, replacement in self.tags:
            text = pattern.sub(replacement, text)
        if self.tokens is not None:
            text = self.tokens.sub(_placeholder, text)
        for pattern, replacement in self.custom:
            text = pattern.sub(replacement, text)
        return text


_PLACEHOLDERS = {name: placeholder for name, (_, placeholder) in TOKEN_SCRUBBERS.items()}
PLACEHOLDERS: Final = frozenset({*_PLACEHOLDERS.values(), "<csrf>"})
"""What the built-in scrubbers write; they read like tags, but are words of text."""


def _placeholder(match: re.Match[str]) -> str:
    return _PLACEHOLDERS[match.lastgroup or ""]


def compile_scrubbers(items: Iterable[Scrub]) -> Scrubber | None:
    """Compile a route's ``scrub`` list (already validated); None when it is empty.

    Args:
        items: built-in names and ``(regex, replacement)`` pairs.
    """
    items = tuple(items)
    if not items:
        return None
    names = {item for item in items if isinstance(item, str)}
    tags = tuple((re.compile(p), r) for p, r in _CSRF) if "csrf" in names else ()
    alternatives = [
        f"(?P<{name}>{pattern})" for name, (pattern, _) in TOKEN_SCRUBBERS.items() if name in names
    ]
    tokens = re.compile("|".join(alternatives)) if alternatives else None
    custom = tuple((re.compile(p), r) for p, r in (i for i in items if not isinstance(i, str)))
    return Scrubber(tags, tokens, custom)
