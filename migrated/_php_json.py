"""PHP's ``json_decode`` and ``json_encode``, byte for byte (public in ``migrated.php``).

Strategy.  Decoding is the strict core (``_json``) with PHP's choices on top:
integers beyond 64 bits become floats (or, with ``JSON_BIGINT_AS_STRING``,
their digits as a string), objects become ``dict`` (PHP's ``stdClass``) or,
with ``assoc``, ``PhpArray``, a property name may not start with NUL unless
``assoc``, and ``depth`` counts as PHP's does (``depth`` admits
``depth - 1`` nested arrays/objects).  Errors carry PHP's
``json_last_error()`` code and ``json_last_error_msg()`` text.

Encoding walks the value once.  A ``dict`` (or any other mapping) is a JSON
object, as a ``stdClass`` is; a ``list`` or ``tuple`` is an array; a
``PhpArray`` is a PHP array: a list when its keys are ``"0"``..``"n-1"`` in
order (an empty one included), an object otherwise.  Strings go through
json's C escaper and are then adjusted to the flags, floats are laid out as
PHP's ``serialize_precision = -1`` writes them (``1.0e+25``, ``1.5e-7``).
A value made only of ``dict``, ``list``, ``str``, ``int``, ``bool``,
``None`` (and, with ``JSON_PRESERVE_ZERO_FRACTION``, floats that PHP writes
as ``repr`` does), which is most answers of a ported handler, is written by
json's C encoder in one call when ``JSON_UNESCAPED_UNICODE`` is set and no
flag changes the layout: there json writes what PHP writes, but for what the
flags escape inside strings (``/``, U+2028, U+2029; they occur nowhere else
in the output, so they are replaced in the whole text) and for surrogates
(any in the output sends the value down the exact walk, which refuses it).
``tests/migrated/test_php_json_fast.py`` checks both paths agree
(``ops/bench/cpu_per_request.py --migrated`` measures the reference
validator, which encodes here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from json import JSONEncoder
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, Final

from ._exceptions import JsonException
from ._json import (
    JsonRefused,
    Scanner,
    check_escapes,
    check_nesting,
    has_surrogate,
    scan,
    scanner,
)
from ._php_array import PhpArray

# Flags, with PHP's values (so a port may copy its expressions).
JSON_HEX_TAG = 1
JSON_HEX_AMP = 2
JSON_HEX_APOS = 4
JSON_HEX_QUOT = 8
JSON_FORCE_OBJECT = 16
JSON_NUMERIC_CHECK = 32
JSON_UNESCAPED_SLASHES = 64
JSON_PRETTY_PRINT = 128
JSON_UNESCAPED_UNICODE = 256
JSON_PARTIAL_OUTPUT_ON_ERROR = 512
JSON_PRESERVE_ZERO_FRACTION = 1024
JSON_UNESCAPED_LINE_TERMINATORS = 2048
JSON_OBJECT_AS_ARRAY = 1
JSON_BIGINT_AS_STRING = 2
JSON_INVALID_UTF8_IGNORE = 1048576
JSON_INVALID_UTF8_SUBSTITUTE = 2097152
JSON_THROW_ON_ERROR = 4194304

# json_last_error() codes.
JSON_ERROR_NONE = 0
JSON_ERROR_DEPTH = 1
JSON_ERROR_CTRL_CHAR = 3
JSON_ERROR_SYNTAX = 4
JSON_ERROR_UTF8 = 5
JSON_ERROR_INF_OR_NAN = 7
JSON_ERROR_UNSUPPORTED_TYPE = 8
JSON_ERROR_INVALID_PROPERTY_NAME = 9
JSON_ERROR_UTF16 = 10

_MESSAGES = {
    JSON_ERROR_DEPTH: "Maximum stack depth exceeded",
    JSON_ERROR_CTRL_CHAR: "Control character error, possibly incorrectly encoded",
    JSON_ERROR_SYNTAX: "Syntax error",
    JSON_ERROR_UTF8: "Malformed UTF-8 characters, possibly incorrectly encoded",
    JSON_ERROR_INF_OR_NAN: "Inf and NaN cannot be JSON encoded",
    JSON_ERROR_UNSUPPORTED_TYPE: "Type is not supported",
    JSON_ERROR_INVALID_PROPERTY_NAME: "The decoded property name is invalid",
    JSON_ERROR_UTF16: "Single unpaired UTF-16 surrogate in unicode escape",
}
_CODES = {
    "utf8": JSON_ERROR_UTF8,
    "syntax": JSON_ERROR_SYNTAX,
    "constant": JSON_ERROR_SYNTAX,
    "ctrl_char": JSON_ERROR_CTRL_CHAR,
    "depth": JSON_ERROR_DEPTH,
    "surrogate": JSON_ERROR_UTF16,
    "nul_name": JSON_ERROR_INVALID_PROPERTY_NAME,
}
_DECODE_FLAGS = JSON_OBJECT_AS_ARRAY | JSON_BIGINT_AS_STRING | JSON_THROW_ON_ERROR
_ENCODE_FLAGS = (
    JSON_HEX_TAG
    | JSON_HEX_AMP
    | JSON_HEX_APOS
    | JSON_HEX_QUOT
    | JSON_FORCE_OBJECT
    | JSON_UNESCAPED_SLASHES
    | JSON_PRETTY_PRINT
    | JSON_UNESCAPED_UNICODE
    | JSON_PRESERVE_ZERO_FRACTION
    | JSON_UNESCAPED_LINE_TERMINATORS
    | JSON_THROW_ON_ERROR
)
_RAW_STRINGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_LINE_TERMINATORS
_HEX = JSON_HEX_TAG | JSON_HEX_AMP | JSON_HEX_APOS | JSON_HEX_QUOT
# Flags that change more than what is escaped inside strings: no fast path.
_LAYOUT: Final = _HEX | JSON_FORCE_OBJECT | JSON_PRETTY_PRINT
_PLAIN_ENCODER: Final = JSONEncoder(
    ensure_ascii=False, check_circular=False, allow_nan=False, separators=(",", ":")
)
_INT64_DIGITS = 19
# What surrogateescape makes of bytes 0x80-0xFF (chr: mypyc takes no surrogate literal).
_ESCAPED_LOW, _ESCAPED_HIGH = chr(0xDC80), chr(0xDCFF)


def _error(code: int) -> JsonException:
    return JsonException(code, _MESSAGES[code])


def _unsupported(flags: int, allowed: int, function: str) -> None:
    extra = flags & ~allowed
    if extra:
        raise ValueError(f"{function}: flags {extra:#x} are not supported (see migrated.php)")


# --- json_decode --------------------------------------------------------------


def _php_int(text: str) -> int | float:
    """An integer literal: int if it fits in 64 bits, else a float (as PHP)."""
    if len(text.lstrip("-")) > _INT64_DIGITS:
        return float(text)
    value = int(text)
    return value if -(2**63) <= value < 2**63 else float(text)


def _php_int_or_digits(text: str) -> int | str:
    """An integer literal with ``JSON_BIGINT_AS_STRING``: beyond 64 bits, its digits."""
    value = _php_int(text)
    return text if isinstance(value, float) else value


def _php_array(pairs: list[tuple[str, Any]]) -> PhpArray:
    return PhpArray(pairs)


_SCANNERS = {  # (assoc, bigint as string)
    (False, False): scanner(parse_int=_php_int),
    (False, True): scanner(parse_int=_php_int_or_digits),
    (True, False): scanner(parse_int=_php_int, object_pairs_hook=_php_array),
    (True, True): scanner(parse_int=_php_int_or_digits, object_pairs_hook=_php_array),
}
# A document without 19 digits in a row holds no integer beyond 64 bits, so
# json's own int parsing (no call per integer) gives what PHP gives.
_SMALL_INT_SCANNERS = {  # assoc
    False: scanner(),
    True: scanner(object_pairs_hook=_php_array),
}
_DIGITS_AS_ZERO: Final = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN: Final = b"0" * _INT64_DIGITS


def json_decode(
    json: bytes | str, assoc: bool | None = None, depth: int = 512, flags: int = 0
) -> Any:
    """PHP's ``json_decode($json, $assoc, $depth, $flags)``, raising where PHP reports an error.

    Args:
        json: the document; bytes must be UTF-8.
        assoc: objects as ``PhpArray`` (PHP arrays) instead of ``dict``
            (``stdClass``); ``None`` leaves it to ``JSON_OBJECT_AS_ARRAY``.
        depth: PHP's nesting limit: at most ``depth - 1`` nested arrays/objects.
        flags: ``JSON_OBJECT_AS_ARRAY``, ``JSON_BIGINT_AS_STRING``,
            ``JSON_THROW_ON_ERROR`` (errors always raise).

    Raises:
        JsonException: PHP would fail (``code`` is ``json_last_error()``).
        ValueError: ``depth`` below 1, or a flag this port does not support.
    """
    _unsupported(flags, _DECODE_FLAGS, "json_decode")
    if depth <= 0:
        raise ValueError("json_decode(): Argument #3 ($depth) must be greater than 0")
    as_array = bool(flags & JSON_OBJECT_AS_ARRAY) if assoc is None else assoc
    if isinstance(json, bytes) and _LONG_DIGIT_RUN not in json.translate(_DIGITS_AS_ZERO):
        scan_once = _SMALL_INT_SCANNERS[as_array]
    else:
        scan_once = _SCANNERS[(as_array, bool(flags & JSON_BIGINT_AS_STRING))]
    try:
        text = json if isinstance(json, str) else json.decode("utf-8")
    except UnicodeDecodeError:
        assert isinstance(json, bytes)  # a str was not decoded
        raise _error(_not_utf8(json, scan_once)) from None
    try:
        value = scan(text, scan_once)
        check_nesting(text, value, depth - 1)
        check_escapes(text, value, nul_names=as_array)
    except JsonRefused as exc:
        too_deep = exc.position is not None and _deepest(text, exc.position) >= depth
        raise _error(JSON_ERROR_DEPTH if too_deep else _CODES[exc.fault]) from None
    return value


def _deepest(text: str, end: int) -> int:
    """The deepest nesting opened before ``end``: PHP checks the depth as each array opens,
    so a document too deep before its syntax error is refused for its depth."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text[:end]:  # only on the failing path
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _not_utf8(raw: bytes, scan_once: Scanner) -> int:
    """The error PHP reports for bytes that are not all UTF-8.

    PHP's scanner checks each byte as it reaches it, so a fault found before
    the first bad byte is the one it reports (the NUL of UTF-16 text is a
    control character); from there on it is malformed UTF-8.  Only this
    failing path pays for the second scan.
    """
    text = raw.decode("utf-8", "surrogateescape")  # each bad byte becomes U+DC80..U+DCFF
    first_bad = next(i for i, char in enumerate(text) if _ESCAPED_LOW <= char <= _ESCAPED_HIGH)
    try:
        scan(text, scan_once)
    except JsonRefused as exc:
        if exc.position is not None and exc.position < first_bad:
            return _CODES[exc.fault]
    return JSON_ERROR_UTF8


