"""Tests of the batch validator port: a differential test against the real
validate_batch.php behind nginx, and the handler's outbox.

The differential part posts the same bytes to nginx -> PHP-FPM ->
validate_batch.php and to the port and compares status, Content-Type, Allow
and body bytes: a fixed corpus with readable ids (``CORPUS``) and batches of
hypothesis-generated events (the single validator's generator).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrated import CacheError
from ops.bench._no_emit import validate_batch_without_messages
from ops.demo.handlers._batch import MAX_EVENTS, BatchAnswer, answer_batch_request
from ops.demo.handlers.batch import validate_batch
from ops.demo.handlers.validator import TOPIC
from ops.services import Nginx

from .test_demo_validator import (
    LOGIN,
    PROFILE,
    PURCHASE,
    REFUND,
    RULES,
    SIGNUP,
    FakeContext,
    body,
    events,
    make_request,
    php_answer,
)

MIXED = [
    SIGNUP,
    {**SIGNUP, "age": 9},
    LOGIN,
    {**LOGIN, "ip": "256.0.0.1", "extra": 1},
    PURCHASE,
    {**PURCHASE, "type": "teleport"},
    REFUND,
    PROFILE,
    {**PROFILE, "user_id": ...},
]


def batch(*items: Any, ascii_only: bool = False, **members: Any) -> bytes:
    """A batch of ``items`` (dicts lose keys whose value is ``...``) as JSON bytes."""
    listed = [
        {k: v for k, v in item.items() if v is not ...} if isinstance(item, dict) else item
        for item in items
    ]
    return json.dumps({"events": listed, **members}, ensure_ascii=ascii_only).encode()


def spliced(*events_json: bytes, before: bytes = b"", after: bytes = b"") -> bytes:
    """A batch whose events are written verbatim (duplicate keys, odd literals)."""
    return b'{%b"events":[%b]%b}' % (before, b",".join(events_json), after)


CORPUS: list[Any] = [
    # processed batches
    pytest.param("POST", batch(SIGNUP), id="one-valid"),
    pytest.param("POST", batch({**SIGNUP, "age": 9}), id="one-invalid"),
    pytest.param("POST", batch(*MIXED), id="mixed"),
    pytest.param("POST", batch(*MIXED, ascii_only=True), id="mixed-ascii-escaped"),
    pytest.param("POST", batch(SIGNUP, SIGNUP, SIGNUP), id="same-event-thrice"),
    pytest.param("POST", batch(*[SIGNUP] * MAX_EVENTS), id="at-the-limit"),
    pytest.param("POST", batch(1, "x", None, True, [], [SIGNUP], {}), id="non-objects"),
    pytest.param("POST", batch({}, {"type": None}, {"type": 5}), id="type-errors"),
    pytest.param("POST", batch({**PROFILE, "7": 1, "": 2}), id="numeric-and-empty-keys"),
    pytest.param("POST", batch({**REFUND, "comment": "a/b\u2028é😀\x00"}), id="raw-chars"),
    pytest.param("POST", batch({**PURCHASE, "amount": 5}), id="int-amount"),
    pytest.param("POST", spliced(b'{"type":"profile_update","user_id":3,"user_id":"x"}'), id="dup"),
    pytest.param(
        "POST", spliced(b'{"type":"purchase","amount":1.0,"x":1e400}'), id="float-literals"
    ),
    pytest.param("POST", spliced(b'{"type":"profile_update","user_id":3}') + b" \n", id="ws"),
    pytest.param(
        "POST",
        spliced(b'{"type":"profile_update","user_id":3}', before=b'"events":null,'),
        id="dup-events-last-wins",
    ),
    # refused batches
    pytest.param("POST", b"{}", id="empty-object"),
    pytest.param("POST", b'{"events":null}', id="events-null"),
    pytest.param("POST", b'{"events":[]}', id="events-empty"),
    pytest.param("POST", b'{"events":{}}', id="events-empty-object"),
    pytest.param("POST", b'{"events":{"0":{"type":"signup"}}}', id="events-object"),
    pytest.param("POST", b'{"events":"[]"}', id="events-string"),
    pytest.param("POST", b'{"events":7}', id="events-number"),
    pytest.param("POST", batch(*[PROFILE] * (MAX_EVENTS + 1)), id="over-the-limit"),
    pytest.param("POST", batch(SIGNUP, extra=1, meta={"x": 1}), id="unknown-members"),
    pytest.param("POST", b'{"z":1,"events":[],"7":2}', id="empty-and-unknown"),
    pytest.param("POST", b'{"Events":[{"type":"signup"}]}', id="events-case"),
    pytest.param("POST", body(SIGNUP), id="single-event-not-a-batch"),
    pytest.param(
        "POST",
        spliced(b'{"type":"profile_update","user_id":3}', before=b'"events":[],'),
        id="dup-events-first-empty",
    ),
    pytest.param(
        "POST",
        spliced(b'{"type":"profile_update","user_id":3}', after=b',"events":[]'),
        id="dup-events-last-empty",
    ),
    # not a batch at all
    pytest.param("POST", b"", id="empty-body"),
    pytest.param("POST", b"{not json", id="not-json"),
    pytest.param("POST", b"[]", id="list"),
    pytest.param("POST", json.dumps([SIGNUP]).encode(), id="bare-list-of-events"),
    pytest.param("POST", b"null", id="null"),
    pytest.param("POST", spliced(b'{"type":"x","\\u0000a":1}'), id="nul-property-name"),
    pytest.param("POST", spliced(b'{"x":"\\ud800"}'), id="lone-surrogate"),
    pytest.param("POST", spliced(b'{"x":' + b"[" * 29 + b"]" * 29 + b"}"), id="depth-32"),
    pytest.param("POST", spliced(b'{"x":' + b"[" * 28 + b"]" * 28 + b"}"), id="depth-31"),
    # methods
    pytest.param("GET", b"", id="get"),
    pytest.param("PUT", batch(SIGNUP), id="put"),
]


def answer_via_nginx(client: httpx.Client, method: str, content: bytes) -> BatchAnswer:
    """What validate_batch.php answers behind nginx, as a ``BatchAnswer`` to compare."""
    return BatchAnswer(*php_answer(client, method, "/validate_batch.php", content))


def comparable(answer: BatchAnswer) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    """Status, headers and body, without the accepted events (PHP has none)."""
    return answer.status, answer.headers, answer.body


@pytest.fixture(scope="module")
def demo(nginx_demo: Nginx) -> Iterator[httpx.Client]:
    """One client of the demo app behind nginx for the whole module."""
    with httpx.Client(base_url=nginx_demo.url, timeout=30) as client:
        yield client


@pytest.mark.service
@pytest.mark.parametrize(("method", "content"), CORPUS)
def test_port_answers_the_corpus_like_php(demo: httpx.Client, method: str, content: bytes) -> None:
    """Status, Content-Type, Allow and body bytes equal validate_batch.php's for each entry."""
    expected = answer_via_nginx(demo, method, content)
    assert comparable(answer_batch_request(method, content, RULES)) == comparable(expected)


