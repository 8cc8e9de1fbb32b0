"""The event validator, migrated from ``validate.php``: the reference migrated handler.

Route it with ``handler = "ops.demo.handlers.validator:validate"``.  It answers exactly
what validate.php answers (status, Content-Type, ``Allow`` on 405, body bytes;
proved by a differential test against the real PHP) and, for each accepted
event, emits one message into ``ctx.outbox``:

* topic: ``TOPIC`` (``"validated-events"``);
* key: the event id, ``"evt_"`` + the first 20 hex digits of sha1(body);
* value: the normalized fields as JSON, byte for byte the ``normalized``
  member of the 200 answer (PHP ``json_encode`` layout: compact, fields in
  rules.json order, slashes and non-ASCII unescaped, ``10.0`` kept), e.g.
  ``{"user_id":42,"email":"ada@example.com","age":36,"country":"DE","marketing_opt_in":false}``;
* headers: ``(("event-type", <type>),)``.

Rejected events emit nothing.  The rules come from ``ctx.cache("rules")`` (the
parsed rules.json); PHP rereads the file on every request, the port compiles
each cache snapshot once (see ``_validator.compile_rules``).
"""

from __future__ import annotations

from migrated import CacheError, Context, Request, Response

from ._validator import METHOD_NOT_ALLOWED, RULES_UNAVAILABLE, Answer, validate_event

TOPIC = "validated-events"
RULES_CACHE = "rules"


def validate(request: Request, ctx: Context) -> Response:
    """Validate and normalize the JSON event in the body, as validate.php does.

    An inline handler (it never awaits): called on the event loop, it answers
    without a task of its own.

    Args:
        request: the client's request; only POST is allowed.
        ctx: gives the rules (cache ``"rules"``) and the outbox.
    """
    if request.method != "POST":
        return _response(METHOD_NOT_ALLOWED)
    try:
        rules = ctx.cache(RULES_CACHE)
    except (LookupError, CacheError):
        return _response(RULES_UNAVAILABLE)  # PHP: the rules file cannot be read
    answer = validate_event(request.body, rules)
    if answer.event is not None:
        event = answer.event
        ctx.outbox.emit(TOPIC, event.value, key=event.id, headers=(("event-type", event.type),))
    return _response(answer)


def _response(answer: Answer) -> Response:
    return Response(answer.status, list(answer.headers), answer.body)
