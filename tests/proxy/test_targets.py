"""A route's new side as an HTTP service or a mounted ASGI app, end to end on every runtime.

A real PHP-FPM is legacy; the new side is a second server process (hypercorn
serving ``tests/apps/service/app.py``) or a Starlette app run inside the
workers.  Each mode is checked from the client's side: migrated and canary
answer from the new side, shadow answers legacy's bytes while the service
receives the copy and the comparison is counted, and a failing service falls
back to legacy.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from ops.services import AsgiServer, PhpFpm, Strangler, build_config, free_port
from tests.conftest import DEMO_ROOT, serving

pytestmark = pytest.mark.service

ROUTES = """
[[routes]]
name = "svc-migrated"
match = {{ prefix = "/svc/" }}
mode = "migrated"
service = "{service}/echo"

[[routes]]
name = "svc-canary"
match = {{ prefix = "/canary/" }}
mode = "canary"
service = "{service}/v2"
percent = 100

[[routes]]
name = "svc-shadow"
match = {{ path = "/info.php" }}
mode = "shadow"
service = "{service}/v2"

[[routes]]
name = "svc-shadow-slow"
match = {{ path = "/headers.php" }}
mode = "shadow"
service = "{service}/slow"
timeout = "200ms"

[[routes]]
name = "svc-failing"
match = {{ path = "/fail" }}
mode = "migrated"
service = "{service}"
backend = "php"

[[routes]]
name = "svc-down"
match = {{ path = "/index.php" }}
mode = "migrated"
service = "http://127.0.0.1:{dead_port}"

[[routes]]
name = "svc-teapot"
match = {{ prefix = "/status/" }}
mode = "migrated"
service = "{service}"

[[routes]]
name = "asgi"
match = {{ prefix = "/api/" }}
mode = "migrated"
asgi = "tests.apps.service.starlette_app:app"
"""


@pytest.fixture(scope="module")
def service() -> Iterator[AsgiServer]:
    with serving(lambda: AsgiServer("tests.apps.service.app:app")) as server:
        yield server


@pytest.fixture(scope="module", params=["uvloop", "asyncio", "trio"])
def proxy(
    request: pytest.FixtureRequest, php_fpm: PhpFpm, service: AsgiServer
) -> Iterator[Strangler]:
    routes = ROUTES.format(service=service.url, dead_port=free_port())
    config = build_config(php_fpm.address, DEMO_ROOT, runtime=request.param, extra_routes=routes)
    with serving(lambda: Strangler(config_text=config)) as running:
        yield running


def test_a_migrated_route_answers_from_the_service_with_the_request_forwarded(
    proxy: Strangler,
) -> None:
    answer = httpx.post(
        proxy.url + "/svc/orders?id=7",
        content=b'{"n": 1}',
        headers={
            "x-forwarded-for": "203.0.113.9",
            "connection": "keep-alive, x-secret",
            "x-secret": "for this hop only",
            "x-kept": "yes",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["x-served-by"] == "service"
    echoed = json.loads(answer.content)
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/echo/svc/orders"
    assert echoed["query"] == "id=7"
    assert echoed["body"] == '{"n": 1}'
    sent = echoed["headers"]
    assert sent["x-forwarded-host"].startswith("127.0.0.1:")
    assert sent["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert sent["x-request-id"] == answer.headers["x-request-id"]
    assert sent["x-kept"] == "yes"
    assert "x-secret" not in sent  # named by Connection: it stays on the client's hop


def _raw_get(proxy: Strangler, target: bytes, *headers: bytes) -> tuple[bytes, bytes]:
    with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
        extra = b"".join(h + b"\r\n" for h in headers)
        sock.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"Connection: close\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_a_service_gets_the_path_the_route_matched(proxy: Strangler) -> None:
    """The normalised path, re-encoded, as nginx's proxy_pass with a URI sends it."""
    head, body = _raw_get(proxy, b"/svc//a/./b%2Fc?q=%41")
    assert head.startswith(b"HTTP/1.1 200 ")
    echoed = json.loads(body)
    assert echoed["raw_path"] == "/echo/svc/a/b/c"
    assert echoed["query"] == "q=%41"  # the query as sent


def test_a_fragment_cannot_send_a_service_elsewhere(proxy: Strangler) -> None:
    """``/admin#/../svc/x`` routes as ``/svc/x``; the service must see that, not ``/admin``."""
    head, body = _raw_get(proxy, b"/admin#/../svc/x")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body)["raw_path"] == "/echo/svc/x"