# --- json_encode --------------------------------------------------------------


def json_encode(value: Any, flags: int = 0, depth: int = 512) -> str:
    """PHP's ``json_encode($value, $flags, $depth)``, raising where PHP returns ``false``.

    Args:
        value: ``None``, ``bool``, ``int``, ``float``, ``str`` (or UTF-8
            ``bytes``), lists and tuples (arrays), mappings (objects), and
            ``PhpArray`` (a list or an object, as PHP decides for an array).
        flags: the ``JSON_*`` flags listed in ``migrated.php``.
        depth: the nesting allowed (PHP's: ``depth`` nested arrays/objects).

    Raises:
        JsonException: INF or NAN, a string that is not UTF-8 (a lone
            surrogate), a type with no JSON form, or nesting beyond ``depth``.
        ValueError: a flag this port does not support.
    """
    _unsupported(flags, _ENCODE_FLAGS, "json_encode")
    if flags & JSON_UNESCAPED_UNICODE and not flags & _LAYOUT:
        fast = plain_json(value, flags, depth)
        if fast is not None:
            return fast
    return exact_json(value, flags, depth)


def exact_json(value: Any, flags: int, depth: int) -> str:
    """``json_encode`` by the walk that covers every value and flag (flags checked)."""
    try:
        return _Encoder(flags, depth).encode(value, 0)
    except RecursionError:
        raise _error(JSON_ERROR_DEPTH) from None


