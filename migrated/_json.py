"""Strict JSON decoding: the one core under ``Request.json`` and ``php.json_decode``.

Strategy.  Python's ``json`` decoder is fast (its scanner is C) but lenient
where an HTTP API must not be: ``json.loads`` on bytes guesses UTF-16 and
UTF-32, it accepts ``NaN``, ``Infinity`` and ``-Infinity``, lone surrogate
escapes (``"\\ud800"``) become strings no encoder can write back as UTF-8,
and its only depth limit is the interpreter's recursion limit.  So the bytes
are decoded as UTF-8 only, the C scanner runs with ``parse_constant``
refusing the three names, and the result is narrowed afterwards, each check
only when the bytes make it possible: nesting only when the body holds more
``[``/``{`` than the limit, surrogates only when it holds a ``\\u`` escape.
A well-formed body therefore costs one UTF-8 decode, one C scan and two byte
counts (``ops/bench/cpu_per_request.py --migrated`` measures the validator,
which decodes through here).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from json.scanner import make_scanner
from typing import Any, Literal

Scanner = Callable[[str, int], tuple[Any, int]]
Fault = Literal["utf8", "syntax", "ctrl_char", "constant", "depth", "surrogate", "nul_name"]

_SPACE = " \t\n\r"  # JSON's whitespace (and json.decoder's)
_SURROGATE = re.compile(f"[{chr(0xD800)}-{chr(0xDFFF)}]")  # chr: mypyc takes no surrogate literal


class JsonRefused(ValueError):
    """The bytes are not JSON as the strict decoder accepts it.

    Attributes:
        fault: which rule refused them (a closed set, for callers mapping it).
        reason: a sentence for the client or the log.
        position: the character where the scan stopped, when there is one.
    """

    def __init__(self, fault: Fault, reason: str, position: int | None = None) -> None:
        self.fault: Fault = fault
        self.reason = reason
        self.position = position
        super().__init__(reason)


def _no_constant(name: str) -> Any:
    raise JsonRefused("constant", f"{name} is not JSON")


def scanner(
    *,
    parse_int: Callable[[str], Any] | None = None,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Scanner:
    """A C scanner refusing ``NaN``/``Infinity``; made once per combination, at import."""
    decoder = json.JSONDecoder(
        parse_int=parse_int, parse_constant=_no_constant, object_pairs_hook=object_pairs_hook
    )
    return make_scanner(decoder)  # type: ignore[arg-type]  # the C scanner


PLAIN = scanner()


def text_of(raw: bytes | str) -> str:
    """``raw`` as text: bytes must be UTF-8 (no BOM, no UTF-16/32 guessing).

    Raises:
        JsonRefused: ``utf8`` with the offset of the first bad byte.
    """
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused("utf8", f"not UTF-8: invalid byte at offset {exc.start}") from None


def scan(text: str, scan_once: Scanner = PLAIN) -> Any:
    """One JSON value filling ``text`` but for whitespace around it.

    Raises:
        JsonRefused: ``syntax``, ``ctrl_char``, ``constant`` or ``depth`` (the
            interpreter's recursion limit).
    """
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = scan_once(text, start)
    except StopIteration as exc:
        raise _unexpected(text, "expecting a value", exc.value) from None
    except RecursionError:
        raise JsonRefused("depth", "nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise _unexpected(text, exc.msg, exc.pos) from None
    rest = text[end:].lstrip(_SPACE)
    if rest:
        raise _unexpected(text, "extra data", len(text) - len(rest))
    return value


def _unexpected(text: str, message: str, at: int) -> JsonRefused:
    """A syntax error at ``at``; a control character there is its own fault (as PHP's)."""
    char = text[at : at + 1]
    control = message.startswith("Invalid control") or ("\x00" <= char < " ")
    fault: Fault = "ctrl_char" if control else "syntax"
    return JsonRefused(fault, f"{message} at character {at}", at)


def check_nesting(text: str, value: Any, limit: int) -> None:
    """Refuse more than ``limit`` nested arrays/objects (walked only if the text could hold them).

    Raises:
        JsonRefused: ``depth``.
    """
    if text.count("[") + text.count("{") > limit and _too_deep(value, limit):
        raise JsonRefused("depth", f"more than {limit} nested arrays/objects")


def _too_deep(value: Any, budget: int) -> bool:
    """Whether ``value`` nests more than ``budget`` containers (a loop: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, budget)]
    while stack:
        node, left = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if left == 0:
            return True
        stack += [(child, left - 1) for child in children]
    return False


def check_escapes(text: str, value: Any, *, nul_names: bool) -> None:
    """Refuse lone surrogates (and, unless ``nul_names``, names starting with NUL).

    Both can only be spelled with a ``\\u`` escape, so the walk happens only then.

    Raises:
        JsonRefused: ``surrogate`` or ``nul_name``.
    """
    if "\\" not in text or text.find("\\u") < 0:  # one character: memchr's fast scan
        return
    fault = _bad_escape(value, nul_names)
    if fault == "surrogate":
        raise JsonRefused(fault, "a lone UTF-16 surrogate escape")
    if fault == "nul_name":
        raise JsonRefused(fault, "a property name starting with NUL")


def _bad_escape(value: Any, nul_names: bool) -> Fault | None:
    if isinstance(value, str):
        return "surrogate" if _SURROGATE.search(value) is not None else None
    if isinstance(value, list):
        for item in value:
            fault = _bad_escape(item, nul_names)
            if fault is not None:
                return fault
    elif isinstance(value, dict):
        for key, item in value.items():
            fault = _bad_escape(key, nul_names) or _bad_escape(item, nul_names)
            if fault is None and not nul_names and key.startswith("\0"):
                fault = "nul_name"
            if fault is not None:
                return fault
    return None


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a surrogate code point (no UTF-8 encoding exists for it)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def strict_loads(raw: bytes | str, max_depth: int) -> Any:
    """Decode ``raw`` strictly (see the module docstring): ``Request.json``'s rules.

    Raises:
        JsonRefused: the reason, for a 400.
    """
    text = text_of(raw)
    value = scan(text)
    check_nesting(text, value, max_depth)
    check_escapes(text, value, nul_names=True)
    return value
