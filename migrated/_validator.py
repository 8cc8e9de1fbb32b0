"""The pure logic of the event validator: a byte-for-byte port of ``validate.php``.

Strategy: everything here takes values and returns values, no I/O, so the
handler in ``validator.py`` is a thin shell and the whole answer can be tested
byte for byte against the PHP.  Three pieces:

* ``decode_body`` reads the body the way PHP's ``json_decode($raw, false, 32)``
  does.  Python's decoder is more lenient, so it is narrowed after the fact:
  strict UTF-8, no ``NaN``/``Infinity``, integers beyond 64 bits become floats,
  at most 31 nested arrays/objects, and (only when the body holds a ``\\u``
  escape, the sole way to spell them) no lone surrogate and no property name
  starting with NUL (PHP's "decoded property name is invalid").
* ``php_json_encode`` writes what ``json_encode`` writes with the flags of
  validate.php; only floats need care (PHP's ``serialize_precision=-1`` format:
  ``1.0e+17``, ``1.0e-5``, ``100000.0``).
* ``compile_rules`` turns one rules snapshot into per-event lists of
  ``FieldRule``, each holding its checks as small closures in PHP's fixed order
  (regexes compiled, messages pre-rendered).  It is memoised on the identity of
  the snapshot object: the hot cache hands out the same immutable object until
  it swaps in a new one, so each snapshot is compiled once.  The memo keeps a
  strong reference to the snapshot it was built from, so an ``id()`` can never
  be reused while its entry lives.

The module is longer than our usual 300 lines because the PHP codec and the
rules interpreter only exist for this port; split the codec out (e.g.
``_php_json.py``) when a second port needs it.

Known limits, all outside what rules.json contains: string checks (lengths,
pattern) on a non-string field make PHP die with a TypeError and make this
port raise (the runner then answers 500 or falls back to legacy); rules are
assumed to be parsed by Python's ``json`` (a default that PHP would decode as
a big-int float stays an int here).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

MAX_NESTING = 31
"""PHP's ``json_decode`` depth 32 admits 31 nested arrays/objects."""

_INT64_DIGITS = 19
_SURROGATE = re.compile("[\ud800-\udfff]")
_TRIM = " \t\n\r\0\x0b"

Headers = tuple[tuple[str, str], ...]
Failure = tuple[str, str]
"""``(rule, message)`` of the first failing check of a field."""
Check = Callable[[Any], Failure | None]

JSON_HEADERS: Headers = (("content-type", "application/json"),)


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
        value = _DECODER.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise NotJson("body is not valid JSON") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_NESTING and _too_deep(value, MAX_NESTING):
        raise NotJson("more than 31 nested arrays/objects")
    if b"\\u" in raw and not _escapes_ok(value):
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


def php_json_encode(value: Any) -> str:
    """``json_encode`` with validate.php's flags (unescaped slashes, Unicode, U+2028/9).

    Raises:
        ValueError: the value holds INF or NAN (PHP's ``json_encode`` fails).
    """
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
    if isinstance(value, Mapping):
        items = (f"{encode_basestring(str(k))}:{php_json_encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(php_json_encode(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _php_assoc(value: Any) -> Any:
    """A rules value as PHP's ``json_decode($text, true)`` sees it when re-encoded.

    An associative array keyed 0..n-1 (an empty one included) encodes as a list.
    """
    if isinstance(value, Mapping):
        if list(value) == [str(i) for i in range(len(value))]:
            return [_php_assoc(v) for v in value.values()]
        return {k: _php_assoc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_php_assoc(v) for v in value]
    return value


# --- PHP comparison helpers --------------------------------------------------


def _php_empty(value: Any) -> bool:
    if isinstance(value, str):
        return value in ("", "0")
    if isinstance(value, Mapping | list | tuple):
        return len(value) == 0
    return not value


def _php_less(left: Any, right: Any) -> bool:
    """``$left < $right`` for numbers: PHP 8 compares int with float as floats."""
    if isinstance(left, float) is not isinstance(right, float):
        return float(left) < float(right)
    return bool(left < right)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_int,
    "number": lambda v: _is_int(v) or isinstance(v, float),
    "boolean": lambda v: isinstance(v, bool),
}


def _never(value: Any) -> bool:
    return False


# --- one small function per rule kind, in PHP's fixed order ------------------


def _min_length(limit: Any) -> Check:
    failure = ("min_length", f"must be at least {php_string(limit)} characters")
    return lambda value: failure if _php_less(len(value), limit) else None


