"""The admin API's run-time canary percent, in process: checks, the file workers read, reload."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from proxy import load_config
from proxy._admin import AdminApp
from proxy._percents import percents_path, read_percents
from proxy._supervisor import Supervisor

pytestmark = pytest.mark.anyio
TOKEN = "s3cret"
AUTH = {"authorization": f"Bearer {TOKEN}"}

CONFIG = """
[admin]
listen = "127.0.0.1:9901"
{token}

[backends.php]
type = "fastcgi"
address = "127.0.0.1:1"
document_root = "{root}"

[[routes]]
name = "pages"
match = {{ prefix = "/pages" }}
mode = "canary"
handler = "tests.proxy.sample_handlers:echo"
percent = 10
force_header = "X-Canary"
force_header_value = "qa-7f3e"

[[routes]]
name = "old"
match = {{ prefix = "/old" }}
"""


def _supervisor(tmp_path: Path, token: str = TOKEN) -> Supervisor:
    path = tmp_path / "strangler.toml"
    line = f'token = "{token}"' if token else ""
    path.write_text(CONFIG.format(root=tmp_path, token=line))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return Supervisor(str(path), load_config(path), run_dir=str(run_dir))


def _client(sup: Supervisor) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=AdminApp(sup))
    return httpx.AsyncClient(transport=transport, base_url="http://admin")


def _pages(routes: httpx.Response) -> dict[str, object]:
    row: dict[str, object] = next(r for r in routes.json()["routes"] if r["name"] == "pages")
    return row


async def test_percent_change_is_applied_and_shown(tmp_path: Path) -> None:
    """A good change lands in the workers' file and in /routes, with the file's value beside."""
    sup = _supervisor(tmp_path)
    async with _client(sup) as client:
        r = await client.post("/routes/pages/percent", json={"percent": 25}, headers=AUTH)
        routes = await client.get("/routes", headers=AUTH)
    assert r.status_code == 200
    assert "until the next config load" in r.json()["message"]
    assert read_percents(sup.run_dir) == {"pages": 25.0}
    expected = {"percent": 25.0, "config_percent": 10.0, "overridden": True}
    assert {k: _pages(routes)[k] for k in expected} == expected
    assert _pages(routes)["force"] == {"header": "x-canary", "custom_value": True, "cookie": None}
    assert "qa-7f3e" not in routes.text


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "reason"),
    [
        ("/routes/pages/percent", {"percent": 25}, {}, 401, "bearer token"),
        ("/routes/pages/percent", {"percent": 25}, {"authorization": "Bearer no"}, 401, "token"),
        ("/routes/nope/percent", {"percent": 25}, AUTH, 404, "no route named 'nope'"),
        ("/routes/old/percent", {"percent": 25}, AUTH, 409, "in legacy mode"),
        ("/routes/default/percent", {"percent": 25}, AUTH, 409, "in legacy mode"),
        ("/routes/pages/percent", {"percent": 101}, AUTH, 400, "between 0 and 100"),
        ("/routes/pages/percent", {"percent": -1}, AUTH, 400, "between 0 and 100"),
        ("/routes/pages/percent", {"percent": "25"}, AUTH, 400, '{"percent": N}'),
        ("/routes/pages/percent", {"percent": True}, AUTH, 400, '{"percent": N}'),
        ("/routes/pages/percent", {"percent": 5, "x": 1}, AUTH, 400, '{"percent": N}'),
        ("/routes/pages/percent", [25], AUTH, 400, '{"percent": N}'),
        ("/routes/pages/percent", "x" * 5000, AUTH, 413, "body over"),
    ],
    ids=[
        "no-token",
        "wrong-token",
        "unknown-route",
        "not-a-canary",
        "default-route",
        "over-100",
        "negative",
        "string",
        "boolean",
        "extra-key",
        "not-an-object",
        "too-large",
    ],
)
async def test_bad_percent_changes_are_refused(
    tmp_path: Path, path: str, body: object, headers: dict[str, str], status: int, reason: str
) -> None:
    """Each bad change gets its 4xx and reason, and nothing is written for the workers."""
    sup = _supervisor(tmp_path)
    async with _client(sup) as client:
        r = await client.post(path, json=body, headers=headers)
    assert r.status_code == status
    assert reason in r.json()["error"]
    assert not percents_path(sup.run_dir).exists()
    assert sup.percents == {}


async def test_not_json_and_wrong_method(tmp_path: Path) -> None:
    """A body that is not JSON is a 400; a GET on the endpoint a 405."""
    sup = _supervisor(tmp_path)
    async with _client(sup) as client:
        bad = await client.post("/routes/pages/percent", content=b"percent=5", headers=AUTH)
        get = await client.get("/routes/pages/percent", headers=AUTH)
    assert (bad.status_code, get.status_code) == (400, 405)


async def test_no_token_configured_no_change(tmp_path: Path) -> None:
    """Without an [admin] token the listener is open, but a percent cannot be changed."""
    sup = _supervisor(tmp_path, token="")
    async with _client(sup) as client:
        r = await client.post("/routes/pages/percent", json={"percent": 25})
        routes = await client.get("/routes")
    assert r.status_code == 403
    assert "set [admin] token" in r.json()["error"]
    assert routes.status_code == 200
    assert _pages(routes)["overridden"] is False


async def test_reload_drops_run_time_percents(tmp_path: Path) -> None:
    """A config load empties the workers' file first and says which percents it dropped."""
    sup = _supervisor(tmp_path)
    async with _client(sup) as client:
        await client.post("/routes/pages/percent", json={"percent": 25}, headers=AUTH)
        reload = await client.post("/reload", headers=AUTH)
        routes = await client.get("/routes", headers=AUTH)
    assert reload.json()["message"] == (
        "reloaded; run-time percents dropped, the file's apply: pages"
    )
    assert json.loads(percents_path(sup.run_dir).read_text()) == {}
    assert (_pages(routes)["percent"], _pages(routes)["overridden"]) == (10.0, False)


async def test_refused_reload_keeps_run_time_percents(tmp_path: Path) -> None:
    """A bad file is no config load: the run-time percent stays."""
    sup = _supervisor(tmp_path)
    config_file = Path(sup.config_path)
    async with _client(sup) as client:
        await client.post("/routes/pages/percent", json={"percent": 25}, headers=AUTH)
        config_file.write_text("[[routes]]\nbogus = 1\n")  # noqa: ASYNC240 (a test's setup)
        reload = await client.post("/reload", headers=AUTH)
    assert reload.status_code == 400
    assert read_percents(sup.run_dir) == {"pages": 25.0}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": -1}',
        '{"a": 101}',
        '{"a": true}',
        '{"a": "50"}',
        '{"a": 1' + "0" * 400 + "}",
    ],
    ids=["nan", "infinity", "negative", "over-100", "bool", "string", "huge-int"],
)
def test_a_worker_ignores_a_percent_it_cannot_use(tmp_path: Path, text: str) -> None:
    """Only finite numbers from 0 to 100 are applied; the rest of the file still is."""
    (tmp_path / "percents.json").write_text(text.replace("}", ', "b": 25}'))
    assert read_percents(str(tmp_path)) == {"b": 25.0}
