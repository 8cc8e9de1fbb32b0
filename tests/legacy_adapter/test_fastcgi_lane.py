"""LaneExchange (the fast lane's callback-driven FastCGI request) against a misbehaving server.

The same failures as ``test_fastcgi_backend`` must end the same way: each
becomes its adapter error, a clean answer keeps its connection, anything else
closes it.  asyncio only: the lane drives native asyncio streams.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from legacy_adapter import (
    FastCGIBackend,
    LaneExchange,
    LegacyError,
    PoolExhausted,
    UpstreamUnavailable,
)
from tests.fakes.fastcgi_server import Behaviour, fake_fastcgi_server
from tests.legacy_adapter.test_fastcgi_backend import FAILURES_BEFORE_HEAD, _backend, _request

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """The lane exists on asyncio only."""
    return "asyncio"


class Recorder:
    """A LaneSink that keeps what it was given."""

    def __init__(self) -> None:
        self.head: tuple[int, list[tuple[bytes, bytes]], bytes | None] | None = None
        self.chunks: list[bytes] = []
        self.error: LegacyError | None = None
        self.ended = anyio.Event()

    def on_head(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes | None) -> None:
        self.head = (status, headers, body)
        if body is not None:
            self.ended.set()

    def on_body(self, data: bytes) -> None:
        self.chunks.append(data)

    def on_end(self) -> None:
        self.ended.set()

    def on_error(self, exc: LegacyError) -> None:
        self.error = exc
        self.ended.set()


async def _exchange(backend: FastCGIBackend, body: bytes = b"", rid: str = "rid-1") -> Recorder:
    recorder = Recorder()
    request = _request(body, rid)
    script = backend.script_for(request.path)
    assert script is not None
    LaneExchange(backend, request, script, body, recorder).start()
    with anyio.fail_after(5):
        await recorder.ended.wait()
    return recorder


async def test_whole_answer_comes_with_its_length_and_keeps_the_connection(tmp_path: Path) -> None:
    """An answer that arrives whole is one on_head with a Content-Length; the connection is kept."""
    async with fake_fastcgi_server("ok") as (_, port):
        backend = _backend(tmp_path, port)
        for _ in range(2):
            recorder = await _exchange(backend, b"hello world")
            assert recorder.head is not None
            status, headers, body = recorder.head
            assert status == 200
            assert body is not None
            assert b'"stdin": "hello world"' in body
            assert (b"content-length", str(len(body)).encode()) in headers
            assert backend.pool.idle == 1
        await backend.aclose()


async def test_streamed_answer_arrives_in_parts(tmp_path: Path) -> None:
    """An answer sent in parts gives a head without a length, then the parts, then the end."""
    async with fake_fastcgi_server("slow_body") as (_, port):
        backend = _backend(tmp_path, port)
        recorder = await _exchange(backend)
        assert recorder.head is not None
        assert recorder.head[2] is None
        assert not any(k == b"content-length" for k, _ in recorder.head[1])
        assert b"".join(recorder.chunks) == b"first half, second half"
        assert recorder.error is None
        assert backend.pool.idle == 1
        await backend.aclose()


@FAILURES_BEFORE_HEAD
async def test_failures_before_the_head(tmp_path: Path, behaviour: Behaviour, error: type) -> None:
    """Garbage, OVERLOADED and silence become their adapter errors and close the connection."""
    async with fake_fastcgi_server(behaviour) as (_, port):
        backend = _backend(tmp_path, port, read_timeout=0.3)
        recorder = await _exchange(backend)
        assert isinstance(recorder.error, error)
        assert recorder.head is None
        assert backend.pool.idle == 0
        await backend.aclose()


async def test_death_mid_response(tmp_path: Path) -> None:
    """A backend that closes mid-body ends a streamed answer with UpstreamUnavailable."""
    async with fake_fastcgi_server("die_mid_response") as (_, port):
        backend = _backend(tmp_path, port)
        recorder = await _exchange(backend)
        assert recorder.head is not None
        assert recorder.head[0] == 200
        assert isinstance(recorder.error, UpstreamUnavailable)
        assert backend.pool.idle == 0
        await backend.aclose()


async def test_refused(tmp_path: Path) -> None:
    """Nothing listening is UpstreamUnavailable naming the address."""
    async with fake_fastcgi_server("ok") as (_, port):
        pass
    backend = _backend(tmp_path, port)
    recorder = await _exchange(backend)
    assert isinstance(recorder.error, UpstreamUnavailable)
    assert "connect to" in str(recorder.error)


async def test_queued_exchange_gets_the_connection_given_back(tmp_path: Path) -> None:
    """With a pool of one, a second exchange waits and is handed the first one's connection."""
    async with fake_fastcgi_server("slow_body") as (_, port):
        backend = _backend(tmp_path, port, size=1)
        first, second = Recorder(), Recorder()
        for recorder in (first, second):
            request = _request()
            script = backend.script_for(request.path)
            assert script is not None
            LaneExchange(backend, request, script, b"", recorder).start()
        with anyio.fail_after(5):
            await first.ended.wait()
            await second.ended.wait()
        assert b"".join(first.chunks) == b"".join(second.chunks) == b"first half, second half"
        assert backend.pool.idle == 1
        await backend.aclose()


