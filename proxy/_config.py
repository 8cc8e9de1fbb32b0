"""The configuration model and its loader.

Strategy: one TOML file is read once into frozen dataclasses and passed
explicitly; there is no global config.  Every key is validated at load time by
``Table`` (see ``_config_reader``), and cross-references (a route naming a
backend, a default backend) are checked after all sections are read, so a bad
file fails ``check-config`` and ``serve`` and a reload with the same precise
message.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from legacy_adapter import (
    BackendSettings,
    FastCGISettings,
    HTTPSettings,
    PoolSettings,
    StaticSettings,
)
from migrated import CacheSettings, ProducerSettings
from shadow import ShadowSettings

from ._config_reader import Table, one_of, parse_duration, parse_size
from ._exceptions import ConfigError
from ._resources_config import read_caches, read_kafka
from ._routes_config import read_routes, with_php_sites
from ._routing import Legacy, Match, Route, RouteTable, Shadow
from ._shadow_config import read_shadow

Runtime = Literal["uvloop", "asyncio", "trio"]
RUNTIMES: tuple[Runtime, ...] = ("uvloop", "asyncio", "trio")
_REMOVED_SERVER_KEYS = {
    "fast_lane": "removed: every request takes the one engine; delete this key",
}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The public listener and its limits."""

    listen: tuple[str, ...] = ("127.0.0.1:8080",)
    workers: int = 1
    runtime: Runtime = "uvloop"
    http2: bool = False
    max_body_size: int = 64 * 1024**2
    graceful_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    client_header_timeout: float = 60.0
    client_body_timeout: float = 60.0
    send_timeout: float = 60.0
    max_connections: int = 1024
    trusted_proxies: tuple[Network, ...] = ()
    default_backend: str = ""


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """The admin listener: health, readiness, routes, metrics, reload."""

    listen: str = "127.0.0.1:9901"
    token: str | None = None


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Logging settings."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    access_log: bool = True


BackendConfig = BackendSettings


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, validated configuration."""

    source: str
    server: ServerConfig
    admin: AdminConfig
    log: LogConfig
    backends: tuple[BackendConfig, ...]
    routes: RouteTable
    kafka: ProducerSettings | None = None
    caches: tuple[CacheSettings, ...] = ()
    shadow: ShadowSettings | None = None

    def backend(self, name: str) -> BackendConfig:
        """The backend called ``name`` (names are checked at load)."""
        return next(b for b in self.backends if b.name == name)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a configuration file.

    Raises:
        ConfigError: the file is missing, not TOML, or has a bad key or value.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read: {exc.strerror}") from None
    return parse_config(text, source)


def parse_config(text: str, source: str = "<string>") -> Config:
    """Validate configuration text; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from None
    root = Table(data, source)
    server = _read_server(root.table("server"))
    admin = _read_admin(root.table("admin"))
    log = _read_log(root.table("log"))
    backends = _read_backends(root.table("backends", required=True))
    names = [b.name for b in backends]
    default = server.default_backend or names[0]
    if default not in names:
        raise root.table("server").error("default_backend", f"no backend named {default!r}")
    if len(names) > 1 and not server.default_backend:
        raise ConfigError(source, "server.default_backend", "required with several backends")
    routes = with_php_sites(read_routes(root.tables("routes"), frozenset(names), default), backends)
    routes += (Route("default", Match.create("prefix", "/"), Legacy(default)),)
    kafka = read_kafka(root.table("kafka"))
    caches = read_caches(root.table("caches"))
    shadow = read_shadow(root.table("shadow")) if _mirrors(routes) or root.has("shadow") else None
    if shadow is not None and shadow.kafka_topic and kafka is None:
        raise ConfigError(source, "shadow.kafka_topic", "needs a [kafka] producer")
    root.finish()
    server = dataclasses.replace(server, default_backend=default)
    table = RouteTable(routes)
    return Config(source, server, admin, log, backends, table, kafka, caches, shadow)


def _mirrors(routes: tuple[Route, ...]) -> bool:
    """Whether any route compares answers (shadow mode or reverse shadow)."""
    return any(isinstance(r.mode, Shadow) or getattr(r.mode, "reverse_rate", 0) > 0 for r in routes)


