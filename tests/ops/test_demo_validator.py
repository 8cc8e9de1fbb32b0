"""Tests of the validator port: PHP codec details, the handler's outbox, and a
differential test against the real validate.php behind nginx.

The differential part posts the same bytes to nginx -> PHP-FPM -> validate.php
and to the port and compares status, Content-Type, Allow and body bytes: a
fixed corpus with readable ids (``CORPUS``) and a hypothesis-generated one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrated import CacheError, Outbox, Request
from ops.demo.handlers._validator import (
    Answer,
    NotJson,
    answer_request,
    compile_rules,
    decode_body,
    php_float,
    php_json_encode,
    php_string,
)
from ops.demo.handlers.validator import TOPIC, validate
from ops.services import Nginx

from ..conftest import REPO_ROOT

RULES: dict[str, Any] = json.loads((REPO_ROOT / "ops/demo/app/rules.json").read_text())

SIGNUP = {
    "type": "signup",
    "user_id": 42,
    "email": "  Ada@Example.COM ",
    "age": 36,
    "country": "de",
}
LOGIN = {"type": "login", "user_id": 7, "method": "sso", "ip": "192.168.0.1"}
PURCHASE = {
    "type": "purchase",
    "user_id": 1,
    "order_id": "ord_0123456789",
    "amount": 19.99,
    "currency": "eur",
    "items": 2,
}
REFUND = {
    "type": "refund",
    "user_id": 1,
    "order_id": "ord_abcdefghij",
    "amount": 5,
    "reason": "damaged",
}
PROFILE = {"type": "profile_update", "user_id": 3}


def body(event: Mapping[str, Any], *, ascii_only: bool = False, **changes: Any) -> bytes:
    """``event`` with ``changes`` (a value of ``...`` deletes the key) as JSON bytes."""
    merged = {k: v for k, v in {**event, **changes}.items() if v is not ...}
    return json.dumps(merged, ensure_ascii=ascii_only).encode()


def raw(event: Mapping[str, Any], key: str, literal: str) -> bytes:
    """``event`` with ``key`` set to a JSON ``literal`` written verbatim."""
    text = json.dumps({**event, key: "@@"}, ensure_ascii=False)
    return text.replace('"@@"', literal).encode()


def deep(levels: int) -> bytes:
    """A signup whose extra field nests ``levels`` arrays (the body adds one level)."""
    return raw(SIGNUP, "extra", "[" * levels + "]" * levels)


CORPUS: list[Any] = [
    # valid events of each type
    pytest.param("POST", body(SIGNUP), id="signup-valid"),
    pytest.param("POST", body(SIGNUP, referral_code=" abc123 "), id="signup-referral-trim-upper"),
    pytest.param("POST", body(SIGNUP, marketing_opt_in=True), id="signup-opt-in"),
    pytest.param("POST", body(SIGNUP, marketing_opt_in=None), id="signup-null-gets-default"),
    pytest.param("POST", body(LOGIN), id="login-valid"),
    pytest.param("POST", body(LOGIN, user_agent="  Mozilla/5.0 (X11)\t"), id="login-agent"),
    pytest.param("POST", body(LOGIN, user_agent="😀" * 512), id="login-agent-512-emoji"),
    pytest.param("POST", body(LOGIN, remember_me=True), id="login-remember"),
    pytest.param("POST", body(PURCHASE), id="purchase-valid"),
    pytest.param("POST", body(PURCHASE, coupon=" save10 ", country="fr"), id="purchase-full"),
    pytest.param("POST", body(PURCHASE, amount=5), id="purchase-int-amount"),
    pytest.param("POST", raw(PURCHASE, "amount", "1.0"), id="purchase-amount-1.0"),
    pytest.param("POST", raw(PURCHASE, "amount", "1e3"), id="purchase-amount-1e3"),
    pytest.param("POST", raw(PURCHASE, "amount", "1E-2"), id="purchase-amount-1E-2"),
    pytest.param("POST", raw(PURCHASE, "amount", "100000"), id="purchase-amount-max"),
    pytest.param("POST", raw(PURCHASE, "amount", "100000.0"), id="purchase-amount-max-float"),
    pytest.param("POST", raw(PURCHASE, "amount", "0.1e1"), id="purchase-amount-0.1e1"),
    pytest.param("POST", raw(PURCHASE, "amount", "12345.678901234567"), id="purchase-17-digits"),
    pytest.param("POST", raw(PURCHASE, "amount", "19.990"), id="purchase-trailing-zero"),
    pytest.param("POST", body(REFUND), id="refund-valid"),
    pytest.param("POST", body(REFUND, comment="box/crushed\u2028wet\u2029\x7f"), id="refund-raw"),
    pytest.param("POST", body(REFUND, comment='a\x01b\x1fc"d\\e\bf'), id="refund-controls"),
    pytest.param("POST", body(REFUND, comment="\x00\x0b x \x00\xa0"), id="refund-trim-nul-vt"),
    pytest.param("POST", body(PROFILE), id="profile-minimal"),
    pytest.param("POST", body(PROFILE, display_name="  Zoë 😀 ", newsletter=False), id="profile"),
    pytest.param("POST", body(PROFILE, display_name="éé"), id="profile-name-2-codepoints"),
    pytest.param("POST", body(PROFILE, newsletter=None), id="profile-null-no-default"),
    pytest.param("POST", body(PROFILE, display_name="Zoë", ascii_only=True), id="escaped-e"),
    pytest.param("POST", body(PROFILE, display_name="😀x", ascii_only=True), id="escaped-pair"),
    pytest.param("POST", b' \n\t{"type":"profile_update","user_id":3}\r\n ', id="whitespace"),
    pytest.param("POST", b'{"type":"profile_update","user_id":3,"email":"a\\/b@x.io"}', id="esc-/"),
    # each failing rule
    pytest.param("POST", body(SIGNUP, user_id=0), id="user-id-min"),
    pytest.param("POST", body(SIGNUP, user_id=2147483648), id="user-id-max"),
    pytest.param("POST", body(SIGNUP, user_id=2147483647), id="user-id-at-max"),
    pytest.param("POST", body(SIGNUP, user_id="42"), id="user-id-string"),
    pytest.param("POST", raw(SIGNUP, "user_id", "42.0"), id="user-id-float-42.0"),
    pytest.param("POST", raw(SIGNUP, "user_id", "1e3"), id="user-id-1e3"),
    pytest.param("POST", body(SIGNUP, user_id=True), id="user-id-bool"),
    pytest.param("POST", raw(SIGNUP, "user_id", "-0"), id="user-id-minus-zero"),
    pytest.param("POST", raw(SIGNUP, "user_id", "9223372036854775807"), id="int64-max"),
    pytest.param("POST", raw(SIGNUP, "user_id", "9223372036854775808"), id="int64-max-plus-1"),
    pytest.param("POST", raw(SIGNUP, "user_id", "-9223372036854775808"), id="int64-min"),
    pytest.param("POST", raw(SIGNUP, "user_id", "-9223372036854775809"), id="int64-min-minus-1"),
    pytest.param("POST", raw(SIGNUP, "user_id", "1" * 5000), id="int-5000-digits"),
    pytest.param("POST", body(SIGNUP, email=...), id="email-missing"),
    pytest.param("POST", body(SIGNUP, email=None), id="email-null"),
    pytest.param("POST", body(SIGNUP, email="ada@example"), id="email-pattern"),
    pytest.param("POST", body(SIGNUP, email=7), id="email-number"),
    pytest.param("POST", body(SIGNUP, email="a" * 250 + "@x.io"), id="email-max-length"),
    pytest.param("POST", body(SIGNUP, email="ADA@EXAMPLE.\u212aOM"), id="email-kelvin-sign"),
    pytest.param("POST", body(SIGNUP, email="ÀDA@EXAMPLE.COM"), id="email-non-ascii-upper"),
    pytest.param("POST", body(SIGNUP, email="ada@example.com\n"), id="email-final-newline"),
    pytest.param("POST", body(SIGNUP, age=12), id="age-min"),
    pytest.param("POST", body(SIGNUP, age=131), id="age-max"),
    pytest.param("POST", body(SIGNUP, country="xx"), id="country-enum"),
    pytest.param("POST", body(SIGNUP, country="\u0131t"), id="country-dotless-i"),
    pytest.param("POST", body(SIGNUP, country="\u017fe"), id="country-long-s"),
    pytest.param("POST", body(SIGNUP, country="deß"), id="country-sharp-s"),
    pytest.param("POST", body(SIGNUP, country=" de"), id="country-not-trimmed"),
    pytest.param("POST", body(SIGNUP, referral_code="abc"), id="referral-pattern"),
    pytest.param("POST", body(SIGNUP, marketing_opt_in="yes"), id="opt-in-string"),
    pytest.param("POST", body(SIGNUP, marketing_opt_in=0), id="opt-in-zero"),
    pytest.param("POST", body(LOGIN, method="ldap"), id="method-enum"),
    pytest.param("POST", body(LOGIN, method="SSO"), id="method-enum-case"),
    pytest.param("POST", body(LOGIN, ip="256.1.1.1"), id="ip-pattern"),
    pytest.param("POST", body(LOGIN, ip="1.1.1.1\n"), id="ip-final-newline"),
    pytest.param("POST", body(LOGIN, ip="001.002.003.0004"), id="ip-max-length"),
    pytest.param("POST", body(LOGIN, ip="\u0661.\u0661.\u0661.\u0661"), id="ip-arabic-digits"),
    pytest.param("POST", body(LOGIN, user_agent=" \t\n "), id="agent-trimmed-empty"),
    pytest.param("POST", body(LOGIN, user_agent="x" * 513), id="agent-max-length"),
    pytest.param("POST", body(LOGIN, user_agent="😀" * 513), id="agent-513-emoji"),
    pytest.param("POST", body(LOGIN, remember_me=1), id="remember-int"),
    pytest.param("POST", body(PURCHASE, amount=0), id="amount-zero"),
    pytest.param("POST", body(PURCHASE, amount=0.001), id="amount-min"),
    pytest.param("POST", raw(PURCHASE, "amount", "0.009999999999999999"), id="amount-min-ulp"),
    pytest.param("POST", body(PURCHASE, amount=100000.01), id="amount-max"),
    pytest.param("POST", body(PURCHASE, amount=100001), id="amount-max-int"),
    pytest.param("POST", body(PURCHASE, amount="19.99"), id="amount-string"),
    pytest.param("POST", body(PURCHASE, amount=True), id="amount-bool"),
    pytest.param("POST", raw(PURCHASE, "amount", "1e400"), id="amount-inf"),
    pytest.param("POST", raw(PURCHASE, "amount", "-1e400"), id="amount-minus-inf"),
    pytest.param("POST", raw(PURCHASE, "amount", "-0.0"), id="amount-minus-zero"),
    pytest.param("POST", raw(PURCHASE, "amount", "99999999999999999999"), id="amount-bigint"),
    pytest.param("POST", body(PURCHASE, currency="usd"), id="currency-lower"),
    pytest.param("POST", body(PURCHASE, currency="us"), id="currency-enum"),
    pytest.param("POST", body(PURCHASE, items=0), id="items-min"),
    pytest.param("POST", body(PURCHASE, items=101), id="items-max"),
    pytest.param("POST", body(PURCHASE, items=1.5), id="items-float"),
    pytest.param("POST", body(PURCHASE, items=False), id="items-bool"),
    pytest.param("POST", body(PURCHASE, coupon=" ab "), id="coupon-min-length"),
    pytest.param("POST", body(PURCHASE, coupon="A" * 17), id="coupon-max-length"),
    pytest.param("POST", body(PURCHASE, coupon="save-10"), id="coupon-pattern"),
    pytest.param("POST", body(PURCHASE, order_id="ord_ABCDEFGHIJ"), id="order-pattern"),
    pytest.param("POST", body(PURCHASE, order_id={"id": 1}), id="order-object"),
    pytest.param("POST", body(PURCHASE, order_id=[]), id="order-array"),
    pytest.param("POST", body(REFUND, reason="other "), id="reason-enum"),
    pytest.param("POST", body(REFUND, comment="c" * 501), id="comment-max-length"),
    pytest.param("POST", body(PROFILE, display_name="<b>"), id="name-pattern"),
    pytest.param("POST", body(PROFILE, display_name="  é  "), id="name-min-codepoints"),
    pytest.param("POST", body(PROFILE, display_name="é" * 41), id="name-max-codepoints"),
    pytest.param("POST", body(PROFILE, display_name="İstanbul"), id="name-dotted-capital-i"),
    pytest.param("POST", body(PROFILE, email="ÉVE@EXAMPLE.COM"), id="profile-email-non-ascii"),
    pytest.param("POST", body(PROFILE, newsletter="true"), id="newsletter-string"),
    pytest.param("POST", body(PROFILE, user_id=...), id="profile-user-missing"),
    pytest.param("POST", body(SIGNUP, user_id=0, email=..., age=9, country="XX"), id="many-errors"),
    # the type key
    pytest.param("POST", body(SIGNUP, type=...), id="type-missing"),
    pytest.param("POST", body(SIGNUP, type=None), id="type-null"),
    pytest.param("POST", body(SIGNUP, type=5), id="type-number"),
    pytest.param("POST", body(SIGNUP, type=True), id="type-bool"),
    pytest.param("POST", body(SIGNUP, type=["signup"]), id="type-array"),
    pytest.param("POST", body(SIGNUP, type=""), id="type-empty"),
    pytest.param("POST", body(SIGNUP, type="Signup"), id="type-case"),
    pytest.param("POST", body(SIGNUP, type="teleport"), id="type-unknown"),
    # unknown and duplicate keys
    pytest.param("POST", body(SIGNUP, extra=1), id="extra-field"),
    pytest.param("POST", body({**PROFILE, "z": 1, "a": 2, "": 3, "7": 4}), id="extras-body-order"),
    pytest.param("POST", body({**PROFILE, 'ключ/"x': 1, "😀": 2}), id="extra-unicode-key"),
    pytest.param("POST", body({**PROFILE, "a\x00b": 1}, ascii_only=True), id="extra-key-inner-nul"),
    pytest.param("POST", body({**PROFILE, "\x00a": 1}, ascii_only=True), id="key-leading-nul"),
    pytest.param("POST", raw(PROFILE, "nested", '{"\\u0000": 1}'), id="nested-key-leading-nul"),
    pytest.param(
        "POST", b'{"type":"profile_update","user_id":3,"user_id":"x"}', id="dup-last-wins"
    ),
    pytest.param(
        "POST", b'{"age":1,"type":"x","type":"profile_update","user_id":3}', id="dup-type"
    ),
    pytest.param(
        "POST", b'{"b":1,"type":"profile_update","a":2,"b":3,"user_id":3}', id="dup-position"
    ),
    # nesting
    pytest.param("POST", deep(30), id="depth-31"),
    pytest.param("POST", deep(31), id="depth-32"),
    pytest.param("POST", b"[" * 100_000, id="depth-100000"),
    pytest.param(
        "POST", raw(PROFILE, "x", '"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["'), id="brackets-in-str"
    ),
    # not JSON
    pytest.param("POST", b"", id="empty-body"),
    pytest.param("POST", b"   ", id="blank-body"),
    pytest.param("POST", b"{not json", id="not-json"),
    pytest.param("POST", b"{'type': 'signup'}", id="single-quotes"),
    pytest.param("POST", b'{"type":"profile_update","user_id":3,}', id="trailing-comma"),
    pytest.param("POST", raw(PURCHASE, "amount", "NaN"), id="nan"),
    pytest.param("POST", raw(PURCHASE, "amount", "Infinity"), id="infinity"),
    pytest.param("POST", raw(PURCHASE, "amount", "01"), id="leading-zero"),
    pytest.param("POST", raw(PURCHASE, "amount", "1."), id="dot-no-digits"),
    pytest.param("POST", raw(PURCHASE, "amount", "+1"), id="plus-sign"),
    pytest.param("POST", raw(PURCHASE, "amount", ".5"), id="no-int-part"),
    pytest.param("POST", b'\xef\xbb\xbf{"type":"profile_update","user_id":3}', id="utf8-bom"),
    pytest.param("POST", b'{"type":"profile_update","user_id":3,"x":"\xc0\xaf"}', id="overlong"),
    pytest.param(
        "POST", b'{"type":"profile_update","user_id":3,"x":"\xed\xa0\x80"}', id="utf8-sur"
    ),
    pytest.param("POST", b'{"type":"profile_update","user_id":3,"x":"\xff"}', id="invalid-utf8"),
    pytest.param("POST", b'{"type":"profile_update","user_id":3,"x":"a\tb"}', id="raw-tab"),
    pytest.param("POST", raw(PROFILE, "display_name", '"\\ud800"'), id="lone-high-surrogate"),
    pytest.param("POST", raw(PROFILE, "display_name", '"\\udc00x"'), id="lone-low-surrogate"),
    pytest.param("POST", raw(PROFILE, "display_name", '"\\ude00\\ud83d"'), id="reversed-pair"),
    pytest.param("POST", raw(PROFILE, "x", '["\\ud800"]'), id="lone-surrogate-nested"),
    pytest.param("POST", raw(PROFILE, "display_name", '"\\x41"'), id="bad-escape"),
    pytest.param("POST", b'"\\u0000"', id="string-with-nul"),
    # valid JSON that is not an object
    pytest.param("POST", b"[]", id="array"),
    pytest.param("POST", b"[1, 2]", id="array-of-numbers"),
    pytest.param("POST", b"1", id="number"),
    pytest.param("POST", b'"signup"', id="string"),
    pytest.param("POST", b"null", id="null"),
    pytest.param("POST", b"true", id="true"),
    # methods
    pytest.param("GET", b"", id="get"),
    pytest.param("PUT", body(SIGNUP), id="put"),
    pytest.param("DELETE", b"", id="delete"),
]


def php_answer(
    client: httpx.Client, method: str, script: str, content: bytes
) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    """What ``script`` answers behind nginx: status, Content-Type (and Allow), body."""
    response = client.request(method, script, content=content)
    headers = [("content-type", response.headers["content-type"])]
    if "allow" in response.headers:
        headers.append(("allow", response.headers["allow"]))
    return response.status_code, tuple(headers), response.content


def answer_via_nginx(client: httpx.Client, method: str, content: bytes) -> Answer:
    """What validate.php answers behind nginx, as an ``Answer`` to compare."""
    return Answer(*php_answer(client, method, "/validate.php", content))


def comparable(answer: Answer) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    """Status, headers and body, without the accepted event (PHP has none)."""
    return answer.status, answer.headers, answer.body


@pytest.fixture(scope="module")
def demo(nginx_demo: Nginx) -> Iterator[httpx.Client]:
    """One client of validate.php behind nginx for the whole module."""
    with httpx.Client(base_url=nginx_demo.url, timeout=30) as client:
        yield client


@pytest.mark.service
@pytest.mark.parametrize(("method", "content"), CORPUS)
def test_port_answers_the_corpus_like_php(demo: httpx.Client, method: str, content: bytes) -> None:
    """Status, Content-Type, Allow and body bytes equal validate.php's for each corpus entry."""
    expected = answer_via_nginx(demo, method, content)
    assert comparable(answer_request(method, content, RULES)) == comparable(expected)


