"""PHP-FPM over FastCGI: the I/O shell around the sans-IO codec.

Strategy: ``FastCGIBackend.send`` resolves the path as nginx would (script,
static file, directory redirect or 404), then for a script leases a pooled
connection, writes the params, streams the request body into STDIN records as
it arrives, and yields the response as soon as its CGI head is parsed; the body
is pulled from PHP-FPM only as fast as the client takes it.  The connection
goes back to the pool only after a clean END_REQUEST; anything else (client
gone, timeout, garbage) closes it, so a half-read response never leaks into the
next request.

A reused connection that turns out dead before any byte of the request body was
consumed is retried once on a fresh one, as nginx's ``fastcgi_next_upstream
error`` does; past that point the body is gone and the error is reported.  So
is one that closes before any byte of the answer arrived (a child recycled by
``pm.max_requests`` exits right after its last answer), when the body is still
at hand and the method is one nginx retries (not POST, LOCK or PATCH).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import structlog

from . import _fastcgi_proto as proto
from ._cgi import client_headers as client_headers
from ._cgi import script_params
from ._exceptions import UpstreamProtocolError, UpstreamUnavailable
from ._pages import directory_redirect, error_page
from ._pool import ConnectionPool, Lease
from ._resolve import (
    NotFound,
    Redirect,
    RunScript,
    ScriptSettings,
    ServeFile,
    resolve,
    script_of,
)
from ._settings import FastCGISettings
from ._static import serve_static
from ._streams import SpooledChunks, iter_bytes
from ._transport import connect, map_socket_errors, receive_within
from ._types import LegacyRequest, UpstreamResponse

log = structlog.get_logger("strangler.fastcgi")
_READ = 65536
_SPOOL_IN_MEMORY = 1024 * 1024
_INLINE_BODY = 64 * 1024  # bodies up to this size go out with the params in one write
_NON_IDEMPOTENT = frozenset({"POST", "LOCK", "PATCH"})  # nginx's list
_Event = proto.ResponseHead | proto.ResponseBody | proto.Stderr | proto.EndRequest


class FastCGIBackend:
    """A PHP-FPM pool reached over FastCGI, with nginx's script resolution.

    Args:
        settings: the backend's configuration (address, document root, pool limits).
    """

    def __init__(self, settings: FastCGISettings) -> None:
        self.name = settings.name
        self.settings = settings
        self.scripts = ScriptSettings(
            document_root=settings.document_root,
            front_controller=settings.front_controller,
            index=settings.index,
            static=settings.static,
        )
        self.pool = ConnectionPool(
            settings.name,
            settings.address,
            size=settings.pool.size,
            idle_timeout=settings.pool.idle_timeout,
            acquire_timeout=settings.pool.acquire_timeout,
            connect_timeout=settings.pool.connect_timeout,
        )
        self.extra = dict(settings.params)  # fastcgi_param lines
        self._started = False

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start closing idle connections in ``tg`` (once, however often called)."""
        if not self._started:
            self._started = True
            await tg.start(self.pool.maintain)

    def send(self, request: LegacyRequest) -> _Sending:
        """Answer ``request`` from a static file or a PHP script (see module docstring)."""
        return _Sending(self, request)

    async def exchange(
        self,
        lease: Lease,
        request: LegacyRequest,
        params: list[tuple[bytes, bytes]],
        inline: bytes,
        body: AsyncIterator[bytes],
        streamed: bool,
    ) -> UpstreamResponse:
        """Send the request on ``lease`` and read its answer's head; retry once when nginx would.

        A reused connection that closes before any byte of the answer arrived
        is replaced and the request sent again, when the body is still at hand
        and the method is one nginx retries.
        """
        head_only = request.method == "HEAD"
        for attempt in (1, 2):
            conn = await self._start(lease, params, inline, streamed=streamed)
            exchange = _Exchange(self, lease, conn)
            if streamed:
                await exchange.send_body(body)
            lost: UpstreamUnavailable | None = None
            try:
                return await exchange.read_head(head_only=head_only)
            except UpstreamUnavailable as exc:
                lost = exc
            retry = attempt == 1 and not streamed and not exchange.received
            if not (retry and lease.reused and may_retry(request.method)):
                raise lost
            await self.reconnect(lease)
        raise AssertionError("unreachable")  # pragma: no cover

    def params_for(
        self, request: LegacyRequest, target: RunScript, content_length: int | None
    ) -> list[tuple[bytes, bytes]]:
        """The FastCGI params for ``request`` running ``target`` on this backend."""
        return script_params(
            request, target, self.settings.document_root, self.extra, content_length
        )

    def script_for(self, path: str) -> RunScript | None:
        """The PHP script answering ``path``; ``None`` for a file, a redirect or a 404."""
        return script_of(path, self.scripts)

    async def answer_without_php(
        self, target: ServeFile | Redirect | NotFound, request: LegacyRequest
    ) -> UpstreamResponse:
        if isinstance(target, ServeFile):
            return await serve_static(target.filename, request)
        if isinstance(target, Redirect):
            return directory_redirect(request, target.location_path)
        return error_page(target.status, head=request.method == "HEAD")

    async def ping(self) -> None:
        """Open and close a connection to PHP-FPM (readiness)."""
        async with self.pool.lease():
            pass

    async def aclose(self) -> None:
        """Close idle pooled connections."""
        await self.pool.aclose()

    async def _start(
        self,
        lease: Lease,
        params: list[tuple[bytes, bytes]],
        inline: bytes,
        *,
        streamed: bool,
    ) -> proto.ClientConnection:
        """Send the params (and a small body) in one write; retry once on a dead kept connection.

        Nothing of the body has been consumed when this fails, so the retry is safe.
        """
        for attempt in (1, 2):
            conn = proto.ClientConnection()
            data = conn.start_request(params, keep_conn=True)
            if not streamed:
                data += conn.send_stdin(inline) + conn.end_stdin()
            lost: UpstreamUnavailable | None = None
            try:
                with map_socket_errors(self.name, "send request"):
                    await lease.stream.send(data)
            except UpstreamUnavailable as exc:
                lost = exc
            if lost is None:
                return conn
            if attempt == 2 or not lease.reused:
                raise lost
            await self.reconnect(lease)
        raise AssertionError("unreachable")  # pragma: no cover

    async def reconnect(self, lease: Lease) -> None:
        """Replace a dead reused connection by a new one in the same pool slot."""
        await lease.stream.aclose()
        lease.stream = await connect(self.name, self.pool.address, self.pool.connect_timeout)
        lease.reused = False


