"""Forced canary sides: the config keys, and a header or cookie pinning a request in the app."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from proxy import ConfigError, parse_config
from proxy._app import ProxyApp
from proxy._percents import with_percents
from proxy._routing import Canary, ForceSide
from proxy._state import State
from tests.proxy.test_app import FakeBackend
from tests.proxy.test_migrated_modes import FakePublisher, FakeResources

CONFIG = """
[backends.php]
type = "fastcgi"
address = "127.0.0.1:1"
document_root = "{root}"

[[routes]]
name = "pinned"
match = {{ prefix = "/pinned" }}
mode = "canary"
handler = "tests.proxy.sample_handlers:echo"
percent = {percent}
key = "header:x-user"
{force}

[[routes]]
name = "broken"
match = {{ prefix = "/broken" }}
mode = "canary"
handler = "tests.proxy.sample_handlers:boom"
percent = 0
force_header = "X-Canary"
"""
FORCE = 'force_header = "X-Canary"\nforce_cookie = "canary"'


def _config(tmp_path: Path, percent: float = 50, force: str = FORCE) -> str:
    return CONFIG.format(root=tmp_path, percent=percent, force=force)


def _client(tmp_path: Path, percent: float, force: str = FORCE) -> httpx.AsyncClient:
    state = State(parse_config(_config(tmp_path, percent, force)))
    state.backends["php"] = FakeBackend()  # type: ignore[assignment]
    app = ProxyApp(state, FakeResources(FakePublisher()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _mode(text: str) -> Canary:
    route = parse_config(text, "strangler.toml").routes.routes[0]
    assert isinstance(route.mode, Canary)
    return route.mode


def test_force_keys_are_read(tmp_path: Path) -> None:
    """The keys become a ForceSide with a lower-case header; without them there is none."""
    custom = FORCE + '\nforce_header_value = "qa-7f3e"'
    assert _mode(_config(tmp_path, force=custom)).force == ForceSide(
        b"x-canary", b"qa-7f3e", "canary"
    )
    assert _mode(_config(tmp_path, force='force_cookie = "c"')).force == ForceSide(cookie="c")
    assert _mode(_config(tmp_path, force="")).force is None


@pytest.mark.parametrize(
    ("force", "message"),
    [
        ('force_header = "X_Canary"', "routes[0].force_header: not a header name: 'X_Canary'"),
        ("force_header = 1", "routes[0].force_header: not a header name: 1"),
        ('force_cookie = "a b"', "routes[0].force_cookie: not a cookie name: 'a b'"),
        ('force_header_value = "x"', "routes[0].force_header_value: needs force_header"),
        (
            'force_header = "X-Canary"\nforce_header_value = "never"',
            "routes[0].force_header_value: 'never' is reserved",
        ),
        (
            'force_header = "X-Canary"\nforce_header_value = ""',
            "routes[0].force_header_value: expected visible ASCII",
        ),
        ('force_headr = "X-Canary"', "routes[0].force_headr: unknown key (did you mean"),
    ],
    ids=["underscore", "not-a-string", "cookie", "value-alone", "reserved", "empty", "typo"],
)
def test_bad_force_keys_name_file_and_key(tmp_path: Path, force: str, message: str) -> None:
    """A bad forcing key is a config error naming the file and the key path."""
    with pytest.raises(ConfigError) as info:
        parse_config(_config(tmp_path, force=force), "strangler.toml")
    assert str(info.value).startswith(f"strangler.toml: {message}")


def test_only_a_canary_takes_force_keys(tmp_path: Path) -> None:
    """Another mode rejects the keys as unknown."""
    text = _config(tmp_path, force="").replace('mode = "canary"', 'mode = "migrated"', 1)
    text = text.replace('percent = 50\nkey = "header:x-user"', 'force_header = "X-Canary"')
    with pytest.raises(ConfigError, match=r"routes\[0\]\.force_header: unknown key"):
        parse_config(text, "strangler.toml")


def test_run_time_percent_replaces_only_the_percent(tmp_path: Path) -> None:
    """A run-time percent changes the named canary's percent and nothing else."""
    config = parse_config(_config(tmp_path, 10))
    changed = with_percents(config, {"pinned": 40, "default": 99, "absent": 1})
    before, after = config.routes.routes, changed.routes.routes
    assert isinstance(after[0].mode, Canary)
    assert after[0].mode.percent == 40
    assert after[0].mode == dataclasses.replace(before[0].mode, percent=40)
    assert after[1:] == before[1:]