def _read_server(t: Table) -> ServerConfig:
    d = ServerConfig()
    listen = t.strings("listen", d.listen)
    for i, addr in enumerate(listen):
        _check_address(t, f"listen[{i}]", addr)
    workers = t.take("workers", int, d.workers)
    if not 1 <= workers <= 256:
        raise t.error("workers", "must be between 1 and 256")
    proxies = t.strings("trusted_proxies", ())
    for key, reason in _REMOVED_SERVER_KEYS.items():
        if t.has(key):
            raise t.error(key, reason)
    if t.has("runtime") and t.data["runtime"] == "uvicorn":
        raise t.error("runtime", "'uvicorn' was replaced by 'uvloop', strangler's own server")
    if t.take("http2", bool, d.http2):
        raise t.error("http2", "HTTP/2 is not served; terminate it at the load balancer")
    max_connections = t.take("max_connections", int, d.max_connections)
    if max_connections < 1:
        raise t.error("max_connections", "must be at least 1")
    cfg = ServerConfig(
        listen=listen,
        workers=workers,
        runtime=t.take_with("runtime", one_of(*RUNTIMES), d.runtime),  # type: ignore[arg-type]
        max_body_size=t.take_with("max_body_size", parse_size, d.max_body_size),
        graceful_timeout=t.take_with("graceful_timeout", parse_duration, d.graceful_timeout),
        keep_alive_timeout=t.take_with("keep_alive_timeout", parse_duration, d.keep_alive_timeout),
        client_header_timeout=_timeout(t, "client_header_timeout", d.client_header_timeout),
        client_body_timeout=_timeout(t, "client_body_timeout", d.client_body_timeout),
        send_timeout=_timeout(t, "send_timeout", d.send_timeout),
        max_connections=max_connections,
        trusted_proxies=tuple(_network(t, i, p) for i, p in enumerate(proxies)),
        default_backend=t.take("default_backend", str, ""),
    )
    t.finish()
    return cfg


def _timeout(t: Table, key: str, default: float) -> float:
    value: float = t.take_with(key, parse_duration, default)
    if value <= 0:
        raise t.error(key, "must be longer than 0")
    return value


def _network(t: Table, i: int, text: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise t.error(f"trusted_proxies[{i}]", str(exc)) from None


def _read_admin(t: Table) -> AdminConfig:
    listen = t.take("listen", str, AdminConfig().listen)
    _check_address(t, "listen", listen)
    token = t.take("token", str, None) or None
    host = listen.rsplit(":", 1)[0].strip("[]")
    if token is None and not listen.startswith("unix:") and not _is_loopback(host):
        raise t.error("token", f"required when the admin listener is not on loopback ({listen})")
    t.finish()
    return AdminConfig(listen, token)


def _read_log(t: Table) -> LogConfig:
    level = t.take_with("level", one_of("debug", "info", "warning", "error"), "info")
    fmt = t.take_with("format", one_of("json", "console"), "json")
    cfg = LogConfig(level, fmt, t.take("access_log", bool, True))  # type: ignore[arg-type]
    t.finish()
    return cfg


def _read_backends(t: Table) -> tuple[BackendConfig, ...]:
    if not t.data:
        raise ConfigError(t.source, "backends", "define at least one backend")
    return tuple(_read_backend(t.table(name)) for name in list(t.data))


def _read_backend(t: Table) -> BackendConfig:
    name = t.path.split(".", 1)[1]
    kind = t.take_with("type", one_of("fastcgi", "http", "static"))
    backend: BackendConfig
    if kind == "fastcgi":
        backend = _read_fastcgi(t, name)
    elif kind == "http":
        url = t.take("url", str)
        if not url.startswith(("http://", "https://")):
            raise t.error("url", "must start with http:// or https://")
        backend = HTTPSettings(name, url.rstrip("/"), _read_pool(t))
    else:
        root = _directory(t, "root")
        backend = StaticSettings(name, root, t.strings("index", ("index.html",)))
    t.finish()
    return backend


def _read_fastcgi(t: Table, name: str) -> FastCGISettings:
    address = t.take("address", str)
    _check_address(t, "address", address)
    front = t.take("front_controller", str, None)
    if front is not None and not front.startswith("/"):
        raise t.error("front_controller", "must be a path starting with '/', e.g. '/index.php'")
    params = t.table("params")
    pairs = tuple((k, params.take(k, str)) for k in list(params.data))
    return FastCGISettings(
        name=name,
        address=address,
        document_root=_directory(t, "document_root"),
        front_controller=front,
        index=t.strings("index", ("index.php", "index.html")),
        static=t.take("static", bool, True),
        pool=_read_pool(t),
        params=pairs,
    )


def _read_pool(t: Table) -> PoolSettings:
    d = PoolSettings()
    size = t.take("pool_size", int, d.size)
    if not 1 <= size <= 1024:
        raise t.error("pool_size", "must be between 1 and 1024")
    return PoolSettings(
        size=size,
        idle_timeout=t.take_with("pool_idle_timeout", parse_duration, d.idle_timeout),
        acquire_timeout=t.take_with("pool_acquire_timeout", parse_duration, d.acquire_timeout),
        connect_timeout=_timeout(t, "connect_timeout", d.connect_timeout),
        read_timeout=_timeout(t, "read_timeout", d.read_timeout),
        send_timeout=_timeout(t, "send_timeout", d.send_timeout),
    )


def _directory(t: Table, key: str) -> str:
    path: str = t.take(key, str)
    if not os.path.isabs(path):
        path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(t.source)), path))
    if not os.path.isdir(path):
        raise t.error(key, f"not a directory: {path}")
    return os.path.realpath(path)


def _check_address(t: Table, key: str, addr: str) -> None:
    if addr.startswith("unix:"):
        if len(addr) <= 5:
            raise t.error(key, "empty unix socket path")
        return
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise t.error(key, f"expected host:port or unix:/path, got {addr!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