def _max_length(limit: Any) -> Check:
    failure = ("max_length", f"must be at most {php_string(limit)} characters")
    return lambda value: failure if _php_less(limit, len(value)) else None


def _pattern(pattern: str) -> Check:
    # ~\A(?:P)\z~u; Python's \Z is PCRE's \z (the very end, no final newline).
    matcher = re.compile(rf"\A(?:{pattern})\Z").match
    failure = ("pattern", f"must match the pattern {pattern}")
    return lambda value: failure if matcher(value) is None else None


def _enum(members: Any) -> Check:
    values = tuple(members.values() if isinstance(members, Mapping) else members)
    strings = frozenset(v for v in values if isinstance(v, str))
    failure = ("enum", "must be one of: " + ", ".join(php_string(v) for v in values))

    def check(value: Any) -> Failure | None:
        if isinstance(value, str):  # in_array(..., true): same type and value
            return None if value in strings else failure
        found = any(type(v) is type(value) and v == value for v in values)
        return None if found else failure

    return check


def _min(limit: Any) -> Check:
    failure = ("min", "must be >= " + php_json_encode(limit))
    return lambda value: failure if _php_less(value, limit) else None


def _max(limit: Any) -> Check:
    failure = ("max", "must be <= " + php_json_encode(limit))
    return lambda value: failure if _php_less(limit, value) else None


_CHECK_KINDS: tuple[tuple[str, Callable[[Any], Check]], ...] = (
    ("min_length", _min_length),
    ("max_length", _max_length),
    ("pattern", _pattern),
    ("enum", _enum),
    ("min", _min),
    ("max", _max),
)


def _ascii_lower(value: str) -> str:
    # PHP 8.2's strtolower/strtoupper touch ASCII letters only; so does bytes.lower.
    return value.lower() if value.isascii() else value.encode().lower().decode()


