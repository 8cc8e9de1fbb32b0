"""strangler serve as a whole process: bad input, reloads, shutdown, admin, CLI.

Each test runs the real supervisor and workers in front of a real PHP-FPM and
checks that the proxy answers bad input with a clear 4xx and keeps serving.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.services import PhpFpm, Strangler, build_config
from tests.conftest import DEMO_ROOT, REPO_ROOT, serving
from tests.waiting import wait_for

pytestmark = pytest.mark.service
SLOW_ROOT = REPO_ROOT / "tests" / "apps" / "slow" / "public"


RUNTIMES = pytest.mark.parametrize("runtime", ["uvloop", "trio"])


@pytest.fixture(scope="module", params=["uvloop", "trio"])
def proxy(php_fpm: PhpFpm, request: pytest.FixtureRequest) -> Iterator[Strangler]:
    """strangler in front of the demo app, /conf/ denied, 1 MiB body limit, on each runtime."""
    runtime = request.param
    text = build_config(php_fpm.address, DEMO_ROOT, deny=["/conf/"], runtime=runtime).replace(
        'max_body_size = "64MiB"', 'max_body_size = "1MiB"'
    )
    with serving(lambda: Strangler(text)) as s:
        yield s


def raw(url: str, data: bytes) -> bytes:
    """Send raw bytes to the proxy and return whatever comes back before it closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_still_serving(proxy: Strangler) -> None:
    r = httpx.get(proxy.url + "/index.php")
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", b"400"),
        (b"GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"400"),
        (b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"400"),
        (b"GET /info.php%00.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"400"),
        (b"GET /conf/secret.ini HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"403"),
    ],
    ids=["garbage", "no-colon", "bad-percent", "traversal", "nul", "deny"],
)
def test_bad_requests_get_4xx(proxy: Strangler, request_bytes: bytes, status: bytes) -> None:
    """Malformed HTTP, bad encodings and traversal get a 4xx and the proxy keeps serving."""
    answer = raw(proxy.url, request_bytes)
    assert answer.split(b" ", 2)[1] == status, answer[:200]
    assert_still_serving(proxy)


def test_expect_100_continue_is_answered_before_the_body(proxy: Strangler) -> None:
    """A client that asks first (``Expect: 100-continue``) is told to go on, then answered."""
    host, port = proxy.url.removeprefix("http://").split(":")
    body = b"name=ada&team=strangler"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /info.php HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 ")  # Continue (hypercorn: no phrase)
        sock.sendall(body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, page = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert json.loads(page)["post"] == {"name": "ada", "team": "strangler"}


def test_a_websocket_handshake_gets_the_page_and_serving_goes_on(proxy: Strangler) -> None:
    """The proxy serves no WebSockets: a handshake to PHP is answered with the page."""
    handshake = {
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    with httpx.Client(base_url=proxy.url) as client:
        r = client.get("/index.php", headers=handshake)
        assert r.status_code == 200
        assert "<html" in r.text.lower()
        assert client.get("/index.php").status_code == 200  # the same connection, if kept


def test_folded_header_cannot_inject_a_line(proxy: Strangler) -> None:
    """An obs-folded header is refused or unfolded: PHP never sees a CR or LF in a value."""
    request = (
        b"GET /info.php HTTP/1.1\r\nHost: x\r\n"
        b"X-A: 1\r\n X-Injected: 2\r\nConnection: close\r\n\r\n"
    )
    answer = raw(proxy.url, request)
    status = answer.split(b" ", 2)[1]
    assert status in {b"200", b"400"}
    if status == b"200":
        assert b"HTTP_X_INJECTED" not in answer
        assert b"\\n" not in answer.split(b"HTTP_X_A", 1)[1].split(b",", 1)[0]
    assert_still_serving(proxy)


def test_oversized_body_is_413(proxy: Strangler) -> None:
    """A body over max_body_size is refused, declared or chunked."""
    r = httpx.post(proxy.url + "/upload.php", content=b"x" * (1024 * 1024 + 1))
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * 65536

    r = httpx.post(proxy.url + "/upload.php", content=chunks())
    assert r.status_code == 413
    assert_still_serving(proxy)


def test_httpoxy_and_underscore_headers_never_reach_php(proxy: Strangler) -> None:
    """The Proxy header and header names with underscores are not passed to PHP."""
    r = httpx.get(
        proxy.url + "/info.php",
        headers={"Proxy": "http://evil:1", "X_Forwarded_Host": "evil", "X-Ok": "yes"},
    )
    headers = r.json()["headers"]
    assert "HTTP_PROXY" not in headers
    assert headers.get("HTTP_X_OK") == "yes"
    assert not any("EVIL" in str(v).upper() for v in headers.values())


def test_request_id_round_trip(proxy: Strangler) -> None:
    """The client's X-Request-Id reaches PHP and comes back; the access log carries it."""
    r = httpx.get(proxy.url + "/info.php", headers={"X-Request-Id": "trace-77"})
    assert r.headers["x-request-id"] == "trace-77"
    assert r.json()["headers"]["HTTP_X_REQUEST_ID"] == "trace-77"
    made = httpx.get(proxy.url + "/info.php")
    assert made.json()["headers"]["HTTP_X_REQUEST_ID"] == made.headers["x-request-id"]
    deadline = time.monotonic() + 5
    while '"request_id": "trace-77"' not in proxy.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '"request_id": "trace-77"' in proxy.log_text()


def test_admin_endpoints(proxy: Strangler) -> None:
    """Health, readiness, routes and metrics answer on the admin listener."""
    httpx.get(proxy.url + "/index.php")
    assert httpx.get(proxy.admin_url + "/health").json()["status"] == "ok"
    ready = httpx.get(proxy.admin_url + "/ready")
    assert (ready.status_code, ready.json()["backends"]) == (200, {"php": "ok"})
    names = [r["name"] for r in httpx.get(proxy.admin_url + "/routes").json()["routes"]]
    assert (names[0], names[-1]) == ("deny-0", "default")
    metrics = ""
    for _ in range(30):
        metrics = httpx.get(proxy.admin_url + "/metrics").text
        if "strangler_pool_connections_idle" in metrics:
            break
        time.sleep(0.1)
    assert 'strangler_requests_total{mode="legacy",route="everything",status="2xx"}' in metrics
    assert "strangler_upstream_duration_seconds_bucket" in metrics
    assert "strangler_pool_connections_idle" in metrics


def test_routes_command(proxy: Strangler) -> None:
    """`strangler routes --admin URL` prints the running route table."""
    out = subprocess.run(
        [sys.executable, "-m", "proxy", "routes", "--admin", proxy.admin_url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for word in ("deny-0", "everything", "legacy"):
        assert word in out


def test_check_config_command(tmp_path: Path) -> None:
    """check-config prints the table for a good file and a precise error for a bad one."""
    good = tmp_path / "good.toml"
    good.write_text(
        build_config("127.0.0.1:9000", DEMO_ROOT)
        .replace("{port}", "8080")
        .replace("{admin_port}", "9901")
    )
    ok = subprocess.run(
        [sys.executable, "-m", "proxy", "check-config", str(good)], capture_output=True, text=True
    )
    assert ok.returncode == 0
    assert "everything" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('mode = "legacy"', 'mode = "shaddow"'))
    res = subprocess.run(
        [sys.executable, "-m", "proxy", "check-config", str(bad)], capture_output=True, text=True
    )
    assert res.returncode == 1
    assert f"{bad}: routes[0].mode: unknown mode 'shaddow'" in res.stderr


def test_reload_keeps_running_config_on_bad_file(php_fpm: PhpFpm) -> None:
    """SIGHUP and POST /reload apply a good file, refuse a bad one, and keep serving."""
    with serving(lambda: Strangler(backend_address=php_fpm.address, document_root=DEMO_ROOT)) as s:
        assert httpx.get(s.url + "/gone").status_code == 404
        original = s.config_path.read_text()
        gone = '[[routes]]\nname = "gone"\nmatch = { path = "/gone" }\nstatus = 410\n\n'
        s.config_path.write_text(original.replace("[[routes]]", gone + "[[routes]]", 1))
        s.signal(signal.SIGHUP)
        assert wait_for(lambda: httpx.get(s.url + "/gone").status_code == 410, 5.0)
        s.config_path.write_text(original.replace("[[routes]]", "[[routes]]\nbogus = 1", 1))
        r = httpx.post(s.admin_url + "/reload")
        assert r.status_code == 400
        assert "routes[0].bogus: unknown key" in r.json()["message"]
        s.signal(signal.SIGHUP)
        time.sleep(0.5)
        assert httpx.get(s.url + "/gone").status_code == 410
        assert "reload_refused" in s.log_text()


def in_flight(url: str, ms: int) -> tuple[threading.Thread, dict[str, httpx.Response]]:
    """Start GET sleep.php in a thread and return once PHP is running it."""
    marker = Path(tempfile.gettempdir()) / f"strangler-started-{uuid.uuid4().hex}"
    result: dict[str, httpx.Response] = {}

    def get() -> None:
        result["r"] = httpx.get(f"{url}/sleep.php?ms={ms}&started={marker.name}", timeout=30)

    thread = threading.Thread(target=get)
    thread.start()
    assert wait_for(marker.exists, 20.0)
    marker.unlink()
    return thread, result


@RUNTIMES
def test_graceful_shutdown_finishes_in_flight(php_fpm: PhpFpm, runtime: str) -> None:
    """On SIGTERM a request in flight completes; then the port stops accepting."""
    text = build_config(php_fpm.address, SLOW_ROOT, runtime=runtime)
    with serving(lambda: Strangler(text)) as s:
        thread, result = in_flight(s.url, 1500)
        s.signal(signal.SIGTERM)
        thread.join(30)
        assert (result["r"].status_code, result["r"].text) == (200, "slept 1500ms\n")
        assert wait_for(lambda: _refused(s.url), 5.0)


@RUNTIMES
def test_every_php_child_busy_is_bounded(runtime: str) -> None:
    """With PHP-FPM taking no work, requests fail with 504/503 within the configured bounds."""
    with serving(lambda: PhpFpm(max_children=1)) as fpm:
        text = build_config(fpm.address, SLOW_ROOT, pool_size=1, runtime=runtime).replace(
            "pool_size = 1", 'pool_size = 1\nread_timeout = "1s"\npool_acquire_timeout = "300ms"'
        )
        with serving(lambda: Strangler(text)) as s:
            fpm.pause()  # every child (and the master) stopped: connections queue, nothing answers
            try:
                # Bounds: read_timeout 1 s, pool_acquire_timeout 0.3 s.  The client's 5 s
                # timeout only detects a hang: a hung request never records its status.
                statuses: list[int] = []
                threads = [
                    threading.Thread(
                        target=lambda: statuses.append(
                            httpx.get(s.url + "/sleep.php?ms=0", timeout=5).status_code
                        )
                    )
                    for _ in range(3)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(10)
            finally:
                fpm.resume()
            assert sorted(statuses) == [503, 503, 504]
            assert_still_serving_path(s, "/sleep.php?ms=0")


def assert_still_serving_path(proxy: Strangler, path: str) -> None:
    assert wait_for(lambda: httpx.get(proxy.url + path, timeout=5).status_code == 200, 5.0)


def _refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return True
    return False
