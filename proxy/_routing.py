"""Routes: what a request matches, and which mode then answers it.

Strategy: routes are an ordered tuple of frozen values compiled once at config
load; ``RouteTable.match`` is a pure function of (method, host, path) that walks
them in order and returns the first hit with its named path parameters.  The
last route is always the default route to legacy, so every request has one.

The set of modes is closed (``Mode``); each is a small frozen dataclass that
knows its own settings, like mitmproxy's mode specs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Delivery = Literal["acked", "queued"]
ModeName = Literal["legacy", "shadow", "canary", "migrated", "status"]
MODE_NAMES: Final[tuple[ModeName, ...]] = ("legacy", "shadow", "canary", "migrated", "status")
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_SEGMENT: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(str|int|path))?\}")
_CONVERTERS: Final = {"str": r"[^/]+", "int": r"[0-9]+", "path": r".+"}


@dataclass(frozen=True, slots=True)
class Match:
    """What a request must look like for a route to apply.

    Exactly one of ``path`` (exact), ``prefix``, ``pattern`` (``/users/{id:int}``)
    or ``regex`` (searched anywhere, like nginx ``location ~``) is set.
    """

    kind: Literal["path", "prefix", "pattern", "regex"]
    value: str
    methods: frozenset[str] = frozenset()
    hosts: tuple[str, ...] = ()
    compiled: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def create(
        cls,
        kind: Literal["path", "prefix", "pattern", "regex"],
        value: str,
        methods: frozenset[str] = frozenset(),
        hosts: tuple[str, ...] = (),
    ) -> Match:
        """Build a match, compiling patterns; raises ``ValueError`` on a bad pattern."""
        compiled = None
        if kind == "pattern":
            compiled = re.compile(pattern_to_regex(value))
        elif kind == "regex":
            compiled = re.compile(value)
        return cls(kind, value, methods, hosts, compiled)

    def test(self, method: str, host: str, path: str) -> dict[str, str] | None:
        """Return the path parameters when the request matches, else ``None``."""
        if self.methods and method not in self.methods:
            return None
        if self.hosts and not any(_host_matches(h, host) for h in self.hosts):
            return None
        if self.kind == "path":
            return {} if path == self.value else None
        if self.kind == "prefix":
            return {} if path.startswith(self.value) else None
        assert self.compiled is not None
        if self.kind == "regex":
            return {} if self.compiled.search(path) else None
        hit = self.compiled.fullmatch(path)
        return hit.groupdict() if hit else None

    def describe(self) -> str:
        """A one-line human description, used by ``check-config`` and ``/routes``."""
        text = f"{self.kind} {self.value}"
        if self.methods:
            text += f" methods={','.join(sorted(self.methods))}"
        if self.hosts:
            text += f" host={','.join(self.hosts)}"
        return text


def pattern_to_regex(pattern: str) -> str:
    """Turn ``/users/{id:int}/files/{rest:path}`` into an anchored regex with named groups.

    Raises:
        ValueError: a pattern that does not start with ``/`` or repeats a name.
    """
    if not pattern.startswith("/"):
        raise ValueError("a pattern must start with '/'")
    out, names, pos = [], set(), 0
    for seg in _SEGMENT.finditer(pattern):
        name, conv = seg.group(1), seg.group(2) or "str"
        if name in names:
            raise ValueError(f"parameter {name!r} appears twice")
        names.add(name)
        start = seg.start()
        out.append(re.escape(pattern[pos:start]))
        out.append(f"(?P<{name}>{_CONVERTERS[conv]})")
        pos = seg.end()
    rest = pattern[pos:]
    if "{" in rest or "}" in rest:
        raise ValueError("unbalanced '{' or '}' (use {name}, {name:int} or {name:path})")
    out.append(re.escape(rest))
    return "".join(out)


def _host_matches(expected: str, host: str) -> bool:
    if expected.startswith("*."):
        return host.endswith(expected[1:])
    return host == expected


@dataclass(frozen=True, slots=True)
class Legacy:
    """The legacy backend answers."""

    backend: str
    name: ModeName = "legacy"


@dataclass(frozen=True, slots=True)
class FixedStatus:
    """Answer a fixed status without any backend (nginx ``deny all`` / ``return 410``)."""

    status: int
    body: str = ""
    location: str = ""
    name: ModeName = "status"


@dataclass(frozen=True, slots=True)
class Shadow:
    """Legacy answers; the migrated handler runs on a copy and the answers are compared."""

    backend: str
    handler: str
    sample_rate: float = 1.0
    timeout: float = 5.0
    sample_key: str = "client"
    rules: Any = None  # shadow.CompareRules: what to compare and what to ignore
    php: Any = None  # migrated.PhpSite of ``backend`` when it is FastCGI (Request.php)
    name: ModeName = "shadow"


@dataclass(frozen=True, slots=True)
class ForceSide:
    """How a request pins itself to one side of a canary (ingress-nginx's canary-by-header/-cookie).

    ``header`` is a lower-case header name and ``cookie`` a cookie name (empty:
    not used); ``value`` is the header value that means the new side (empty:
    ``always`` and ``never``).  ``proxy._canary.forced_side`` decides.
    """

    header: bytes = b""
    value: bytes = b""
    cookie: str = ""


@dataclass(frozen=True, slots=True)
class Canary:
    """A sticky share of keys goes to the migrated handler, the rest to legacy.

    ``force`` is ``None`` unless the route lets a header or cookie pin a request
    to a side, so a canary without it pays one attribute test per request.
    """

    backend: str
    handler: str
    percent: float
    key: str = "client"
    fallback_methods: frozenset[str] = SAFE_METHODS
    timeout: float = 10.0
    delivery: Delivery = "acked"
    reverse_rate: float = 0.0
    reverse_methods: frozenset[str] = SAFE_METHODS
    rules: Any = None
    force: ForceSide | None = None
    php: Any = None  # migrated.PhpSite of ``backend`` when it is FastCGI (Request.php)
    name: ModeName = "canary"


@dataclass(frozen=True, slots=True)
class Migrated:
    """The migrated handler answers, falling back to legacy on failure when allowed.

    ``backend`` is the legacy fallback (the default backend unless set); the
    fallback applies only to ``fallback_methods`` (safe ones by default), since
    repeating an unsafe request on legacy after the handler failed midway could
    apply it twice.  ``delivery`` says when the client is answered: after the
    broker acknowledged the handler's messages, or once they are durably queued.
    """

    handler: str
    backend: str | None = None
    fallback_methods: frozenset[str] = SAFE_METHODS
    timeout: float = 10.0
    delivery: Delivery = "acked"
    reverse_rate: float = 0.0  # share of requests also sent to legacy and compared
    reverse_methods: frozenset[str] = SAFE_METHODS  # only methods safe to repeat, by default
    rules: Any = None
    php: Any = None  # migrated.PhpSite of ``backend`` when it is FastCGI (Request.php)
    name: ModeName = "migrated"


Mode = Legacy | FixedStatus | Shadow | Canary | Migrated


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the ordered route list."""

    name: str
    match: Match
    mode: Mode

    def describe(self) -> str:
        """One line: name, match and mode with its target."""
        mode = self.mode
        if isinstance(mode, FixedStatus):
            target = f"status {mode.status}"
        elif isinstance(mode, Migrated):
            target = f"migrated {mode.handler}"
        else:
            target = f"{mode.name} -> {mode.backend}"
        return f"{self.name:<20} {self.match.describe():<40} {target}"


@dataclass(frozen=True, slots=True)
class RouteTable:
    """The compiled, ordered routes; the first match wins."""

    routes: tuple[Route, ...]

    def match(self, method: str, host: str, path: str) -> tuple[Route, dict[str, str]]:
        """Return the first route matching the request and its path parameters.

        The loader always ends the table with a catch-all default route, so a
        table built by it always returns; a hand-built table without one raises
        ``LookupError`` for an unmatched request.
        """
        for route in self.routes:
            params = route.match.test(method, host, path)
            if params is not None:
                return route, params
        raise LookupError(path)
