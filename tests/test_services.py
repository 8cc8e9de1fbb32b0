"""Smoke tests of ``ops.services`` and the PHP test applications behind real nginx.

They prove the oracle works: PHP-FPM and nginx start, and each application
answers as designed (validator, sessions, PATH_INFO, pretty URLs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from ops.services import Nginx, PhpFpm, ServiceError, Strangler, build_config, free_port

from .conftest import DEMO_ROOT, FRONTCONTROLLER_ROOT, serving

SIGNUP = {
    "type": "signup",
    "user_id": 42,
    "email": "  Ada@Example.COM ",
    "age": 36,
    "country": "de",
}


@pytest.fixture
def demo(nginx_demo: Nginx) -> Iterator[httpx.Client]:
    """A client of the demo app behind nginx."""
    with httpx.Client(base_url=nginx_demo.url) as client:
        yield client


@pytest.fixture
def multiscript(nginx_multiscript: Nginx) -> Iterator[httpx.Client]:
    """A client (with a cookie jar) of the multi-script app behind nginx."""
    with httpx.Client(base_url=nginx_multiscript.url) as client:
        yield client


@pytest.fixture
def frontcontroller(nginx_frontcontroller: Nginx) -> Iterator[httpx.Client]:
    """A client of the front-controller app behind nginx."""
    with httpx.Client(base_url=nginx_frontcontroller.url) as client:
        yield client


def test_free_port_is_bindable() -> None:
    """free_port returns a port in the unprivileged range."""
    assert 1024 < free_port() < 65536


def test_strangler_config_is_built_from_parameters(tmp_path: Path) -> None:
    """build_config names the backend, the front controller and the deny routes."""
    text = build_config("127.0.0.1:9000", tmp_path, front_controller="/index.php", deny=["/conf/"])
    assert 'front_controller = "/index.php"' in text
    assert 'match = { regex = "/conf/" }' in text
    assert 'listen = ["127.0.0.1:{port}"]' in text


def test_strangler_that_cannot_start_raises_with_its_log() -> None:
    """A strangler with a broken config raises ServiceError carrying its output."""
    with pytest.raises(ServiceError) as info, Strangler(config_text="this is not [toml"):
        pass
    assert info.value.service == "strangler"
    assert info.value.log_tail


@pytest.mark.service
def test_validator_accepts_a_valid_event(demo: httpx.Client) -> None:
    """A valid signup gets 200, a sha1-based id and normalized fields in rule order."""
    body = json.dumps(SIGNUP).encode()
    response = demo.post("/validate.php", content=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "ok": True,
        "id": "evt_" + hashlib.sha1(body).hexdigest()[:20],
        "type": "signup",
        "normalized": {
            "user_id": 42,
            "email": "ada@example.com",
            "age": 36,
            "country": "DE",
            "marketing_opt_in": False,
        },
    }


@pytest.mark.service
def test_validator_reports_every_failing_field(demo: httpx.Client) -> None:
    """An invalid event gets 422 with one error per field, in rule then body order."""
    event = {**SIGNUP, "age": 9, "country": "XX", "extra": 1}
    del event["email"]
    response = demo.post("/validate.php", json=event)
    assert response.status_code == 422
    errors = [(e["field"], e["rule"]) for e in response.json()["errors"]]
    assert errors == [
        ("email", "required"),
        ("age", "min"),
        ("country", "enum"),
        ("extra", "unknown"),
    ]


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [
        pytest.param("POST", b"{not json", 400, id="not-json"),
        pytest.param("POST", b"[1, 2]", 400, id="not-object"),
        pytest.param("POST", b'{"type": "teleport"}', 422, id="unknown-type"),
        pytest.param("GET", b"", 405, id="get"),
    ],
)
@pytest.mark.service
def test_validator_rejects_bad_requests(
    demo: httpx.Client, method: str, body: bytes, status: int
) -> None:
    """Bodies that are not events and methods other than POST are refused."""
    response = demo.request(method, "/validate.php", content=body)
    assert response.status_code == status
    assert response.json()["ok"] is False
    if status == 405:
        assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        pytest.param("/", 200, "text/html; charset=utf-8", id="home"),
        pytest.param("/assets/logo.png", 200, "image/png", id="png"),
        pytest.param("/assets/style.css", 200, "text/css", id="css"),
        pytest.param("/conf/secret.ini", 403, "text/html", id="denied"),
        pytest.param("/notfound.php", 404, "text/html; charset=utf-8", id="php-404"),
        pytest.param("/missing.php", 404, "text/html", id="nginx-404"),
    ],
)
@pytest.mark.service
def test_demo_pages(demo: httpx.Client, path: str, status: int, content_type: str) -> None:
    """The demo serves pages, static files, denials and 404s with the right types."""
    response = demo.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == content_type


@pytest.mark.service
def test_demo_info_splits_path_info(demo: httpx.Client) -> None:
    """A per-path nginx passes SCRIPT_NAME and PATH_INFO separately."""
    server = demo.get("/info.php/extra/path?x=1").json()["server"]
    assert server["SCRIPT_NAME"] == "/info.php"
    assert server["PATH_INFO"] == "/extra/path"
    assert server["QUERY_STRING"] == "x=1"
    assert server["REQUEST_URI"] == "/info.php/extra/path?x=1"


@pytest.mark.service
def test_demo_form_sets_cookies_and_redirects(demo: httpx.Client) -> None:
    """POSTing the form sets two cookies and answers 303 to the thank-you page."""
    page = demo.get("/form.php").text
    token = page.split('name="token" value="', 1)[1].split('"', 1)[0]
    form = {"token": token, "name": "Ada", "email": "ada@example.com"}
    response = demo.post("/form.php", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/form.php?done=1"
    cookies = response.headers.get_list("set-cookie")
    assert [c.split("=", 1)[0] for c in cookies] == ["session", "flash"]
    assert all("HttpOnly; SameSite=Lax" in c for c in cookies)
    assert "Thanks, Ada!" in demo.get("/form.php?done=1").text


@pytest.mark.service
def test_multiscript_session_flow(multiscript: httpx.Client, php_fpm: PhpFpm) -> None:
    """Log in, see the profile, upload an avatar, log out: the PHP session holds."""
    assert multiscript.get("/profile.php").headers["location"] == "/login.php"
    wrong = multiscript.post("/login.php", data={"user": "alice", "password": "nope"})
    assert wrong.status_code == 401
    login = multiscript.post("/login.php", data={"user": "alice", "password": "wonderland"})
    assert login.status_code == 302
    assert login.headers["location"] == "/profile.php"
    assert "PHPSESSID" in multiscript.cookies
    assert "Hello, alice" in multiscript.get("/profile.php").text
    upload = multiscript.post("/upload.php", files={"avatar": ("me.png", b"\x89PNG fake")})
    assert upload.status_code == 201
    stored = Path(php_fpm.env["MULTISCRIPT_UPLOAD_DIR"]) / upload.json()["stored"]
    assert stored.read_bytes() == b"\x89PNG fake"
    assert "avatar me.png" in multiscript.get("/profile.php").text
    assert multiscript.get("/logout.php").headers["location"] == "/login.php"
    assert multiscript.get("/profile.php").status_code == 302


@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [
        pytest.param("/api.php/users/7", 200, '"name":"Bob"', id="path-info"),
        pytest.param("/api.php/users/8", 404, '"path_info":"/users/8"', id="path-info-404"),
        pytest.param("/admin/", 200, "/admin/index.php", id="directory-index"),
        pytest.param("/css/site.css", 200, ".error", id="static"),
        pytest.param("/nothing/here", 404, "nginx", id="nginx-404"),
    ],
)
@pytest.mark.service
def test_multiscript_paths(
    multiscript: httpx.Client, path: str, status: int, expected: str
) -> None:
    """Per-path scripts, PATH_INFO, directory indexes and static files resolve as in nginx."""
    response = multiscript.get(path)
    assert response.status_code == status
    assert expected in response.text


@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [
        pytest.param("/", 200, "<h1>Home</h1>", id="home"),
        pytest.param("/users/42", 200, '<span id="user-id">42</span>', id="user"),
        pytest.param("/posts?page=2", 200, "page 2", id="query"),
        pytest.param("/api/items", 200, '"name":"pear"', id="api"),
        pytest.param("/no/such/page", 404, "No route for", id="framework-404"),
        pytest.param("/assets/app.css", 200, "font-family", id="static"),
    ],
)
@pytest.mark.service
def test_frontcontroller_pretty_urls(
    frontcontroller: httpx.Client, path: str, status: int, expected: str
) -> None:
    """Pretty URLs reach index.php, files are served directly."""
    response = frontcontroller.get(path)
    assert response.status_code == status
    assert expected in response.text


@pytest.mark.service
def test_frontcontroller_redirect_and_post(frontcontroller: httpx.Client) -> None:
    """/old answers 301 to /new, POST /api/items answers 201 with JSON."""
    old = frontcontroller.get("/old")
    assert (old.status_code, old.headers["location"]) == (301, "/new")
    created = frontcontroller.post("/api/items", json={"name": "plum"})
    assert created.status_code == 201
    assert created.json() == {"id": 3, "name": "plum"}
    assert frontcontroller.get("/favicon.ico").headers["content-type"] == "image/x-icon"


@pytest.mark.service
def test_unix_socket_pool_and_keepalive_upstream() -> None:
    """PHP-FPM on a unix socket behind nginx with kept-alive FastCGI connections."""
    with serving(partial(PhpFpm, max_children=2, unix_socket=True)) as fpm:
        assert fpm.address.startswith("unix:")
        make = partial(Nginx, fpm.address, FRONTCONTROLLER_ROOT, style="front_controller")
        with (
            serving(partial(make, keepalive=2)) as nginx,
            httpx.Client(base_url=nginx.url) as client,
        ):
            for _ in range(3):
                assert client.get("/users/7").status_code == 200


@pytest.mark.service
def test_strangler_serves_the_demo_like_nginx(php_fpm: PhpFpm, demo: httpx.Client) -> None:
    """The Strangler service starts from parameters and answers the validator as nginx does."""
    body = json.dumps(SIGNUP).encode()
    make = partial(
        Strangler, backend_address=php_fpm.address, document_root=DEMO_ROOT, deny=["/conf/"]
    )
    with serving(make) as strangler, httpx.Client(base_url=strangler.url) as client:
        assert client.get("/conf/secret.ini").status_code == 403
        ours = client.post("/validate.php", content=body)
        theirs = demo.post("/validate.php", content=body)
        assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content)
        assert strangler.stop() == 0
        assert strangler.log_text()
