"""The edge under hostile input, over raw sockets, on every runtime, beside nginx.

Each case is what an attacker (or a broken client or backend) sends, and the
answer is the one nginx gives in front of the same PHP-FPM: ambiguous
framing and bad ``Host`` values refused, connections that never finish
their head closed, a flood of idle connections unable to lock out a real
client, a broken PHP answer turned into a 502 that names the request, and
a graceful stop that refuses new connections at once.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.services import Nginx, PhpFpm, Strangler, build_config
from tests.conftest import REPO_ROOT, serving
from tests.waiting import wait_for

pytestmark = pytest.mark.service
SLOW_ROOT = REPO_ROOT / "tests" / "apps" / "slow" / "public"
RUNTIMES = ["uvloop", "asyncio", "trio"]
FAST_TIMEOUTS = """
client_header_timeout = "2s"
client_body_timeout = "2s"
keep_alive_timeout = "2s"
send_timeout = "2s"
"""


@pytest.fixture(scope="module", params=RUNTIMES)
def proxy(php_fpm: PhpFpm, request: pytest.FixtureRequest) -> Iterator[Strangler]:
    """strangler in front of the slow app with two-second client timeouts."""
    text = build_config(
        php_fpm.address, SLOW_ROOT, runtime=request.param, server_extra=FAST_TIMEOUTS
    )
    with serving(lambda: Strangler(text)) as s:
        yield s


@pytest.fixture(scope="module")
def nginx_slow(php_fpm: PhpFpm) -> Iterator[Nginx]:
    """nginx in front of the same app: the reference for every status here."""
    with serving(lambda: Nginx(php_fpm.address, SLOW_ROOT, style="per_path")) as n:
        yield n


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def exchange(url: str, data: bytes, wait: float = 5.0) -> bytes:
    """Send ``data`` and read until the server closes (or ``wait`` passes)."""
    with socket.create_connection(_address(url), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    """The status code of the first answer in ``answer`` (0 when there is none)."""
    if not answer.startswith(b"HTTP/1."):
        return 0
    return int(answer.split(b" ", 2)[1])


HOSTILE = [
    pytest.param(
        b"POST /sleep.php HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        id="cl-and-te",
    ),
    pytest.param(b"GET /sleep.php HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="two-hosts"),
    pytest.param(b"GET /sleep.php HTTP/1.1\r\nHost: x/../../etc\r\n\r\n", 400, id="host-slash"),
    pytest.param(b"GET /sleep.php HTTP/1.1\r\nHost: a b\r\n\r\n", 400, id="host-space"),
    pytest.param(b"GET /sleep.php HTTP/1.1\r\nHost: a..b\r\n\r\n", 400, id="host-dots"),
    pytest.param(b"GET /sleep.php HTTP/1.1\r\n\r\n", 400, id="no-host"),
    pytest.param(
        b"GET /sleep.php HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        400,
        id="two-lengths",
    ),
    pytest.param(
        b"GET /sleep.php HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, id="neg-length"
    ),
    pytest.param(
        b"POST /sleep.php HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
        id="te-not-chunked",
    ),
    pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, id="long-uri"),
    pytest.param(
        b"GET /sleep.php HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
        400,
        id="long-header",
    ),
    pytest.param(b"GET /sleep.php HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400, id="host-ctl"),
    pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, id="h2-preface"),
    pytest.param(
        b"GET /sleep.php HTTP/1.1\r\nHost: a\r\nX-Endless: " + b"b" * 200_000,
        400,
        id="header-line-never-ends",
    ),
]


@pytest.mark.parametrize(("data", "expected"), HOSTILE)
def test_hostile_heads_get_nginxs_status(
    proxy: Strangler, nginx_slow: Nginx, data: bytes, expected: int
) -> None:
    """Ambiguous framing and bad Host values get nginx's status, and the connection closes."""
    assert status_of(exchange(nginx_slow.url, data)) == expected  # the reference holds
    answer = exchange(proxy.url, data)
    assert status_of(answer) == expected
    assert b"\r\nconnection: close\r\n" in answer.lower()
    assert answer.count(b"\r\ndate: ") == 1  # one answer: nothing after the refused request


