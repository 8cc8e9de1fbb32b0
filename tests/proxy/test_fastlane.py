"""The uvicorn runtime's fast lane, end to end against a real PHP-FPM.

The differential suite already compares the lane's answers with nginx's; these
tests cover what it cannot see: streaming as PHP flushes, pipelining, HTTP/1.0,
clients that leave mid-answer, the pool queue, PHP-FPM dying, and the logs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ops.services import PhpFpm, Strangler, build_config
from tests.conftest import DEMO_ROOT, REPO_ROOT, serving

pytestmark = pytest.mark.service
SLOW_ROOT = REPO_ROOT / "tests" / "apps" / "slow" / "public"


@pytest.fixture(scope="module")
def proxy(php_fpm: PhpFpm) -> Iterator[Strangler]:
    """strangler on uvicorn in front of the demo app, one pooled connection."""
    text = build_config(php_fpm.address, DEMO_ROOT, runtime="uvicorn", pool_size=1)
    with serving(lambda: Strangler(text)) as s:
        yield s


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_streamed_answer_arrives_as_php_flushes(proxy: Strangler) -> None:
    """The first flushed line reaches the client long before PHP finishes."""
    url = proxy.url + "/stream.php?chunks=3&delay_ms=700"
    started = time.monotonic()
    with httpx.stream("GET", url, timeout=10) as r:
        lines = r.iter_lines()
        first = next(lines)
        first_at = time.monotonic() - started
        rest = list(lines)
    total = time.monotonic() - started
    assert r.headers["transfer-encoding"] == "chunked"
    assert [first, *rest] == ["chunk 1 of 3", "chunk 2 of 3", "chunk 3 of 3"]
    assert first_at < total - 1.0  # PHP sleeps 2 x 0.7 s after the first flush


def test_pipelined_requests_are_answered_in_order(proxy: Strangler) -> None:
    """Two requests in one write get two answers, in order, on one connection."""
    with _connect(proxy.url) as sock:
        sock.sendall(
            b"GET /index.php HTTP/1.1\r\nHost: a\r\nX-Request-Id: first\r\n\r\n"
            b"GET /stream.php?chunks=1 HTTP/1.1\r\nHost: a\r\nX-Request-Id: second\r\n"
            b"Connection: close\r\n\r\n"
        )
        data = _read_until_closed(sock)
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.index(b"x-request-id: first") < data.index(b"x-request-id: second")
    assert data.rstrip().endswith(b"0")  # the second (chunked) answer ends the stream


def test_http_10_closes_after_the_answer(proxy: Strangler) -> None:
    """An HTTP/1.0 request gets a sized answer and the connection closes."""
    with _connect(proxy.url) as sock:
        sock.sendall(b"GET /index.php HTTP/1.0\r\nHost: a\r\n\r\n")
        data = _read_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert fields[b"connection"] == b"close"
    assert len(body) == int(fields[b"content-length"]) > 0


def test_head_has_the_get_headers_and_no_body(proxy: Strangler) -> None:
    """HEAD answers with GET's status and content type and sends no body."""
    get = httpx.get(proxy.url + "/index.php")
    head = httpx.head(proxy.url + "/index.php")
    assert (head.status_code, head.headers["content-type"]) == (200, get.headers["content-type"])
    assert head.content == b""


def test_client_leaving_mid_answer_frees_the_connection(proxy: Strangler) -> None:
    """A client gone mid-stream gives the only pooled slot back; the next request is served."""
    with _connect(proxy.url) as sock:
        sock.sendall(b"GET /stream.php?chunks=5&delay_ms=300 HTTP/1.1\r\nHost: a\r\n\r\n")
        received = b""
        while b"chunk 1 of 5" not in received:  # the head may come in a segment of its own
            chunk = sock.recv(65536)
            assert chunk, f"closed before the first chunk: {received!r}"
            received += chunk
    r = httpx.get(proxy.url + "/stream.php?chunks=1", timeout=10)
    assert (r.status_code, r.text) == (200, "chunk 1 of 1\n")
    assert '"status": 499' in proxy.log_text()


