"""Migrated and canary routes on the uvicorn fast lane, end to end against a real PHP-FPM.

The lane answers a handler's request without ASGI; these tests hold it to the
ASGI path's answers (the same instance with ``fast_lane = false``) and check
every way such a request ends: answered, fallen back to PHP (raised or timed
out), a clean 500, HEAD, pipelined; and which requests it leaves to ASGI.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from legacy_adapter import LegacyRequest
from ops.services import PhpFpm, Strangler, build_config
from proxy import parse_config
from proxy._app import ProxyApp
from proxy._lane_begin import handler_cycle
from proxy._lane_handler import HandlerCycle
from proxy._request import build_request
from proxy._routing import Migrated, Route
from proxy._state import State
from tests.conftest import DEMO_ROOT, serving

pytestmark = pytest.mark.service

ROUTES = """
[[routes]]
name = "echo"
match = { pattern = "/py/echo/{who}" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:echo"

[[routes]]
name = "boom"
match = { path = "/headers.php" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:boom"
backend = "php"

[[routes]]
name = "slow"
match = { path = "/redirect.php" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:slow"
backend = "php"
timeout = "100ms"

[[routes]]
name = "canary"
match = { prefix = "/py/canary" }
mode = "canary"
handler = "tests.proxy.sample_handlers:echo"
backend = "php"
percent = 100
key = "header:x-user"

[[routes]]
name = "echo-inline"
match = { pattern = "/py/inline/{who}" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:echo_inline"

[[routes]]
name = "boom-inline"
match = { path = "/form.php" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:boom_inline"
backend = "php"

[[routes]]
name = "slow-inline"
match = { path = "/notfound.php" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:slow_inline"
backend = "php"
timeout = "100ms"

[[routes]]
name = "not-a-response"
match = { path = "/py/dict" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:not_a_response"
"""


@pytest.fixture(scope="module")
def lane(php_fpm: PhpFpm) -> Iterator[Strangler]:
    """strangler on uvicorn with the lane, the routes above in front of the demo app."""
    text = build_config(php_fpm.address, DEMO_ROOT, runtime="uvicorn", extra_routes=ROUTES)
    with serving(lambda: Strangler(text)) as s:
        yield s


@pytest.fixture(scope="module")
def asgi(php_fpm: PhpFpm) -> Iterator[Strangler]:
    """The same with the lane off: every request takes the ASGI path."""
    text = build_config(
        php_fpm.address, DEMO_ROOT, runtime="uvicorn", extra_routes=ROUTES, fast_lane=False
    )
    with serving(lambda: Strangler(text)) as s:
        yield s


REQUESTS = [
    ("GET", "/py/echo/ada?x=1&y=%C3%A9", b""),
    ("POST", "/py/echo/bob", b'{"a": 1}'),
    ("HEAD", "/py/echo/eve", b""),
    ("GET", "/py/canary/x", b""),
    ("GET", "/headers.php?q=1", b""),  # the handler raises: PHP answers
    ("POST", "/headers.php", b"data"),  # raises, no fallback for POST: 500
    ("GET", "/redirect.php", b""),  # times out: PHP answers
    ("POST", "/redirect.php", b"{}"),  # times out, no fallback for POST: 500
    # Inline handlers (plain ``def``): answered without a task.
    ("GET", "/py/inline/ada?x=1&y=%C3%A9", b""),
    ("POST", "/py/inline/bob", b'{"a": 1}'),
    ("HEAD", "/py/inline/eve", b""),
    ("GET", "/form.php", b""),  # the inline handler raises: PHP answers
    ("POST", "/form.php", b"data"),  # raises, no fallback for POST: 500
    ("GET", "/notfound.php", b""),  # overran its timeout: PHP answers
    ("POST", "/notfound.php", b"{}"),  # overran, no fallback for POST: 500
    ("POST", "/py/dict", b""),  # returned a dict, not a Response: 500
]


def _answer(base: str, method: str, path: str, body: bytes) -> tuple[Any, ...]:
    headers = {"x-request-id": "same-id", "x-user": "u1"}
    r = httpx.request(method, base + path, content=body, headers=headers, timeout=10)
    kept = sorted((k, v) for k, v in r.headers.items() if k != "date")
    return r.status_code, kept, r.content


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS, ids=lambda x: str(x)[:24])
def test_the_lane_answers_as_the_asgi_path(
    lane: Strangler, asgi: Strangler, method: str, path: str, body: bytes
) -> None:
    """Status, headers and body are the ASGI path's, byte for byte."""
    assert _answer(lane.url, method, path, body) == _answer(asgi.url, method, path, body)


def test_answers_and_failures_are_the_expected_ones(lane: Strangler) -> None:
    """The handler answers; a GET it fails falls back to PHP; a POST it fails is a clean 500."""
    r = httpx.post(lane.url + "/py/echo/ada?k=v", content=b"hi", headers={"x-request-id": "e-1"})
    assert r.status_code == 200
    assert r.json() == {
        "method": "POST",
        "path": "/py/echo/ada",
        "params": {"who": "ada"},
        "query": "k=v",
        "body": "hi",
        "request_id": "e-1",
    }
    assert (r.headers["x-handler"], r.headers["set-cookie"]) == ("echo", "seen=1; Path=/")
    assert httpx.head(lane.url + "/py/echo/ada").content == b""
    fell_back = httpx.get(lane.url + "/headers.php", headers={"x-request-id": "fb-1"})
    assert (fell_back.status_code, fell_back.headers["x-demo"]) == (200, "headers")  # from PHP
    timed_out = httpx.get(lane.url + "/redirect.php", timeout=10)
    assert timed_out.status_code == 302
    assert timed_out.headers["location"] == "/index.php?from=redirect"
    failed = httpx.post(lane.url + "/headers.php", content=b"x", headers={"x-request-id": "f-1"})
    assert failed.status_code == 500
    assert b"Traceback" not in failed.content
    assert b"handler bug" not in failed.content
    lines = _access_lines(lane, {"e-1", "fb-1", "f-1"})
    assert (lines["e-1"]["side"], lines["e-1"]["fallback"], lines["e-1"]["status"]) == (
        "new",
        False,
        200,
    )
    assert (lines["fb-1"]["fallback"], lines["fb-1"]["status"]) == (True, 200)
    assert (lines["f-1"]["fallback"], lines["f-1"]["status"]) == (False, 500)
    failure = _log_line(lane, "request_failed", "f-1")
    assert (failure["route"], failure["mode"], failure["worker"]) == ("boom", "migrated", 0)
    assert "handler bug" in failure["exception"]


def test_inline_handlers_answer_and_fail_as_async_ones(lane: Strangler) -> None:
    """An inline handler answers; raising or overrunning falls back (GET) or is a clean 500."""
    r = httpx.post(lane.url + "/py/inline/ada?k=v", content=b"hi", headers={"x-request-id": "i-1"})
    assert r.status_code == 200
    assert (r.json()["params"], r.json()["request_id"]) == ({"who": "ada"}, "i-1")
    fell_back = httpx.get(lane.url + "/form.php", headers={"x-request-id": "i-fb"})
    assert fell_back.status_code == 200
    assert b'name="token"' in fell_back.content  # PHP's form
    overran = httpx.get(lane.url + "/notfound.php", headers={"x-request-id": "i-slow"})
    assert (overran.status_code, b"PHP says" in overran.content) == (404, True)
    failed = httpx.post(lane.url + "/form.php", content=b"x", headers={"x-request-id": "i-500"})
    wrong = httpx.post(lane.url + "/py/dict", headers={"x-request-id": "i-dict"})
    assert (failed.status_code, wrong.status_code) == (500, 500)
    assert b"inline handler bug" not in failed.content
    lines = _access_lines(lane, {"i-1", "i-fb", "i-slow", "i-500", "i-dict"})
    assert [lines[i]["fallback"] for i in ("i-1", "i-fb", "i-slow", "i-500")] == [
        False,
        True,
        True,
        False,
    ]
    assert "timed out" in _log_line(lane, "handler_failed", "i-slow")["error"]
    assert "inline handler bug" in _log_line(lane, "request_failed", "i-500")["exception"]
    assert "returned dict, not a Response" in _log_line(lane, "handler_failed", "i-dict")["error"]


@pytest.mark.parametrize("proxy", ["lane", "asgi"])
def test_a_failed_handler_logs_the_traceback_of_its_own_error(
    proxy: str, request: pytest.FixtureRequest
) -> None:
    """The 500's log line carries the handler's exception as the cause, traceback and all."""
    served: Strangler = request.getfixturevalue(proxy)
    rid = f"tb-{proxy}"
    failed = httpx.post(served.url + "/headers.php", content=b"x", headers={"x-request-id": rid})
    assert failed.status_code == 500
    _access_lines(served, {rid})  # the request is over: its log lines are written
    exception = _log_line(served, "request_failed", rid)["exception"]
    assert "RuntimeError: handler bug" in exception  # the cause's own line, not only its repr
    assert 'in boom\n    raise RuntimeError("handler bug")' in exception


def test_pipelined_handler_requests_are_answered_in_order(lane: Strangler) -> None:
    """Three requests in one write come back in order on one connection."""
    host, port = lane.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"".join(f"GET /py/echo/n{i} HTTP/1.1\r\nHost: a\r\n\r\n".encode() for i in range(3))
        )
        data = b""
        while data.count(b'"params"') < 3:
            chunk = sock.recv(65536)
            assert chunk, "connection closed early"
            data += chunk
    order = [data.index(f'"who":"n{i}"'.encode()) for i in range(3)]
    assert order == sorted(order)
    assert data.count(b"HTTP/1.1 200 OK") == 3


def test_what_the_lane_leaves_to_asgi(php_fpm: PhpFpm) -> None:
    """Reverse shadow, an HTTP fallback backend, or a fallback path that is no PHP script."""
    text = build_config(php_fpm.address, DEMO_ROOT, runtime="uvicorn", extra_routes=ROUTES)
    text = text.replace("[server]\n", '[server]\ndefault_backend = "php"\n', 1)
    text += '\n[backends.web]\ntype = "http"\nurl = "http://127.0.0.1:1"\n'
    state = State(parse_config(text.replace("{port}", "1").replace("{admin_port}", "2")))
    get, post = _request(state, "GET", "/headers.php"), _request(state, "POST", "/headers.php")
    boom = state.config.routes.match("GET", "t", "/headers.php")[0]
    assert isinstance(_lane(state, boom, get), HandlerCycle)
    assert isinstance(_lane(state, _with(boom, backend=None), get), HandlerCycle)  # no fallback
    file = _request(state, "GET", "/assets/style.css")
    assert _lane(state, boom, file) is None  # legacy would serve a file
    assert _lane(state, _with(boom, reverse_rate=1.0), get) is None
    over_http = _with(boom, backend="web")
    assert _lane(state, over_http, get) is None
    assert isinstance(_lane(state, over_http, post), HandlerCycle)  # POST never falls back


class _Protocol:
    """What a lane cycle reads of uvicorn's protocol when it is made."""

    transport = None


def _lane(state: State, route: Route, request: LegacyRequest) -> HandlerCycle | None:
    assert isinstance(route.mode, Migrated)
    protocol: Any = _Protocol()
    return handler_cycle(ProxyApp(state), protocol, route, route.mode, request, {}, True)


def _with(route: Route, **changes: Any) -> Route:
    return dataclasses.replace(route, mode=dataclasses.replace(route.mode, **changes))


def _request(state: State, method: str, path: str) -> LegacyRequest:
    scope: dict[str, Any] = {"method": method, "raw_path": path.encode(), "headers": []}
    return build_request(scope, _no_receive, state.config.server, "rid")


async def _no_receive() -> dict[str, Any]:
    raise AssertionError("no body is read")


def _log_line(proxy: Strangler, event: str, request_id: str) -> dict[str, Any]:
    """The ``event`` line logged while serving ``request_id`` (its context's keys merged)."""
    for line in proxy.log_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if (entry.get("event"), entry.get("request_id")) == (event, request_id):
                return dict(entry)
    raise AssertionError(f"no {event} line for {request_id}")


def _access_lines(proxy: Strangler, ids: set[str]) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 5
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and set(found) != ids:
        for line in proxy.log_text().splitlines():
            if '"event": "request"' in line or '"event":"request"' in line:
                entry = json.loads(line)
                if entry.get("request_id") in ids:
                    found[entry["request_id"]] = entry
        time.sleep(0.05)
    assert set(found) == ids
    return found
