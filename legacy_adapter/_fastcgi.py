"""A FastCGI client for PHP-FPM: params and a body in, the answer streamed out.

Strategy: the client knows FastCGI and nothing of files; which script runs
is decided before it is called (``_locations``, as Caddy's ``php_fastcgi``
rewrites before its FastCGI transport talks).  ``FastCGIClient.request``
leases a pooled connection, writes the params, streams the request body into
STDIN records as it arrives, and yields the response as soon as its CGI head
is parsed (``_fastcgi_exchange``); the body is pulled from PHP-FPM only as
fast as the client takes it.  The connection goes back to the pool only after
a clean END_REQUEST; anything else (client gone, timeout, garbage) closes it,
so a half-read response never leaks into the next request.

A reused connection that turns out dead before any byte of the request body was
consumed is retried once on a fresh one, as nginx's ``fastcgi_next_upstream
error`` does; past that point the body is gone and the error is reported.  So
is one that closes before any byte of the answer arrived (a child recycled by
``pm.max_requests`` exits right after its last answer), when the body is still
at hand and the method is one nginx retries (not POST, LOCK or PATCH).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Final

import anyio.abc

from . import _fastcgi_proto as proto
from ._exceptions import BadRequest, UpstreamUnavailable
from ._fastcgi_exchange import Exchange
from ._pool import ConnectionPool, Lease
from ._settings import PoolSettings
from ._streams import SpooledChunks, iter_bytes, read_chunk, read_whole
from ._transport import connect, map_socket_errors, send_within
from ._types import LegacyRequest, UpstreamResponse

Params = bytes
"""A request's FastCGI params, encoded as name-value pairs (``ParamPlan.encode``)."""
ParamsFor = Callable[[int | None], Params]
"""The request's FastCGI params, given the body's length (``None``: no body)."""

_SPOOL_IN_MEMORY: Final = 1024 * 1024
_INLINE_BODY: Final = 64 * 1024  # bodies up to this size go out with the params in one write
_NON_IDEMPOTENT: Final = frozenset({"POST", "LOCK", "PATCH"})  # nginx's list


class FastCGIClient:
    """Requests to one FastCGI address over a pool of kept connections.

    Args:
        name: the backend's name (errors, logs, metrics).
        address: ``host:port`` or ``unix:/path``.
        pool: connection limits and timeouts.
    """

    def __init__(self, name: str, address: str, pool: PoolSettings) -> None:
        self.name = name
        self.read_timeout = pool.read_timeout
        self.send_timeout = pool.send_timeout
        self.pool = ConnectionPool(
            name,
            address,
            size=pool.size,
            idle_timeout=pool.idle_timeout,
            acquire_timeout=pool.acquire_timeout,
            connect_timeout=pool.connect_timeout,
        )

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start closing idle connections in ``tg``."""
        await tg.start(self.pool.maintain)

    def request(self, request: LegacyRequest, params_for: ParamsFor) -> Sending:
        """``async with client.request(request, params_for) as response``: the answer.

        Args:
            request: its method (retries, HEAD), body and declared length are used.
            params_for: the params, once the body's length is known (PHP needs
                CONTENT_LENGTH up front, so a chunked body is spooled first).

        Raises:
            LegacyError: a subclass saying why there is no answer (on entering).
        """
        return Sending(self, request, params_for)

    async def exchange(
        self,
        lease: Lease,
        request: LegacyRequest,
        params: Params,
        inline: bytes,
        body: AsyncIterator[bytes],
        streamed: bool,
    ) -> UpstreamResponse:
        """Send the request on ``lease`` and read its answer's head; retry once when nginx would."""
        head_only = request.method == "HEAD"
        for attempt in (1, 2):
            conn = await self._start(lease, params, inline, streamed=streamed)
            exchange = Exchange(self.name, lease, conn, self.read_timeout, self.send_timeout)
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

    async def ping(self) -> None:
        """Open and close a connection (readiness)."""
        async with self.pool.lease():
            pass

    async def aclose(self) -> None:
        """Close idle pooled connections."""
        await self.pool.aclose()

    async def _start(
        self, lease: Lease, params: Params, inline: bytes, *, streamed: bool
    ) -> proto.ClientConnection:
        """Send the params (and a small body) in one write; retry once on a dead kept connection.

        Nothing of the body has been consumed when this fails, so the retry is safe.
        """
        for attempt in (1, 2):
            conn = proto.ClientConnection()
            body = None if streamed else inline
            data = conn.start_request(params, keep_conn=True, stdin=body)
            lost: UpstreamUnavailable | None = None
            try:
                with map_socket_errors(self.name, "send request"):
                    await send_within(lease.stream, data, self.send_timeout)
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


def may_retry(method: str) -> bool:
    """Whether nginx would send ``method`` again after a failed upstream attempt."""
    return method not in _NON_IDEMPOTENT


async def sized_body(request: LegacyRequest) -> tuple[AsyncIterator[bytes], int | None]:
    """PHP needs CONTENT_LENGTH up front: a body of unknown length is spooled first.

    A body with a declared length streams straight through, as nginx does with
    ``fastcgi_request_buffering``; a chunked one is written to a temporary file
    (in memory up to ``_SPOOL_IN_MEMORY`` bytes) so its length is known.  The
    proxy has already bounded the size with ``max_body_size``.  No body and no
    length gives an empty CONTENT_LENGTH, as nginx sends for a plain GET.
    """
    if request.content_length is not None:
        return request.body, request.content_length
    first = await read_chunk(request.body)
    if not first:
        return iter_bytes(()), None  # no body at all (a GET): nothing to spool
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    spool.write(first)
    size = len(first)
    while chunk := await read_chunk(request.body):
        spool.write(chunk)
        size += len(chunk)
    spool.seek(0)
    return SpooledChunks(spool), size or None


class Sending:
    """``async with client.request(...) as response``: the answer and its connection's lease.

    A class rather than a generator-based context manager: it runs for every
    request, and the compiled build compiles classes.  A whole answer gives
    its connection back before ``__aenter__`` returns; a streamed one keeps
    it until ``__aexit__``.
    """

    __slots__ = ("_client", "_lease", "_params_for", "_request")

    def __init__(
        self, client: FastCGIClient, request: LegacyRequest, params_for: ParamsFor
    ) -> None:
        self._client = client
        self._request = request
        self._params_for = params_for
        self._lease: Lease | None = None

    async def __aenter__(self) -> UpstreamResponse:
        client, request = self._client, self._request
        body, length = await sized_body(request)
        inline = b""
        if length is not None and length <= _INLINE_BODY:
            inline = await read_whole(body)
            if len(inline) != length:  # only a caller of the library can pass such a body
                detail = f"the body has {len(inline)} bytes, its length says {length}"
                raise BadRequest(client.name, detail)
        streamed = len(inline) != (length or 0)
        params = self._params_for(length)
        lease = self._lease = await client.pool.acquire()
        failure: BaseException | None = None
        try:
            response = await client.exchange(lease, request, params, inline, body, streamed)
        except BaseException as exc:  # the lease is given back below, outside the except block
            failure = exc
        if failure is not None:
            self._lease = None
            await client.pool.release(lease)
            raise failure
        if response.content is not None:
            self._lease = None
            await client.pool.release(lease)  # whole answer buffered: give it back now
        return response

    async def __aexit__(self, *exc_info: object) -> None:
        lease = self._lease
        if lease is not None:
            self._lease = None
            await self._client.pool.release(lease)
