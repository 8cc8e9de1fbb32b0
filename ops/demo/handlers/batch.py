"""The batch validator, migrated from ``validate_batch.php``.

Route it with ``handler = "ops.demo.handlers.batch:validate_batch"``.  It
answers exactly what validate_batch.php answers (status, Content-Type,
``Allow`` on 405, body bytes; proved by a differential test against the real
PHP) and, for each accepted event of the batch, in order, emits one message
into ``ctx.outbox``, as the single-event validator (``validator.py``) does:

* topic: ``TOPIC`` (``"validated-events"``, the single validator's);
* key: the event's id, ``"evt_"`` + the first 20 hex digits of
  sha1(body + ``"#"`` + its index in the batch);
* value: its normalized fields as JSON, byte for byte its ``normalized``
  member of the answer;
* headers: ``(("event-type", <type>),)``.

Rejected events emit nothing, so a batch of 20 events of which 15 pass emits
15 messages.  The rules come from ``ctx.cache("rules")``, as for the single
validator.
"""

from __future__ import annotations

from migrated import CacheError, Context, Request, Response

from ._batch import BatchAnswer, refused, validate_batch_body
from ._validator import METHOD_NOT_ALLOWED, RULES_UNAVAILABLE
from .validator import RULES_CACHE, TOPIC

_METHOD_NOT_ALLOWED = refused(METHOD_NOT_ALLOWED)
_RULES_UNAVAILABLE = refused(RULES_UNAVAILABLE)


def validate_batch(request: Request, ctx: Context) -> Response:
    """Validate and normalize each event of the JSON batch in the body, as validate_batch.php.

    An inline handler (it never awaits), like the single validator.

    Args:
        request: the client's request; only POST is allowed.
        ctx: gives the rules (cache ``"rules"``) and the outbox.
    """
    if request.method != "POST":
        return _response(_METHOD_NOT_ALLOWED)
    try:
        rules = ctx.cache(RULES_CACHE)
    except (LookupError, CacheError):
        return _response(_RULES_UNAVAILABLE)  # PHP: the rules file cannot be read
    answer = validate_batch_body(request.body, rules)
    outbox = ctx.outbox
    for event in answer.events:
        outbox.emit(TOPIC, event.value, key=event.id, headers=(("event-type", event.type),))
    return _response(answer)


def _response(answer: BatchAnswer) -> Response:
    return Response(answer.status, list(answer.headers), answer.body)
