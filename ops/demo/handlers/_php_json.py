"""PHP's ``json_decode`` and ``json_encode`` as the validator port needs them.

* ``decode_body`` reads the body the way PHP's ``json_decode($raw, false, 32)``
  does.  Python's decoder is more lenient, so it is narrowed after the fact:
  strict UTF-8, no ``NaN``/``Infinity``, integers beyond 64 bits become floats,
  at most 31 nested arrays/objects, and (only when the body holds a ``\\u``
  escape, the sole way to spell them) no lone surrogate and no property name
  starting with NUL (PHP's "decoded property name is invalid").
* ``php_json_encode`` writes what ``json_encode`` writes with the flags of
  validate.php; only floats need care (PHP's ``serialize_precision=-1`` format:
  ``1.0e+17``, ``1.0e-5``, ``100000.0``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring
from json.scanner import make_scanner
from typing import Any

MAX_NESTING = 31
"""PHP's ``json_decode`` depth 32 admits 31 nested arrays/objects."""

_INT64_DIGITS = 19
_SURROGATE = re.compile(f"[{chr(0xD800)}-{chr(0xDFFF)}]")  # chr: mypyc takes no surrogate literal


class NotJson(ValueError):
    """The body is not JSON as PHP's ``json_decode`` (depth 32) accepts it."""


# --- PHP's json_decode -------------------------------------------------------


def _php_int(text: str) -> int | float:
    """An integer literal: int if it fits in 64 bits, else a float (as PHP)."""
    if len(text.lstrip("-")) > _INT64_DIGITS:
        return float(text)
    value = int(text)
    return value if -(2**63) <= value < 2**63 else float(text)


def _no_constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_int=_php_int, parse_constant=_no_constant)
_SCAN = make_scanner(_DECODER)  # type: ignore[arg-type]  # the scanner it makes itself (C)
_JSON_SPACE = " \t\n\r"  # json.decoder's WHITESPACE


def _decode(text: str) -> Any:
    """``_DECODER.decode(text)`` without its two interpreted layers (0.7 µs of ~1.7)."""
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        value, end = _SCAN(text, start)
    except StopIteration:
        raise ValueError("expecting a value") from None
    if text[end:].lstrip(_JSON_SPACE):
        raise ValueError("extra data")
    return value


def _too_deep(value: Any, budget: int) -> bool:
    if isinstance(value, dict):
        children: Iterable[Any] = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return False
    return budget == 0 or any(_too_deep(child, budget - 1) for child in children)


def _escapes_ok(value: Any) -> bool:
    """No lone surrogate anywhere, no property name starting with NUL."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is None
    if isinstance(value, list):
        return all(_escapes_ok(item) for item in value)
    if isinstance(value, dict):
        return all(
            not key.startswith("\0") and _escapes_ok(key) and _escapes_ok(item)
            for key, item in value.items()
        )
    return True


def decode_body(raw: bytes) -> Any:
    """Decode ``raw`` exactly as ``json_decode($raw, false, 32)`` accepts it.

    Raises:
        NotJson: PHP would report a JSON error for this body.
    """
    try:
        value = _decode(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise NotJson("body is not valid JSON") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_NESTING and _too_deep(value, MAX_NESTING):
        raise NotJson("more than 31 nested arrays/objects")
    # ``find``, not ``in``: on bytes, ``in`` first tries its operand as an
    # integer, raising and clearing a TypeError (about 2,500 instructions).
    if raw.find(b"\\u") >= 0 and not _escapes_ok(value):
        raise NotJson("lone surrogate escape or property name starting with NUL")
    return value


# --- PHP's json_encode and string conversion --------------------------------


def _gcvt(text: str, ndigit: int, exp_char: str) -> str:
    """PHP's ``php_gcvt`` layout of a finite float given as ``repr``-like text.

    ``text`` is ``[-]digits[.digits][e±N]`` holding the significant digits
    PHP's ``zend_dtoa`` would produce; ``ndigit`` is 17 for ``json_encode``
    (``serialize_precision=-1``) and 14 for string casts (``precision``).
    """
    sign = "-" if text.startswith("-") else ""
    mantissa, _, exponent = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return sign + "0"
    decpt = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    if decpt < -3 or decpt > ndigit:
        power = decpt - 1
        return f"{sign}{digits[0]}.{digits[1:] or '0'}{exp_char}{'-+'[power >= 0]}{abs(power)}"
    if decpt <= 0:
        return f"{sign}0.{'0' * -decpt}{digits}"
    head, tail = digits[:decpt].ljust(decpt, "0"), digits[decpt:]
    return f"{sign}{head}.{tail}" if tail else sign + head


def php_float(value: float) -> str:
    """``json_encode`` of a float with JSON_PRESERVE_ZERO_FRACTION.

    Raises:
        ValueError: INF and NAN, which ``json_encode`` refuses.
    """
    if not math.isfinite(value):
        raise ValueError("Inf and NaN cannot be JSON encoded")
    if 1e-4 <= abs(value) < 1e16 or value == 0:
        return repr(value)  # Python's fixed notation is PHP's here, ".0" included
    text = _gcvt(repr(value), 17, "e")
    return text if "." in text else text + ".0"


def php_string(value: Any) -> str:
    """PHP's string conversion of a scalar (interpolation, ``implode``)."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NAN" if math.isnan(value) else ("INF" if value > 0 else "-INF")
        return _gcvt(f"{value:.13e}", 14, "E")
    return str(value)


def _flat_object(value: dict[Any, Any]) -> str | None:
    """The JSON of an object whose values are strings, ints, booleans or nulls, else None.

    An accepted event's normalized fields are such an object.  In one loop it
    takes about a fifth fewer instructions than encoding member by member
    below (about 16,000 against 20,000 for the benchmark's event, counted
    with callgrind); json's C encoder measured the same as this loop.
    """
    parts = ["{"]
    for key, item in value.items():
        if type(key) is not str:
            return None
        kind = type(item)
        if kind is str:
            text = str(encode_basestring(item))
        elif kind is int:
            text = str(item)
        elif kind is bool:
            text = "true" if item else "false"
        elif item is None:
            text = "null"
        else:
            return None
        if len(parts) > 1:
            parts.append(",")
        parts.append(str(encode_basestring(key)))
        parts.append(":")
        parts.append(text)
    parts.append("}")
    return "".join(parts)


def php_json_encode(value: Any) -> str:
    """``json_encode`` with validate.php's flags (unescaped slashes, Unicode, U+2028/9).

    Raises:
        ValueError: the value holds INF or NAN (PHP's ``json_encode`` fails).
    """
    if type(value) is dict:
        flat = _flat_object(value)
        if flat is not None:
            return flat
    if isinstance(value, str):
        return str(encode_basestring(value))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return php_float(value)
    if isinstance(value, dict | Mapping):  # dict first: the ABC's check is the slow one
        items = [f"{encode_basestring(str(k))}:{php_json_encode(v)}" for k, v in value.items()]
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | Sequence):
        return "[" + ",".join([php_json_encode(item) for item in value]) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def php_assoc(value: Any) -> Any:
    """A rules value as PHP's ``json_decode($text, true)`` sees it when re-encoded.

    An associative array keyed 0..n-1 (an empty one included) encodes as a list.
    """
    if isinstance(value, Mapping):
        if list(value) == [str(i) for i in range(len(value))]:
            return [php_assoc(v) for v in value.values()]
        return {k: php_assoc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [php_assoc(v) for v in value]
    return value
