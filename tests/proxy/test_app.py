"""The ASGI app's request boundary, driven in memory with a fake backend."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from legacy_adapter import (
    LegacyRequest,
    PoolExhausted,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
    iter_bytes,
)
from proxy import parse_config
from proxy._app import ProxyApp
from proxy._logging import merge_request_log
from proxy._state import State

pytestmark = pytest.mark.anyio

CONFIG = """
[server]
max_body_size = 1000
[backends.php]
type = "fastcgi"
address = "127.0.0.1:1"
document_root = "{root}"
[[routes]]
name = "deny"
match = {{ prefix = "/conf/" }}
status = 403
[[routes]]
name = "moved"
match = {{ path = "/old" }}
status = 301
location = "/new"
"""


class FakeBackend:
    """A backend answering from a function, recording what it was sent."""

    name = "php"

    def __init__(self, behaviour: str = "ok") -> None:
        self.behaviour = behaviour
        self.seen: list[tuple[LegacyRequest, bytes]] = []

    @asynccontextmanager
    async def send(self, request: LegacyRequest) -> AsyncIterator[UpstreamResponse]:
        body = b"".join([c async for c in request.body])
        self.seen.append((request, body))
        errors = {"refused": UpstreamUnavailable, "timeout": UpstreamTimeout, "busy": PoolExhausted}
        if self.behaviour in errors:
            raise errors[self.behaviour]("php", self.behaviour)
        if self.behaviour == "crash":
            raise RuntimeError("bug in the adapter")
        headers = [
            (b"content-type", b"text/plain"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
        ]
        yield UpstreamResponse(200, headers, iter_bytes([b"hello ", body]))

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _client(tmp_path: Path, backend: FakeBackend) -> httpx.AsyncClient:
    state = State(parse_config(CONFIG.format(root=tmp_path)))
    state.backends["php"] = backend  # type: ignore[assignment]
    transport = httpx.ASGITransport(app=ProxyApp(state))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_passes_request_and_keeps_request_id(tmp_path: Path) -> None:
    """A request reaches the backend with its body, and X-Request-Id is kept and returned."""
    backend = FakeBackend()
    async with _client(tmp_path, backend) as client:
        r = await client.post("/a?b=1", content=b"xyz", headers={"x-request-id": "abc-123"})
    assert r.status_code == 200
    assert r.content == b"hello xyz"
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]
    request, body = backend.seen[0]
    assert (request.path, request.query_string, body) == ("/a", b"b=1", b"xyz")


async def test_request_id_is_made_when_absent_or_unsafe(tmp_path: Path) -> None:
    """A missing or unsafe X-Request-Id is replaced by a fresh one."""
    async with _client(tmp_path, FakeBackend()) as client:
        r1 = await client.get("/")
        r2 = await client.get("/", headers={"x-request-id": "bad id with spaces"})
    assert re.fullmatch("[0-9a-f]{32}", r1.headers["x-request-id"])
    assert r2.headers["x-request-id"] != "bad id with spaces"


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [("refused", 502), ("timeout", 504), ("busy", 503), ("crash", 500)],
    ids=["refused", "timeout", "busy", "crash"],
)
async def test_backend_failures_are_answered(tmp_path: Path, behaviour: str, status: int) -> None:
    """Each backend failure becomes its status with the request id, and is logged."""
    async with _client(tmp_path, FakeBackend(behaviour)) as client:
        with capture_logs(processors=[merge_contextvars, merge_request_log]) as logs:
            r = await client.get("/x", headers={"x-request-id": "rid-1"})
    assert r.status_code == status
    assert r.headers["x-request-id"] == "rid-1"
    assert b"<title>" in r.content
    problems = [e for e in logs if e["log_level"] in {"warning", "error"}]
    assert [e.get("request_id") for e in problems] == ["rid-1"]
    assert (problems[0]["route"], problems[0]["mode"]) == ("default", "legacy")


async def test_body_over_limit_is_413(tmp_path: Path) -> None:
    """A declared body over max_body_size is refused before the backend sees it."""
    backend = FakeBackend()
    async with _client(tmp_path, backend) as client:
        r = await client.post("/upload", content=b"x" * 1001)
    assert r.status_code == 413
    assert backend.seen == []


async def test_streamed_body_over_limit_is_413(tmp_path: Path) -> None:
    """A chunked body that grows past the limit is cut off with 413."""
    state = State(parse_config(CONFIG.format(root=tmp_path)))
    state.backends["php"] = FakeBackend()  # type: ignore[assignment]
    chunks = [{"type": "http.request", "body": b"y" * 100, "more_body": True}] * 20
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return chunks.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "raw_path": b"/upload",
        "query_string": b"",
        "headers": [(b"host", b"t"), (b"transfer-encoding", b"chunked")],
        "http_version": "1.1",
    }
    await ProxyApp(state)(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert len(chunks) < 10  # it stopped reading once over the limit


async def _call(
    tmp_path: Path, scope: dict[str, object], first: dict[str, object]
) -> tuple[list[dict[str, object]], FakeBackend]:
    """Call the app once with ``scope``; ``first`` is what it receives first.

    Returns what it sent and the backend it had.
    """
    state = State(parse_config(CONFIG.format(root=tmp_path)))
    backend = FakeBackend()
    state.backends["php"] = backend  # type: ignore[assignment]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return first

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await ProxyApp(state)(scope, receive, send)  # type: ignore[arg-type]
    return sent, backend


def _handshake(extensions: dict[str, object]) -> dict[str, object]:
    return {
        "type": "websocket",
        "scheme": "ws",
        "path": "/page",
        "raw_path": b"/page",
        "query_string": b"q=1",
        "headers": [(b"host", b"t"), (b"upgrade", b"websocket"), (b"connection", b"Upgrade")],
        "http_version": "1.1",
        "subprotocols": [],
        "extensions": extensions,
    }


async def test_websocket_handshake_is_answered_as_http(tmp_path: Path) -> None:
    """A handshake goes to the backend as a GET and its answer is sent as the HTTP response."""
    scope = _handshake({"websocket.http.response": {}})
    sent, backend = await _call(tmp_path, scope, {"type": "websocket.connect"})
    request, _ = backend.seen[0]
    assert (request.method, request.path, request.query_string) == ("GET", "/page", b"q=1")
    assert request.scheme == "http"
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        *["websocket.http.response.body"] * (len(sent) - 1),
    ]
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"hello "  # type: ignore[misc]


async def test_websocket_handshake_without_http_response_extension_is_refused(
    tmp_path: Path,
) -> None:
    """A server that cannot send an HTTP answer to a handshake is told to refuse it."""
    sent, backend = await _call(tmp_path, _handshake({}), {"type": "websocket.connect"})
    assert sent == [{"type": "websocket.close", "code": 1000}]
    assert backend.seen == []


@pytest.mark.parametrize(
    ("value", "status"),
    [(b"a\x00b", 400), (b"a\rb", 400), (b"a\nb", 400), (b"a\tb", 200)],
    ids=["nul", "cr", "lf", "tab"],
)
async def test_header_values_with_nul_or_line_breaks_are_400(
    tmp_path: Path, value: bytes, status: int
) -> None:
    """A NUL, CR or LF in any header's value is a 400 that names it; a tab is allowed."""
    scope: dict[str, object] = {
        "type": "http",
        "method": "GET",
        "path": "/page",
        "raw_path": b"/page",
        "query_string": b"",
        "headers": [(b"host", b"t"), (b"x-first", b"fine"), (b"x-second", value), (b"x-l", b"ok")],
        "http_version": "1.1",
    }
    request = {"type": "http.request", "body": b"", "more_body": False}
    sent, backend = await _call(tmp_path, scope, request)
    assert sent[0]["status"] == status
    if status == 400:
        reason = dict(sent[0]["headers"])[b"x-strangler-error"]  # type: ignore[call-overload]
        assert reason == b"header value contains a control character"
        assert backend.seen == []
    else:
        assert backend.seen[0][0].headers[2] == (b"x-second", value)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/a/%2e%2e/%2E%2E/etc/passwd", 400), ("/%zz", 400), ("/conf/db.ini", 403)],
    ids=["traversal", "bad-percent", "deny"],
)
async def test_refused_paths(tmp_path: Path, path: str, status: int) -> None:
    """Traversal and invalid percent-encoding are 400, deny routes 403, none reach PHP."""
    backend = FakeBackend()
    async with _client(tmp_path, backend) as client:
        r = await client.get(path)
    assert r.status_code == status
    assert backend.seen == []


async def test_fixed_redirect(tmp_path: Path) -> None:
    """A status route with a location redirects."""
    async with _client(tmp_path, FakeBackend()) as client:
        r = await client.get("/old")
    assert (r.status_code, r.headers["location"]) == (301, "/new")


async def test_access_log_line(tmp_path: Path) -> None:
    """Each request logs one access line with route, mode, status and durations."""
    async with _client(tmp_path, FakeBackend()) as client:
        with capture_logs(processors=[merge_contextvars, merge_request_log]) as logs:
            await client.get("/page", headers={"x-request-id": "rid-9"})
    lines = [e for e in logs if e["event"] == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert (line["route"], line["mode"], line["status"], line["request_id"]) == (
        "default",
        "legacy",
        200,
        "rid-9",
    )
    assert line["duration_ms"] >= line["upstream_ms"] >= 0
