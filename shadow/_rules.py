"""What counts as "the same answer" for one route: the comparison rules.

Strategy: the config loader builds one frozen ``CompareRules`` per route and
passes it to every comparison of that route, so everything costly is done once
in ``__post_init__``: the rules validate themselves (a ``RulesError`` names the
offending key, e.g. ``ignore[0]``), then path patterns are compiled into one
regex per set and scrubbers into one ``Scrubber`` (see ``_scrub``).
The comparison engine only asks questions (``is_ignored``, ``tolerance_at``,
``scrub_text``...) and never compiles anything.

Path patterns are JSON pointers into the body (``/items/0/price``, keys
escaped ``~0``/``~1``, ``""`` the whole body) where ``*`` matches within one segment and a ``**``
segment matches any number of segments, none included: ``/meta/**`` is
``/meta`` and everything under it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._comparator import Comparator, load_comparator
from ._exceptions import RulesError
from ._scrub import BUILTIN_SCRUBBERS, Scrub, Scrubber, compile_scrubbers

DEFAULT_HEADERS: tuple[str, ...] = (
    "content-type",
    "location",
    "cache-control",
    "expires",
    "vary",
    "content-disposition",
    "set-cookie",
)
"""Headers compared unless a route says otherwise (set-cookie by names and attributes)."""

DEFAULT_MAX_BODY = 1 << 20

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True, slots=True)
class _Compiled:
    headers: tuple[str, ...]
    ignore: re.Pattern[str] | None
    unordered: re.Pattern[str] | None
    tolerances: tuple[tuple[re.Pattern[str], float], ...]
    scrubber: Scrubber | None
    comparator: Comparator | None


@dataclass(frozen=True, slots=True)
class CompareRules:
    """How to compare the two answers of one route.

    Lists may be given as lists or tuples; they are stored as tuples.

    Args:
        headers: response headers compared (case-insensitive names).
        ignore_headers: headers never compared, even if listed in ``headers``.
        ignore: body path patterns not compared, nor anything under them.
        scrub: built-in scrubber names (``uuid``, ``timestamp``, ``csrf``,
            ``hex_id``; whole tokens only, in any order with the same result)
            or ``(regex, replacement)`` pairs (applied after the built-ins,
            in order), applied to JSON string values, compared header values
            and text bodies (line by line, after whitespace is collapsed; HTML
            one tag a line).
        unordered: body path patterns of arrays compared as multisets.
        tolerance: absolute tolerance for numbers, everywhere (a number) or
            per path pattern (a mapping; ``/**`` as a fallback).
        max_body: bodies longer than this (either side) are compared by digest only.
        comparator: ``package.module:function`` called after the rules with
            both answers and their differences; returns the differences that
            count (see ``_comparator``).  Imported here, at config load.
        idempotent: the route's requests may be sent to legacy twice whatever
            their method, so its POSTs teach noise too (safe methods always
            may).  Only the operator knows this; it is never guessed.

    Raises:
        RulesError: (a ``ValueError``) a rule is invalid; ``key`` names it.
    """

    headers: tuple[str, ...] = DEFAULT_HEADERS
    ignore_headers: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    scrub: tuple[Scrub, ...] = ()
    unordered: tuple[str, ...] = ()
    tolerance: float | Mapping[str, float] = 0.0
    max_body: int = DEFAULT_MAX_BODY
    comparator: str | None = None
    idempotent: bool = False
    _compiled: _Compiled = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("headers", "ignore_headers", "ignore", "scrub", "unordered"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        self.validate()
        object.__setattr__(self, "_compiled", self._compile())

    def validate(self) -> None:
        """Check every rule (called on construction, so a built instance is valid).

        Raises:
            RulesError: (a ``ValueError``) with ``key`` the offending rule,
                e.g. ``headers[1]``, ``scrub[0]``, ``tolerance['/price']``.
        """
        for name in ("headers", "ignore_headers"):
            for key, item in _items(name, getattr(self, name)):
                if not isinstance(item, str) or not _TOKEN.match(item):
                    raise RulesError(key, f"not a header name: {item!r}")
        for name in ("ignore", "unordered"):
            for key, item in _items(name, getattr(self, name)):
                _check_pattern(key, item)
        for key, item in _items("scrub", self.scrub):
            _check_scrub(key, item)
        _check_tolerance(self.tolerance)
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int):
            raise RulesError("max_body", f"expected a number of bytes, got {self.max_body!r}")
        if self.max_body < 0:
            raise RulesError("max_body", f"must not be negative, got {self.max_body}")
        if not isinstance(self.idempotent, bool):
            raise RulesError("idempotent", f"expected true or false, got {self.idempotent!r}")

    def _compile(self) -> _Compiled:
        skipped = {name.lower() for name in self.ignore_headers}
        headers = tuple(dict.fromkeys(h.lower() for h in self.headers if h.lower() not in skipped))
        if isinstance(self.tolerance, Mapping):
            tolerances = tuple(
                (_compile_patterns([p]) or _NEVER, float(t)) for p, t in self.tolerance.items()
            )
        else:
            tolerances = ((_ALWAYS, float(self.tolerance)),) if self.tolerance else ()
        return _Compiled(
            headers,
            _compile_patterns(self.ignore),
            _compile_patterns(self.unordered),
            tolerances,
            compile_scrubbers(self.scrub),
            None if self.comparator is None else load_comparator(self.comparator),
        )

    @property
    def compared_headers(self) -> tuple[str, ...]:
        """Lower-case names of the headers compared (``headers`` minus ``ignore_headers``)."""
        return self._compiled.headers

    @property
    def scrubs(self) -> bool:
        """Whether any scrubber is configured."""
        return self._compiled.scrubber is not None

    def is_ignored(self, pointer: str) -> bool:
        """Whether the body path ``pointer`` (``/items/0/ts``) is ignored."""
        ignore = self._compiled.ignore
        return ignore is not None and ignore.fullmatch(pointer) is not None

    def is_unordered(self, pointer: str) -> bool:
        """Whether the array at ``pointer`` is compared as a multiset."""
        unordered = self._compiled.unordered
        return unordered is not None and unordered.fullmatch(pointer) is not None

    def tolerance_at(self, pointer: str) -> float:
        """The absolute numeric tolerance at ``pointer`` (first matching pattern, else 0)."""
        for pattern, tolerance in self._compiled.tolerances:
            if pattern.fullmatch(pointer):
                return tolerance
        return 0.0

    @property
    def custom(self) -> Comparator | None:
        """The route's own comparator, loaded (None: the rules alone decide)."""
        return self._compiled.comparator

    def scrub_text(self, text: str) -> str:
        """Apply the scrubbers to ``text``: the built-ins in one pass, then custom pairs."""
        scrubber = self._compiled.scrubber
        return text if scrubber is None else scrubber(text)


_ALWAYS = re.compile(r".*", re.DOTALL)
_NEVER = re.compile(r"(?!)")


def _items(name: str, value: object) -> list[tuple[str, object]]:
    if not isinstance(value, tuple):
        raise RulesError(name, f"expected a list, got {type(value).__name__}")
    return [(f"{name}[{i}]", item) for i, item in enumerate(value)]


def _pattern_regex(pattern: str) -> str:
    if not pattern:
        return ""  # the root
    parts = []
    for segment in pattern[1:].split("/"):
        if segment == "**":
            parts.append("(?:/.*)?")
        else:
            parts.append("/" + "[^/]*".join(re.escape(p) for p in segment.split("*")))
    return "".join(parts)


def _compile_patterns(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{_pattern_regex(p)})" for p in patterns), re.DOTALL)


def _check_pattern(key: str, pattern: object) -> None:
    if not isinstance(pattern, str) or not (pattern == "" or pattern.startswith("/")):
        raise RulesError(
            key, f"expected '' (the root) or a path starting with '/', got {pattern!r}"
        )
    for segment in pattern[1:].split("/"):
        if "**" in segment and segment != "**":
            raise RulesError(key, f"'**' must be a whole segment in {pattern!r}")
        if re.search(r"~(?![01])", segment):
            raise RulesError(key, f"'~' must be escaped as '~0' in {pattern!r}")


def _check_scrub(key: str, item: object) -> None:
    if isinstance(item, str):
        if item not in BUILTIN_SCRUBBERS:
            raise RulesError(
                key, f"unknown scrubber {item!r} (known: {', '.join(BUILTIN_SCRUBBERS)})"
            )
        return
    if not (
        isinstance(item, tuple | list)
        and len(item) == 2
        and all(isinstance(part, str) for part in item)
    ):
        raise RulesError(key, f"expected a scrubber name or [regex, replacement], got {item!r}")
    try:
        re.compile(item[0]).sub(item[1], "")
    except (re.error, IndexError) as error:
        raise RulesError(key, f"bad scrubber {item[0]!r} -> {item[1]!r}: {error}") from None


def _check_tolerance(tolerance: object) -> None:
    if isinstance(tolerance, Mapping):
        for pattern, value in tolerance.items():
            key = f"tolerance[{pattern!r}]"
            _check_pattern(key, pattern)
            _check_number(key, value)
    else:
        _check_number("tolerance", tolerance)


def _check_number(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RulesError(key, f"expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise RulesError(key, f"expected a finite number >= 0, got {value!r}")
