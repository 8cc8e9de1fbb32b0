"""Differential tests: nginx is the reference oracle for strangler in legacy mode.

The same corpus of requests goes through nginx -> PHP-FPM and through
strangler -> the same PHP-FPM (on every runtime); the
answers must be identical in status, headers and body up to the differences
listed in ``_differential``.  Deliberate differences are not in the corpus and
are named here: the ``Proxy`` request header is never passed (httpoxy),
percent-encoded CR/LF in a path is refused with 400 (nginx passes it on), and
several satisfiable ranges get a 200 instead of nginx's multipart/byteranges.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from ops.services import Nginx, PhpFpm, Strangler
from tests.conftest import DEMO_ROOT, FRONTCONTROLLER_ROOT, MULTISCRIPT_ROOT, serving

from ._differential import (
    Answer,
    Case,
    assert_same,
    client,
    deterministic_bytes,
    fetch,
    info_json,
    multipart,
    same_session,
)

pytestmark = pytest.mark.service

FORM = ("content-type", "application/x-www-form-urlencoded")
JSON = ("content-type", "application/json")
SIGNUP = {"type": "signup", "user_id": 42, "email": " Ada@Example.COM ", "age": 36, "country": "de"}
UPLOAD_TYPE, UPLOAD_BODY = multipart(
    {"title": "five megabytes", "note": "café"},
    {
        "big": ("big.bin", "application/octet-stream", deterministic_bytes(5 * 1024 * 1024)),
        "small": ("notes é.txt", "text/plain", b"hello\r\n--not-a-boundary\r\n"),
    },
)
AVATAR_TYPE, AVATAR_BODY = multipart({}, {"avatar": ("me.png", "image/png", b"\x89PNG fake")})
WEBSOCKET_HANDSHAKE = (
    ("connection", "Upgrade"),
    ("upgrade", "websocket"),
    ("sec-websocket-version", "13"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
)
UTF8_ASSET = "/assets/menu%20du%20caf%C3%A9.txt"
# nginx's SERVER_NAME is the server block's ``server_name localhost;``, which a
# proxy cannot guess (it sends $host otherwise): translated as a fastcgi_param.
SERVER_BLOCK = {"SERVER_NAME": "localhost"}


def info(target: str, *headers: tuple[str, str], method: str = "GET", content: bytes = b"") -> Case:
    """A request to info.php, whose JSON is compared with SERVER_PORT masked."""
    return Case(method, target, headers, content, body=info_json)


DEMO_CASES = [
    pytest.param(Case("GET", "/"), id="index"),
    pytest.param(Case("GET", "/index.php?from=test"), id="index-php-query"),
    pytest.param(info("/info.php"), id="info-plain-get"),
    pytest.param(  # FastCGI has no upgrade: nginx answers the handshake with the page
        info("/info.php", *WEBSOCKET_HANDSHAKE), id="websocket-handshake-to-php"
    ),
    pytest.param(info("/info.php?a=1&a=2&arr[]=x&arr[]=y&arr[k]=z"), id="query-repeated-keys"),
    pytest.param(
        info("/info.php?empty=&flag&plus=a+b&amp=x%26y&sp=%20%2B"), id="query-empty-plus-amp"
    ),
    pytest.param(info("/info.php?q=caf%C3%A9&k%C3%A9y=%E2%82%AC"), id="query-utf8"),
    pytest.param(info("/info.php/extra/path?x=1"), id="path-info"),
    pytest.param(info("/info.php/caf%C3%A9/a%20b"), id="path-info-encoded"),
    pytest.param(info("/info.php/a%2Fb/"), id="path-info-encoded-slash"),
    pytest.param(info("/info.php/"), id="path-info-slash-only"),
    pytest.param(info("/info%2Ephp?x=1"), id="encoded-script-name"),
    pytest.param(info("/assets/../info.php"), id="dot-dot-segment"),
    pytest.param(info("/assets/%2e%2e/info.php"), id="encoded-dot-dot-segment"),
    pytest.param(info("/./info.php"), id="dot-segment"),
    pytest.param(info("//info.php"), id="merged-slashes"),
    pytest.param(info("/info.php", ("cookie", "a=1; b=two; c=x%20y")), id="cookies-in"),
    pytest.param(info("/info.php", ("cookie", "a=1"), ("cookie", "b=2")), id="two-cookie-headers"),
    pytest.param(
        info("/info.php", ("x-dup", "one"), ("x-dup", "two"), ("x_under", "no"), ("x-empty", "")),
        id="custom-headers",
    ),
    pytest.param(
        info("/info.php", ("authorization", "Basic YWRhOnNlY3JldA==")), id="basic-auth-header"
    ),
    # strangler drops Proxy (httpoxy); nginx passes HTTP_PROXY, which PHP-FPM itself hides.
    pytest.param(info("/info.php", ("proxy", "http://attacker.invalid:3128")), id="httpoxy"),
    pytest.param(info("/info.php", method="HEAD"), id="head-page"),
    pytest.param(
        info("/info.php?x=1", FORM, method="POST", content=b"name=Ada+L&tags[]=a&tags[]=b&amp=%26"),
        id="post-form",
    ),
    pytest.param(
        info("/info.php", JSON, method="POST", content=b'{"a": [1, 2]}'), id="post-json-info"
    ),
    pytest.param(info("/info.php", method="DELETE"), id="delete-method"),
    pytest.param(info("/info.php", FORM, method="POST"), id="post-empty-body"),
    pytest.param(info("/info.php", JSON, method="GET"), id="get-with-content-type"),
    pytest.param(
        Case("POST", "/info.php", (FORM,), b"chunked=yes&n=1", body=info_json, chunked=True),
        id="post-chunked-body",
    ),
    pytest.param(
        Case("POST", "/validate.php", (JSON,), json.dumps(SIGNUP).encode()), id="validate-valid"
    ),
    pytest.param(
        Case("POST", "/validate.php", (JSON,), b'{"type": "signup", "age": "old"}'),
        id="validate-invalid-422",
    ),
    pytest.param(Case("POST", "/validate.php", (JSON,), b"not json {"), id="validate-not-json-400"),
    pytest.param(Case("GET", "/validate.php"), id="validate-get-405"),
    pytest.param(
        Case("POST", "/upload.php", (("content-type", UPLOAD_TYPE),), UPLOAD_BODY),
        id="upload-5mb-multipart",
    ),
    pytest.param(Case("GET", "/upload.php"), id="upload-get-405"),
    pytest.param(Case("GET", "/headers.php"), id="several-set-cookies"),
    pytest.param(Case("GET", "/form.php"), id="form-get"),
    pytest.param(
        Case("POST", "/form.php", (FORM,), b"name=Ada&email=ada%40example.com&token=bad"),
        id="form-post-bad-token-400",
    ),
    pytest.param(
        Case("GET", "/form.php?done=1", (("cookie", "flash=Thanks%2C%20Ada%21"),)),
        id="form-done-with-flash-cookie",
    ),
    pytest.param(Case("GET", "/redirect.php"), id="php-redirect-302"),
    pytest.param(Case("GET", "/assets"), id="directory-redirect-301"),
    pytest.param(Case("GET", "/assets?x=1&y=2"), id="directory-redirect-keeps-query"),
    pytest.param(Case("HEAD", "/assets"), id="directory-redirect-head"),
    pytest.param(Case("GET", "/assets/"), id="directory-without-index-403"),
    pytest.param(Case("GET", "/notfound.php"), id="php-404"),
    pytest.param(Case("GET", "/missing.php"), id="missing-script-404"),
    pytest.param(Case("GET", "/missing.php/extra"), id="missing-script-path-info-404"),
    pytest.param(Case("GET", "/caf%C3%A9.php"), id="utf8-missing-script-404"),
    pytest.param(Case("GET", "/nothing/here.txt"), id="missing-static-404"),
    pytest.param(Case("GET", "/INFO.PHP"), id="uppercase-script-404"),
    pytest.param(Case("GET", "/assets/style.css/"), id="file-with-slash-404"),
    pytest.param(Case("OPTIONS", "/assets/style.css"), id="static-options-405"),
    pytest.param(Case("HEAD", "/missing.php"), id="missing-script-head-404"),
    pytest.param(Case("GET", "/assets/style.css"), id="static-css"),
    pytest.param(Case("GET", "/assets/logo.png"), id="static-png"),
    pytest.param(Case("GET", "/assets/app.js"), id="static-js"),
    pytest.param(Case("GET", UTF8_ASSET), id="static-space-and-utf8-name"),
    pytest.param(Case("HEAD", "/assets/style.css"), id="static-head"),
    pytest.param(Case("GET", "/assets/style.css?v=3"), id="static-with-query"),
    pytest.param(Case("GET", "/assets/style.css", (("range", "bytes=0-9"),)), id="range-206"),
    pytest.param(Case("GET", UTF8_ASSET, (("range", "bytes=-7"),)), id="range-suffix-206"),
    pytest.param(Case("GET", "/assets/style.css", (("range", "bytes=9999-"),)), id="range-416"),
    pytest.param(Case("POST", "/assets/style.css", (FORM,), b"a=1"), id="static-post-405"),
    pytest.param(Case("GET", "/conf/secret.ini"), id="deny-403"),
    pytest.param(Case("HEAD", "/conf/secret.ini"), id="deny-head-403"),
    pytest.param(Case("GET", "/stream.php?chunks=5&delay_ms=20"), id="stream-full-body"),
]

MULTISCRIPT_CASES = [
    pytest.param(Case("GET", "/admin/"), id="directory-index"),
    pytest.param(Case("GET", "/admin/?tab=users"), id="directory-index-query"),
    pytest.param(Case("GET", "/admin"), id="directory-redirect-301"),
    pytest.param(Case("GET", "/admin/index.php"), id="index-script"),
    pytest.param(Case("GET", "/admin/."), id="directory-dot-segment"),
    pytest.param(Case("GET", "/admin/index.php/extra?q=1"), id="index-script-path-info"),
    pytest.param(Case("GET", "/api.php"), id="api-root"),
    pytest.param(Case("GET", "/api.php/users"), id="api-path-info"),
    pytest.param(Case("GET", "/api.php/users/9"), id="api-utf8-json"),
    pytest.param(Case("GET", "/api.php/users/99"), id="api-404-json"),
    pytest.param(Case("POST", "/api.php/users", (JSON,), b"{}"), id="api-post-405"),
    pytest.param(Case("GET", "/css/site.css"), id="static-css"),
    pytest.param(Case("GET", "/login.php"), id="login-form"),
    pytest.param(
        Case("POST", "/login.php", (FORM,), b"user=alice&password=nope"), id="login-wrong-401"
    ),
    pytest.param(Case("GET", "/profile.php"), id="profile-without-session-302"),
    pytest.param(Case("GET", "/_common.php"), id="include-file-empty"),
]

FRONTCONTROLLER_CASES = [
    pytest.param(Case("GET", "/"), id="home"),
    pytest.param(Case("GET", "/users/42"), id="pretty-url"),
    pytest.param(Case("HEAD", "/users/42"), id="pretty-url-head"),
    pytest.param(Case("GET", "/posts?page=2"), id="pretty-url-query"),
    pytest.param(Case("GET", "/api/items"), id="api-get"),
    pytest.param(Case("POST", "/api/items", (JSON,), b'{"name": "plum"}'), id="api-post-201"),
    pytest.param(Case("POST", "/api/items", (JSON,), b'{"name": ""}'), id="api-post-422"),
    pytest.param(Case("GET", "/no/such/page"), id="framework-404"),
    pytest.param(Case("GET", "/users/caf%C3%A9"), id="framework-404-utf8"),
    pytest.param(Case("GET", "/old"), id="framework-redirect-301"),
    pytest.param(Case("GET", "/new"), id="framework-new-page"),
    pytest.param(Case("GET", "/index.php"), id="front-controller-direct"),
    pytest.param(Case("GET", "/index.php/extra"), id="front-controller-path-fallback"),
    pytest.param(Case("GET", "/missing.php"), id="missing-script-404"),
    pytest.param(Case("GET", "/assets/app.css"), id="static-asset"),
    pytest.param(Case("GET", "/favicon.ico"), id="static-favicon"),
    pytest.param(Case("GET", "/assets"), id="directory-redirect-301"),
    pytest.param(Case("GET", "/assets/"), id="directory-without-index-403"),
]


@dataclass
class Pair:
    """Clients of nginx and of strangler in front of the same app and PHP-FPM."""

    nginx: httpx.Client
    ours: httpx.Client

    def both(self, case: Case) -> tuple[Answer, Answer]:
        """Send ``case`` to nginx, then to strangler."""
        return fetch(self.nginx, case), fetch(self.ours, case)


@pytest.fixture(scope="module", params=["uvloop", "asyncio", "trio"])
def runtime(request: pytest.FixtureRequest) -> str:
    """The strangler runtime under test: every one drives the same engine."""
    return str(request.param)


def _runtime_settings(runtime: str) -> dict[str, Any]:
    return {"runtime": runtime}


def _pair(nginx: Nginx, ours: Strangler) -> Iterator[Pair]:
    with client(nginx.url) as n, client(ours.url) as s:
        yield Pair(n, s)


@pytest.fixture(scope="module")
def demo(php_fpm: PhpFpm, nginx_demo: Nginx, runtime: str) -> Iterator[Pair]:
    """nginx and strangler in front of the demo app (per-path scripts, /conf/ denied)."""
    make = lambda: Strangler(  # noqa: E731
        backend_address=php_fpm.address,
        document_root=DEMO_ROOT,
        deny=["/conf/"],
        **_runtime_settings(runtime),
        params=SERVER_BLOCK,
    )
    with serving(make) as ours:
        yield from _pair(nginx_demo, ours)


@pytest.fixture(scope="module")
def multiscript(php_fpm: PhpFpm, nginx_multiscript: Nginx, runtime: str) -> Iterator[Pair]:
    """nginx and strangler in front of the multi-script app."""
    make = lambda: Strangler(  # noqa: E731
        backend_address=php_fpm.address,
        document_root=MULTISCRIPT_ROOT,
        **_runtime_settings(runtime),
        params=SERVER_BLOCK,
    )
    with serving(make) as ours:
        yield from _pair(nginx_multiscript, ours)


@pytest.fixture(scope="module")
def frontcontroller(php_fpm: PhpFpm, nginx_frontcontroller: Nginx, runtime: str) -> Iterator[Pair]:
    """nginx and strangler in front of the front-controller app."""
    make = lambda: Strangler(  # noqa: E731
        backend_address=php_fpm.address,
        document_root=FRONTCONTROLLER_ROOT,
        front_controller="/index.php",
        **_runtime_settings(runtime),
        params=SERVER_BLOCK,
    )
    with serving(make) as ours:
        yield from _pair(nginx_frontcontroller, ours)


@pytest.mark.parametrize("case", DEMO_CASES)
def test_demo_app_answers_like_nginx(demo: Pair, case: Case) -> None:
    """A request to the demo app gets the answer nginx gives."""
    assert_same(*demo.both(case), body=case.body)


@pytest.mark.parametrize("case", MULTISCRIPT_CASES)
def test_multiscript_app_answers_like_nginx(multiscript: Pair, case: Case) -> None:
    """A request to the multi-script app gets the answer nginx gives."""
    assert_same(*multiscript.both(case), body=case.body)


@pytest.mark.parametrize("case", FRONTCONTROLLER_CASES)
def test_frontcontroller_app_answers_like_nginx(frontcontroller: Pair, case: Case) -> None:
    """A request to the front-controller app gets the answer nginx gives."""
    assert_same(*frontcontroller.both(case), body=case.body)


@pytest.mark.parametrize(
    "path", [pytest.param("/assets/style.css", id="css"), pytest.param(UTF8_ASSET, id="utf8-name")]
)
def test_conditional_get_answers_like_nginx(demo: Pair, path: str) -> None:
    """A GET, then If-None-Match and If-Modified-Since from its validators, all match nginx."""
    first = demo.both(Case("GET", path))
    assert_same(*first)
    etag, modified = first[0].header("etag"), first[0].header("last-modified")
    assert etag
    assert modified
    steps = [
        Case("GET", path, (("if-none-match", etag),)),
        Case("GET", path, (("if-none-match", f'"other", W/{etag}'),)),
        Case("GET", path, (("if-modified-since", modified),)),
        Case("GET", path, (("if-modified-since", formatdate(0, usegmt=True)),)),
        Case("GET", path, (("if-match", '"other"'),)),
        Case("GET", path, (("range", "bytes=2-5"), ("if-range", etag))),
        Case("HEAD", path, (("if-none-match", etag),)),
    ]
    for step in steps:
        nginx, ours = demo.both(step)
        assert nginx.status in (200, 206, 304, 412), step
        assert_same(nginx, ours)


def _flow(http: httpx.Client, steps: list[Case]) -> list[Answer]:
    """Run ``steps`` in order, each carrying the cookies set so far."""
    jar: dict[str, str] = {}
    answers = []
    for step in steps:
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        headers = (*step.headers, ("cookie", cookie)) if cookie else step.headers
        answer = fetch(http, Case(step.method, step.target, headers, step.content))
        for pair in filter(None, answer.cookies().split("; ")):
            name, _, value = pair.partition("=")
            jar[name] = value
        for name, value in answer.headers:
            if name == "set-cookie" and value.split(";", 1)[0].endswith("="):
                jar.pop(value.split("=", 1)[0], None)
        answers.append(answer)
    return answers


def test_login_session_flow_answers_like_nginx(multiscript: Pair) -> None:
    """Login, profile, avatar upload, profile, logout and profile again match nginx step by step."""
    steps = [
        Case("GET", "/profile.php"),
        Case("POST", "/login.php", (FORM,), b"user=alice&password=wonderland"),
        Case("GET", "/profile.php"),
        Case("POST", "/upload.php", (("content-type", AVATAR_TYPE),), AVATAR_BODY),
        Case("GET", "/profile.php"),
        Case("GET", "/logout.php"),
        Case("GET", "/profile.php"),
    ]
    expected = _flow(multiscript.nginx, steps)
    actual = _flow(multiscript.ours, steps)
    assert [a.status for a in expected] == [302, 302, 200, 201, 200, 302, 302]
    for nginx, ours in zip(expected, actual, strict=True):
        assert_same(same_session(nginx), same_session(ours))


def test_form_flow_answers_like_nginx(demo: Pair) -> None:
    """The contact form's POST, 303 and flash-cookie page match nginx step by step."""
    form = fetch(demo.nginx, Case("GET", "/form.php")).body.decode()
    token = form.split('name="token" value="', 1)[1].split('"', 1)[0]
    steps = [
        Case(
            "POST", "/form.php", (FORM,), f"name=Ada&email=ada%40example.com&token={token}".encode()
        ),
        Case("GET", "/form.php?done=1"),
    ]
    expected = _flow(demo.nginx, steps)
    actual = _flow(demo.ours, steps)
    assert [a.status for a in expected] == [303, 200]
    for nginx, ours in zip(expected, actual, strict=True):
        assert_same(nginx, ours)