def plain_json(value: Any, flags: int, depth: int) -> str | None:
    """``json_encode`` by json's C encoder, or None when the exact walk must write it.

    Only for ``JSON_UNESCAPED_UNICODE`` without the ``_LAYOUT`` flags (the
    caller checks), and for values ``_plain`` admits.
    """
    try:
        if not _plain(value, depth, bool(flags & JSON_PRESERVE_ZERO_FRACTION)):
            return None
        out: str = _PLAIN_ENCODER.encode(value)
    except RecursionError:
        return None
    if not out.isascii():
        if has_surrogate(out):
            return None
        if not flags & JSON_UNESCAPED_LINE_TERMINATORS:
            out = out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if not flags & JSON_UNESCAPED_SLASHES:
        out = out.replace("/", "\\/")
    return out


def _plain(value: Any, depth: int, floats: bool) -> bool:
    """Whether json's encoder writes ``value`` as PHP does (strings aside).

    Exact types only (a ``PhpArray`` or an ``IntEnum`` is not plain), string
    keys, at most ``depth`` nested containers, and floats only when PHP
    writes them as ``repr`` does (``php_json_float``'s fixed notation range,
    zero fraction kept).
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return floats and (1e-4 <= abs(value) < 1e16 or value == 0)
    if depth <= 0:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _plain(item, depth - 1, floats):
                return False
        return True
    if kind is list:
        for item in value:  # noqa: SIM110 (a loop: no generator on the hot path, see _build)
            if not _plain(item, depth - 1, floats):
                return False
        return True
    return False


class _Encoder:
    """One ``json_encode`` call: the flags, the depth left, the pretty-print layout."""

    def __init__(self, flags: int, depth: int) -> None:
        self.flags = flags
        self.depth = depth
        self.pretty = bool(flags & JSON_PRETTY_PRINT)
        self.colon = ": " if self.pretty else ":"

    def encode(self, value: Any, level: int) -> str:
        if isinstance(value, str):
            return php_string_literal(value, self.flags)
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return int.__repr__(value)
        if isinstance(value, float):
            return php_json_float(value, self.flags)
        if isinstance(value, bytes):
            return php_string_literal(_utf8(value), self.flags)
        return self._container(value, level)

    def _container(self, value: Any, level: int) -> str:
        if level >= self.depth:
            raise _error(JSON_ERROR_DEPTH)
        if isinstance(value, PhpArray) and not _is_list(value):
            return self._object(value.items(), level)
        if isinstance(value, PhpArray):
            return self._array(list(value.values()), level)
        if isinstance(value, Mapping):
            return self._object(value.items(), level)
        if isinstance(value, list | tuple):
            return self._array(value, level)
        raise _error(JSON_ERROR_UNSUPPORTED_TYPE)

    def _array(self, items: Sequence[Any], level: int) -> str:
        if self.flags & JSON_FORCE_OBJECT:
            return self._object([(str(i), v) for i, v in enumerate(items)], level)
        parts = [self.encode(item, level + 1) for item in items]
        return self._wrap("[", parts, "]", level)

    def _object(self, items: Any, level: int) -> str:
        parts = [
            php_string_literal(_key(k), self.flags) + self.colon + self.encode(v, level + 1)
            for k, v in items
        ]
        return self._wrap("{", parts, "}", level)

    def _wrap(self, opening: str, parts: list[str], closing: str, level: int) -> str:
        if not parts:
            return opening + closing
        if not self.pretty:
            return opening + ",".join(parts) + closing
        inner = "\n" + "    " * (level + 1)
        return opening + inner + ("," + inner).join(parts) + "\n" + "    " * level + closing


def _is_list(array: PhpArray) -> bool:
    """PHP's ``array_is_list`` for an array whose keys came from JSON names."""
    return all(key == str(index) for index, key in enumerate(array))


