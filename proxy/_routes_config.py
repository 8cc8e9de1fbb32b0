"""Reading ``[[routes]]`` tables into ``Route`` values.

Each mode reads only the keys it understands; any other key on the route is
then rejected by ``Table.finish`` with the route's index in the key path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Literal

from legacy_adapter import BackendSettings, FastCGISettings
from migrated import (
    ASGI,
    SERVICE,
    HandlerNotFound,
    PhpSite,
    check_service_url,
    load_asgi_app,
    load_handler,
)
from shadow import CompareRules

from ._config_reader import Table, one_of, parse_duration
from ._exceptions import ConfigError
from ._routing import (
    MODE_NAMES,
    SAFE_METHODS,
    Canary,
    Delivery,
    FixedStatus,
    ForceSide,
    Legacy,
    Match,
    Migrated,
    Mode,
    Route,
    Shadow,
)
from ._shadow_config import read_compare

_METHOD = re.compile(r"^[A-Z]+$")
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_KEY = re.compile(r"^(client|header:[\w-]+|cookie:[\w.-]+|query:[\w.-]+)$")
_FORCE_HEADER = re.compile(r"^[A-Za-z0-9-]+$")  # no '_': such headers are dropped, as nginx does
_FORCE_COOKIE = re.compile(r"^[\w.-]+$")
_FORCE_VALUE = re.compile(r"^[\x21-\x7e]+$")
MatchKind = Literal["path", "prefix", "pattern", "regex"]


def read_routes(tables: list[Table], backends: frozenset[str], default: str) -> tuple[Route, ...]:
    """Read every route, checking names are unique, backends exist and handlers import."""
    routes: list[Route] = []
    seen: set[str] = set()
    for i, t in enumerate(tables):
        route = _read_route(t, i, backends, default)
        if route.name in seen or route.name == "default":
            raise t.error("name", f"route name {route.name!r} is used twice or reserved")
        seen.add(route.name)
        routes.append(route)
    return tuple(routes)


def _read_route(t: Table, index: int, backends: frozenset[str], default: str) -> Route:
    name = t.take("name", str, f"route-{index}")
    match = _read_match(t.table("match", required=True))
    default_mode = "status" if t.has("status") else "legacy"
    mode_name = t.take_with("mode", _mode_name, default_mode)
    mode = _read_mode(t, mode_name, backends, default)
    t.finish()
    return Route(name, match, mode)


def _mode_name(value: object) -> str:
    if value not in MODE_NAMES:
        raise ValueError(f"unknown mode {value!r}; expected one of {', '.join(MODE_NAMES)}")
    return str(value)


def _read_match(t: Table) -> Match:
    kinds: list[MatchKind] = [k for k in ("path", "prefix", "pattern", "regex") if t.has(k)]
    if len(kinds) != 1:
        raise t.error("", "set exactly one of path, prefix, pattern, regex")
    kind = kinds[0]
    value = t.take(kind, str)
    if kind != "regex" and not value.startswith("/"):
        raise t.error(kind, "must start with '/'")
    methods = t.strings("methods", ())
    for i, m in enumerate(methods):
        if not _METHOD.match(m):
            raise t.error(f"methods[{i}]", f"not an upper-case HTTP method: {m!r}")
    hosts = t.strings("host", ())
    t.finish()
    try:
        return Match.create(kind, value, frozenset(methods), tuple(h.lower() for h in hosts))
    except (ValueError, re.error) as exc:
        raise t.error(kind, str(exc)) from None


def _handler_timeout(value: object) -> float:
    """A handler's or candidate's budget: a duration above zero (zero would fail every run)."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be more than 0 (e.g. '500ms', '5s')")
    return seconds


def _read_mode(t: Table, mode: str, backends: frozenset[str], default: str) -> Mode:
    if mode == "status":
        return _read_status(t)
    if mode == "migrated":
        fallback = _backend(t, backends, required=False) or default
        methods = frozenset(t.strings("fallback_methods", tuple(sorted(SAFE_METHODS))))
        timeout = t.take_with("timeout", _handler_timeout, 10.0)
        reverse, reverse_methods = _reverse(t)
        return Migrated(
            _handler(t),
            fallback,
            methods,
            timeout,
            _delivery(t),
            reverse,
            reverse_methods,
            _compare(t),
        )
    backend = _backend(t, backends, required=True) or default
    if mode == "legacy":
        return Legacy(backend)
    if mode == "shadow":
        rate = _fraction(t, "sample_rate", 1.0)
        timeout = t.take_with("timeout", _handler_timeout, 5.0)
        key = t.take_with("sample_key", _sticky_key, "client")
        return Shadow(backend, _handler(t), rate, timeout, key, _compare(t))
    percent = t.take("percent", float)
    if not 0 <= percent <= 100:
        raise t.error("percent", "must be between 0 and 100")
    key = t.take_with("key", _sticky_key, "client")
    methods = frozenset(t.strings("fallback_methods", tuple(sorted(SAFE_METHODS))))
    timeout = t.take_with("timeout", _handler_timeout, 10.0)
    reverse, reverse_methods = _reverse(t)
    return Canary(
        backend,
        _handler(t),
        percent,
        key,
        methods,
        timeout,
        _delivery(t),
        reverse,
        reverse_methods,
        _compare(t),
        force=_force(t),
    )


