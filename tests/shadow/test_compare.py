"""Unit tests of the diff engine: headers, text and binary bodies, errors, limits."""

from __future__ import annotations

import pytest

from shadow._compare import MAX_DIFFERENCES, compare
from shadow._model import Answer
from shadow._rules import CompareRules

from ._json import json_answer

PLAIN = CompareRules()


def _answer(
    body: bytes | str = b"", *headers: tuple[str, str], status: int = 200, error: str | None = None
) -> Answer:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return Answer(status, headers, data, 0.01, error)


def _html(body: str) -> Answer:
    return _answer(body, ("Content-Type", "text/html; charset=UTF-8"))


@pytest.mark.parametrize(
    ("control", "candidate"),
    [
        ("sid=abc; Path=/; HttpOnly", "sid=xyz; HttpOnly; path=/"),
        (
            "sid=a; Expires=Thu, 01 Jan 2026 00:00:00 GMT; Secure",
            "sid=b; secure; expires=Fri, 02 Jan 2026 10:00:00 GMT",
        ),
        ("sid=a; SameSite=Lax", "sid=b; samesite=lax"),
    ],
    ids=["value-and-order", "expires-date", "attribute-case"],
)
def test_set_cookie_compared_by_name_and_attributes(control: str, candidate: str) -> None:
    """Set-Cookie headers match when names and attributes match, whatever the values."""
    result = compare(
        _answer(b"", ("Set-Cookie", control)), _answer(b"", ("set-cookie", candidate)), PLAIN
    )
    assert result.matched, result.differences


@pytest.mark.parametrize(
    ("control", "candidate"),
    [
        (("sid=a; Path=/",), ("session=a; Path=/",)),
        (("sid=a; Path=/; Secure",), ("sid=a; Path=/",)),
        (("sid=a; Max-Age=60",), ("sid=a; Max-Age=0",)),
        (("sid=a", "lang=en"), ("sid=a",)),
    ],
    ids=["renamed", "lost-secure", "max-age", "one-cookie-less"],
)
def test_set_cookie_differences(control: tuple[str, ...], candidate: tuple[str, ...]) -> None:
    """A renamed or dropped cookie, or a changed attribute, is one set-cookie difference."""
    result = compare(
        _answer(b"", *(("Set-Cookie", c) for c in control)),
        _answer(b"", *(("Set-Cookie", c) for c in candidate)),
        PLAIN,
    )
    assert [(d.kind, d.where) for d in result.differences] == [("header", "header:set-cookie")]


