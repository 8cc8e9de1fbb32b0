"""The pure logic of the event validator: a byte-for-byte port of ``validate.php``.

Strategy: everything here takes values and returns values, no I/O, so the
handler in ``validator.py`` is a thin shell and the whole answer can be tested
byte for byte against the PHP.  Two pieces:

* ``decode_body`` and ``php_json_encode`` read and write JSON exactly as
  validate.php's ``json_decode``/``json_encode`` calls do, through the public
  ``migrated.php`` module with the same arguments and flags.
* ``compile_rules`` turns one rules snapshot into per-event lists of
  ``FieldRule``, each holding its settings, tried in PHP's fixed order, and
  what a request would otherwise write again and again: regexes compiled,
  each failure's error object and the member names already as JSON, the
  event type's name as JSON.  It is memoised on the identity of
  the snapshot object: the hot cache hands out the same immutable object until
  it swaps in a new one, so each snapshot is compiled once.  The memo keeps a
  strong reference to the snapshot it was built from, so an ``id()`` can never
  be reused while its entry lives.

Errors are carried as their JSON text and the normalized fields are written
as JSON as soon as an event passes: the answers and the Kafka message are
assembled from these pieces, which ``json_encode`` of the whole would write
byte for byte (compact layout, members in order).  ``check_event`` (one
decoded event object to its errors and normalized fields), ``encoded_type``
and ``accepted_body`` are shared with the batch validator (``_batch.py``), as
validate.php and validate_batch.php share ``lib/validate_rules.php``.

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
from json.encoder import encode_basestring
from typing import Any, Final

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

_TRIM: Final = " \t\n\r\0\x0b"

Headers = tuple[tuple[str, str], ...]

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


# --- one field's rules, compiled -------------------------------------------------

_STRING: Final = 0
_INTEGER: Final = 1
_NUMBER: Final = 2
_BOOLEAN: Final = 3
_NEVER: Final = 4
_TYPE_KINDS: Final = {
    "string": _STRING,
    "integer": _INTEGER,
    "number": _NUMBER,
    "boolean": _BOOLEAN,
}
_NO_CASE: Final = 0
_LOWER: Final = 1
_UPPER: Final = 2


def _type_ok(kind: int, value: Any) -> bool:
    if kind == _STRING:
        return isinstance(value, str)
    if kind == _INTEGER:
        return _is_int(value)
    if kind == _NUMBER:
        return _is_int(value) or isinstance(value, float)
    if kind == _BOOLEAN:
        return isinstance(value, bool)
    return False


def _ascii_lower(value: str) -> str:
    # PHP 8.2's strtolower/strtoupper touch ASCII letters only; so does bytes.lower.
    return value.lower() if value.isascii() else value.encode().lower().decode()


def _ascii_upper(value: str) -> str:
    return value.upper() if value.isascii() else value.encode().upper().decode()


def _pattern(pattern: str) -> Callable[[str], object]:
    # ~\A(?:P)\z~u; Python's \Z is PCRE's \z (the very end, no final newline).
    return re.compile(rf"\A(?:{pattern})\Z").match


@dataclass(frozen=True, slots=True)
class Enum:
    """An ``enum`` rule: ``in_array($value, $members, true)``."""

    values: tuple[Any, ...]
    strings: frozenset[str]

    @classmethod
    def build(cls, members: Any) -> Enum:
        values = tuple(members.values() if isinstance(members, Mapping) else members)
        return cls(values, frozenset(v for v in values if isinstance(v, str)))

    def allows(self, value: Any) -> bool:
        if isinstance(value, str):  # same type and value
            return value in self.strings
        return any(type(v) is type(value) and v == value for v in self.values)


def _failure(name: str, rule: Mapping[str, Any], kind: str, message: Callable[[Any], str]) -> str:
    """The error JSON of check ``kind`` of field ``name`` ("" when the rule has no such check)."""
    setting = rule.get(kind)
    return "" if setting is None else error(name, kind, message(setting))


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One field of an event type, compiled from its rules.json entry.

    Each check is a setting (None when absent) and the error JSON of its
    failure, tried in PHP's fixed order: type, then (after trim and case)
    min_length, max_length, pattern, enum, min, max.
    """

    name: str
    member: str
    """The member's name as the normalized JSON writes it, colon included."""
    required: bool
    has_default: bool
    default: Any
    kind: int
    trim: bool
    case: int
    min_length: Any
    max_length: Any
    pattern: Callable[[str], object] | None
    enum: Enum | None
    min: Any
    max: Any
    required_error: str
    type_error: str
    min_length_error: str
    max_length_error: str
    pattern_error: str
    enum_error: str
    min_error: str
    max_error: str

    @classmethod
    def build(cls, name: str, rule: Mapping[str, Any]) -> FieldRule:
        """Compile one field rule (isset() semantics: a null setting is absent)."""
        case = rule.get("case")
        type_name = rule.get("type")
        pattern = rule.get("pattern")
        enum = rule.get("enum")
        return cls(
            name=name,
            member=php_json_encode(name) + ":",
            required=not _php_empty(rule.get("required")),
            has_default="default" in rule,
            default=php_assoc(rule.get("default")),
            kind=_TYPE_KINDS.get(type_name, _NEVER) if isinstance(type_name, str) else _NEVER,
            trim=not _php_empty(rule.get("trim")),
            case=_LOWER if case == "lower" else _UPPER if case == "upper" else _NO_CASE,
            min_length=rule.get("min_length"),
            max_length=rule.get("max_length"),
            pattern=None if pattern is None else _pattern(pattern),
            enum=None if enum is None else Enum.build(enum),
            min=rule.get("min"),
            max=rule.get("max"),
            required_error=error(name, "required", "is required"),
            type_error=error(name, "type", f"must be of type {php_string(type_name)}"),
            min_length_error=_failure(
                name, rule, "min_length", lambda v: f"must be at least {php_string(v)} characters"
            ),
            max_length_error=_failure(
                name, rule, "max_length", lambda v: f"must be at most {php_string(v)} characters"
            ),
            pattern_error=_failure(name, rule, "pattern", lambda v: f"must match the pattern {v}"),
            enum_error=_failure(name, rule, "enum", _enum_message),
            min_error=_failure(name, rule, "min", lambda v: "must be >= " + php_json_encode(v)),
            max_error=_failure(name, rule, "max", lambda v: "must be <= " + php_json_encode(v)),
        )

    def normalize(self, value: Any) -> tuple[Any, str]:
        """The present (non-null) value after trim/case, and its first error JSON ("" if none)."""
        if not _type_ok(self.kind, value):
            return value, self.type_error
        if isinstance(value, str):
            if self.trim:
                value = value.strip(_TRIM)
            if self.case == _LOWER:
                value = _ascii_lower(value)
            elif self.case == _UPPER:
                value = _ascii_upper(value)
        return value, self._first_failure(value)

    def _first_failure(self, value: Any) -> str:
        if self.min_length is not None and _php_less(len(value), self.min_length):
            return self.min_length_error
        if self.max_length is not None and _php_less(self.max_length, len(value)):
            return self.max_length_error
        if self.pattern is not None and self.pattern(value) is None:
            return self.pattern_error
        if self.enum is not None and not self.enum.allows(value):
            return self.enum_error
        if self.min is not None and _php_less(value, self.min):
            return self.min_error
        if self.max is not None and _php_less(self.max, value):
            return self.max_error
        return ""