async def test_queue_wait_is_bounded(tmp_path: Path) -> None:
    """When the only connection stays busy, a queued exchange fails after acquire_timeout."""
    async with fake_fastcgi_server("hang") as (_, port):
        backend = _backend(tmp_path, port, size=1, read_timeout=5.0, acquire_timeout=0.2)
        busy = Recorder()
        request = _request()
        script = backend.script_for(request.path)
        assert script is not None
        exchange = LaneExchange(backend, request, script, b"", busy)
        exchange.start()
        await anyio.sleep(0.05)
        recorder = await _exchange(backend)
        assert isinstance(recorder.error, PoolExhausted)
        exchange.abort()
        assert not backend.pool.full
        await backend.aclose()


async def test_stderr_is_logged_with_the_request_id(tmp_path: Path) -> None:
    """PHP's stderr lines are logged carrying the request id (no context is bound)."""
    async with fake_fastcgi_server("stderr") as (_, port):
        backend = _backend(tmp_path, port)
        with capture_logs() as logs:
            await _exchange(backend, rid="rid-lane")
        await backend.aclose()
    lines = [e for e in logs if e["event"] == "php_stderr"]
    assert lines
    assert lines[0]["request_id"] == "rid-lane"
    assert "something odd" in lines[0]["message"]


async def test_a_task_awaiting_a_slot_goes_before_queued_exchanges(tmp_path: Path) -> None:
    """A connection given back goes to a task awaiting the pool before a queued exchange."""
    async with fake_fastcgi_server("slow_body") as (_, port):
        backend = _backend(tmp_path, port, size=1)
        order: list[str] = []
        first, queued = Recorder(), Recorder()
        request = _request()
        script = backend.script_for(request.path)
        assert script is not None

        async def awaiting() -> None:
            lease = await backend.pool.acquire()
            order.append("task")
            await anyio.sleep(0.05)
            lease.keep()
            await backend.pool.release(lease)

        LaneExchange(backend, request, script, b"", first).start()
        async with anyio.create_task_group() as tg:
            tg.start_soon(awaiting)
            await anyio.sleep(0.01)  # the task waits for the slot before the exchange queues
            LaneExchange(backend, request, script, b"", queued).start()
            with anyio.fail_after(5):
                await queued.ended.wait()
            order.append("queued exchange")
        assert order == ["task", "queued exchange"]
        assert b"".join(queued.chunks) == b"first half, second half"
        await backend.aclose()


async def test_kept_connection_closed_unanswered_is_retried_for_a_get(tmp_path: Path) -> None:
    """A recycled child's kept connection: the GET goes again on a fresh one, as nginx does."""
    async with fake_fastcgi_server("recycled") as (_, port):
        backend = _backend(tmp_path, port)
        for _ in range(2):
            recorder = await _exchange(backend)
            assert recorder.error is None
            assert recorder.head is not None
            assert recorder.head[0] == 200
        await backend.aclose()


async def test_kept_connection_closed_unanswered_is_not_retried_for_a_post(
    tmp_path: Path,
) -> None:
    """A POST is not sent twice (nginx does not retry it either): the client gets the error."""
    async with fake_fastcgi_server("recycled") as (_, port):
        backend = _backend(tmp_path, port)
        assert (await _exchange(backend, b"first")).error is None
        second = await _exchange(backend, b"second")
        assert isinstance(second.error, UpstreamUnavailable)
        await backend.aclose()