def test_queued_requests_share_one_connection(php_fpm: PhpFpm) -> None:
    """Eight concurrent requests through a pool of one are all answered."""
    text = build_config(php_fpm.address, SLOW_ROOT, runtime="uvicorn", pool_size=1)
    with serving(lambda: Strangler(text)) as s:
        results: list[tuple[int, str]] = []

        def get() -> None:
            r = httpx.get(s.url + "/sleep.php?ms=50", timeout=10)
            results.append((r.status_code, r.text))

        threads = [threading.Thread(target=get) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert results == [(200, "slept 50ms\n")] * 8


def test_php_fpm_gone_is_502_with_a_reason() -> None:
    """PHP-FPM stopped (its kept connection closed) gives nginx's 502 page with a reason."""
    with serving(lambda: PhpFpm(max_children=2)) as fpm:
        text = build_config(fpm.address, DEMO_ROOT, runtime="uvicorn")
        with serving(lambda: Strangler(text)) as s:
            assert httpx.get(s.url + "/index.php").status_code == 200
            fpm.stop()
            r = httpx.get(s.url + "/index.php", timeout=10)
            assert r.status_code == 502
            assert r.headers["x-strangler-error"]
            assert r.headers["x-request-id"]
            assert r.text.startswith("<html>")


def test_access_log_line_is_written(proxy: Strangler) -> None:
    """The lane writes the ASGI path's access log line, with the client's request id."""
    r = httpx.get(proxy.url + "/index.php", headers={"X-Request-Id": "lane-log-1"})
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    access: list[dict[str, object]] = []
    while time.monotonic() < deadline and not access:
        access = [json.loads(x) for x in proxy.log_text().splitlines() if "lane-log-1" in x]
        time.sleep(0.05)
    assert access
    line = access[0]
    assert (line["event"], line["route"], line["mode"], line["status"]) == (
        "request",
        "everything",
        "legacy",
        200,
    )
    assert line["path"] == "/index.php"


def test_header_the_server_refuses_is_a_500_and_serving_goes_on(php_fpm: PhpFpm) -> None:
    """A PHP header with a control byte gives the ASGI path's 500 page, not a broken answer."""
    text = build_config(php_fpm.address, SLOW_ROOT, runtime="uvicorn")
    with serving(lambda: Strangler(text)) as s:
        r = httpx.get(s.url + "/badheader.php", timeout=10)
        assert r.status_code == 500
        assert "x-odd" not in r.headers
        assert "500 Internal Server Error" in r.text
        ok = httpx.get(s.url + "/sleep.php?ms=0", timeout=10)
        assert (ok.status_code, ok.text) == (200, "slept 0ms\n")


def test_the_lane_can_be_switched_off(php_fpm: PhpFpm) -> None:
    """fast_lane = false: the worker says so, and the same request is answered the same way."""
    on = build_config(php_fpm.address, DEMO_ROOT, runtime="uvicorn")
    off = build_config(php_fpm.address, DEMO_ROOT, runtime="uvicorn", fast_lane=False)
    answers = []
    for text, expected in ((on, True), (off, False)):
        with serving(lambda text=text: Strangler(text)) as s:  # type: ignore[misc]
            r = httpx.get(s.url + "/stream.php?chunks=2&delay_ms=0", timeout=10)
            answers.append((r.status_code, r.headers["content-type"], r.text))
            started = [
                json.loads(line) for line in s.log_text().splitlines() if '"worker_started"' in line
            ]
        assert [line["fast_lane"] for line in started] == [expected]
    assert (
        answers[0]
        == answers[1]
        == (200, "text/plain; charset=utf-8", "chunk 1 of 2\nchunk 2 of 2\n")
    )


@pytest.mark.parametrize(
    ("runtime", "fast_lane"),
    [("uvicorn", True), ("uvicorn", False), ("trio", True)],
    ids=["lane", "uvicorn-asgi", "trio"],
)
def test_recycled_php_children_never_show(runtime: str, fast_lane: bool) -> None:
    """pm.max_requests = 1: each kept connection dies after one answer; GETs are sent again.

    nginx retries a kept connection that closes before answering; so must we.
    """
    with serving(lambda: PhpFpm(max_children=2, max_requests=1)) as fpm:
        text = build_config(
            fpm.address, SLOW_ROOT, runtime=runtime, pool_size=2, fast_lane=fast_lane
        )
        with serving(lambda: Strangler(text)) as s:
            statuses: list[int] = []

            def get() -> None:
                for _ in range(5):
                    statuses.append(httpx.get(s.url + "/sleep.php?ms=5", timeout=10).status_code)

            threads = [threading.Thread(target=get) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
    assert statuses == [200] * 20


def test_slow_reader_gets_a_large_answer_whole(php_fpm: PhpFpm) -> None:
    """8 MiB to a client reading slowly: PHP-FPM is paused, not buffered, and nothing is lost."""
    text = build_config(php_fpm.address, SLOW_ROOT, runtime="uvicorn", pool_size=1)
    with serving(lambda: Strangler(text)) as s, _connect(s.url) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(b"GET /big.php?kib=8192 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        time.sleep(1.0)  # let every buffer on the way fill up
        data = _read_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    payload = _dechunk(body) if b"transfer-encoding: chunked" in head else body
    assert len(payload) == 8192 * 1024
    assert payload == b"0123456789abcdef" * (8192 * 64)


def _dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


def _read_answer(sock: socket.socket) -> bytes:
    """One whole answer with a Content-Length from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the answer's head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed before the answer's body"
        body += chunk
    return head


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(php_fpm: PhpFpm) -> None:
    """Each answer arms the idle timeout and the next request clears it; idle, the server closes.

    Three requests 0.6 s apart take 1.2 s, longer than the 1 s timeout: an
    answer's timeout that was not cleared by the next request would close
    the connection before the third.
    """
    text = build_config(php_fpm.address, DEMO_ROOT, runtime="uvicorn", pool_size=1)
    text = text.replace(
        "graceful_timeout = 5\n", 'graceful_timeout = 5\nkeep_alive_timeout = "1s"\n'
    )
    with serving(lambda: Strangler(text)) as s, _connect(s.url) as sock:
        for i in range(3):
            if i:
                time.sleep(0.6)
            sock.sendall(b"GET /index.php HTTP/1.1\r\nHost: a\r\n\r\n")
            assert _read_answer(sock).startswith(b"HTTP/1.1 200 OK")
        idle_from = time.monotonic()
        assert sock.recv(1) == b""  # the server closed it (the socket's 10 s timeout bounds this)
        assert time.monotonic() - idle_from >= 0.9  # not before its timeout


@pytest.mark.parametrize(
    "header",
    [
        pytest.param((b"x-evil", b"a\r\nset-cookie: x=1"), id="crlf-in-value"),
        pytest.param((b"x-evil", b"a\nb"), id="lf-in-value"),
        pytest.param((b"bad name", b"v"), id="space-in-name"),
    ],
)
def test_a_bad_response_header_is_refused_every_time(header: tuple[bytes, bytes]) -> None:
    """The lane remembers headers that passed uvicorn's checks, never one that failed."""
    from proxy._lane_cycle import _CHECKED_HEADERS, _check_header

    _check_header((b"content-type", b"text/plain"))
    assert (b"content-type", b"text/plain") in _CHECKED_HEADERS
    long_cookie = (b"set-cookie", b"s=" + b"x" * 200)
    _check_header(long_cookie)  # checked, but too long to keep
    assert long_cookie not in _CHECKED_HEADERS
    for _ in range(2):
        with pytest.raises(ValueError, match="invalid response header"):
            _check_header(header)
    assert header not in _CHECKED_HEADERS