@pytest.mark.service
def test_php_processes_the_mixed_batch(demo: httpx.Client) -> None:
    """The PHP original itself: 200, results in order, ids from sha1(body#index)."""
    content = batch(*MIXED)
    answer = demo.post("/validate_batch.php", content=content).json()
    oks = [result["ok"] for result in answer["results"]]
    assert oks == [True, False, True, False, True, False, True, True, False]
    assert (answer["accepted"], answer["rejected"]) == (5, 4)
    first = hashlib.sha1(content + b"#0").hexdigest()[:20]
    assert answer["results"][0]["id"] == "evt_" + first
    assert len({r["id"] for r in answer["results"] if r["ok"]}) == 5


@pytest.mark.service
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    items=st.lists(events().map(json.loads), min_size=1, max_size=8),
    ascii_only=st.booleans(),
)
def test_port_answers_generated_batches_like_php(
    demo: httpx.Client, items: list[Any], ascii_only: bool
) -> None:
    """Batches of generated events get byte-identical answers from the port and the PHP."""
    content = json.dumps({"events": items}, ensure_ascii=ascii_only).encode()
    expected = answer_via_nginx(demo, "POST", content)
    assert comparable(answer_batch_request("POST", content, RULES)) == comparable(expected)


# --- the handler, with an in-memory context ------------------------------------------