def _enum_message(members: Any) -> str:
    values = members.values() if isinstance(members, Mapping) else members
    return "must be one of: " + ", ".join(php_string(v) for v in values)


@dataclass(frozen=True, slots=True)
class EventRules:
    """The fields of one event type, in rules.json order."""

    fields: tuple[FieldRule, ...]
    names: frozenset[str]
    type_json: str | None
    """The type's name as ``json_encode`` writes it (None: it cannot, see ``encoded_type``)."""
    others: int
    """The members a body holds besides its fields: ``type``, unless a field is so named."""

    @classmethod
    def build(cls, event: str, field_rules: Mapping[str, Any]) -> EventRules:
        """Compile the fields of event type ``event``."""
        names = frozenset(str(n) for n in field_rules)
        return cls(
            fields=tuple(FieldRule.build(str(n), r) for n, r in field_rules.items()),
            names=names,
            type_json=_encoded_or_none(event),
            others=0 if "type" in names else 1,
        )


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """One rules snapshot, ready to validate with."""

    events: Mapping[str, EventRules]
    type_enum_error: str

    @classmethod
    def build(cls, rules: Mapping[str, Any]) -> CompiledRules:
        """Compile every event type of ``rules`` (a parsed rules.json)."""
        events = {
            str(event): EventRules.build(str(event), field_rules)
            for event, field_rules in rules["events"].items()
        }
        return cls(events, error("type", "enum", "must be one of: " + ", ".join(events)))


def _encoded_or_none(text: str) -> str | None:
    try:
        return php_json_encode(text)
    except JsonException:
        return None


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


def error(field: str, rule: str, message: str) -> str:
    """validate.php's ``error``: one error object of an answer, as ``json_encode`` writes it.

    Errors are kept as their JSON: an answer's ``errors`` member is their
    texts joined, and a field's are written once per rules snapshot.
    """
    return php_json_encode({"field": field, "rule": rule, "message": message})


def errors_json(errors: list[str]) -> str:
    """``json_encode(["ok" => false, "errors" => $errors])`` of errors given as their JSON."""
    return '{"ok":false,"errors":[' + ",".join(errors) + "]}"


def fail(status: int, errors: list[str], headers: Headers = ()) -> Answer:
    """validate.php's ``fail``: ``{"ok":false,"errors":[...]}`` with ``status``."""
    return Answer(status, JSON_HEADERS + headers, errors_json(errors).encode())


METHOD_NOT_ALLOWED = fail(405, [error("", "method", "only POST is allowed")], (("allow", "POST"),))
RULES_UNAVAILABLE = fail(500, [error("", "rules", "the rules file cannot be read")])
NOT_JSON = fail(400, [error("", "json", "body is not valid JSON")])
NOT_OBJECT = fail(400, [error("", "object", "body must be a JSON object")])
_TYPE_REQUIRED: Final = error("type", "required", "is required")
_TYPE_NOT_STRING: Final = error("type", "type", "must be of type string")