def test_headers_compared_after_normalisation() -> None:
    """Content-Type spelling, directive order and unlisted headers never differ."""
    control = _answer(
        b"",
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Cache-Control", "no-cache, private"),
        ("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
    )
    candidate = _answer(
        b"",
        ("content-type", "text/plain;charset=utf-8"),
        ("cache-control", "Private,no-cache"),
        ("X-Powered-By", "Python"),
    )
    assert compare(control, candidate, PLAIN).matched


def test_missing_header_is_absent() -> None:
    """A header only the control sends is a header difference against ``<absent>``."""
    result = compare(_answer(b"", ("Location", "/next")), _answer(b""), PLAIN)
    assert [(d.where, d.control, d.candidate) for d in result.differences] == [
        ("header:location", "/next", "<absent>")
    ]


def test_ignore_headers_and_custom_headers() -> None:
    """``headers`` chooses what is compared and ``ignore_headers`` removes from it."""
    control = _answer(b"", ("X-Version", "1"), ("Location", "/a"))
    candidate = _answer(b"", ("X-Version", "2"), ("Location", "/b"))
    rules = CompareRules(headers=("X-Version", "location"), ignore_headers=("Location",))
    result = compare(control, candidate, rules)
    assert [d.where for d in result.differences] == ["header:x-version"]


@pytest.mark.parametrize(
    ("scrubber", "control", "candidate"),
    [
        (
            "uuid",
            "<p>order 123e4567-e89b-12d3-a456-426614174000</p>",
            "<p>order 9F1C2B7A-0000-4000-8000-00000000CAFE</p>",
        ),
        ("timestamp", "<p>at 2024-01-02T03:04:05.123Z</p>", "<p>at 2025-11-30 23:59:59+01:00</p>"),
        ("timestamp", "<p>epoch 1700000000</p>", "<p>epoch 1712345678901</p>"),
        (
            "timestamp",
            "<p>Mon, 01 Jan 2024 00:00:00 GMT</p>",
            "<p>Tue, 02 Jan 2024 10:11:12 GMT</p>",
        ),
        (
            "csrf",
            '<input type="hidden" name="csrf_token" value="abc123">',
            '<input type="hidden" name="csrf_token" value="zzz999">',
        ),
        (
            "csrf",
            '<input value="abc" type="hidden" name="_token">',
            '<input value="def" type="hidden" name="_token">',
        ),
        (
            "csrf",
            '<form>\n  <input type="hidden"\n    name="csrf_token"\n    value="abc"></form>',
            '<form><input type="hidden" name="csrf_token" value="def">\n</form>',
        ),
        (
            "csrf",
            '<meta name="csrf-token" content="abc">',
            '<meta name="csrf-token" content="xyz">',
        ),
        ("hex_id", "<p>commit 0123456789abcdef01</p>", "<p>commit fedcba9876543210ff</p>"),
    ],
    ids=[
        "uuid",
        "iso-8601",
        "epoch",
        "http-date",
        "csrf-input",
        "csrf-value-first",
        "csrf-multiline-tag",
        "csrf-meta",
        "hex-id",
    ],
)
def test_text_scrubbers(scrubber: str, control: str, candidate: str) -> None:
    """A built-in scrubber makes volatile tokens equal; without it they are text or token ones."""
    assert compare(_html(control), _html(candidate), CompareRules(scrub=(scrubber,))).matched
    result = compare(_html(control), _html(candidate), PLAIN)
    assert result.differences
    assert {d.kind for d in result.differences} <= {"text", "token"}


def test_csrf_scrubber_keeps_other_inputs() -> None:
    """The csrf scrubber leaves inputs whose names are not token-like alone."""
    control = _html('<input type="hidden" name="user_id" value="1">')
    candidate = _html('<input type="hidden" name="user_id" value="2">')
    assert not compare(control, candidate, CompareRules(scrub=("csrf",))).matched


def test_custom_scrubber_on_json_strings() -> None:
    """A (regex, replacement) scrubber applies to JSON string values before comparing."""
    rules = CompareRules(scrub=((r"req-\d+", "req-N"),))
    result = compare(
        json_answer({"id": "req-1", "n": 1}), json_answer({"id": "req-2", "n": 1}), rules
    )
    assert result.matched


def test_text_reports_first_differing_line_with_context() -> None:
    """Text bodies differ by their first differing line, whitespace and layout aside."""
    control = _html("<ul>\n  <li>one</li>\n  <li>price: 10 EUR</li>\n</ul>\n<p>end</p>")
    candidate = _html("<ul><li>one</li>    <li>price:   ten EUR</li></ul><p>end 2</p>")
    (difference,) = compare(control, candidate, PLAIN).differences
    assert difference.kind == "text"
    assert difference.control == "line 3: <li>price: 10 EUR</li>"
    assert difference.candidate == "line 3: <li>price: ten EUR</li>"


def test_text_context_is_short() -> None:
    """A long differing line is shown from a few characters before the change, cut to 120."""
    prefix = "x" * 500
    (difference,) = compare(
        _answer(prefix + "A" + "y" * 500, ("Content-Type", "text/plain")),
        _answer(prefix + "B" + "y" * 500, ("Content-Type", "text/plain")),
        PLAIN,
    ).differences
    assert difference.control.startswith("line 1: …" + "x" * 30 + "A")
    assert len(difference.control) == 120


def test_binary_bodies_by_digest() -> None:
    """Non-text bodies are compared by sha256 and reported with their sizes."""
    png = ("Content-Type", "image/png")
    assert compare(
        _answer(b"\x89PNG\x00\x01", png), _answer(b"\x89PNG\x00\x01", png), PLAIN
    ).matched
    (difference,) = compare(
        _answer(b"\x89PNG\x00\x01", png), _answer(b"\x89PNG\x00", png), PLAIN
    ).differences
    assert (difference.kind, difference.where) == ("digest", "body")
    assert difference.control.startswith("sha256:")
    assert difference.control.endswith("(6 bytes)")


def test_bodies_over_max_body_by_digest() -> None:
    """A body longer than ``max_body`` is compared by digest even when it is JSON."""
    rules = CompareRules(max_body=8)
    result = compare(json_answer({"a": 1, "b": 2}), json_answer({"a": 1, "b": 3}), rules)
    assert [d.kind for d in result.differences] == ["digest"]


@pytest.mark.parametrize(
    ("control", "candidate", "kind"),
    [
        ({"a": True}, {"a": 1}, "type"),
        ({"a": 1}, {"a": 1.0}, None),
        ({"a": None}, {"a": 0}, "type"),
    ],
    ids=["bool-vs-int", "int-vs-float", "null-vs-zero"],
)
def test_json_types(control: object, candidate: object, kind: str | None) -> None:
    """Booleans are not numbers, and 1 and 1.0 are the same number."""
    result = compare(json_answer(control), json_answer(candidate), PLAIN)
    assert [d.kind for d in result.differences] == ([kind] if kind else [])


def test_json_sniffed_without_content_type() -> None:
    """Untyped bodies that look like JSON are compared structurally."""
    result = compare(_answer('{"a": [1, 2]}'), _answer('{"a":[1,3]}'), PLAIN)
    assert [(d.kind, d.where, d.control, d.candidate) for d in result.differences] == [
        ("value", "body/a/1", "2", "3")
    ]


def test_pointer_escaping() -> None:
    """Keys holding ``/`` and ``~`` are escaped in the pointer as ``~1`` and ``~0``."""
    result = compare(json_answer({"a/b": {"~c": 1}}), json_answer({"a/b": {"~c": 2}}), PLAIN)
    assert [d.where for d in result.differences] == ["body/a~1b/~0c"]


@pytest.mark.parametrize(
    ("control", "candidate", "found"),
    [
        (
            _answer(status=200),
            _answer(error="ValueError: bad id"),
            ("error", "error:ValueError", "200", "ValueError: bad id"),
        ),
        (
            _answer(status=200),
            _answer(error="timeout after 5s"),
            ("error", "error:unknown", "200", "timeout after 5s"),
        ),
        (_answer(error="reset"), _answer(status=200), ("status", "status", "error: reset", "200")),
    ],
    ids=["candidate-exception", "candidate-error-text", "control-error"],
)
def test_a_failed_side_is_one_difference(
    control: Answer, candidate: Answer, found: tuple[str, str, str, str]
) -> None:
    """A failing candidate is an error at its exception type; a failed control a status."""
    result = compare(control, candidate, PLAIN)
    assert [(d.kind, d.where, d.control, d.candidate) for d in result.differences] == [found]


def test_values_rendered_short() -> None:
    """Values are rendered as compact JSON cut to 120 characters."""
    result = compare(json_answer({"a": "x" * 1000}), json_answer({"a": list(range(1000))}), PLAIN)
    (difference,) = result.differences
    assert len(difference.control) == len(difference.candidate) == 120
    assert difference.candidate.startswith("[0,1,2,")


def test_many_differences_are_capped_under_one_signature() -> None:
    """A thousand changed prices keep ``MAX_DIFFERENCES`` examples and one signature."""
    control = json_answer({"items": [{"price": i} for i in range(1000)]})
    candidate = json_answer({"items": [{"price": i + 1} for i in range(1000)]})
    result = compare(control, candidate, PLAIN, route="r")
    assert len(result.differences) == MAX_DIFFERENCES
    single = compare(
        json_answer({"items": [{"price": 0}]}),
        json_answer({"items": [{"price": 1}]}),
        PLAIN,
        route="r",
    )
    assert result.signature == single.signature != ""


def test_deeply_nested_json_does_not_raise() -> None:
    """JSON nested deeper than the interpreter can walk is still compared (as text)."""
    deep = "[" * 50_000 + "]" * 50_000
    result = compare(
        _answer(deep, ("Content-Type", "application/json")),
        _answer(deep[1:-1], ("Content-Type", "application/json")),
        PLAIN,
    )
    assert [(d.kind, d.where) for d in result.differences] == [("text", "body")]


def test_reordered_array_is_one_order_difference() -> None:
    """The same elements in another order are one order difference at the array."""
    control = json_answer({"tags": ["a", "b", {"c": 1}], "n": 1})
    result = compare(control, json_answer({"tags": [{"c": 1}, "a", "b"], "n": 1}), PLAIN)
    assert [(d.kind, d.where) for d in result.differences] == [("order", "body/tags")]
    changed = compare(control, json_answer({"tags": [{"c": 2}, "a", "b"], "n": 1}), PLAIN)
    assert [(d.kind, d.where) for d in changed.differences] == [
        ("type", "body/tags/0"),
        ("value", "body/tags/1"),
        ("type", "body/tags/2"),
    ]
