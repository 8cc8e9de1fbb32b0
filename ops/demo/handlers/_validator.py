"""The pure logic of the event validator: a byte-for-byte port of ``validate.php``.

Strategy: everything here takes values and returns values, no I/O, so the
handler in ``validator.py`` is a thin shell and the whole answer can be tested
byte for byte against the PHP.  Two pieces:

* ``decode_body`` and ``php_json_encode`` read and write JSON exactly as
  validate.php's ``json_decode``/``json_encode`` calls do, through the public
  ``migrated.php`` module with the same arguments and flags.
* ``compile_rules`` turns one rules snapshot into per-event lists of
  ``FieldRule``, each holding its checks as small closures in PHP's fixed order
  (regexes compiled, messages pre-rendered).  It is memoised on the identity of
  the snapshot object: the hot cache hands out the same immutable object until
  it swaps in a new one, so each snapshot is compiled once.  The memo keeps a
  strong reference to the snapshot it was built from, so an ``id()`` can never
  be reused while its entry lives.

``check_event`` (one decoded event object to its errors and normalized
fields), ``accepted_event`` and ``accepted_body`` are shared with the batch
validator (``_batch.py``), as validate.php and validate_batch.php share
``lib/validate_rules.php``.

Known limits, all outside what rules.json contains: string checks (lengths,
pattern) on a non-string field make PHP die with a TypeError and make this
port raise (the runner then answers 500 or falls back to legacy); rules are
assumed to be parsed by Python's ``json`` (a default that PHP would decode as
a big-int float stays an int here).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from migrated.php import (
    JSON_PRESERVE_ZERO_FRACTION,
    JSON_UNESCAPED_LINE_TERMINATORS,
    JSON_UNESCAPED_SLASHES,
    JSON_UNESCAPED_UNICODE,
    JsonException,
    json_decode,
    json_encode,
    php_json_float,
)
from migrated.php import strval as php_string

JSON_FLAGS = (
    JSON_UNESCAPED_SLASHES
    | JSON_UNESCAPED_UNICODE
    | JSON_UNESCAPED_LINE_TERMINATORS
    | JSON_PRESERVE_ZERO_FRACTION
)
"""validate.php's ``JSON_FLAGS``."""
MAX_DEPTH = 32
"""validate.php's ``json_decode`` depth: at most 31 nested arrays/objects."""
NotJson = JsonException

_TRIM = " \t\n\r\0\x0b"

Headers = tuple[tuple[str, str], ...]
Failure = tuple[str, str]
"""``(rule, message)`` of the first failing check of a field."""
Check = Callable[[Any], Failure | None]

JSON_HEADERS: Headers = (("content-type", "application/json"),)


# --- PHP's JSON as validate.php calls it ----------------------------------------


def decode_body(raw: bytes) -> Any:
    """``json_decode($raw, false, 32)``: objects as dicts.

    Raises:
        JsonException: PHP would report a JSON error for this body.
    """
    return json_decode(raw, False, MAX_DEPTH)


def php_json_encode(value: Any) -> str:
    """``json_encode($value, JSON_FLAGS)``.

    Raises:
        JsonException: the value holds INF or NAN (PHP's ``json_encode`` fails).
    """
    return json_encode(value, JSON_FLAGS)


def php_float(value: float) -> str:
    """``json_encode`` of a float with validate.php's flags (``1.0e+17``, ``100000.0``)."""
    return php_json_float(value, JSON_FLAGS)


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
            default=php_assoc(rule.get("default")),
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


@dataclass(frozen=True, slots=True, init=False)
class AcceptedEvent:
    """A valid event: ``value`` is byte for byte the ``normalized`` member of the answer."""

    id: str
    type: str
    value: bytes

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        id: str,
        type: str,
        value: bytes,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "value", value)


@dataclass(frozen=True, slots=True, init=False)
class Answer:
    """What validate.php answers; ``event`` is set only for a 200 with a body."""

    status: int
    headers: Headers
    body: bytes
    event: AcceptedEvent | None = None

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        status: int,
        headers: Headers,
        body: bytes,
        event: AcceptedEvent | None = None,
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "event", event)


def error(field: str, rule: str, message: str) -> dict[str, str]:
    """validate.php's ``error``: one error object of an answer."""
    return {"field": field, "rule": rule, "message": message}