# --- generated events ----------------------------------------------------------

_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(" \t\n\x00\x0b\x1f/\\\"'<>&@.%+-_é\u2028ß\u0131İ\u212a😀"),
        st.characters(codec="utf-8"),
    ),
    max_size=20,
)
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.integers(min_value=-5, max_value=200),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1, max_value=100_001),
    _TEXT,
)


def _good_value(rule: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Values that often pass ``rule``, decorated to exercise trim and case."""
    if "enum" in rule:
        base: st.SearchStrategy[Any] = st.sampled_from(rule["enum"])
        if rule.get("case"):
            base = base.map(str.lower)
    elif "pattern" in rule:
        base = st.from_regex(rf"\A(?:{rule['pattern']})\Z", alphabet=st.characters(codec="ascii"))
    elif rule["type"] == "string":
        base = _TEXT
    elif rule["type"] == "boolean":
        base = st.booleans()
    else:
        base = st.integers(min_value=int(rule.get("min", 0)), max_value=int(rule.get("max", 99)))
    if rule.get("trim"):
        base = st.tuples(st.sampled_from(["", " ", "\t\n"]), base).map(
            lambda p: p[0] + p[1] + p[0] if isinstance(p[1], str) else p[1]
        )
    return base


@st.composite
def events(draw: st.DrawFn) -> bytes:
    """An event of a known (rarely unknown) type mixing good, bad, missing and extra fields."""
    event_type = draw(st.sampled_from([*RULES["events"], "teleport"]))
    event: dict[str, Any] = {"type": event_type}
    for name, rule in RULES["events"].get(event_type, {}).items():
        choice = draw(st.sampled_from(["good", "good", "good", "missing", "junk"]))
        if choice != "missing":
            event[name] = draw(_good_value(rule) if choice == "good" else _SCALAR)
    extras = draw(st.dictionaries(_TEXT, _SCALAR, max_size=2))
    event.update({k: v for k, v in extras.items() if k not in event})
    items = list(event.items())
    order = draw(st.permutations(range(len(items))))
    ascii_only = draw(st.booleans())
    return json.dumps(dict(items[i] for i in order), ensure_ascii=ascii_only).encode()


@pytest.mark.service
@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(content=events())
def test_port_answers_generated_events_like_php(demo: httpx.Client, content: bytes) -> None:
    """Generated events get byte-identical answers from the port and from validate.php."""
    expected = answer_via_nginx(demo, "POST", content)
    assert comparable(answer_request("POST", content, RULES)) == comparable(expected)


# --- the handler, with an in-memory context ------------------------------------------


class FakeContext:
    """Our own ``Context``: caches from a dict, a real outbox, a plain logger."""

    def __init__(self, caches: Mapping[str, Any] | Exception) -> None:
        self.request_id = "req-1"
        self.outbox = Outbox()
        self.log = logging.getLogger(__name__)
        self._caches = caches

    def cache(self, name: str) -> Any:
        """The data of cache ``name``; raises the configured error, or KeyError."""
        if isinstance(self._caches, Exception):
            raise self._caches
        return self._caches[name]


def make_request(content: bytes, method: str = "POST") -> Request:
    """A request for /validate.php as the proxy would build it."""
    return Request(method, "/validate.php", {}, "", (), content, None, "req-1")


def test_accepted_event_emits_one_message() -> None:
    """A valid event emits exactly one message: id key, normalized value, type header."""
    ctx = FakeContext({"rules": RULES})
    response = validate(make_request(body(SIGNUP)), ctx)
    answer = json.loads(response.body)
    (message,) = ctx.outbox.messages
    assert response.status == 200
    assert message.topic == TOPIC == "validated-events"
    assert message.key == answer["id"].encode()
    assert message.value == (
        b'{"user_id":42,"email":"ada@example.com","age":36,"country":"DE","marketing_opt_in":false}'
    )
    assert response.body.endswith(b'"normalized":' + message.value + b"}")
    assert message.headers == (("event-type", b"signup"),)


@pytest.mark.parametrize(
    ("method", "content", "status"),
    [
        pytest.param("POST", body(SIGNUP, age=9), 422, id="invalid-field"),
        pytest.param("POST", body(SIGNUP, type="teleport"), 422, id="unknown-type"),
        pytest.param("POST", b"{", 400, id="not-json"),
        pytest.param("GET", b"", 405, id="get"),
    ],
)
def test_rejected_request_emits_nothing(method: str, content: bytes, status: int) -> None:
    """Rejected events and refused requests leave the outbox empty."""
    ctx = FakeContext({"rules": RULES})
    response = validate(make_request(content, method), ctx)
    assert response.status == status
    assert ctx.outbox.messages == []


def test_handler_answers_like_the_pure_function() -> None:
    """Over the whole corpus the handler returns exactly ``answer_request``'s answer."""
    for param in CORPUS:
        method, content = param.values
        response = validate(make_request(content, method), FakeContext({"rules": RULES}))
        expected = answer_request(method, content, RULES)
        assert (response.status, tuple(response.headers), response.body) == comparable(expected)


@pytest.mark.parametrize(
    "caches",
    [
        pytest.param({}, id="no-rules-cache"),
        pytest.param(CacheError("rules: S3 unreachable"), id="cache-error"),
        pytest.param({"rules": ["not", "a", "mapping"]}, id="not-a-mapping"),
    ],
)
def test_unreadable_rules_answer_500(caches: Mapping[str, Any] | Exception) -> None:
    """Rules that cannot be had give PHP's 500 answer and no message."""
    ctx = FakeContext(caches)
    response = validate(make_request(body(SIGNUP)), ctx)
    assert response.status == 500
    assert response.body == (
        b'{"ok":false,"errors":[{"field":"","rule":"rules",'
        b'"message":"the rules file cannot be read"}]}'
    )
    assert ctx.outbox.messages == []


def test_get_answers_405_with_allow() -> None:
    """Anything but POST gets 405 with ``Allow: POST`` before the rules are looked at."""
    answer = answer_request("GET", b"", None)
    assert (answer.status, dict(answer.headers)["allow"]) == (405, "POST")


# --- pieces of the PHP codec -------------------------------------------------------------


def test_rules_are_compiled_once_per_snapshot() -> None:
    """The same snapshot object reuses its compiled form; an equal copy gets its own."""
    copy = json.loads(json.dumps(RULES))
    assert compile_rules(RULES) is compile_rules(RULES)
    assert compile_rules(copy) is not compile_rules(RULES)


_TYPED = {"events": {"e": {"type": {"type": "string"}, "a": {"type": "integer"}}}}
_UNKNOWN_X = [{"field": "x", "rule": "unknown", "message": "is not allowed for event type e"}]


@pytest.mark.parametrize(
    ("content", "status", "member", "expected"),
    [
        pytest.param(b'{"type":"e","x":1}', 422, "errors", _UNKNOWN_X, id="unknown"),
        pytest.param(b'{"type":"e","a":null,"x":1}', 422, "errors", _UNKNOWN_X, id="null-unknown"),
        pytest.param(b'{"type":"e","a":null}', 200, "normalized", {"type": "e"}, id="null"),
        pytest.param(b'{"a":2,"type":"e"}', 200, "normalized", {"type": "e", "a": 2}, id="all"),
    ],
)
def test_unknown_members_are_found_when_a_field_is_named_type(
    content: bytes, status: int, member: str, expected: Any
) -> None:
    """Members are counted against the fields, null ones and a field named type included."""
    answer = answer_request("POST", content, _TYPED)
    assert (answer.status, json.loads(answer.body)[member]) == (status, expected)


@pytest.mark.parametrize(
    ("value", "encoded", "as_string"),
    [
        pytest.param(0.0, "0.0", "0", id="zero"),
        pytest.param(-0.0, "-0.0", "-0", id="minus-zero"),
        pytest.param(100000.0, "100000.0", "100000", id="zero-fraction"),
        pytest.param(0.01, "0.01", "0.01", id="cent"),
        pytest.param(0.1 + 0.2, "0.30000000000000004", "0.3", id="shortest-repr"),
        pytest.param(1e16, "10000000000000000.0", "1.0E+16", id="1e16"),
        pytest.param(1e17, "1.0e+17", "1.0E+17", id="1e17"),
        pytest.param(1e-4, "0.0001", "0.0001", id="1e-4"),
        pytest.param(1.5e-5, "1.5e-5", "1.5E-5", id="1.5e-5"),
        pytest.param(5e-324, "5.0e-324", "4.9406564584125E-324", id="denormal"),
    ],
)
def test_floats_are_written_as_php_writes_them(value: float, encoded: str, as_string: str) -> None:
    """json_encode (serialize_precision -1) and string casts (precision 14) of floats."""
    assert (php_float(value), php_string(value)) == (encoded, as_string)


def test_json_encode_escapes_like_php() -> None:
    """Only quotes, backslashes and control characters are escaped (lower-case hex)."""
    text = 'a/\u2028é😀\x7f"\\\n\x00\x1f'
    assert php_json_encode([text, 1, True, None, {}]) == (
        '["a/\u2028é😀\x7f\\"\\\\\\n\\u0000\\u001f",1,true,null,{}]'
    )


@pytest.mark.parametrize(
    "flat",
    [
        pytest.param({}, id="empty"),
        pytest.param(
            {"s": 'a/\u2028é😀\x7f"\\\n\x00\x1f', "é\n": -(2**63), "t": True}
            | {"f": False, "n": None},
            id="escapes-and-scalars",
        ),
        pytest.param({"big": 2**64, "zero": 0, "": ""}, id="big-int-empty-key"),
    ],
)
def test_flat_objects_encode_as_their_members_do(flat: dict[str, Any]) -> None:
    """A flat object, written in one loop, is its members' encodings joined."""
    members = ",".join(f"{php_json_encode(k)}:{php_json_encode(v)}" for k, v in flat.items())
    assert php_json_encode(flat) == "{" + members + "}"


def test_objects_holding_floats_or_containers_keep_php_floats() -> None:
    """A float anywhere in an object is written as PHP writes it, not as Python does."""
    assert php_json_encode({"a": 1e17, "b": [1.0], "c": {"d": 1.5e-5}}) == (
        '{"a":1.0e+17,"b":[1.0],"c":{"d":1.5e-5}}'
    )


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"a":"\\ud800"}', id="lone-surrogate"),
        pytest.param(b'{"\\u0000":1}', id="nul-property-name"),
        pytest.param(b"[" * 32 + b"]" * 32, id="too-deep"),
        pytest.param(b"[" * 100_000, id="recursion"),
        pytest.param(b"NaN", id="nan"),
        pytest.param(b"\xed\xa0\x80", id="encoded-surrogate"),
        pytest.param(b"", id="empty"),
        pytest.param(b" \t\r\n", id="only-whitespace"),
        pytest.param(b'{"a":1} x', id="extra-data"),
        pytest.param(b"\x0c1", id="form-feed-is-not-whitespace"),
        pytest.param(b"1\x0c", id="trailing-form-feed"),
    ],
)
def test_decoder_refuses_what_php_refuses(content: bytes) -> None:
    """Bodies Python's json accepts or trips on but PHP's json_decode refuses raise NotJson."""
    with pytest.raises(NotJson):
        decode_body(content)


def test_decoder_takes_json_whitespace_around_the_value() -> None:
    assert decode_body(b' \t\r\n{"a": [1, "x"]} \n') == {"a": [1, "x"]}
    assert decode_body(b"7") == 7


def test_decoder_turns_big_integers_into_floats() -> None:
    """Integers beyond 64 bits decode as floats; the 64-bit bounds stay integers."""
    assert decode_body(b"[9223372036854775807,-9223372036854775808,9223372036854775808]") == [
        9223372036854775807,
        -9223372036854775808,
        9.223372036854775808e18,
    ]
    assert isinstance(decode_body(b"[9223372036854775808]")[0], float)


def test_decoder_keeps_integers_of_up_to_eighteen_digits_exact() -> None:
    """Integers that fit in 64 bits stay exact ints, wherever a 19-digit run appears."""
    values = decode_body(b'{"a":999999999999999999,"b":-999999999999999999,"c":0,"d":-0}')
    assert values == {"a": 999999999999999999, "b": -999999999999999999, "c": 0, "d": 0}
    assert all(type(v) is int for v in values.values())
    assert decode_body(b'{"s":"1234567890123456789","i":12}') == {
        "s": "1234567890123456789",
        "i": 12,
    }
