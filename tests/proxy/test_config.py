"""The config loader accepts a full file and rejects each kind of mistake precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrated import PhpSite
from proxy import ConfigError, parse_config
from proxy._config_reader import parse_duration, parse_size
from proxy._routing import Canary, FixedStatus, Legacy, Migrated, Shadow

BASE = """
[server]
listen = ["127.0.0.1:8080"]
workers = 2
runtime = "trio"
max_body_size = "8MiB"

[admin]
listen = "127.0.0.1:9901"

[backends.php]
type = "fastcgi"
address = "127.0.0.1:9000"
document_root = "{root}"
front_controller = "/index.php"
pool_size = 3
"""


@pytest.fixture
def base(tmp_path: object) -> str:
    return BASE.replace("{root}", str(tmp_path))


def test_full_config_is_read(base: str) -> None:
    """Every section of a realistic file lands in the frozen model."""
    text = (
        base
        + """
[backends.web]
type = "http"
url = "http://127.0.0.1:8081/"

[server.x]
"""
    )
    text = text.replace("[server.x]\n", "")
    text = text.replace("workers = 2", 'workers = 2\ndefault_backend = "php"')
    text += """
[[routes]]
name = "deny-conf"
match = { regex = "/conf/" }
status = 403

[[routes]]
name = "users"
match = { pattern = "/users/{id:int}", methods = ["GET"] }
backend = "web"

[[routes]]
name = "validate"
match = { path = "/validate.php" }
mode = "shadow"
backend = "php"
handler = "tests.proxy.sample_handlers:hello"
sample_rate = 0.5

[[routes]]
name = "canary"
match = { prefix = "/api/" }
mode = "canary"
backend = "php"
handler = "tests.proxy.sample_handlers:hello"
percent = 10
key = "cookie:uid"