def fail(status: int, errors: list[dict[str, str]], headers: Headers = ()) -> Answer:
    """validate.php's ``fail``: ``{"ok":false,"errors":[...]}`` with ``status``."""
    body = php_json_encode({"ok": False, "errors": errors}).encode()
    return Answer(status, JSON_HEADERS + headers, body)


METHOD_NOT_ALLOWED = fail(405, [error("", "method", "only POST is allowed")], (("allow", "POST"),))
RULES_UNAVAILABLE = fail(500, [error("", "rules", "the rules file cannot be read")])
NOT_JSON = fail(400, [error("", "json", "body is not valid JSON")])
NOT_OBJECT = fail(400, [error("", "object", "body must be a JSON object")])


def _validate_fields(
    body: dict[str, Any], event_type: str, event: EventRules
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    errors: list[dict[str, str]] = []
    normalized: dict[str, Any] = {}
    for rule in event.fields:
        value = body.get(rule.name)
        if value is None:
            if rule.required:
                errors.append(error(rule.name, "required", "is required"))
            elif rule.has_default:
                normalized[rule.name] = rule.default
            continue
        value, failure = rule.normalize(value)
        if failure is None:
            normalized[rule.name] = value
        else:
            errors.append(error(rule.name, *failure))
    for name in body:
        if name != "type" and name not in event.names:
            errors.append(error(name, "unknown", f"is not allowed for event type {event_type}"))
    return errors, normalized


def check_event(
    body: dict[str, Any], compiled: CompiledRules
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """validate_rules.php's ``check_event``: one event object's errors and normalized fields.

    A bad ``type`` gives that single error; a valid event has no errors, and
    its ``type`` is a known event type.
    """
    event_type = body.get("type")
    if event_type is None:
        return [error("type", "required", "is required")], {}
    if not isinstance(event_type, str):
        return [error("type", "type", "must be of type string")], {}
    event = compiled.events.get(event_type)
    if event is None:
        return [error("type", "enum", compiled.type_enum_message)], {}
    return _validate_fields(body, event_type, event)


def accepted_event(event_id: str, event_type: str, normalized: dict[str, Any]) -> AcceptedEvent:
    """An accepted event, its normalized fields encoded.

    Raises:
        JsonException: a value is INF (PHP's ``json_encode`` returns false).
    """
    return AcceptedEvent(event_id, event_type, php_json_encode(normalized).encode())


def accepted_body(event: AcceptedEvent) -> bytes:
    """validate.php's 200 body for ``event``: ``{"ok":true,"id",...,"normalized":...}``."""
    head = f'{{"ok":true,"id":"{event.id}","type":{php_json_encode(event.type)},"normalized":'
    return head.encode() + event.value + b"}"


def _accept(raw: bytes, event_type: str, normalized: dict[str, Any]) -> Answer:
    event_id = "evt_" + hashlib.sha1(raw).hexdigest()[:20]
    try:
        event = accepted_event(event_id, event_type, normalized)
    except ValueError:  # INF: json_encode() returns false and PHP echoes ""
        return Answer(200, JSON_HEADERS, b"")
    return Answer(200, JSON_HEADERS, accepted_body(event), event)


def usable_rules(rules: Any) -> CompiledRules | None:
    """The compiled ``rules``, or None when PHP would find them unreadable.

    Anything but a mapping with an ``events`` mapping is PHP's 500 "rules file
    cannot be read".
    """
    events = rules.get("events") if isinstance(rules, dict | Mapping) else None
    if not isinstance(events, dict | Mapping):  # dict first: the ABC's check is the slow one
        return None
    return compile_rules(rules)


def validate_event(raw: bytes, rules: Any) -> Answer:
    """What validate.php answers to a POST of ``raw`` under ``rules``.

    Args:
        raw: the request body.
        rules: the parsed rules.json; anything but a mapping with an ``events``
            mapping gets PHP's 500 "rules file cannot be read".
    """
    compiled = usable_rules(rules)
    if compiled is None:
        return RULES_UNAVAILABLE
    try:
        body = decode_body(raw)
    except NotJson:
        return NOT_JSON
    if not isinstance(body, dict):
        return NOT_OBJECT
    errors, normalized = check_event(body, compiled)
    if errors:
        return fail(422, errors)
    return _accept(raw, body["type"], normalized)


def answer_request(method: str, raw: bytes, rules: Any) -> Answer:
    """validate.php's whole answer: 405 for anything but POST, else ``validate_event``."""
    if method != "POST":
        return METHOD_NOT_ALLOWED
    return validate_event(raw, rules)
