"""One FastCGI request/response on a leased connection: the codec's events over a socket.

Strategy: the sans-IO codec (``_fastcgi_proto``) turns bytes into events; this
shell reads from the socket only when the codec needs more bytes, logs
PHP's stderr as it comes, and turns the CGI head into the client's headers
(``_cgi_response``).
PHP usually sends head, body and END_REQUEST in one burst: when the whole
answer is already buffered it is taken at once, so the proxy answers with a
Content-Length instead of chunks and gives the connection back before the
client has read a byte.  The connection is kept only after a clean
END_REQUEST on a connection the codec says can be reused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import structlog

from . import _fastcgi_proto as proto
from ._cgi_response import client_headers
from ._exceptions import UpstreamProtocolError, UpstreamUnavailable
from ._pool import Lease
from ._streams import iter_bytes, read_chunk
from ._transport import map_socket_errors, receive_within, send_within
from ._types import UpstreamResponse

log = structlog.get_logger("strangler.fastcgi")
_Event = proto.ResponseHead | proto.ResponseBody | proto.Stderr | proto.EndRequest


class Exchange:
    """One request/response on a leased connection.

    Args:
        backend: the backend's name (errors and logs).
        lease: the pooled connection; kept after a clean END_REQUEST.
        conn: the codec's state for this request.
        read_timeout: the most seconds to wait for the next bytes of the answer.
        send_timeout: the most seconds PHP may take none of the request body.
    """

    def __init__(
        self,
        backend: str,
        lease: Lease,
        conn: proto.ClientConnection,
        read_timeout: float,
        send_timeout: float,
    ) -> None:
        self.backend = backend
        self.lease = lease
        self.conn = conn
        self.read_timeout = read_timeout
        self.send_timeout = send_timeout
        self.received = False  # any byte of the answer yet

    async def send_body(self, body: AsyncIterator[bytes]) -> None:
        """Stream ``body`` into STDIN records as it arrives, then end STDIN."""
        stream, timeout = self.lease.stream, self.send_timeout
        with map_socket_errors(self.backend, "send request body"):
            while chunk := await read_chunk(body):
                await send_within(stream, self.conn.send_stdin(chunk), timeout)
            await send_within(stream, self.conn.end_stdin(), timeout)

    async def read_head(self, *, head_only: bool) -> UpstreamResponse:
        """Read up to the response head; if the whole answer is already here, take it all."""
        event = await self.next()
        while not isinstance(event, proto.ResponseHead):
            if isinstance(event, proto.EndRequest):
                raise UpstreamProtocolError(self.backend, "request ended without a response")
            event = await self.next()
        chunks, ended = self._buffered()
        if not ended:
            headers = client_headers(event, None, head_only=head_only)
            return UpstreamResponse(
                event.status, headers, _ResponseBody(self, chunks), self.backend
            )
        data = b"".join(chunks)
        headers = client_headers(event, data, head_only=head_only)
        response = UpstreamResponse(event.status, headers, iter_bytes((data,)), self.backend)
        response.content = data
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
                self.backend, f"END_REQUEST protocol status {event.protocol_status}"
            )
        if self.conn.can_reuse:
            self.lease.keep()

    def _event(self) -> _Event | None:
        """The next event the codec can give without I/O (stderr is logged, not returned)."""
        while True:
            try:
                event = self.conn.next_event()
            except proto.ConnectionClosed:
                raise UpstreamUnavailable(self.backend, "closed mid-response") from None
            except proto.ProtocolError as exc:
                raise UpstreamProtocolError(self.backend, str(exc)) from None
            if not isinstance(event, proto.Stderr):
                return event
            log_stderr(self.backend, event.data)

    async def next(self) -> _Event:
        """The next response event, reading from the socket when the codec needs bytes."""
        while (event := self._event()) is None:
            try:
                data = await receive_within(self.lease.stream, self.read_timeout)
            except anyio.EndOfStream:
                data = b""  # the codec decides whether EOF here is an error
            except (TimeoutError, OSError, anyio.BrokenResourceError) as exc:
                with map_socket_errors(self.backend, "read response"):
                    raise exc
            self.received = self.received or bool(data)
            self.conn.receive_data(data)
        return event


class _ResponseBody:
    """A streamed answer's body: what came with the head, then the rest as PHP sends it."""

    __slots__ = ("_exchange", "_first")

    def __init__(self, exchange: Exchange, first: list[bytes]) -> None:
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


def log_stderr(backend: str, data: bytes, **fields: str) -> None:
    """Log PHP's stderr line by line (``fields`` such as the request id when not bound)."""
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            log.warning("php_stderr", backend=backend, message=line, **fields)