def test_a_client_cannot_forge_the_forwarded_headers(proxy: Strangler) -> None:
    head, body = _raw_get(
        proxy,
        b"/svc/f",
        b"X-Forwarded-Host: evil.example",
        b"X-Forwarded-Proto: https",
        b"X-Forwarded-For: 10.0.0.1",
        b"X-Forwarded-For: 10.0.0.2",
    )
    assert head.startswith(b"HTTP/1.1 200 ")
    sent = json.loads(body)["headers"]
    assert sent["x-forwarded-host"] == "x"
    assert sent["x-forwarded-proto"] == "http"
    assert sent["x-forwarded-for"] == "10.0.0.1, 10.0.0.2, 127.0.0.1"
    assert "user-agent" not in sent  # the client library names nobody
    assert "accept-encoding" not in sent  # nor asks for a compression the client did not


def test_the_forwarded_host_is_the_service_not_the_client(
    proxy: Strangler, service: AsgiServer
) -> None:
    echoed = httpx.get(proxy.url + "/svc/x").json()
    assert echoed["headers"]["host"] == service.url.removeprefix("http://")


def test_a_full_canary_answers_from_the_service(proxy: Strangler) -> None:
    answer = httpx.get(proxy.url + "/canary/anything")
    assert answer.status_code == 200
    assert answer.content == b'{"answer":"the new service"}'


def test_a_shadowed_route_answers_legacys_bytes_and_the_service_gets_the_copy(
    proxy: Strangler, service: AsgiServer
) -> None:
    answer = httpx.get(proxy.url + "/info.php?via=shadow")
    assert answer.status_code == 200
    assert b'"via": "shadow"' in answer.content  # info.php's JSON: legacy answered
    request_id = answer.headers["x-request-id"]
    deadline = time.monotonic() + 10
    while request_id not in httpx.get(service.url + "/_seen").json():
        assert time.monotonic() < deadline, "the service never received the shadow copy"
        time.sleep(0.05)
    assert _shadow_compared(proxy, "svc-shadow", "mismatch") >= 1


def test_a_slow_service_is_cut_off_as_a_shadow_and_the_client_gets_legacys_answer(
    proxy: Strangler,
) -> None:
    answer = httpx.get(proxy.url + "/headers.php")
    assert answer.status_code == 200
    assert b"late" not in answer.content
    # the copy overran the route's 200 ms budget: counted as skipped, never compared
    skips = _metric(
        proxy, "strangler_shadow_skips_total", 'route="svc-shadow-slow"', 'reason="timeout"'
    )
    assert skips >= 1
    compared = _metric(proxy, "strangler_shadow_compared_total", 'route="svc-shadow-slow"', wait=0)
    assert compared == 0


def _shadow_compared(proxy: Strangler, route: str, result: str) -> float:
    return _metric(
        proxy, "strangler_shadow_compared_total", f'route="{route}"', f'result="{result}"'
    )


def _metric(proxy: Strangler, name: str, *labels: str, wait: float = 10) -> float:
    """A series' value from the admin listener, waited for up to ``wait`` seconds (else 0)."""
    deadline = time.monotonic() + wait
    while True:
        for line in httpx.get(proxy.admin_url + "/metrics").text.splitlines():
            if line.startswith(name + "{") and all(label in line for label in labels):
                return float(line.split()[-1])
        if time.monotonic() > deadline:
            return 0.0
        time.sleep(0.1)


def test_a_service_that_answers_503_falls_back_to_legacy(proxy: Strangler) -> None:
    answer = httpx.get(proxy.url + "/fail")
    assert answer.status_code == 404  # legacy (PHP-FPM behind nginx rules) has no /fail
    assert b"down for maintenance" not in answer.content
    assert b"<center>strangler</center>" in answer.content


def test_a_service_that_cannot_be_reached_falls_back_to_legacy(proxy: Strangler) -> None:
    answer = httpx.get(proxy.url + "/index.php")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")  # the demo's index page


def test_a_post_to_a_failing_service_is_not_replayed_to_legacy(proxy: Strangler) -> None:
    answer = httpx.post(proxy.url + "/index.php", content=b"x")
    assert answer.status_code == 500  # POST is not in fallback_methods by default


def test_any_other_status_from_the_service_reaches_the_client(proxy: Strangler) -> None:
    answer = httpx.get(proxy.url + "/status/418")
    assert answer.status_code == 418
    assert answer.content == b"as asked\n"


def test_a_mounted_asgi_app_answers_with_its_lifespan_state(proxy: Strangler) -> None:
    answer = httpx.get(proxy.url + "/api/hello/ada?x=1")
    assert answer.status_code == 200
    assert answer.json() == {"who": "ada", "greeting": "started by the lifespan", "query": "x=1"}


def test_a_mounted_asgi_app_reads_the_body(proxy: Strangler) -> None:
    answer = httpx.post(proxy.url + "/api/echo", content=b"hello body")
    assert answer.status_code == 201
    assert answer.content == b"hello body"


def test_a_failing_asgi_app_falls_back_to_legacy(proxy: Strangler) -> None:
    answer = httpx.get(proxy.url + "/api/broken")
    assert answer.status_code == 404  # legacy's answer: no such file
    assert b"<center>strangler</center>" in answer.content
