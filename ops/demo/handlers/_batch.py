"""The pure logic of the batch validator: a byte-for-byte port of ``validate_batch.php``.

Strategy: validate_batch.php judges each event with validate.php's rules
(``lib/validate_rules.php``), so this port judges each event with
``_validator.check_event`` and writes each result with ``_validator``'s
pieces; only the batch around them is new here: the ``events`` member's
checks, the per-event ids, and the answer that joins the results.  Values in,
values out, no I/O: the handler in ``batch.py`` is a thin shell.

The body is written piece by piece, as ``_validator`` writes an accepted
event: each result is PHP's ``json_encode`` of that result, so joining them
with the fixed head and tail is byte for byte PHP's ``json_encode`` of the
whole answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from migrated.php import JsonException

from ._validator import (
    JSON_HEADERS,
    METHOD_NOT_ALLOWED,
    NOT_JSON,
    NOT_OBJECT,
    RULES_UNAVAILABLE,
    AcceptedEvent,
    Answer,
    CompiledRules,
    Headers,
    NotJson,
    accepted_body,
    check_event,
    decode_body,
    encoded_type,
    error,
    errors_json,
    fail,
    usable_rules,
)

MAX_EVENTS = 100
"""validate_batch.php's ``MAX_EVENTS``: more events in one batch is a 422."""

_NOT_AN_OBJECT = errors_json([error("", "object", "event must be a JSON object")]).encode()


@dataclass(frozen=True, slots=True, init=False)
class BatchAnswer:
    """What validate_batch.php answers; ``events`` are the accepted ones, in order."""

    status: int
    headers: Headers
    body: bytes
    events: tuple[AcceptedEvent, ...]

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        status: int,
        headers: Headers,
        body: bytes,
        events: tuple[AcceptedEvent, ...] = (),
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "events", events)


def refused(answer: Answer) -> BatchAnswer:
    """A batch answer without events from one of ``_validator``'s fixed answers."""
    return BatchAnswer(answer.status, answer.headers, answer.body)


_METHOD_NOT_ALLOWED = refused(METHOD_NOT_ALLOWED)
_RULES_UNAVAILABLE = refused(RULES_UNAVAILABLE)
_NOT_JSON = refused(NOT_JSON)
_NOT_OBJECT = refused(NOT_OBJECT)


def events_error(events: Any) -> str | None:
    """The error of the ``events`` member, or None when it is a list of 1 to MAX_EVENTS."""
    if events is None:
        return error("events", "required", "is required")
    if not isinstance(events, list):
        return error("events", "type", "must be of type array")
    if not events:
        return error("events", "min_items", "must hold at least 1 event")
    if len(events) > MAX_EVENTS:
        return error("events", "max_items", f"must hold at most {MAX_EVENTS} events")
    return None


def batch_errors(body: dict[str, Any]) -> list[str]:
    """The errors of the batch object itself: ``events`` first, then unknown keys in order."""
    errors: list[str] = []
    found = events_error(body.get("events"))
    if found is not None:
        errors.append(found)
    for name in body:
        if name != "events":
            errors.append(error(name, "unknown", "is not allowed in a batch"))
    return errors


def event_id(raw_hash: Any, index: int) -> str:
    """``"evt_"`` + the first 20 hex digits of sha1(raw body . "#" . index).

    ``raw_hash`` is a sha1 object fed the raw body, copied for each event.
    """
    digest = raw_hash.copy()
    digest.update(b"#%d" % index)
    hexdigest: str = digest.hexdigest()
    return "evt_" + hexdigest[:20]


def judge_events(
    raw: bytes, events: list[Any], compiled: CompiledRules
) -> tuple[list[bytes], list[AcceptedEvent]]:
    """Each event's result, encoded as PHP encodes it, and the accepted events.

    Raises:
        JsonException: an accepted event holds INF (PHP's ``json_encode`` fails).
    """
    raw_hash = hashlib.sha1(raw)
    results: list[bytes] = []
    accepted: list[AcceptedEvent] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            results.append(_NOT_AN_OBJECT)
            continue
        errors, normalized = check_event(event, compiled)
        if errors:
            results.append(errors_json(errors).encode())
            continue
        event_type: str = event["type"]
        accepted_one = AcceptedEvent(event_id(raw_hash, index), event_type, normalized.encode())
        accepted.append(accepted_one)
        results.append(accepted_body(accepted_one, encoded_type(event_type, compiled)))
    return results, accepted


def validate_batch_body(raw: bytes, rules: Any) -> BatchAnswer:
    """What validate_batch.php answers to a POST of ``raw`` under ``rules``.

    Args:
        raw: the request body.
        rules: the parsed rules.json; anything but a mapping with an ``events``
            mapping gets PHP's 500 "rules file cannot be read".
    """
    compiled = usable_rules(rules)
    if compiled is None:
        return _RULES_UNAVAILABLE
    try:
        body = decode_body(raw)
    except NotJson:
        return _NOT_JSON
    if not isinstance(body, dict):
        return _NOT_OBJECT
    errors = batch_errors(body)
    if errors:
        return refused(fail(422, errors))
    events: list[Any] = body["events"]
    try:
        results, accepted = judge_events(raw, events, compiled)
    except JsonException:  # INF: json_encode() returns false and PHP echoes ""
        return BatchAnswer(200, JSON_HEADERS, b"")
    head = b'{"ok":true,"accepted":%d,"rejected":%d,"results":[' % (
        len(accepted),
        len(results) - len(accepted),
    )
    return BatchAnswer(200, JSON_HEADERS, head + b",".join(results) + b"]}", tuple(accepted))


def answer_batch_request(method: str, raw: bytes, rules: Any) -> BatchAnswer:
    """validate_batch.php's whole answer: 405 for anything but POST, else the batch's."""
    if method != "POST":
        return _METHOD_NOT_ALLOWED
    return validate_batch_body(raw, rules)