def _statuses(answer: bytes) -> list[int]:
    """The status of every answer in ``answer``, in order (a status line starts a line)."""
    return [int(code) for code in re.findall(rb"(?:^|\n)HTTP/1\.1 (\d{3}) ", answer)]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b"GET /sleep.php?ms=0 HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /sleep.php?ms=1 HTTP/1.1\r\nHost: a\r\n\r\n"
            b"NOT HTTP AT ALL\r\n\r\n",
            id="garbage-after-two",
        ),
        pytest.param(
            b"GET /sleep.php?ms=0 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
            b"Upgrade: websocket\r\n\r\n"
            b"GET /sleep.php?ms=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            id="upgrade-then-next",
        ),
    ],
)
def test_pipelined_requests_are_answered_as_nginx_answers_them(
    proxy: Strangler, nginx_slow: Nginx, data: bytes
) -> None:
    """Requests pipelined before garbage, or after an upgrade request, are each answered."""
    reference = _statuses(exchange(nginx_slow.url, data))
    assert reference[:2] == [200, 200]
    assert _statuses(exchange(proxy.url, data)) == reference


def test_an_unread_large_body_is_dropped_and_the_connection_kept(proxy: Strangler) -> None:
    """A 404 answered before a 200 KiB body arrives: the body is read and dropped, then the next."""
    body = b"x" * 200_000
    data = (
        b"POST /missing.php HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%b"
        b"GET /sleep.php?ms=0 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % (len(body), body)
    )
    assert _statuses(exchange(proxy.url, data, wait=10)) == [404, 200]


def test_an_idle_connection_timing_out_leaves_the_others_alone(proxy: Strangler) -> None:
    """A kept-alive connection closed by its timeout ends alone: the worker keeps serving."""
    with socket.create_connection(_address(proxy.url), timeout=15) as idle:
        idle.sendall(b"GET /sleep.php?ms=0 HTTP/1.1\r\nHost: a\r\n\r\n")
        answer = b""
        while chunk := idle.recv(65536):  # the keep-alive timeout closes it
            answer += chunk
    assert status_of(answer) == 200
    assert status_of(exchange(proxy.url, b"GET /sleep.php?ms=0 HTTP/1.0\r\n\r\n")) == 200
    assert "worker_died" not in proxy.log_text()
    assert "request_failed_in_driver" not in proxy.log_text()


def test_good_host_forms_pass(proxy: Strangler) -> None:
    """A port, a trailing dot, an IPv6 literal and upper case are hosts nginx accepts."""
    for host in (b"Example.COM:8080", b"example.com.", b"[::1]:80", b"127.0.0.1"):
        data = b"GET /sleep.php?ms=0 HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
        assert status_of(exchange(proxy.url, data)) == 200, host


def test_raw_8bit_bytes_in_the_target_are_refused(proxy: Strangler, nginx_slow: Nginx) -> None:
    """A deliberate difference: nginx passes raw bytes above 127 on, strangler answers 400.

    RFC 3986 allows them only percent-encoded; the parser refuses them before
    any path or param is built from them.
    """
    data = b"GET /sleep.php?q=caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    assert status_of(exchange(nginx_slow.url, data)) == 200  # the difference holds
    assert status_of(exchange(proxy.url, data)) == 400


def test_slowloris_connections_are_closed_within_the_header_timeout(proxy: Strangler) -> None:
    """200 connections trickling a head byte by byte are all closed by the header timeout."""
    socks = [socket.create_connection(_address(proxy.url), timeout=10) for _ in range(200)]
    head = b"GET /sleep.php HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"x" * 100
    closed: set[int] = set()
    try:
        deadline = time.monotonic() + 20  # ten header timeouts: a bound, not a measurement
        position = 0
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for i, sock in enumerate(socks):
                if i in closed:
                    continue
                try:
                    sock.sendall(head[position : position + 1])
                except OSError:
                    closed.add(i)
            position = min(position + 1, len(head) - 1)
            time.sleep(0.5)
            for i, sock in enumerate(socks):
                if i not in closed and _peer_closed(sock):
                    closed.add(i)
        assert len(closed) == len(socks)
    finally:
        for sock in socks:
            sock.close()
    assert status_of(exchange(proxy.url, b"GET /sleep.php?ms=0 HTTP/1.0\r\n\r\n")) == 200


def _peer_closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def test_a_silent_connection_is_closed(proxy: Strangler) -> None:
    """A connection that never sends a byte is closed by the header timeout, unanswered."""
    with socket.create_connection(_address(proxy.url), timeout=15) as sock:
        assert sock.recv(65536) == b""  # a TimeoutError here: the server never closed it


def test_a_stalled_body_is_answered_408_and_closed(proxy: Strangler) -> None:
    """A body that stops arriving gets 408 after the body timeout, and the connection closes."""
    data = b"POST /sleep.php HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"
    answer = exchange(proxy.url, data, wait=15)
    assert status_of(answer) == 408
    assert b"x-request-id: " in answer.lower()


