"""What a migrated handler sees: a request, a context, and the response it returns.

A handler is ``async def handler(request: Request, ctx: Context) -> Response``,
referenced from the config as ``package.module:function``.  A handler that
never awaits may be a plain ``def`` ("inline"): it is called on the worker's
event loop and answers without a coroutine of its own or a timeout scope,
which is cheaper (``ops/bench/engine_cpu.py --migrated`` measures the
route); it must not block (no I/O, only work on the request and the
cached data).

A handler never touches shared resources directly: reference data comes from
``ctx.cache(name)`` (an immutable snapshot, swapped atomically by the
refresher) and messages go into ``ctx.outbox``, which the runner hands to the
shared producer only when the handler returned successfully (so a fallback to
legacy cannot send twice), and only captures when the handler ran as a shadow
candidate.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

from legacy_adapter import LegacyRequest

from ._exceptions import HandlerBadRequest
from ._json import JsonRefused, strict_loads
from ._php_view import PhpSite, PhpView

_UNREAD = object()  # Request.php not computed yet (None is a computed answer)
MAX_DEPTH = 64
"""``Request.json``'s default limit of nested arrays/objects."""


@dataclass(frozen=True, slots=True, init=False)
class Message:
    """One message for Kafka: topic, optional key, value and headers."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
    ) -> None:
        object.__setattr__(self, "topic", topic)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "headers", headers)


class Outbox:
    """Messages a handler emits during one request; sent only after it succeeds."""

    __slots__ = ("messages",)

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def emit(
        self,
        topic: str,
        value: bytes | str,
        *,
        key: bytes | str | None = None,
        headers: Iterable[tuple[str, bytes | str]] = (),
    ) -> None:
        """Queue a message for ``topic`` (str values are UTF-8 encoded)."""
        pairs: tuple[tuple[str, bytes], ...] = ()
        if headers:  # a list, not a generator: compiled, a generator is an object per call
            pairs = tuple([(k, _bytes(v)) for k, v in headers])
        self.messages.append(
            Message(topic, _bytes(value), None if key is None else _bytes(key), pairs)
        )


@dataclass(frozen=True, slots=True, init=False)
class Request:
    """The client's request as a migrated handler sees it.

    Attributes:
        method: upper-case method.
        path: the decoded, normalised path (what routing and file lookups use).
        path_params: named segments captured by the route pattern.
        query_string: the raw query string.
        headers: ``(name, value)`` pairs, names lower-case, in arrival order.
        body: the whole body (bounded by ``server.max_body_size``).
        client: the client address after trusted-proxy processing.
        request_id: the id used in logs and passed to every backend.
        origin: the proxied request this view was made from (``raw_path``,
            ``php``); ``None`` for a request made by hand (tests, replay).
        php_site: the route's fallback backend, for ``php``; ``None`` when it
            is not a FastCGI backend.

    ``raw_path``, ``target`` and ``php`` are computed when read, so a
    handler that does not ask pays nothing for them.
    """

    method: str
    path: str
    path_params: Mapping[str, str]
    query_string: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    client: tuple[str, int] | None
    request_id: str
    origin: LegacyRequest | None = field(default=None, compare=False, repr=False)
    php_site: PhpSite | None = field(default=None, compare=False, repr=False)
    _php: Any = field(default=None, init=False, compare=False, repr=False)  # _UNREAD or the view

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        method: str,
        path: str,
        path_params: Mapping[str, str],
        query_string: str,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        client: tuple[str, int] | None,
        request_id: str,
        origin: LegacyRequest | None = None,
        php_site: PhpSite | None = None,
    ) -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "path_params", path_params)
        object.__setattr__(self, "query_string", query_string)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "client", client)
        object.__setattr__(self, "request_id", request_id)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "php_site", php_site)
        object.__setattr__(self, "_php", _UNREAD)

    @property
    def raw_path(self) -> str:
        """The path exactly as the client sent it: percent-encoded, dot segments and
        duplicate slashes kept, no query (latin-1 text of the bytes); ``path`` without
        an ``origin``."""
        origin = self.origin
        return self.path if origin is None else origin.raw_path.decode("latin-1")

    @property
    def target(self) -> str:
        """The request target as sent: ``raw_path``, then ``?`` and the query if there is one."""
        query = self.query_string
        return f"{self.raw_path}?{query}" if query else self.raw_path

    @property
    def php(self) -> PhpView | None:
        """What PHP would see through the route's fallback backend (``REQUEST_URI``,
        ``SCRIPT_NAME``, ``PATH_INFO``, every FastCGI param), computed by the legacy
        adapter's own code on first read.

        ``None`` when there is no FastCGI fallback backend or no ``origin``, or
        when legacy would run no script for this path (a static file, a redirect,
        a 404).
        """
        view = self._php
        if view is _UNREAD:
            site, origin = self.php_site, self.origin
            view = None if site is None or origin is None else site.view(origin)
            object.__setattr__(self, "_php", view)
        return view if isinstance(view, PhpView) else None

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string parsed into lists of values per name."""
        return parse_qs(self.query_string, keep_blank_values=True)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), default)

    def json(self, *, max_depth: int = MAX_DEPTH) -> Any:
        """The body parsed as strict JSON (objects are dicts, arrays lists).

        Strict: UTF-8 only (no BOM, no UTF-16/32 guessing), no ``NaN`` or
        ``Infinity``, no lone surrogate escape, at most ``max_depth`` nested
        arrays/objects.  A repeated name keeps its last value.  For PHP's
        ``json_decode`` rules (64-bit integers, objects as arrays) use
        ``migrated.php.json_decode(request.body)``.

        Raises:
            HandlerBadRequest: the body is refused (answered 400 with the reason).
        """
        try:
            return strict_loads(self.body, max_depth)
        except JsonRefused as exc:
            raise HandlerBadRequest(f"body is not valid JSON: {exc.reason}") from None


