"""FastCGIBackend against a FastCGI server that misbehaves on purpose.

The real PHP-FPM is exercised end to end in tests/proxy; here each failure a
backend can show is provoked deterministically and must map to its error.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import structlog
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from legacy_adapter import (
    BadRequest,
    FastCGIBackend,
    FastCGISettings,
    LegacyRequest,
    PoolExhausted,
    PoolSettings,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
    iter_bytes,
)
from tests.fakes.fastcgi_server import Behaviour, fake_fastcgi_server

pytestmark = pytest.mark.anyio


def _backend(root: Path, port: int, **pool: float) -> FastCGIBackend:
    (root / "index.php").write_text("<?php echo 1;")
    settings = FastCGISettings(
        name="php",
        address=f"127.0.0.1:{port}",
        document_root=str(root),
        pool=PoolSettings(**{"read_timeout": 1.0, "acquire_timeout": 0.3, **pool}),  # type: ignore[arg-type]
    )
    return FastCGIBackend(settings)


def _request(body: bytes = b"", rid: str = "rid-1") -> LegacyRequest:
    return LegacyRequest(
        method="POST" if body else "GET",
        raw_path=b"/index.php",
        path="/index.php",
        query_string=b"a=1",
        headers=[(b"host", b"example.com"), (b"content-type", b"text/plain")],
        client=("127.0.0.1", 5555),
        server=("127.0.0.1", 80),
        scheme="http",
        http_version="1.1",
        request_id=rid,
        body=iter_bytes([body[i : i + 3] for i in range(0, len(body), 3)]),
        content_length=len(body),
    )


async def _read(body: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in body])


async def test_ok_and_connection_reused(tmp_path: Path) -> None:
    """A clean answer streams back and its connection is kept for the next request."""
    async with fake_fastcgi_server("ok") as (_, port):
        backend = _backend(tmp_path, port)
        for _ in range(2):
            async with backend.send(_request(b"hello world")) as response:
                body = await _read(response.body)
            assert response.status == 200
            assert b'"stdin": "hello world"' in body
            assert b'"QUERY_STRING": "a=1"' in body
            assert backend.client.pool.idle == 1
        await backend.aclose()


async def test_complete_response_frees_connection_early(tmp_path: Path) -> None:
    """An answer that arrived whole gets a Content-Length and frees its connection at once."""
    async with fake_fastcgi_server("ok") as (_, port):
        backend = _backend(tmp_path, port)
        async with backend.send(_request(b"abc")) as response:
            assert backend.client.pool.idle == 1  # back in the pool before the body is read
            body = await _read(response.body)
        assert (b"content-length", str(len(body)).encode()) in response.headers
        await backend.aclose()


async def test_streamed_response_is_relayed_in_parts(tmp_path: Path) -> None:
    """An answer PHP sends in parts streams through without a made-up Content-Length."""
    async with fake_fastcgi_server("slow_body") as (_, port):
        backend = _backend(tmp_path, port)
        async with backend.send(_request()) as response:
            chunks = [chunk async for chunk in response.body]
        assert chunks == [b"first half, ", b"second half"]
        assert not any(k == b"content-length" for k, _ in response.headers)
        assert backend.client.pool.idle == 1
        await backend.aclose()


async def test_partly_read_response_closes_connection(tmp_path: Path) -> None:
    """A response the client abandoned is never reused for another request."""
    async with fake_fastcgi_server("slow_body") as (_, port):
        backend = _backend(tmp_path, port)
        async with backend.send(_request()) as response:
            assert response.status == 200
        assert backend.client.pool.idle == 0
        await backend.aclose()


# Failures before the response head, and the adapter error each must become
# (shared with the fast lane's tests, which must map them the same way).
FAILURES_BEFORE_HEAD = pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("garbage", UpstreamProtocolError),
        ("overloaded", UpstreamProtocolError),
        ("hang", UpstreamTimeout),
    ],
    ids=["garbage", "overloaded", "hang"],
)


@FAILURES_BEFORE_HEAD
async def test_failures_before_the_head(tmp_path: Path, behaviour: Behaviour, error: type) -> None:
    """Garbage, OVERLOADED and silence become their adapter errors."""
    async with fake_fastcgi_server(behaviour) as (_, port):
        backend = _backend(tmp_path, port, read_timeout=0.3)
        with pytest.raises(error):
            async with backend.send(_request()) as response:
                await _read(response.body)
        assert backend.client.pool.idle == 0
        await backend.aclose()


async def test_a_backend_that_reads_nothing_times_out_the_send(tmp_path: Path) -> None:
    """A body PHP never reads fails after send_timeout (nginx's fastcgi_send_timeout: 504)."""
    body = b"x" * (32 << 20)  # more than the socket buffers of both ends hold
    request = dataclasses.replace(
        _request(),
        method="POST",
        body=iter_bytes([body[i : i + 65536] for i in range(0, len(body), 65536)]),
        content_length=len(body),
    )
    async with fake_fastcgi_server("deaf") as (_, port):
        backend = _backend(tmp_path, port, send_timeout=0.3, read_timeout=60.0)
        with anyio.fail_after(10):  # without the send timeout, the send waits for ever
            with pytest.raises(UpstreamTimeout, match="send request body: timed out"):
                async with backend.send(request):
                    pass
        assert backend.client.pool.idle == 0  # the half-sent connection is not kept
        await backend.aclose()


async def test_death_mid_response(tmp_path: Path) -> None:
    """A backend that closes mid-body raises UpstreamUnavailable while streaming."""
    async with fake_fastcgi_server("die_mid_response") as (_, port):
        backend = _backend(tmp_path, port)
        async with backend.send(_request()) as response:
            assert response.status == 200
            with pytest.raises(UpstreamUnavailable):
                await _read(response.body)
        await backend.aclose()


async def test_refused(tmp_path: Path) -> None:
    """Nothing listening is UpstreamUnavailable, not a hang."""
    async with fake_fastcgi_server("ok") as (_, port):
        pass
    backend = _backend(tmp_path, port)
    with pytest.raises(UpstreamUnavailable, match="connect to"):
        async with backend.send(_request()):
            pass


async def test_pool_exhausted_is_bounded(tmp_path: Path) -> None:
    """With every pooled connection busy, the next request fails after acquire_timeout."""
    async with fake_fastcgi_server("hang") as (_, port):
        backend = _backend(tmp_path, port, size=1, read_timeout=5.0, acquire_timeout=0.2)
        errors: list[BaseException] = []

        async def one() -> None:
            try:
                async with backend.send(_request()):
                    pass
            except (PoolExhausted, UpstreamTimeout) as exc:
                errors.append(exc)

        with anyio.move_on_after(2):
            async with anyio.create_task_group() as tg:
                tg.start_soon(one)
                await anyio.sleep(0.05)
                with anyio.fail_after(1):
                    await one()
                tg.cancel_scope.cancel()
        assert [type(e) for e in errors] == [PoolExhausted]
        await backend.aclose()


async def test_stderr_is_logged_with_request_id(tmp_path: Path) -> None:
    """PHP's stderr lines reach the log carrying the request id."""
    async with fake_fastcgi_server("stderr") as (_, port):
        backend = _backend(tmp_path, port)
        with (
            capture_logs(processors=[merge_contextvars]) as logs,
            structlog.contextvars.bound_contextvars(request_id="rid-42"),
        ):
            async with backend.send(_request()) as response:
                await _read(response.body)
        await backend.aclose()
    lines = [e for e in logs if e["event"] == "php_stderr"]
    assert lines
    assert lines[0]["request_id"] == "rid-42"
    assert "something odd" in lines[0]["message"]


async def test_idle_connections_are_closed(tmp_path: Path) -> None:
    """maintain() closes a kept connection once it idled past idle_timeout."""
    async with fake_fastcgi_server("ok") as (_, port):
        backend = _backend(tmp_path, port, idle_timeout=0.1)
        async with anyio.create_task_group() as tg:
            await backend.start(tg)
            async with backend.send(_request()) as response:
                await _read(response.body)
            assert backend.client.pool.idle == 1
            await anyio.sleep(0.4)
            assert backend.client.pool.idle == 0
            tg.cancel_scope.cancel()
        await backend.aclose()


@pytest.mark.parametrize(("body", "retried"), [(b"", True), (b"post", False)], ids=["get", "post"])
async def test_kept_connection_closed_unanswered(
    tmp_path: Path, body: bytes, retried: bool
) -> None:
    """A recycled child's kept connection: a GET goes again on a fresh one, a POST fails."""
    async with fake_fastcgi_server("recycled") as (_, port):
        backend = _backend(tmp_path, port)
        async with backend.send(_request(body)) as response:
            await _read(response.body)
        if retried:
            async with backend.send(_request(body)) as response:
                assert response.status == 200
                await _read(response.body)
        else:
            with pytest.raises(UpstreamUnavailable, match="closed"):
                async with backend.send(_request(body)) as response:
                    await _read(response.body)
        await backend.aclose()


async def _generated(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


@pytest.mark.parametrize(
    ("chunks", "length"),
    [
        ([b"ab", b"", b"cd"], 4),  # a declared length: sent with the params
        ([b"", b"ab", b"", b"cd", b""], None),  # no length: spooled to learn it
        ([b"x" * 70000, b"", b"cd"], 70002),  # over the inline size: streamed
    ],
    ids=["inline", "spooled", "streamed"],
)
async def test_a_generator_body_reaches_php_whole_past_its_empty_chunks(
    tmp_path: Path, chunks: list[bytes], length: int | None
) -> None:
    """A caller's async generator may yield empty chunks; none is taken for the end."""
    sent = b"".join(chunks)
    request = dataclasses.replace(_request(b"x"), body=_generated(chunks), content_length=length)
    async with fake_fastcgi_server("ok") as (_, port):
        backend = _backend(tmp_path, port)
        async with backend.send(request) as response:
            answer = json.loads((await _read(response.body)).decode())
        await backend.aclose()
    assert answer["stdin"] == sent.decode()
    assert answer["params"]["CONTENT_LENGTH"] == str(len(sent))


async def test_a_body_shorter_than_its_length_is_a_bad_request(tmp_path: Path) -> None:
    """A library caller's body that does not match its declared length is a bad request."""
    request = dataclasses.replace(_request(b"x"), body=_generated([b"ab"]), content_length=5)
    async with fake_fastcgi_server("ok") as (_, port):
        backend = _backend(tmp_path, port)
        with pytest.raises(BadRequest, match="2 bytes, its length says 5"):
            async with backend.send(request):
                pass
        await backend.aclose()