_ENCODE_STRING: Final = encode_basestring
"""Final, so the compiled module keeps it in a C static, not its globals dict."""


def _member_json(value: Any) -> str:
    """One normalized value as ``json_encode`` writes it (the plain kinds without a call)."""
    kind = type(value)
    if kind is str and value.isascii():  # nothing non-ASCII: no surrogate, no U+2028
        return _ENCODE_STRING(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return php_float(value)
    return php_json_encode(value)


def _validate_fields(
    body: dict[str, Any], event_type: str, event: EventRules
) -> tuple[list[str], str]:
    errors: list[str] = []
    kept: list[str] = []  # the kept fields' members, values[i] the value of kept[i]
    values: list[Any] = []
    present = 0  # fields that are members of the body, null ones included
    for rule in event.fields:
        value = body.get(rule.name)
        if value is None:
            if rule.name in body:
                present += 1
            if rule.required:
                errors.append(rule.required_error)
            elif rule.has_default:
                kept.append(rule.member)
                values.append(rule.default)
            continue
        present += 1
        value, failure = rule.normalize(value)
        if failure:
            errors.append(failure)
        else:
            kept.append(rule.member)
            values.append(value)
    # A body has an unknown member only if it has more than its fields (their
    # names are a mapping's keys, so distinct) and its type: only then is each
    # member looked up (ops/bench/engine_cpu.py --migrated).
    if len(body) != present + event.others:
        for name in body:
            if name != "type" and name not in event.names:
                errors.append(error(name, "unknown", f"is not allowed for event type {event_type}"))
    if errors:
        return errors, ""
    # enumerate, not zip(strict=True): mypyc compiles only a plain zip or enumerate
    # into a loop; one join of all the pieces, no string built per member
    # (ops/bench/engine_cpu.py --migrated runs this per request).
    pieces = ["{"]
    for i, member in enumerate(kept):
        if i:
            pieces.append(",")
        pieces.append(member)
        pieces.append(_member_json(values[i]))
    pieces.append("}")
    return errors, "".join(pieces)


def check_event(body: dict[str, Any], compiled: CompiledRules) -> tuple[list[str], str]:
    """validate_rules.php's ``check_event``: one event object's errors and normalized fields.

    A bad ``type`` gives that single error; a valid event has no errors, its
    ``type`` is a known event type, and its normalized fields come as PHP's
    ``json_encode`` writes them (written only when there are no errors).

    Raises:
        JsonException: a valid event's normalized value holds INF (PHP's
            ``json_encode`` fails).
    """
    event_type = body.get("type")
    if event_type is None:
        return [_TYPE_REQUIRED], ""
    if not isinstance(event_type, str):
        return [_TYPE_NOT_STRING], ""
    event = compiled.events.get(event_type)
    if event is None:
        return [compiled.type_enum_error], ""
    return _validate_fields(body, event_type, event)


def encoded_type(event_type: str, compiled: CompiledRules) -> str:
    """A valid event's ``type`` as ``json_encode`` writes it.

    Raises:
        JsonException: the type cannot be encoded (a surrogate in rules.json).
    """
    found = compiled.events[event_type].type_json
    return php_json_encode(event_type) if found is None else found


def accepted_body(event: AcceptedEvent, type_json: str) -> bytes:
    """validate.php's 200 body for ``event``: ``{"ok":true,"id",...,"normalized":...}``."""
    head = f'{{"ok":true,"id":"{event.id}","type":{type_json},"normalized":'
    return head.encode() + event.value + b"}"


def usable_rules(rules: Any) -> CompiledRules | None:
    """The compiled ``rules``, or None when PHP would find them unreadable.

    Anything but a mapping with an ``events`` mapping is PHP's 500 "rules file
    cannot be read".  A snapshot already compiled is found by identity first,
    before the mapping checks (an ABC ``isinstance`` of the cache's read-only
    mappings costs more than the rest of the lookup; ``ops/bench/engine_cpu.py
    --migrated`` measures it per request).
    """
    entry = _memo.get(id(rules))
    if entry is not None and entry[0] is rules:  # only usable rules are memoised
        return entry[1]
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
    try:
        errors, normalized = check_event(body, compiled)
        if errors:
            return fail(422, errors)
        event_type: str = body["type"]
        type_json = encoded_type(event_type, compiled)
    except JsonException:  # INF: json_encode() returns false and PHP echoes ""
        return Answer(200, JSON_HEADERS, b"")
    event_id = "evt_" + hashlib.sha1(raw).hexdigest()[:20]
    event = AcceptedEvent(event_id, event_type, normalized.encode())
    return Answer(200, JSON_HEADERS, accepted_body(event, type_json), event)


def answer_request(method: str, raw: bytes, rules: Any) -> Answer:
    """validate.php's whole answer: 405 for anything but POST, else ``validate_event``."""
    if method != "POST":
        return METHOD_NOT_ALLOWED
    return validate_event(raw, rules)