class _Exchange:
    """One request/response on a leased connection."""

    def __init__(self, backend: FastCGIBackend, lease: Lease, conn: proto.ClientConnection) -> None:
        self.backend = backend
        self.lease = lease
        self.conn = conn
        self.read_timeout = backend.settings.pool.read_timeout
        self.received = False  # any byte of the answer yet

    async def send_body(self, body: AsyncIterator[bytes]) -> None:
        with map_socket_errors(self.backend.name, "send request body"):
            async for chunk in body:
                if chunk:
                    await self.lease.stream.send(self.conn.send_stdin(chunk))
            await self.lease.stream.send(self.conn.end_stdin())

    async def read_head(self, *, head_only: bool) -> UpstreamResponse:
        """Read up to the response head; if the whole answer is already here, take it all.

        PHP usually sends head, body and END_REQUEST in one burst.  Taking what
        is buffered lets the proxy answer with a Content-Length instead of
        chunks, and give the connection back before the client has read a byte.
        """
        event = await self.next()
        while not isinstance(event, proto.ResponseHead):
            if isinstance(event, proto.EndRequest):
                raise UpstreamProtocolError(self.backend.name, "request ended without a response")
            event = await self.next()
        chunks, ended = self._buffered()
        if not ended:
            headers = client_headers(event, None, head_only=head_only)
            body = _ResponseBody(self, chunks)
            return UpstreamResponse(event.status, headers, body, self.backend.name)
        data = b"".join(chunks)
        headers = client_headers(event, data, head_only=head_only)
        response = UpstreamResponse(event.status, headers, iter_bytes((data,)), self.backend.name)
        response.extra["complete"] = True
        return response

    def _buffered(self) -> tuple[list[bytes], bool]:
        """Body chunks already received, and whether END_REQUEST came with them."""
        chunks: list[bytes] = []
        while (event := self._event()) is not None:
            if isinstance(event, proto.ResponseBody):
                chunks.append(event.data)
            elif isinstance(event, proto.EndRequest):
                self.finish(event)
                return chunks, True
        return chunks, False

    def finish(self, event: proto.EndRequest) -> None:
        if event.protocol_status != proto.REQUEST_COMPLETE:
            raise UpstreamProtocolError(
                self.backend.name, f"END_REQUEST protocol status {event.protocol_status}"
            )
        if self.conn.can_reuse:
            self.lease.keep()

    def _event(self) -> _Event | None:
        """The next event the codec can give without I/O (stderr is logged, not returned)."""
        while True:
            try:
                event = self.conn.next_event()
            except proto.ConnectionClosed:
                raise UpstreamUnavailable(self.backend.name, "closed mid-response") from None
            except proto.ProtocolError as exc:
                raise UpstreamProtocolError(self.backend.name, str(exc)) from None
            if not isinstance(event, proto.Stderr):
                return event
            log_stderr(self.backend.name, event.data)

    async def next(self) -> _Event:
        """The next response event, reading from the socket when the codec needs bytes."""
        while (event := self._event()) is None:
            try:
                data = await receive_within(self.lease.stream, self.read_timeout)
            except anyio.EndOfStream:
                data = b""  # the codec decides whether EOF here is an error
            except (TimeoutError, OSError, anyio.BrokenResourceError) as exc:
                with map_socket_errors(self.backend.name, "read response"):
                    raise exc
            self.received = self.received or bool(data)
            self.conn.receive_data(data)
        return event