def _side(response: httpx.Response) -> str:
    """``new`` when the echo handler answered, ``legacy`` when the fake backend did."""
    assert response.status_code == 200
    return "new" if response.headers.get("x-handler") == "echo" else "legacy"


def _forced(route: str, side: str, by: str) -> float:
    labels = {"route": route, "side": side, "by": by}
    return REGISTRY.get_sample_value("strangler_canary_forced_total", labels) or 0.0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("percent", "headers", "side", "by"),
    [
        (0, {"x-canary": "always"}, "new", "header"),
        (0, {"cookie": "canary=always"}, "new", "cookie"),
        (100, {"x-canary": "never"}, "legacy", "header"),
        (100, {"cookie": "uid=1; canary=never"}, "legacy", "cookie"),
        (0, {"x-canary": "never", "cookie": "canary=always"}, "legacy", "header"),
        (100, {"x-canary": "nonsense", "cookie": "canary=never"}, "legacy", "cookie"),
    ],
    ids=[
        "header-always",
        "cookie-always",
        "header-never",
        "cookie-never",
        "header-beats-cookie",
        "other-value-then-cookie",
    ],
)
async def test_header_or_cookie_forces_a_side(
    tmp_path: Path, percent: float, headers: dict[str, str], side: str, by: str
) -> None:
    """Against the percentage (0 or 100), a header or cookie pins every user to a side."""
    before = _forced("pinned", side, by)
    async with _client(tmp_path, percent) as client:
        for user in range(10):
            r = await client.get("/pinned", headers={"x-user": f"u{user}", **headers})
            assert _side(r) == side
    assert _forced("pinned", side, by) == before + 10


@pytest.mark.anyio
@pytest.mark.parametrize("percent", [0, 100], ids=["0", "100"])
async def test_unforced_requests_follow_the_percentage(tmp_path: Path, percent: float) -> None:
    """Without the header or cookie (or with another value) the percentage decides."""
    side = "new" if percent else "legacy"
    async with _client(tmp_path, percent) as client:
        for headers in ({}, {"x-canary": "maybe"}, {"cookie": "canary=1"}):
            r = await client.get("/pinned", headers={"x-user": "u1", **headers})
            assert _side(r) == side


@pytest.mark.anyio
async def test_custom_header_value(tmp_path: Path) -> None:
    """With force_header_value only that value forces new; always and never are ignored."""
    force = 'force_header = "X-Canary"\nforce_header_value = "qa-7f3e"'
    async with _client(tmp_path, 0, force) as client:
        sides = [
            _side(await client.get("/pinned", headers={"x-canary": value}))
            for value in ("qa-7f3e", "always", "QA-7F3E")
        ]
    assert sides == ["new", "legacy", "legacy"]
    async with _client(tmp_path, 100, force) as client:
        assert _side(await client.get("/pinned", headers={"x-canary": "never"})) == "new"


@pytest.mark.anyio
async def test_forced_new_still_falls_back(tmp_path: Path) -> None:
    """A request forced to a failing handler gets legacy's answer, as any canary request."""
    async with _client(tmp_path, 0) as client:
        before = _forced("broken", "new", "header")
        r = await client.get("/broken", headers={"x-canary": "always"})
    assert (r.status_code, r.content) == (200, b"hello ")
    assert _forced("broken", "new", "header") == before + 1
