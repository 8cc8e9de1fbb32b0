"""New sides that are not handler functions: an HTTP service, or an ASGI app in process.

A route's new side is named by exactly one of three keys: ``handler`` (a
function written to strangler's handler API), ``service`` (the base URL of an
HTTP service: a FastAPI or Django deployment, or a service in any language)
or ``asgi`` (``package.module:app``, an ASGI application run inside the
worker).  The last two are made into handlers here, so shadow, canary and
migrated modes treat all three alike: compared with legacy, sticky, bounded by
the route's ``timeout`` and fallen back from when they fail.  Neither uses the
outbox; what they send elsewhere is their own affair.

A service's request carries the client's method, request target as sent
(after the service URL's path), headers (less hop-by-hop ones) and body,
with ``X-Forwarded-For``, ``X-Forwarded-Host`` and ``X-Request-Id``;
``Host`` is the service's own, as nginx's ``proxy_pass`` sends it.  A
service that cannot be reached, stops mid-answer or answers 502, 503 or 504
has *failed* (``ServiceFailed``): the route falls back to legacy where its
``fallback_methods`` allow, as for a handler that raised.  Every other
status is an answer and reaches the client.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

import anyio
import anyio.abc
import httpx
import structlog

from legacy_adapter import HOP_BY_HOP, bare_client, connection_named, forward_headers

from ._api import Context, Handler, Request, Response
from ._exceptions import HandlerNotFound
from ._loader import load_handler

SERVICE = "service:"
"""A handler reference that names an HTTP service (``service:http://host:port/base``)."""
ASGI = "asgi:"
"""A handler reference that names an ASGI app (``asgi:package.module:app``)."""

_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_FAILED_STATUSES = frozenset({502, 503, 504})
_OWN_HEADERS = frozenset({b"content-length", b"date", b"server"})
MAX_SERVICE_ANSWER = 64 * 1024 * 1024
"""Largest answer body taken from a service; a longer one fails the request."""

log = structlog.get_logger("strangler.targets")

Asgi = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class ServiceFailed(Exception):
    """The service gave no answer to use: unreachable, cut off, too long, or 502/503/504."""


def make_handler(reference: str) -> Handler:
    """The handler a route's reference names: a function, a service, or an ASGI app.

    Raises:
        HandlerNotFound: the function or app cannot be imported, or the URL is not http(s).
    """
    if reference.startswith(SERVICE):
        return ServiceHandler(reference.removeprefix(SERVICE))
    if reference.startswith(ASGI):
        return AsgiHandler(reference.removeprefix(ASGI))
    return load_handler(reference)


def check_service_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL without query or fragment.

    Raises:
        ValueError: it is not.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"not a URL: {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {url!r}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"a service URL takes no query or fragment: {url!r}")
    return url


def load_asgi_app(reference: str) -> Asgi:
    """Import ``package.module:attribute`` and check it is callable.

    Raises:
        HandlerNotFound: it cannot be imported, or is not callable.
    """
    if not _APP.match(reference):
        raise HandlerNotFound(f"{reference!r}: expected 'package.module:app'")
    module_name, _, attr = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time error of the user's module
        raise HandlerNotFound(f"{reference!r}: cannot import {module_name}: {exc!r}") from None
    app: Any = module
    for part in attr.split("."):
        app = getattr(app, part, None)
    if app is None or not callable(app):
        raise HandlerNotFound(f"{reference!r}: module {module_name} has no callable {attr!r}")
    return app  # type: ignore[no-any-return]


class ServiceHandler:
    """Forward a request to an HTTP service and take its answer as the new side's.

    One connection pool per worker and service, opened on first use in the
    worker's own event loop (asyncio or trio) and closed with the worker's
    config state (``aclose``).

    Args:
        base_url: the service's URL; the request's path is appended to its path.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = check_service_url(base_url)
        url = httpx.URL(base_url)
        self._origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        self._prefix = url.raw_path.decode("ascii").rstrip("/")
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    async def __call__(self, request: Request, ctx: Context) -> Response:
        """Ask the service; its answer, less hop-by-hop headers.

        Raises:
            ServiceFailed: no usable answer (see the module's docstring).
        """
        if self._closed:
            raise ServiceFailed(f"{self.base_url}: closed by a reload or shutdown")
        client = self._client
        if client is None:
            client = self._client = bare_client(_TIMEOUT, _LIMITS)
        # The path the route matched, re-encoded, as nginx's proxy_pass with a URI
        # sends it: a raw target could name another resource once the client
        # library resolves what the route did not ("/admin#/../api/x").
        target = self._prefix + quote(request.path, safe=_PATH_SAFE)
        if request.query_string:
            target += "?" + request.query_string
        outgoing = client.build_request(
            request.method,
            self._origin + target,
            headers=_forwarded(request),
            content=request.body,
        )
        try:
            answer = await client.send(outgoing, stream=True)
            try:
                body = await _read_bounded(answer)
            finally:
                await answer.aclose()
        except httpx.HTTPError as exc:
            raise ServiceFailed(f"{self.base_url}: {type(exc).__name__}: {exc}") from exc
        if answer.status_code in _FAILED_STATUSES:
            raise ServiceFailed(f"{self.base_url} answered {answer.status_code}")
        return Response(answer.status_code, _answer_headers(answer.headers.raw), body)

    async def aclose(self) -> None:
        """Close the pool's connections; later calls fail (a late shadow copy, say)."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


_TIMEOUT = httpx.Timeout(60.0)  # the route's timeout bounds each call; this, a lost connection
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_NOT_FORWARDED = frozenset({b"host", b"content-length"})  # the service's own, set by httpx


def _forwarded(request: Request) -> list[tuple[bytes, bytes]]:
    """The legacy HTTP backend's forwarding rules (``forward_headers``), less Host.

    Raises:
        ServiceFailed: the request did not come through the proxy.
    """
    origin = request.origin
    if origin is None:
        raise ServiceFailed("a service is called with a proxied request only")
    return [(k, v) for k, v in forward_headers(origin) if k not in _NOT_FORWARDED]


async def _read_bounded(answer: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_raw():  # as sent: a compressed body stays compressed
        size += len(chunk)
        if size > MAX_SERVICE_ANSWER:
            raise ServiceFailed(f"answer body over {MAX_SERVICE_ANSWER} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    # Date and Server are the proxy's, as nginx's proxy_pass drops the upstream's
    dropped = HOP_BY_HOP | _OWN_HEADERS | connection_named(raw)
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in raw
        if name.lower() not in dropped
    ]


class AsgiHandler:
    """Run an ASGI 3 application in the worker as a route's new side.

    The app gets an HTTP scope per request and, once per worker, the lifespan
    protocol (``start``/``aclose``), so a FastAPI or Starlette app's startup
    and shutdown code runs as under any ASGI server.  An app that refuses the
    lifespan scope is run without it, as uvicorn's ``lifespan = "auto"`` does.

    Args:
        reference: ``package.module:app``.
    """

    def __init__(self, reference: str) -> None:
        self.reference = reference
        self.app = load_asgi_app(reference)
        self._state: dict[str, Any] = {}
        self._shutdown: anyio.Event | None = None
        self._stopped: anyio.Event | None = None
        self._started = False

    async def __call__(self, request: Request, ctx: Context) -> Response:
        """Call the app with the request; its answer.

        Raises:
            ServiceFailed: the app returned without starting its answer.
        """
        answer = _AsgiAnswer(request.body)
        await self.app(_http_scope(request, self._state), answer.receive, answer.send)
        if answer.status is None:
            raise ServiceFailed(f"{self.reference} returned without an answer")
        return Response(answer.status, answer.headers, b"".join(answer.body))

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Run the app's lifespan startup in ``tg`` (once); its shutdown waits for ``aclose``.

        Raises:
            HandlerNotFound: the app's startup failed.
        """
        if self._started:
            return
        self._started = True
        started: list[str | None] = []
        ready = anyio.Event()
        self._shutdown, self._stopped = anyio.Event(), anyio.Event()
        tg.start_soon(self._lifespan, started, ready, self._shutdown, self._stopped)
        await ready.wait()
        if started and started[0] is not None:
            raise HandlerNotFound(f"{self.reference}: lifespan startup failed: {started[0]}")

    async def aclose(self) -> None:
        """Run the app's lifespan shutdown, if it started."""
        if self._shutdown is None or self._stopped is None:
            return
        self._shutdown.set()
        with anyio.move_on_after(10):
            await self._stopped.wait()

    async def _lifespan(
        self,
        started: list[str | None],
        ready: anyio.Event,
        shutdown: anyio.Event,
        stopped: anyio.Event,
    ) -> None:
        phase = ["lifespan.startup"]

        async def receive() -> dict[str, Any]:
            if phase[0] == "lifespan.startup":
                phase[0] = "running"
                return {"type": "lifespan.startup"}
            await shutdown.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: MutableMapping[str, Any]) -> None:
            kind = message.get("type")
            if kind == "lifespan.startup.complete":
                started.append(None)
                ready.set()
            elif kind == "lifespan.startup.failed":
                started.append(str(message.get("message", "")) or "no reason given")
                ready.set()

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = self._state
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # an app without lifespan support refuses the scope
            if not started:
                log.info("asgi_lifespan_unsupported", app=self.reference, error=repr(exc))
        finally:
            ready.set()
            stopped.set()


class _AsgiAnswer:
    """The receive and send callables of one ASGI request, and what the app sent."""

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body
        self._done = anyio.Event()
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self._size = 0

    async def receive(self) -> dict[str, Any]:
        body, self._body = self._body, None
        if body is not None:
            return {"type": "http.request", "body": body, "more_body": False}
        await self._done.wait()  # the client is gone once the answer is complete
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            self.status = int(message["status"])
            self.headers = [
                (bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
                for n, v in message.get("headers", ())
                if bytes(n).lower() != b"content-length"
            ]
        elif kind == "http.response.body":
            chunk = bytes(message.get("body", b""))
            self._size += len(chunk)
            if self._size > MAX_SERVICE_ANSWER:
                raise ServiceFailed(f"answer body over {MAX_SERVICE_ANSWER} bytes")
            self.body.append(chunk)
            if not message.get("more_body", False):
                self._done.set()


def _http_scope(request: Request, state: dict[str, Any]) -> dict[str, Any]:
    path = request.path
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": path,
        "raw_path": quote(path, safe="/:@!$&'()*+,;=-._~").encode("ascii"),
        "query_string": request.query_string.encode("latin-1"),
        "root_path": "",
        "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in request.headers],
        "client": request.client,
        "server": None,
        "state": dict(state),
    }