def test_pipelined_requests_are_answered_in_order(proxy: Strangler) -> None:
    """Three requests in one write get three answers, in order, on the same connection."""
    one = b"GET /sleep.php?ms=%d HTTP/1.1\r\nHost: a\r\n\r\n"
    last = b"GET /sleep.php?ms=3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    answer = exchange(proxy.url, one % 20 + one % 1 + last)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    bodies = [answer.index(b"slept %dms" % ms) for ms in (20, 1, 3)]
    assert bodies == sorted(bodies)


def test_a_pipelining_client_cannot_hold_the_worker(proxy: Strangler) -> None:
    """Thousands of pipelined requests answered without waiting still let another client in."""
    many = 5000
    one = b"GET /missing.txt HTTP/1.1\r\nHost: a\r\n\r\n"  # a 404 made without PHP
    answered: list[int] = []
    going = threading.Event()  # the hog's first answers are out: it is being served

    def drain(hog: socket.socket) -> None:  # read at once, so that no write of the hog's waits
        mark, tail, count = b"HTTP/1.1 404 ", b"", 0
        while count < many and (chunk := hog.recv(1 << 20)):
            count += (tail + chunk).count(mark)
            tail = chunk[1 - len(mark) :]
            answered.append(count)
            if count >= 100:
                going.set()

    with (
        socket.create_connection(_address(proxy.url), timeout=15) as other,
        socket.create_connection(_address(proxy.url), timeout=15) as hog,
    ):
        other.sendall(b"GET /missing.txt HTTP/1.1\r\nHost: a\r\n")  # its head is not done yet
        reader = threading.Thread(target=drain, args=(hog,))
        reader.start()
        hog.sendall(one * many)
        assert going.wait(10)
        other.sendall(b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := other.recv(65536):
            answer += chunk
        hog_answers_by_then = answered[-1] if answered else 0
        reader.join()
    assert status_of(answer) == 404
    assert answered[-1] == many
    assert hog_answers_by_then < many  # the other client did not wait for them all


def test_expect_continue_gets_100_then_the_answer(proxy: Strangler) -> None:
    """A client that waits for 100 Continue gets it, sends its body, and gets the answer."""
    with socket.create_connection(_address(proxy.url), timeout=5) as sock:
        sock.sendall(
            b"POST /sleep.php?ms=0 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"body")
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    assert status_of(rest) == 200


def test_a_client_that_stops_reading_is_cut_off_after_the_send_timeout(proxy: Strangler) -> None:
    """An answer the client stops taking is abandoned after send_timeout, as nginx does."""
    whole = 16 * 1024 * 1024
    with socket.create_connection(_address(proxy.url), timeout=15) as sock:
        sock.sendall(b"GET /big.php?kib=16384 HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(5)  # more than send_timeout with nothing read
        got = 0
        try:
            while chunk := sock.recv(1 << 20):
                got += len(chunk)
        except ConnectionResetError:
            pass
    assert 0 < got < whole  # what the socket buffers held (a few MiB), then the end


def slow_read(url: str, request: bytes) -> bytes:
    """Read a whole answer at about 2.5 MB/s: slow, but never stalled for a second."""
    data = bytearray()
    with socket.create_connection(_address(url), timeout=15) as sock:
        sock.sendall(request)
        while chunk := sock.recv(256 * 1024):
            data += chunk
            time.sleep(0.1)
    return bytes(data)


def test_a_slow_but_steady_reader_gets_the_whole_answer(proxy: Strangler) -> None:
    """send_timeout is between two writes, not for the whole answer: 16 MiB in about 6 s."""
    whole = 16 * 1024 * 1024
    answer = slow_read(proxy.url, b"GET /big.php?kib=16384 HTTP/1.0\r\nHost: a\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert status_of(head) == 200
    assert len(body) == whole


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_static_file_keeps_the_send_timeout(
    php_fpm: PhpFpm, runtime: str, tmp_path: Path
) -> None:
    """A file sent whole (sendfile where it can) is cut off when its client stops, not when slow."""
    whole = 16 * 1024 * 1024
    (tmp_path / "big.bin").write_bytes(b"a" * whole)
    text = build_config(php_fpm.address, tmp_path, runtime=runtime, server_extra=FAST_TIMEOUTS)
    request = b"GET /big.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    with serving(lambda: Strangler(text)) as s:
        answer = slow_read(s.url, request)
        assert status_of(answer) == 200
        assert len(answer.partition(b"\r\n\r\n")[2]) == whole
        with socket.create_connection(_address(s.url), timeout=15) as sock:
            sock.sendall(request)
            time.sleep(5)  # more than send_timeout with nothing read
            got = 0
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(1 << 20):
                    got += len(chunk)
        assert 0 < got < whole  # what the socket buffers held, then the end


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_large_static_file_answers_as_nginx_answers_it(
    php_fpm: PhpFpm, runtime: str, tmp_path: Path
) -> None:
    """Whole and a range (sent by sendfile), HEAD, each with a small file after it, as nginx.

    The small file, pipelined on the same connection, starts where the large
    one's length says it does.
    """
    size = 3 * 1024 * 1024 + 7
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    (tmp_path / "big.bin").write_bytes(data)
    (tmp_path / "small.txt").write_bytes(b"small\n")
    requests = {
        "whole": b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n",
        "range": b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=1000-2999999\r\n\r\n",
        "head": b"HEAD /big.bin HTTP/1.1\r\nHost: a\r\n\r\n",
    }
    last = b"GET /small.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    text = build_config(php_fpm.address, tmp_path, runtime=runtime)
    with (
        serving(lambda: Nginx(php_fpm.address, tmp_path, style="per_path")) as nginx,
        serving(lambda: Strangler(text)) as s,
    ):
        for name, request in requests.items():
            answers = [exchange(url, request + last, wait=10) for url in (nginx.url, s.url)]
            bodies = [_framed_bodies(a, head_first=name == "head") for a in answers]
            assert bodies[0] == bodies[1], name
            expected = {"whole": data, "range": data[1000:3000000], "head": b""}[name]
            assert bodies[1] == [expected, b"small\n"], name


def _framed_bodies(answer: bytes, *, head_first: bool) -> list[bytes]:
    """Each answer's body in ``answer``, cut by its Content-Length (the first has none if HEAD)."""
    bodies: list[bytes] = []
    while answer:
        head, _, rest = answer.partition(b"\r\n\r\n")
        found = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
        assert found is not None, head
        length = 0 if head_first and not bodies else int(found.group(1))
        bodies.append(rest[:length])
        answer = rest[length:]
    return bodies


def test_keep_alive_connection_is_closed_when_idle(proxy: Strangler) -> None:
    """After an answer, an idle kept-alive connection is closed by the keep-alive timeout."""
    with socket.create_connection(_address(proxy.url), timeout=15) as sock:
        sock.sendall(b"GET /sleep.php?ms=0 HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):  # ends when the server closes the idle connection
            data += chunk
    assert status_of(data) == 200


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        pytest.param("/badheader.php", b"control byte", id="control-byte"),
        pytest.param("/badlength.php?kind=negative", b"invalid content-length", id="negative"),
        pytest.param("/badlength.php?kind=two", b"more than one content-length", id="two"),
    ],
)
def test_broken_php_heads_are_502_with_the_request_id(
    proxy: Strangler, path: str, reason: bytes
) -> None:
    """A PHP answer whose head cannot be relayed safely is a 502 naming the request."""
    r = httpx.get(proxy.url + path, headers={"x-request-id": "edge-502"})
    assert r.status_code == 502
    assert r.headers["x-request-id"] == "edge-502"
    assert reason in r.headers["x-strangler-error"].lower().encode()


@pytest.mark.parametrize("size", [4, 300_000], ids=["buffered", "streamed"])
@pytest.mark.parametrize("kind", ["long", "short"])
def test_a_php_body_is_held_to_its_content_length(
    proxy: Strangler, nginx_slow: Nginx, kind: str, size: int
) -> None:
    """A body longer than its Content-Length is cut to it; a shorter one closes the connection.

    Relayed as PHP sent it, the excess would be read by the client as the
    next answer (a script that echoes input could forge one), and a short body
    would swallow the next answer; nginx cuts the one and closes after the other.
    """
    data = (
        f"GET /badlength.php?kind={kind}&n={size} HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET /sleep.php?ms=0 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    ).encode()
    expected = b"aaHTTP/1.1 200 " if kind == "long" else b"a" * size
    rid = f"cl-{kind}-{size}"
    data = data.replace(b"Host: a\r\n", f"Host: a\r\nX-Request-Id: {rid}\r\n".encode(), 1)
    for url in (nginx_slow.url, proxy.url):  # the reference first
        answer = exchange(url, data)
        rest = answer.split(b"\r\n\r\n", 1)[1]
        assert rest.startswith(expected), (url, rest[:80])
        if kind == "short":
            assert rest == expected, url  # nothing after the short body: the connection closed
        else:
            assert answer.count(b"HTTP/1.1 200 ") == 2, url  # the next answer, whole
            assert b"slept 0ms\n" in rest, url

    def logged() -> list[dict[str, object]]:
        return [json.loads(line) for line in proxy.log_text().splitlines() if rid in line]

    def access() -> list[object]:  # written once the answer is out: the client may be first
        return [entry["bytes"] for entry in logged() if entry.get("event") == "request"]

    assert wait_for(lambda: access() != [])
    assert access() == [2 if kind == "long" else size]
    warned = [entry["event"] for entry in logged() if entry.get("level") == "warning"]
    assert len(warned) == 1  # once per answer, however many chunks went past the length


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_body_php_never_reads_gets_504_after_the_send_timeout(runtime: str) -> None:
    """Every PHP child stuck: the body fills the buffers, and the client gets a 504, not a hang.

    nginx answers 504 after ``fastcgi_send_timeout`` (the time between two
    writes to the backend) in the same case.
    """
    size = 32 << 20  # more than the socket buffers between strangler and PHP hold
    with socket.create_server(("127.0.0.1", 0), backlog=16) as deaf:  # never accepted
        address = f"127.0.0.1:{deaf.getsockname()[1]}"
        text = build_config(address, SLOW_ROOT, runtime=runtime)
        text = text.replace("pool_size = 4\n", 'pool_size = 4\nsend_timeout = "1s"\n')
        with (
            serving(lambda: Strangler(text)) as s,
            socket.create_connection(_address(s.url), timeout=15) as sock,
        ):
            head = f"POST /sleep.php HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
            sock.sendall(head.encode())

            def send_body() -> None:
                with contextlib.suppress(OSError):  # cut off once the 504 is sent
                    sock.sendall(b"x" * size)

            sender = threading.Thread(target=send_body, daemon=True)
            sender.start()
            answer = sock.recv(65536)
            assert status_of(answer) == 504, answer[:200]
            assert b"x-request-id: " in answer.lower()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_idle_connections_cannot_lock_out_a_client(php_fpm: PhpFpm, runtime: str) -> None:
    """300 silent connections against a 256-descriptor limit: a real request is still served."""
    text = build_config(php_fpm.address, SLOW_ROOT, runtime=runtime)
    with serving(lambda: Strangler(text, nofile=256)) as s:
        socks = [socket.create_connection(_address(s.url), timeout=10) for _ in range(300)]
        try:
            answer = exchange(s.url, b"GET /sleep.php?ms=0 HTTP/1.0\r\n\r\n", wait=10)
            assert status_of(answer) == 200
            assert "connection_limit_reached" not in s.log_text()  # room was made, none refused
        finally:
            for sock in socks:
                sock.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_busy_connections_over_the_limit_get_503(php_fpm: PhpFpm, runtime: str) -> None:
    """With every connection busy, one more is refused with a 503, not left to hang."""
    text = build_config(
        php_fpm.address, SLOW_ROOT, runtime=runtime, server_extra="max_connections = 2"
    )
    with serving(lambda: Strangler(text)) as s:
        threads = [
            threading.Thread(target=httpx.get, args=(s.url + "/sleep.php?ms=1500",))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        time.sleep(0.5)  # both requests are in PHP now
        answer = exchange(s.url, b"GET /sleep.php?ms=0 HTTP/1.0\r\n\r\n")
        for t in threads:
            t.join(10)
        assert status_of(answer) == 503
        assert b"connection limit reached" in answer


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_connection_during_graceful_stop_is_refused(php_fpm: PhpFpm, runtime: str) -> None:
    """On SIGTERM the listening socket closes at once: new clients are refused, not parked."""
    text = build_config(php_fpm.address, SLOW_ROOT, runtime=runtime)
    with serving(lambda: Strangler(text)) as s:
        result: dict[str, httpx.Response] = {}
        slow = threading.Thread(
            target=lambda: result.update(r=httpx.get(s.url + "/sleep.php?ms=3000", timeout=20))
        )
        slow.start()
        time.sleep(0.5)
        s.signal(signal.SIGTERM)
        refused = False
        deadline = time.monotonic() + 2  # well before the request in flight ends
        while not refused and time.monotonic() < deadline:
            try:
                socket.create_connection(_address(s.url), timeout=1).close()
                time.sleep(0.05)
            except ConnectionRefusedError:
                refused = True
        in_flight_done = "r" in result
        slow.join(20)
        assert refused
        assert not in_flight_done
        assert result["r"].status_code == 200  # the request in flight still finished
