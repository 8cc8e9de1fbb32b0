"""``Request.php`` and ``Request.target`` against real PHP-FPM, over the same raw requests.

One strangler serves two hosts: ``php.test`` goes to PHP-FPM in legacy mode,
where ``tests/apps/phpview`` echoes the CGI params PHP sees and the
``json_last_error()`` of the body; ``py.test`` goes to a migrated route whose
handler (``php_view_handlers:echo``) answers the same from ``Request.php``
and ``migrated.php``.  Each request of the corpus is sent byte for byte to
both (raw targets with dot segments, duplicate slashes, percent-encoded
unreserved characters; JSON bodies malformed in each encoding), and the
answers must be equal.  Run once with a front controller and once with
per-path scripts, the backend's two ways of finding a script.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from ops.services import PhpFpm, Strangler, build_config
from tests.conftest import REPO_ROOT, serving

pytestmark = pytest.mark.service
ROOT = REPO_ROOT / "tests" / "apps" / "phpview" / "public"
ROUTES = """
[[routes]]
name = "ported"
match = { prefix = "/", host = ["py.test"] }
mode = "migrated"
handler = "tests.migrated.php_view_handlers:echo"
"""
TARGETS = [
    "/v1/events",
    "/v1//events",
    "//v1/events",
    "/v1/./events",
    "/v1/../v1/events",
    "/v1/%65vents",
    "/v1/%2e/events",
    "/%7Ev1/events",
    "/v1/ev%20ents",
    "/v1/events/",
    "/v1/events?x=1&y=%20&z",
    "/v1/events?",
    "/index.php",
    "/index.php/v1//events",
    "/script.php",
    "/script.php/a/./b",
    "/sc%72ipt.php/x",
    "/dir/",
    "/dir",
    "/static.txt",
    "/",
]
EVENT = '{"type":"signup","name":"\u00e9"}'
# Each body, and whether request.json() (strict, not PHP) takes it.
BODIES = {
    "utf-8": (EVENT.encode(), True),
    "utf-8-bom": (EVENT.encode("utf-8-sig"), False),
    "utf-16": (EVENT.encode("utf-16"), False),
    "utf-16-le": (EVENT.encode("utf-16-le"), False),
    "utf-16-be": (EVENT.encode("utf-16-be"), False),
    "utf-32": (EVENT.encode("utf-32"), False),
    "latin-1": (EVENT.encode("latin-1"), False),
    "truncated": (EVENT.encode()[:-1], False),
    "nan": (b'{"a":NaN}', False),
    "lone-surrogate": (b'{"a":"\\ud800"}', False),
    "nul-name": (b'{"\\u0000":1}', True),  # PHP refuses it as a property name only
    "control-char": (b'{"a":"\x01"}', False),
    "deep": (b"[" * 64 + b"]" * 64, True),
    "too-deep-for-request-json": (b"[" * 65 + b"]" * 65, False),
    "too-deep-for-php": (b"[" * 512 + b"]" * 512, False),
}


@pytest.fixture(scope="module", params=["front-controller", "per-path-scripts"])
def proxy(request: pytest.FixtureRequest, php_fpm: PhpFpm) -> Iterator[Strangler]:
    """strangler with PHP on php.test and the echo handler on py.test."""
    front = "/index.php" if request.param == "front-controller" else None
    text = build_config(php_fpm.address, ROOT, front_controller=front, extra_routes=ROUTES)
    with serving(lambda: Strangler(text)) as s:
        yield s


def both(proxy: Strangler, target: str, body: bytes = b"") -> tuple[tuple[int, bytes], ...]:
    """(status, body) from PHP and from the handler, and the handler's response."""
    answers = []
    for host in ("php.test", "py.test"):
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.putrequest(
            "POST" if body else "GET", target, skip_host=True, skip_accept_encoding=True
        )
        conn.putheader("Host", host)
        if body:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        answers.append((response.status, response.read(), response.getheaders()))
        conn.close()
    return tuple(answers)  # type: ignore[return-value]


def _is_script(status: int, body: bytes) -> bool:
    return status == 200 and body.startswith(b'{"server":')


@pytest.mark.parametrize("target", TARGETS)
def test_the_handler_sees_what_php_sees_for_each_raw_target(proxy: Strangler, target: str) -> None:
    """REQUEST_URI, SCRIPT_NAME, PATH_INFO (and the rest) are PHP's own, byte for byte."""
    (php_status, php_body, _), (py_status, py_body, py_headers) = both(proxy, target)
    headers = dict(py_headers)
    if not _is_script(php_status, php_body):  # a file, a redirect or a 404: no PHP ran
        assert py_status == 404, (php_status, php_body, py_body)
        return
    assert (py_status, py_body) == (php_status, php_body)
    server = json.loads(php_body)["server"]
    assert headers["x-target"] == server["REQUEST_URI"]
    assert headers["x-raw-path"] == target.partition("?")[0]


def test_requests_php_routes_differently_reach_the_handler_as_one_path(proxy: Strangler) -> None:
    """The normalised path hides what the raw target shows: the handler can tell them apart."""
    seen = {}
    for target in ("/v1/events", "/v1//events", "//v1/events", "/v1/./events", "/v1/%65vents"):
        _, (status, _, headers) = both(proxy, target)
        if status == 200:
            seen[target] = (dict(headers)["x-path"], dict(headers)["x-target"])
    if not seen:  # per-path scripts: none of these is a script, all are 404 on both sides
        return
    assert {path for path, _ in seen.values()} == {"/v1/events"}
    assert [target for _, target in seen.values()] == list(seen)


@pytest.mark.parametrize("name", list(BODIES))
def test_php_json_decode_and_the_port_agree_on_each_body(proxy: Strangler, name: str) -> None:
    """json_last_error() of PHP and of migrated.php are equal; request.json() is strict."""
    body, strict_takes_it = BODIES[name]
    (php_status, php_body, _), (py_status, py_body, py_headers) = both(proxy, "/index.php", body)
    assert (py_status, py_body) == (php_status, php_body)
    strict = dict(py_headers)["x-strict-json"]
    assert (strict == "ok") == strict_takes_it, strict