def _ascii_upper(value: str) -> str:
    return value.upper() if value.isascii() else value.encode().upper().decode()


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One field of an event type, compiled from its rules.json entry."""

    name: str
    required: bool
    has_default: bool
    default: Any
    type_ok: Callable[[Any], bool]
    type_failure: Failure
    prepare: tuple[Callable[[str], str], ...]
    checks: tuple[Check, ...]

    @classmethod
    def build(cls, name: str, rule: Mapping[str, Any]) -> FieldRule:
        """Compile one field rule (isset() semantics: a null setting is absent)."""
        prepare: list[Callable[[str], str]] = []
        if not _php_empty(rule.get("trim")):
            prepare.append(lambda s: s.strip(_TRIM))
        case = rule.get("case")
        if case == "lower" or case == "upper":
            prepare.append(_ascii_lower if case == "lower" else _ascii_upper)
        type_name = rule.get("type")
        return cls(
            name=name,
            required=not _php_empty(rule.get("required")),
            has_default="default" in rule,
            default=_php_assoc(rule.get("default")),
            type_ok=_TYPE_CHECKS.get(type_name, _never) if isinstance(type_name, str) else _never,
            type_failure=("type", f"must be of type {php_string(type_name)}"),
            prepare=tuple(prepare),
            checks=tuple(make(rule[k]) for k, make in _CHECK_KINDS if rule.get(k) is not None),
        )

    def normalize(self, value: Any) -> tuple[Any, Failure | None]:
        """The present (non-null) value after trim/case, and its first failure."""
        if not self.type_ok(value):
            return value, self.type_failure
        if isinstance(value, str):
            for step in self.prepare:
                value = step(value)
        for check in self.checks:
            failure = check(value)
            if failure is not None:
                return value, failure
        return value, None


@dataclass(frozen=True, slots=True)
class EventRules:
    """The fields of one event type, in rules.json order."""

    fields: tuple[FieldRule, ...]
    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """One rules snapshot, ready to validate with."""

    events: Mapping[str, EventRules]
    type_enum_message: str

    @classmethod
    def build(cls, rules: Mapping[str, Any]) -> CompiledRules:
        """Compile every event type of ``rules`` (a parsed rules.json)."""
        events = {
            str(event): EventRules(
                fields=tuple(FieldRule.build(str(n), r) for n, r in field_rules.items()),
                names=frozenset(str(n) for n in field_rules),
            )
            for event, field_rules in rules["events"].items()
        }
        return cls(events, "must be one of: " + ", ".join(events))


_MEMO_SIZE = 4
_memo: dict[int, tuple[object, CompiledRules]] = {}


def compile_rules(rules: Mapping[str, Any]) -> CompiledRules:
    """The compiled form of ``rules``, built once per snapshot object.

    Keyed by ``id(rules)`` (a dict cannot be weakly referenced); the entry holds
    ``rules`` itself, so the id stays unique while the entry exists.  A few
    entries cover the moment when old and new snapshots are both in use.
    """
    entry = _memo.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    compiled = CompiledRules.build(rules)
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    _memo[id(rules)] = (rules, compiled)
    return compiled


# --- the answer ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcceptedEvent:
    """A valid event: ``value`` is byte for byte the ``normalized`` member of the answer."""

    id: str
    type: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """What validate.php answers; ``event`` is set only for a 200 with a body."""

    status: int
    headers: Headers
    body: bytes
    event: AcceptedEvent | None = None


def _error(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}


def _fail(status: int, errors: list[dict[str, str]], headers: Headers = ()) -> Answer:
    body = php_json_encode({"ok": False, "errors": errors}).encode()
    return Answer(status, JSON_HEADERS + headers, body)


METHOD_NOT_ALLOWED = _fail(
    405, [_error("", "method", "only POST is allowed")], (("allow", "POST"),)
)
RULES_UNAVAILABLE = _fail(500, [_error("", "rules", "the rules file cannot be read")])
_NOT_JSON = _fail(400, [_error("", "json", "body is not valid JSON")])
_NOT_OBJECT = _fail(400, [_error("", "object", "body must be a JSON object")])
_TYPE_REQUIRED = _fail(422, [_error("type", "required", "is required")])
_TYPE_NOT_STRING = _fail(422, [_error("type", "type", "must be of type string")])


def _validate_fields(
    body: dict[str, Any], event_type: str, event: EventRules
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    errors: list[dict[str, str]] = []
    normalized: dict[str, Any] = {}
    for rule in event.fields:
        value = body.get(rule.name)
        if value is None:
            if rule.required:
                errors.append(_error(rule.name, "required", "is required"))
            elif rule.has_default:
                normalized[rule.name] = rule.default
            continue
        value, failure = rule.normalize(value)
        if failure is None:
            normalized[rule.name] = value
        else:
            errors.append(_error(rule.name, *failure))
    for name in body:
        if name != "type" and name not in event.names:
            errors.append(_error(name, "unknown", f"is not allowed for event type {event_type}"))
    return errors, normalized


def _accept(raw: bytes, event_type: str, normalized: dict[str, Any]) -> Answer:
    event_id = "evt_" + hashlib.sha1(raw).hexdigest()[:20]
    try:
        value = php_json_encode(normalized)
    except ValueError:  # INF: json_encode() returns false and PHP echoes ""
        return Answer(200, JSON_HEADERS, b"")
    head = f'{{"ok":true,"id":"{event_id}","type":{php_json_encode(event_type)},"normalized":'
    encoded = value.encode()
    return Answer(
        200,
        JSON_HEADERS,
        head.encode() + encoded + b"}",
        AcceptedEvent(event_id, event_type, encoded),
    )


def validate_event(raw: bytes, rules: Any) -> Answer:
    """What validate.php answers to a POST of ``raw`` under ``rules``.

    Args:
        raw: the request body.
        rules: the parsed rules.json; anything but a mapping with an ``events``
            mapping gets PHP's 500 "rules file cannot be read".
    """
    if not isinstance(rules, Mapping) or not isinstance(rules.get("events"), Mapping):
        return RULES_UNAVAILABLE
    compiled = compile_rules(rules)
    try:
        body = decode_body(raw)
    except NotJson:
        return _NOT_JSON
    if not isinstance(body, dict):
        return _NOT_OBJECT
    event_type = body.get("type")
    if event_type is None:
        return _TYPE_REQUIRED
    if not isinstance(event_type, str):
        return _TYPE_NOT_STRING
    event = compiled.events.get(event_type)
    if event is None:
        return _fail(422, [_error("type", "enum", compiled.type_enum_message)])
    errors, normalized = _validate_fields(body, event_type, event)
    if errors:
        return _fail(422, errors)
    return _accept(raw, event_type, normalized)


def answer_request(method: str, raw: bytes, rules: Any) -> Answer:
    """validate.php's whole answer: 405 for anything but POST, else ``validate_event``."""
    if method != "POST":
        return METHOD_NOT_ALLOWED
    return validate_event(raw, rules)