[[routes]]
name = "new"
match = { prefix = "/new/" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:hello"
"""
    config = parse_config(text, "strangler.toml")
    assert config.server.workers == 2
    assert config.server.max_body_size == 8 * 1024 * 1024
    assert config.server.client_header_timeout == 60.0  # nginx's defaults
    assert config.server.client_body_timeout == 60.0
    assert config.server.max_connections == 1024
    assert parse_config(text.replace('runtime = "trio"\n', "")).server.runtime == "uvloop"
    assert [b.name for b in config.backends] == ["php", "web"]
    assert config.backend("web").url == "http://127.0.0.1:8081"  # type: ignore[union-attr]
    modes = [type(r.mode) for r in config.routes.routes]
    assert modes == [FixedStatus, Legacy, Shadow, Canary, Migrated, Legacy]
    route, params = config.routes.match("GET", "example.com", "/users/42")
    assert (route.name, params) == ("users", {"id": "42"})
    assert config.routes.match("POST", "example.com", "/users/42")[0].name == "default"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (('runtime = "trio"', 'runtime = "twisted"'), "server.runtime: unknown value 'twisted'"),
        (("workers = 2", "workers = 0"), "server.workers: must be between 1 and 256"),
        (("workers = 2", "wokers = 2"), "server.wokers: unknown key (did you mean 'workers'?)"),
        (('"8MiB"', '"lots"'), "server.max_body_size: not a size: 'lots'"),
        (("pool_size = 3", 'pool_size = "3"'), "backends.php.pool_size: expected an integer"),
        (('"127.0.0.1:9000"', '"nowhere"'), "backends.php.address: expected host:port"),
        (('front_controller = "/index.php"', 'front_controller = "index.php"'), "must be a path"),
        (('listen = "127.0.0.1:9901"', 'listen = "0.0.0.0:9901"'), "admin.token: required"),
        (("workers = 2", "workers = 2\nfast_lane = true"), "server.fast_lane: removed"),
        (('runtime = "trio"', 'runtime = "uvicorn"'), "server.runtime: 'uvicorn' was replaced"),
        (("workers = 2", "workers = 2\nhttp2 = true"), "server.http2: HTTP/2 is not served"),
        (("workers = 2", 'workers = 2\nclient_header_timeout = "0s"'), "longer than 0"),
        (("workers = 2", "workers = 2\nmax_connections = 0"), "must be at least 1"),
        (
            ("pool_size = 3", 'pool_size = 3\nsend_timeout = "0s"'),
            "backends.php.send_timeout: must be longer than 0",
        ),
    ],
    ids=[
        "runtime",
        "workers-range",
        "typo",
        "size",
        "type",
        "address",
        "front",
        "admin-token",
        "fast-lane-removed",
        "uvicorn-replaced",
        "http2-refused",
        "zero-timeout",
        "no-connections",
        "zero-backend-timeout",
    ],
)
def test_bad_values_name_file_and_key(base: str, patch: tuple[str, str], message: str) -> None:
    """A bad value is rejected with the file name, key path and reason."""
    with pytest.raises(ConfigError) as info:
        parse_config(base.replace(*patch), "strangler.toml")
    assert str(info.value).startswith("strangler.toml: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ('match = { prefix = "/" }\nmode = "shaddow"', "routes[0].mode: unknown mode 'shaddow'"),
        (
            'match = { prefix = "/" }\nbackend = "nope"',
            "routes[0].backend: no backend named 'nope'",
        ),
        ('match = { prefix = "/", path = "/x" }', "routes[0].match: set exactly one of"),
        ('match = { pattern = "/a/{id" }', "routes[0].match.pattern: unbalanced"),
        ('match = { prefix = "/" }\nstatus = 99', "routes[0].status: must be an HTTP status"),
        ('match = { prefix = "/" }\nmode = "canary"\nhandler = "m:f"\npercent = 101', "percent"),
        ('match = { prefix = "/" }\nmode = "migrated"\nhandler = "nocolon"', "routes[0].handler"),
        (
            'match = { prefix = "/" }\nmode = "migrated"\nhandler = "tests.proxy.nope:f"',
            "routes[0].handler: 'tests.proxy.nope:f': cannot import tests.proxy.nope",
        ),
        (
            'match = { prefix = "/" }\nmode = "migrated"\n'
            'handler = "tests.proxy.sample_handlers:x"',
            "has no 'x'",
        ),
        (
            'match = { prefix = "/" }\nmode = "migrated"\n'
            'handler = "tests.proxy.sample_handlers:generator"',
            "must be an 'async def' or 'def' function",
        ),
        (
            'match = { prefix = "/" }\nmode = "migrated"\n'
            'handler = "tests.proxy.sample_handlers:no_context"',
            "'tests.proxy.sample_handlers:no_context': must take (request, ctx)",
        ),
        ('match = { prefix = "/", methods = ["get"] }', "routes[0].match.methods[0]"),
        ('match = { prefix = "/" }\nstatus = 301', "routes[0].location: required"),
        (
            'match = { prefix = "/" }\nmode = "shadow"\nbackend = "php"\n'
            'handler = "tests.proxy.sample_handlers:hello"\ntimeout = "0s"',
            "routes[0].timeout: must be more than 0",
        ),
        (
            'match = { prefix = "/" }\nmode = "migrated"\n'
            'handler = "tests.proxy.sample_handlers:hello"\ntimeout = 0',
            "routes[0].timeout: must be more than 0",
        ),
        (
            'match = { prefix = "/" }\nmode = "migrated"\n'
            'handler = "tests.proxy.sample_handlers:hello"\nservice = "http://127.0.0.1:9"',
            "routes[0]: set exactly one of handler, service, asgi",
        ),
        (
            'match = { prefix = "/" }\nmode = "canary"\npercent = 5',
            "routes[0]: set exactly one of handler, service, asgi",
        ),
        (
            'match = { prefix = "/" }\nmode = "migrated"\nservice = "ftp://files.example"',
            "routes[0].service: expected an http:// or https:// URL with a host",
        ),
        (
            'match = { prefix = "/" }\nmode = "migrated"\nservice = "http://svc:8000/?a=1"',
            "routes[0].service: a service URL takes no query or fragment",
        ),
        (
            'match = { prefix = "/" }\nmode = "shadow"\nbackend = "php"\n'
            'asgi = "tests.apps.service.starlette_app:nope"',
            "routes[0].asgi: 'tests.apps.service.starlette_app:nope': module "
            "tests.apps.service.starlette_app has no callable 'nope'",
        ),
        (
            'match = { prefix = "/" }\nmode = "migrated"\nasgi = "no_such_package.app:app"',
            "routes[0].asgi: 'no_such_package.app:app': cannot import no_such_package.app",
        ),
    ],
    ids=[
        "mode",
        "backend",
        "two-kinds",
        "pattern",
        "status",
        "percent",
        "handler",
        "no-module",
        "no-attr",
        "generator",
        "arity",
        "method",
        "redirect",
        "shadow-timeout-zero",
        "migrated-timeout-zero",
        "handler-and-service",
        "no-new-side",
        "service-not-http",
        "service-with-query",
        "asgi-no-attr",
        "asgi-no-module",
    ],
)
def test_bad_routes_are_rejected(base: str, route: str, message: str) -> None:
    """Route mistakes are reported with the route's index in the key path."""
    with pytest.raises(ConfigError, match=r"strangler\.toml: ") as info:
        parse_config(base + "\n[[routes]]\n" + route + "\n", "strangler.toml")
    assert message in str(info.value)


def test_env_interpolation(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``${VAR}`` comes from the environment and a missing variable is a named error."""
    text = base.replace(
        'listen = "127.0.0.1:9901"', 'listen = "0.0.0.0:9901"\ntoken = "${ADMIN_T}"'
    )
    monkeypatch.setenv("ADMIN_T", "s3cret")
    assert parse_config(text).admin.token == "s3cret"
    monkeypatch.delenv("ADMIN_T")
    with pytest.raises(ConfigError, match=r"admin\.token: environment variable ADMIN_T is not set"):
        parse_config(text)


def test_missing_document_root_is_named(base: str) -> None:
    """A document root that does not exist is a config error, not a runtime 404."""
    with pytest.raises(ConfigError, match=r"backends\.php\.document_root: not a directory"):
        parse_config(base.replace('document_root = "', 'document_root = "/nonexistent'))


@pytest.mark.parametrize(
    ("linger", "expected"),
    [("0.5", 0.5), ("2", 2.0), ('"soon"', "kafka.linger_ms: expected"), ("-1", "kafka.linger_ms")],
)
def test_kafka_linger_takes_fractions(
    base: str, tmp_path: Path, linger: str, expected: object
) -> None:
    """``linger_ms`` is a number of milliseconds, fractions included; anything else is named."""
    kafka_table = f'[kafka]\nbootstrap_servers = "b:9092"\nspool_dir = "{tmp_path}"\n'
    text = f"{base}\n{kafka_table}linger_ms = {linger}\n"
    if isinstance(expected, float):
        kafka = parse_config(text, "strangler.toml").kafka
        assert kafka is not None
        assert kafka.linger_ms == expected
        return
    with pytest.raises(ConfigError) as info:
        parse_config(text, "strangler.toml")
    assert str(expected) in str(info.value)


def test_not_toml() -> None:
    """Broken TOML names the file."""
    with pytest.raises(ConfigError, match=r"^x\.toml: not valid TOML"):
        parse_config("[server\n", "x.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("64MiB", 64 * 1024**2), ("10MB", 10_000_000), ("512k", 512 * 1024), (1024, 1024)],
    ids=["mib", "mb", "k", "int"],
)
def test_parse_size(text: str | int, expected: int) -> None:
    """Sizes accept bytes and common units."""
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), (5, 5.0)],
    ids=["ms", "s", "m", "int"],
)
def test_parse_duration(text: str | int, expected: float) -> None:
    """Durations accept seconds and units."""
    assert parse_duration(text) == expected


SHADOW_ROUTE = """
[[routes]]
name = "quote"
match = { path = "/quote.php" }
mode = "shadow"
handler = "tests.proxy.sample_handlers:hello"
sample_rate = 0.5
[routes.compare]
ignore = ["/quoted_at", "/items/*/ts"]
scrub = ["uuid", ["order-[0-9]+", "order-N"]]
tolerance = 0.01
"""


def test_shadow_route_and_settings(base: str) -> None:
    """A shadow route brings its compare rules and the [shadow] defaults."""
    config = parse_config(base + SHADOW_ROUTE + "\n[shadow]\nqueue_size = 10\n", "s.toml")
    route = config.routes.routes[0]
    assert isinstance(route.mode, Shadow)
    assert route.mode.rules.ignore == ("/quoted_at", "/items/*/ts")
    assert route.mode.rules.tolerance == 0.01
    assert route.mode.rules.idempotent is False
    assert config.shadow is not None
    assert (config.shadow.queue_size, config.shadow.store.endswith("var/shadow.sqlite")) == (
        10,
        True,
    )


def test_a_route_declares_its_requests_idempotent(base: str) -> None:
    """``compare.idempotent = true`` reaches the route's rules, which the runtime reads."""
    text = SHADOW_ROUTE.replace("[routes.compare]", "[routes.compare]\nidempotent = true")
    route = parse_config(base + text, "s.toml").routes.routes[0]
    assert isinstance(route.mode, Shadow)
    assert route.mode.rules.idempotent is True


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (('ignore = ["/quoted_at", "/items/*/ts"]', 'ignore = ["no-slash"]'), "compare.ignore[0]"),
        (('scrub = ["uuid"', 'scrub = ["nope"'), "routes[0].compare.scrub[0]"),
        (("tolerance = 0.01", "tolerance = -1.0"), "routes[0].compare.tolerance"),
        (("sample_rate = 0.5", "sample_rate = 2.0"), "routes[0].sample_rate: must be between"),
        (("[routes.compare]", "[routes.compare]\nignroe = []"), "routes[0].compare.ignroe"),
        (
            ("[routes.compare]", "[routes.compare]\nidempotnet = true"),
            "compare.idempotnet: unknown key (did you mean 'idempotent'?)",
        ),
        (
            ("[routes.compare]", '[routes.compare]\nidempotent = "yes"'),
            "routes[0].compare.idempotent: expected",
        ),
    ],
    ids=["ignore", "scrub", "tolerance", "sample-rate", "typo", "idempotent-typo", "idempotent"],
)
def test_bad_shadow_settings(base: str, patch: tuple[str, str], message: str) -> None:
    """Compare rules are checked at load, naming the route and the rule."""
    with pytest.raises(ConfigError) as info:
        parse_config(base + SHADOW_ROUTE.replace(*patch), "s.toml")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("", "pipe", id="default"),
        pytest.param('wakeup = "poll"\n', "poll", id="poll"),
        pytest.param('wakeup = "pipe"\n', "pipe", id="pipe"),
        pytest.param('wakeup = "signal"\n', "kafka.wakeup: unknown value 'signal'", id="unknown"),
        pytest.param("wakeup = true\n", "kafka.wakeup: unknown value True", id="not-a-string"),
    ],
)
def test_kafka_wakeup_switch_is_read_and_checked(
    base: str, tmp_path: Path, line: str, expected: str
) -> None:
    """``[kafka] wakeup`` chooses the pipe (today's default) or polling; anything else is named."""
    kafka_table = f'[kafka]\nbootstrap_servers = "b:9092"\nspool_dir = "{tmp_path}"\n'
    text = f"{base}\n{kafka_table}{line}"
    if expected in ("pipe", "poll"):
        kafka = parse_config(text, "strangler.toml").kafka
        assert kafka is not None
        assert kafka.wakeup == expected
        return
    with pytest.raises(ConfigError) as info:
        parse_config(text, "strangler.toml")
    assert f"strangler.toml: {expected}" in str(info.value)


