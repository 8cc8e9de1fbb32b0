"""Migrated and canary routes in the ASGI app, with an in-memory backend and producer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from migrated import Message, QueueFull
from proxy import parse_config
from proxy._app import ProxyApp
from proxy._state import State
from tests.proxy.test_app import FakeBackend

pytestmark = pytest.mark.anyio

CONFIG = """
[backends.php]
type = "fastcgi"
address = "127.0.0.1:1"
document_root = "{root}"

[[routes]]
name = "hello"
match = {{ pattern = "/hello/{{who}}" }}
mode = "migrated"
handler = "tests.proxy.sample_handlers:hello"

[[routes]]
name = "boom"
match = {{ prefix = "/boom" }}
mode = "migrated"
handler = "tests.proxy.sample_handlers:boom"

[[routes]]
name = "slow"
match = {{ prefix = "/slow" }}
mode = "migrated"
handler = "tests.proxy.sample_handlers:slow"
timeout = "100ms"

[[routes]]
name = "canary"
match = {{ prefix = "/canary" }}
mode = "canary"
handler = "tests.proxy.sample_handlers:hello"
percent = {percent}
key = "header:x-user"
"""


class FakePublisher:
    """Records what would go to Kafka; can pretend its queue is full."""

    def __init__(self, full: bool = False) -> None:
        self.full = full
        self.sent: list[Message] = []

    async def send(self, messages: Sequence[Message], *, wait: str) -> None:
        if self.full:
            raise QueueFull(retry_after=2)
        self.sent.extend(messages)


class FakeResources:
    def __init__(self, publisher: FakePublisher) -> None:
        self.publisher = publisher
        self.caches: Any = None


def _client(
    tmp_path: Path, publisher: FakePublisher, percent: float = 50
) -> tuple[httpx.AsyncClient, FakeBackend]:
    backend = FakeBackend()
    state = State(parse_config(CONFIG.format(root=tmp_path, percent=percent)))
    state.backends["php"] = backend  # type: ignore[assignment]
    app = ProxyApp(state, FakeResources(publisher))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    return client, backend


async def test_handler_answers_and_publishes(tmp_path: Path) -> None:
    """A migrated route answers from Python and its outbox reaches the producer."""
    publisher = FakePublisher()
    client, backend = _client(tmp_path, publisher)
    async with client:
        r = await client.get("/hello/ada", headers={"x-request-id": "r-1"})
    assert r.status_code == 200
    assert r.json() == {"hello": {"who": "ada"}, "method": "GET"}
    assert [(m.topic, m.value, m.key) for m in publisher.sent] == [
        ("greetings", b"hello /hello/ada", b"r-1")
    ]
    assert backend.seen == []


@pytest.mark.parametrize("path", ["/boom", "/slow"], ids=["raises", "times-out"])
async def test_failed_safe_request_falls_back(tmp_path: Path, path: str) -> None:
    """A failing handler on GET falls back to legacy and sends nothing."""
    publisher = FakePublisher()
    client, backend = _client(tmp_path, publisher)
    async with client:
        r = await client.get(path)
    assert (r.status_code, r.content) == (200, b"hello ")
    assert len(backend.seen) == 1
    assert publisher.sent == []


async def test_failed_unsafe_request_is_500(tmp_path: Path) -> None:
    """A failing handler on POST is a clean 500 (no fallback, nothing sent, no trace)."""
    publisher = FakePublisher()
    client, backend = _client(tmp_path, publisher)
    async with client:
        r = await client.post("/boom", content=b"data")
    assert r.status_code == 500
    assert b"Traceback" not in r.content
    assert b"handler bug" not in r.content
    assert backend.seen == []
    assert publisher.sent == []


async def test_fallback_replays_the_body(tmp_path: Path) -> None:
    """After a fallback, legacy receives the exact body the handler saw."""
    text = CONFIG.replace(
        'handler = "tests.proxy.sample_handlers:boom"',
        'handler = "tests.proxy.sample_handlers:boom"\nfallback_methods = ["POST"]',
    )
    backend = FakeBackend()
    state = State(parse_config(text.format(root=tmp_path, percent=0)))
    state.backends["php"] = backend  # type: ignore[assignment]
    app = ProxyApp(state, FakeResources(FakePublisher()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/boom", content=b"payload")
    assert r.content == b"hello payload"


async def test_queue_full_is_503_with_retry_after(tmp_path: Path) -> None:
    """When the producer's queue is full the client gets 503 with Retry-After."""
    client, _ = _client(tmp_path, FakePublisher(full=True))
    async with client:
        r = await client.get("/hello/x")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"


@pytest.mark.parametrize(("percent", "side"), [(0, "legacy"), (100, "new")], ids=["0", "100"])
async def test_canary_extremes(tmp_path: Path, percent: float, side: str) -> None:
    """A 0% canary always answers from legacy and a 100% one from the handler."""
    client, backend = _client(tmp_path, FakePublisher(), percent)
    async with client:
        for user in range(20):
            r = await client.get("/canary", headers={"x-user": f"u{user}"})
            assert (r.content == b"hello ") == (side == "legacy")
    assert (len(backend.seen) == 20) == (side == "legacy")


async def test_canary_is_sticky(tmp_path: Path) -> None:
    """The same key gets the same side on every request."""
    client, _ = _client(tmp_path, FakePublisher(), 50)
    async with client:
        for user in range(10):
            answers = {
                (await client.get("/canary", headers={"x-user": f"u{user}"})).content
                for _ in range(3)
            }
            assert len(answers) == 1