def _key(key: Any) -> str:
    """A property name: PHP writes integer keys as their digits (``True`` is 1)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return _utf8(key)
    if isinstance(key, bool):
        return "1" if key else "0"
    if isinstance(key, int):
        return str(key)
    raise _error(JSON_ERROR_UNSUPPORTED_TYPE)


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(JSON_ERROR_UTF8) from None


def php_string_literal(text: str, flags: int = 0) -> str:
    """A JSON string as ``json_encode`` writes it with ``flags``.

    Raises:
        JsonException: ``text`` holds a surrogate (it has no UTF-8 form).
    """
    if has_surrogate(text):
        raise _error(JSON_ERROR_UTF8)
    if flags & JSON_UNESCAPED_UNICODE:
        out = str(encode_basestring(text))
        if not flags & JSON_UNESCAPED_LINE_TERMINATORS and not out.isascii():
            out = out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    elif "\x7f" in text:  # json escapes DEL outside Unicode mode, PHP does not
        out = '"' + "\x7f".join([_ascii(part)[1:-1] for part in text.split("\x7f")]) + '"'
    else:
        out = _ascii(text)
    if not flags & JSON_UNESCAPED_SLASHES:
        out = out.replace("/", "\\/")
    if flags & _HEX:
        out = _hex(out, flags)
    return out


def _ascii(text: str) -> str:
    return str(encode_basestring_ascii(text))


def _hex(out: str, flags: int) -> str:
    """The ``JSON_HEX_*`` escapes (upper-case hex, as PHP writes them)."""
    if flags & JSON_HEX_TAG:
        out = out.replace("<", "\\u003C").replace(">", "\\u003E")
    if flags & JSON_HEX_AMP:
        out = out.replace("&", "\\u0026")
    if flags & JSON_HEX_APOS:
        out = out.replace("'", "\\u0027")
    if flags & JSON_HEX_QUOT:  # every '"' inside is escaped as \" (a '\' as \\)
        out = '"' + _hex_quotes(out[1:-1]) + '"'
    return out


def _hex_quotes(inner: str) -> str:
    parts = inner.split("\\\\")  # escaped backslashes cannot precede a quote's escape
    return "\\\\".join(part.replace('\\"', "\\u0022") for part in parts)


# --- numbers and strings as PHP writes them ------------------------------------


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


def php_json_float(value: float, flags: int = JSON_PRESERVE_ZERO_FRACTION) -> str:
    """A float as ``json_encode`` writes it (``serialize_precision = -1``).

    Raises:
        JsonException: INF and NAN, which ``json_encode`` refuses.
    """
    if not math.isfinite(value):
        raise _error(JSON_ERROR_INF_OR_NAN)
    if 1e-4 <= abs(value) < 1e16 or value == 0:
        text = repr(value)  # Python's fixed notation is PHP's here, ".0" included
        if flags & JSON_PRESERVE_ZERO_FRACTION or not text.endswith(".0"):
            return text
        return text[:-2]
    text = _gcvt(repr(value), 17, "e")
    if "." in text or not flags & JSON_PRESERVE_ZERO_FRACTION:
        return text
    return text + ".0"


def strval(value: Any) -> str:
    """PHP's string conversion of a scalar (``strval``, interpolation, ``implode``)."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NAN" if math.isnan(value) else ("INF" if value > 0 else "-INF")
        return _gcvt(f"{value:.13e}", 14, "E")
    return str(value)