def test_a_reload_names_the_server_keys_that_wait_for_a_restart(base: str) -> None:
    """Changed [server] keys are listed, since sockets and workers are made only at start."""
    from proxy._supervisor import restart_only_changes

    old = parse_config(base, "strangler.toml")
    new = parse_config(
        base.replace("workers = 2", 'workers = 3\nclient_header_timeout = "10s"'), "strangler.toml"
    )
    assert restart_only_changes(old, new) == ["server.workers", "server.client_header_timeout"]
    assert restart_only_changes(old, old) == []


def test_migrated_routes_get_their_fallback_backends_php_site(base: str) -> None:
    """A migrated route falling back to a FastCGI backend carries its PhpSite; others none."""
    text = base.replace("[server]\n", '[server]\ndefault_backend = "php"\n', 1)
    text += """
[backends.web]
type = "http"
url = "http://127.0.0.1:8081"

[[routes]]
name = "to-php"
match = { prefix = "/a" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:hello"

[[routes]]
name = "to-web"
match = { prefix = "/b" }
mode = "migrated"
handler = "tests.proxy.sample_handlers:hello"
backend = "web"

[[routes]]
name = "shadowed"
match = { prefix = "/c" }
mode = "shadow"
handler = "tests.proxy.sample_handlers:hello"
backend = "php"
"""
    config = parse_config(text, "strangler.toml")
    modes = {route.name: route.mode for route in config.routes.routes}
    assert isinstance(modes["to-php"], Migrated)
    assert isinstance(modes["to-web"], Migrated)
    assert isinstance(modes["shadowed"], Shadow)
    site = PhpSite(config.backend("php"))  # type: ignore[arg-type]
    assert (modes["to-php"].php, modes["shadowed"].php) == (site, site)
    assert modes["to-web"].php is None