def test_stream_reaches_the_client_before_php_finishes(demo: Pair) -> None:
    """strangler passes stream.php's first chunk on while PHP is still producing the rest."""
    arrivals: list[tuple[float, bytes]] = []
    started = time.monotonic()
    with demo.ours.stream("GET", "/stream.php?chunks=4&delay_ms=250") as response:
        for chunk in response.iter_raw():
            arrivals.append((time.monotonic() - started, chunk))
    body = b"".join(chunk for _, chunk in arrivals)
    assert body == b"".join(f"chunk {i} of 4\n".encode() for i in range(1, 5))
    first, last = arrivals[0][0], arrivals[-1][0]
    assert arrivals[0][1].startswith(b"chunk 1 of 4\n")
    assert last - first > 0.5, arrivals  # PHP sleeps 3 x 250 ms between the first and last


@pytest.mark.parametrize(
    "target",
    [pytest.param("/info.php/a%0Ab", id="path-info-lf"), pytest.param("/a%0D.txt", id="file-cr")],
)
def test_encoded_cr_lf_is_refused_where_nginx_passes_it(demo: Pair, target: str) -> None:
    """A deliberate difference: a path with an encoded CR or LF gets 400, not nginx's lookup."""
    nginx, ours = demo.both(Case("GET", target))
    assert nginx.status == 404  # nginx decodes it and looks for such a file
    assert ours.status == 400