def test_each_accepted_event_emits_one_message_in_order() -> None:
    """Accepted events emit one message each, in batch order: id key, normalized value, type."""
    ctx = FakeContext({"rules": RULES})
    response = validate_batch(make_request(batch(*MIXED)), ctx)
    accepted = [r for r in json.loads(response.body)["results"] if r["ok"]]
    assert response.status == 200
    assert [m.topic for m in ctx.outbox.messages] == [TOPIC] * 5
    assert [m.key for m in ctx.outbox.messages] == [r["id"].encode() for r in accepted]
    assert [m.headers for m in ctx.outbox.messages] == [
        (("event-type", r["type"].encode()),) for r in accepted
    ]
    for message in ctx.outbox.messages:
        assert b'"normalized":' + message.value + b"}" in response.body
    assert ctx.outbox.messages[0].value == (
        b'{"user_id":42,"email":"ada@example.com","age":36,"country":"DE","marketing_opt_in":false}'
    )


@pytest.mark.parametrize(
    ("method", "content", "status"),
    [
        pytest.param("POST", batch({**SIGNUP, "age": 9}, 7), 200, id="all-rejected"),
        pytest.param("POST", b'{"events":[]}', 422, id="empty"),
        pytest.param("POST", batch(SIGNUP, extra=1), 422, id="unknown-member"),
        pytest.param("POST", b"[", 400, id="not-json"),
        pytest.param("GET", b"", 405, id="get"),
    ],
)
def test_refused_or_rejected_batch_emits_nothing(method: str, content: bytes, status: int) -> None:
    """A batch with no accepted event, or refused as a whole, leaves the outbox empty."""
    ctx = FakeContext({"rules": RULES})
    response = validate_batch(make_request(content, method), ctx)
    assert response.status == status
    assert ctx.outbox.messages == []


def test_handler_answers_like_the_pure_function() -> None:
    """Over the whole corpus the handler returns exactly ``answer_batch_request``'s answer."""
    for param in CORPUS:
        method, content = param.values
        response = validate_batch(make_request(content, method), FakeContext({"rules": RULES}))
        expected = answer_batch_request(method, content, RULES)
        assert (response.status, tuple(response.headers), response.body) == comparable(expected)


@pytest.mark.parametrize(
    "caches",
    [
        pytest.param({}, id="no-rules-cache"),
        pytest.param(CacheError("rules: S3 unreachable"), id="cache-error"),
        pytest.param({"rules": {"events": 1}}, id="no-events-mapping"),
    ],
)
def test_unreadable_rules_answer_500(caches: dict[str, Any] | Exception) -> None:
    """Rules that cannot be had give PHP's 500 answer and no message."""
    ctx = FakeContext(caches)
    response = validate_batch(make_request(batch(SIGNUP)), ctx)
    assert (response.status, json.loads(response.body)["errors"][0]["rule"]) == (500, "rules")
    assert ctx.outbox.messages == []


def test_the_benchmarks_muted_handler_answers_alike_and_emits_nothing() -> None:
    """``cpu_per_request.py --batch --no-emit`` runs the same answers without messages."""
    content = batch(SIGNUP, {**SIGNUP, "age": 9}, SIGNUP)
    emitting, muted = FakeContext({"rules": RULES}), FakeContext({"rules": RULES})
    expected = validate_batch(make_request(content), emitting)
    response = validate_batch_without_messages(make_request(content), muted)
    assert expected.status == 200
    assert (response.status, response.body) == (expected.status, expected.body)
    assert len(emitting.outbox.messages) == 2
    assert muted.outbox.messages == []