class _ResponseBody:
    """A streamed answer's body: what came with the head, then the rest as PHP sends it."""

    __slots__ = ("_exchange", "_first")

    def __init__(self, exchange: _Exchange, first: list[bytes]) -> None:
        self._exchange = exchange
        self._first = first

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._first:
            return self._first.pop(0)
        while True:
            event = await self._exchange.next()
            if isinstance(event, proto.ResponseBody):
                return event.data
            if isinstance(event, proto.EndRequest):
                self._exchange.finish(event)
                raise StopAsyncIteration


class _Sending:
    """``async with backend.send(request) as response``: the answer, its connection's lease.

    A class rather than a generator-based context manager: it runs for every
    request, and the compiled build compiles classes.  A whole answer gives
    its connection back before ``__aenter__`` returns; a streamed one keeps
    it until ``__aexit__``.
    """

    __slots__ = ("_backend", "_lease", "_request")

    def __init__(self, backend: FastCGIBackend, request: LegacyRequest) -> None:
        self._backend = backend
        self._request = request
        self._lease: Lease | None = None

    async def __aenter__(self) -> UpstreamResponse:
        backend, request = self._backend, self._request
        target = resolve(request.path, backend.scripts)
        if not isinstance(target, RunScript):
            return await backend.answer_without_php(target, request)
        body, length = await _sized_body(request)
        inline = b""
        if length is not None and length <= _INLINE_BODY:
            inline = b"".join([chunk async for chunk in body])
        streamed = len(inline) != (length or 0)
        params = backend.params_for(request, target, length)
        lease = self._lease = await backend.pool.acquire()
        failure: BaseException | None = None
        try:
            response = await backend.exchange(lease, request, params, inline, body, streamed)
        except BaseException as exc:  # given back below, outside the except block
            failure = exc
        if failure is not None:
            self._lease = None
            await backend.pool.release(lease)
            raise failure
        if response.extra.get("complete"):
            self._lease = None
            await backend.pool.release(lease)  # whole answer buffered: give it back now
        return response

    async def __aexit__(self, *exc_info: object) -> None:
        lease = self._lease
        if lease is not None:
            self._lease = None
            await self._backend.pool.release(lease)


def may_retry(method: str) -> bool:
    """Whether nginx would send ``method`` again after a failed upstream attempt."""
    return method not in _NON_IDEMPOTENT


async def _sized_body(request: LegacyRequest) -> tuple[AsyncIterator[bytes], int | None]:
    """PHP needs CONTENT_LENGTH up front: a body of unknown length is spooled first.

    A body with a declared length streams straight through, as nginx does with
    ``fastcgi_request_buffering``; a chunked one is written to a temporary file
    (in memory up to 1 MiB) so its length is known.  The proxy has already
    bounded the size with ``max_body_size``.  No body and no length gives an
    empty CONTENT_LENGTH, as nginx sends for a plain GET.
    """
    if request.content_length is not None:
        return request.body, request.content_length
    first = await anext(request.body, b"")
    if not first:
        return iter_bytes(()), None  # no body at all (a GET): nothing to spool
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    spool.write(first)
    size = len(first)
    async for chunk in request.body:
        spool.write(chunk)
        size += len(chunk)
    spool.seek(0)
    return SpooledChunks(spool), size or None


def log_stderr(backend: str, data: bytes, **fields: str) -> None:
    """Log PHP's stderr line by line (``fields`` such as the request id when not bound)."""
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            log.warning("php_stderr", backend=backend, message=line, **fields)