@dataclass(slots=True, init=False)
class Response:
    """What a handler answers."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self,
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        self.status = status
        self.headers = [] if headers is None else headers
        self.body = body

    @classmethod
    def json(
        cls,
        data: Any,
        status: int = 200,
        *,
        headers: Iterable[tuple[str, str]] = (),
        dumps: Callable[[Any], str] | None = None,
    ) -> Response:
        """A JSON answer; ``dumps`` lets a port reproduce a legacy encoder byte for byte."""
        text = (dumps or _compact)(data)
        return cls(status, [("content-type", "application/json"), *headers], text.encode())

    @classmethod
    def text(cls, text: str, status: int = 200, *, content_type: str = "text/plain") -> Response:
        """A text answer in UTF-8."""
        return cls(status, [("content-type", f"{content_type}; charset=utf-8")], text.encode())


class Snapshot(Protocol):
    """One immutable version of a cache's data."""

    @property
    def data(self) -> Any: ...

    @property
    def version(self) -> str: ...


class Context(Protocol):
    """Per-request access to the worker's shared resources."""

    request_id: str
    outbox: Outbox

    @property
    def log(self) -> Any:
        """A structlog logger bound to the handler's name (and, by context, the request id)."""
        ...

    def cache(self, name: str) -> Any:
        """The current data of cache ``name`` (an immutable snapshot's ``data``)."""
        ...


AsyncHandler = Callable[[Request, Context], Awaitable[Response]]
InlineHandler = Callable[[Request, Context], Response]
"""A handler that never awaits: called on the event loop, it must not block."""
Handler = AsyncHandler | InlineHandler


def _bytes(value: bytes | str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    # the handler's bug, raised in the handler (not later, in a burst shared with others)
    raise TypeError(f"a message's value, key and header values are bytes or str, not {value!r}")


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    """What json cannot write itself: a read-only mapping (a cache snapshot's) as a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