def _force(t: Table) -> ForceSide | None:
    """``force_header`` (with ``force_header_value``) and ``force_cookie``: pinning a side."""
    header = t.take_with("force_header", _name_of(_FORCE_HEADER, "header"), None) or ""
    value = t.take_with("force_header_value", _force_value, None) or ""
    cookie = t.take_with("force_cookie", _name_of(_FORCE_COOKIE, "cookie"), None) or ""
    if value and not header:
        raise t.error("force_header_value", "needs force_header (the header that carries it)")
    if not header and not cookie:
        return None
    return ForceSide(header.lower().encode(), value.encode(), cookie)


def _name_of(pattern: re.Pattern[str], kind: str) -> Callable[[object], str]:
    """A parser of a header or cookie name matching ``pattern``."""

    def parse(value: object) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"not a {kind} name: {value!r}")
        return value

    return parse


def _force_value(value: object) -> str:
    """A custom value: a token a client sends as is, never one of the two reserved words."""
    if not isinstance(value, str) or not _FORCE_VALUE.match(value):
        raise ValueError(f"expected visible ASCII characters without spaces, got {value!r}")
    if value in ("always", "never"):
        reserved = "without force_header_value, 'always' and 'never' pick a side"
        raise ValueError(f"{value!r} is reserved ({reserved})")
    return value


def _reverse(t: Table) -> tuple[float, frozenset[str]]:
    """``reverse_shadow`` (share compared with legacy) and the methods it may repeat."""
    rate = _fraction(t, "reverse_shadow", 0.0)
    methods = frozenset(t.strings("reverse_shadow_methods", tuple(sorted(SAFE_METHODS))))
    return rate, methods


def _compare(t: Table) -> CompareRules:
    return read_compare(t.table("compare"))


def _delivery(t: Table) -> Delivery:
    return t.take_with("delivery", one_of("acked", "queued"), "acked")  # type: ignore[arg-type]


def _read_status(t: Table) -> FixedStatus:
    status = t.take("status", int)
    if not 200 <= status <= 599:
        raise t.error("status", "must be an HTTP status between 200 and 599")
    location = t.take("location", str, "")
    if 300 <= status < 400 and not location:
        raise t.error("location", f"required for a redirect status {status}")
    return FixedStatus(status, t.take("body", str, ""), location)


def _backend(t: Table, backends: frozenset[str], *, required: bool) -> str | None:
    name = t.take("backend", str, None)
    if name is None:
        return None
    if name not in backends:
        known = ", ".join(sorted(backends))
        raise t.error("backend", f"no backend named {name!r} (defined: {known})")
    return str(name)


def _handler(t: Table) -> str:
    """The route's new side as a handler reference: ``handler``, ``service`` or ``asgi``."""
    given = [key for key in ("handler", "service", "asgi") if t.has(key)]
    if len(given) != 1:
        raise t.error("", "set exactly one of handler, service, asgi (the new side)")
    if given[0] == "service":
        try:
            return SERVICE + check_service_url(str(t.take("service", str)))
        except ValueError as exc:
            raise t.error("service", str(exc)) from None
    if given[0] == "asgi":
        app = str(t.take("asgi", str))
        try:
            load_asgi_app(app)
        except HandlerNotFound as exc:
            raise t.error("asgi", str(exc)) from None
        return ASGI + app
    return _function(t)


def _function(t: Table) -> str:
    handler = t.take("handler", str)
    if not _HANDLER.match(handler):
        raise t.error("handler", f"expected 'package.module:function', got {handler!r}")
    try:
        load_handler(handler)
    except HandlerNotFound as exc:
        raise t.error("handler", str(exc)) from None
    return str(handler)


def _fraction(t: Table, key: str, default: float) -> float:
    value = t.take(key, float, default)
    if not 0.0 <= value <= 1.0:
        raise t.error(key, "must be between 0.0 and 1.0")
    return float(value)


def _sticky_key(value: object) -> str:
    if not isinstance(value, str) or not _KEY.match(value):
        raise ValueError(
            f"bad sticky key {value!r}; use client, header:NAME, cookie:NAME or query:NAME"
        )
    return value


__all__ = ["ConfigError", "one_of", "read_routes"]


def with_php_sites(
    routes: tuple[Route, ...], backends: Sequence[BackendSettings]
) -> tuple[Route, ...]:
    """Give each shadow, canary and migrated route its backend's ``PhpSite`` (``Request.php``).

    Only FastCGI backends run PHP; a route whose backend is another kind gets none.
    """
    sites = {b.name: PhpSite(b) for b in backends if isinstance(b, FastCGISettings)}
    out = []
    for route in routes:
        mode = route.mode
        if isinstance(mode, Shadow | Migrated | Canary) and mode.backend in sites:
            mode = dataclasses.replace(mode, php=sites[mode.backend])
            route = dataclasses.replace(route, mode=mode)
        out.append(route)
    return tuple(out)
