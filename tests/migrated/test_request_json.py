"""``Request.json()``: strict JSON, and a 400 naming the reason for anything else."""

from __future__ import annotations

import json

import pytest

from migrated import HandlerBadRequest, Outcome, Request, Response, start_handler
from migrated._api import MAX_DEPTH, Context


def _request(body: bytes) -> Request:
    return Request("POST", "/x", {}, "", (), body, None, "r1")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param('{"a":1}'.encode("utf-16"), "not UTF-8", id="utf-16-with-bom"),
        pytest.param('{"a":1}'.encode("utf-16-le"), "Expecting property name", id="utf-16-le"),
        pytest.param('{"a":1}'.encode("utf-32"), "not UTF-8", id="utf-32"),
        pytest.param(b'\xef\xbb\xbf{"a":1}', "expecting a value", id="utf-8-bom"),
        pytest.param(b'{"a":"\xff"}', "not UTF-8: invalid byte at offset 6", id="bad-utf-8"),
        pytest.param(b"[NaN]", "NaN is not JSON", id="nan"),
        pytest.param(b"Infinity", "Infinity is not JSON", id="infinity"),
        pytest.param(b'{"a":-Infinity}', "-Infinity is not JSON", id="minus-infinity"),
        pytest.param(b'["\\ud800"]', "lone UTF-16 surrogate", id="lone-high-surrogate"),
        pytest.param(b'{"\\udc00":1}', "lone UTF-16 surrogate", id="lone-low-in-a-name"),
        pytest.param(b"[" * 65 + b"]" * 65, "more than 64 nested", id="too-deep"),
        pytest.param(b"[" * 100_000, "nested too deeply", id="recursion"),
        pytest.param(b'{"a":1} x', "extra data at character 8", id="extra-data"),
        pytest.param(b"", "expecting a value at character 0", id="empty"),
        pytest.param(b'["\x01"]', "Invalid control character", id="control-character"),
    ],
)
def test_refused_bodies_name_the_reason(body: bytes, reason: str) -> None:
    """Each body Python's json.loads would guess at or accept is refused, saying why."""
    with pytest.raises(HandlerBadRequest, match=r"^body is not valid JSON: ") as caught:
        _request(body).json()
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("body", "value"),
    [
        pytest.param(
            b' {"a": [1, 2.5, "\\u00e9\\ud83d\\ude00"]}\n', {"a": [1, 2.5, "é😀"]}, id="object"
        ),
        pytest.param(b"[" * 64 + b"]" * 64, json.loads(b"[" * 64 + b"]" * 64), id="at-the-limit"),
        pytest.param(
            b'{"\\u0000":123456789012345678901234567890}',
            {"\0": 123456789012345678901234567890},
            id="big-int-nul-name",
        ),
        pytest.param(b'{"a":1,"a":2}', {"a": 2}, id="repeated-name-keeps-the-last"),
    ],
)
def test_accepted_bodies_decode_as_json(body: bytes, value: object) -> None:
    """Well-formed UTF-8 JSON decodes; integers stay Python integers."""
    assert _request(body).json() == value


def test_the_depth_limit_is_the_callers_choice() -> None:
    """``max_depth`` moves the limit both ways."""
    body = b"[[[1]]]"
    assert _request(body).json(max_depth=3) == [[[1]]]
    with pytest.raises(HandlerBadRequest, match="more than 2 nested"):
        _request(body).json(max_depth=2)
    assert MAX_DEPTH == 64


def _parses(request: Request, ctx: Context) -> Response:
    return Response.json(request.json())


def test_a_refused_body_is_answered_400_with_the_reason() -> None:
    """Through the runner, the refusal is the client's 400 carrying the reason."""
    outcome = start_handler("parses", _parses, _request(b"[NaN]"), None, timeout=1.0)
    assert isinstance(outcome, Outcome)
    assert outcome.response.status == 400
    assert outcome.response.body == b"body is not valid JSON: NaN is not JSON\n"
