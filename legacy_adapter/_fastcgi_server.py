"""The server side of the FastCGI codec, for tests and fake backends."""

from __future__ import annotations

from dataclasses import dataclass

from ._fastcgi_records import (
    _BEGIN_BODY,
    _END_BODY,
    ABORT_REQUEST,
    BEGIN_REQUEST,
    END_REQUEST,
    KEEP_CONN,
    PARAMS,
    REQUEST_COMPLETE,
    STDERR,
    STDIN,
    STDOUT,
    ConnectionClosed,
    ProtocolError,
    Record,
    RecordReader,
    _encode_stream,
    decode_pairs,
    encode_record,
)


@dataclass(frozen=True, slots=True)
class BeginRequest:
    """A client began a request."""

    request_id: int
    role: int
    keep_conn: bool


@dataclass(frozen=True, slots=True)
class Params:
    """The complete PARAMS stream of a request, decoded."""

    request_id: int
    pairs: list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class StdinData:
    """Request body bytes."""

    request_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StdinEnd:
    """The request body is complete."""

    request_id: int


@dataclass(frozen=True, slots=True)
class AbortRequest:
    """The client gave up on a request."""

    request_id: int


ServerEvent = BeginRequest | Params | StdinData | StdinEnd | AbortRequest


class ServerConnection:
    """Server side of a FastCGI connection (tests and fake backends); may multiplex."""

    def __init__(self) -> None:
        self._reader = RecordReader()
        self._params: dict[int, bytearray] = {}
        self._eof = False

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the client; ``b""`` means the client closed."""
        if data:
            self._reader.feed(data)
        else:
            self._eof = True

    def next_event(self) -> ServerEvent | None:
        """Return the next event, or ``None`` when more data is needed (or after EOF).

        Raises:
            ConnectionClosed: EOF arrived in the middle of a record.
            ProtocolError: the client sent something invalid.
        """
        while (record := self._reader.next_record()) is not None:
            if (event := self._handle(record)) is not None:
                return event
        if self._eof and self._reader.buffered:
            raise ConnectionClosed("connection closed in the middle of a record")
        return None

    def _handle(self, record: Record) -> ServerEvent | None:
        rid, content = record.request_id, record.content
        if record.type == BEGIN_REQUEST:
            return self._on_begin(rid, content)
        if rid not in self._params:
            raise ProtocolError(f"record type {record.type} for unknown request {rid}")
        if record.type == PARAMS:
            if content:
                self._params[rid] += content
                return None
            return Params(rid, decode_pairs(bytes(self._params[rid])))
        if record.type == STDIN:
            return StdinData(rid, content) if content else StdinEnd(rid)
        if record.type == ABORT_REQUEST:
            return AbortRequest(rid)
        raise ProtocolError(f"unexpected record type {record.type} from a FastCGI client")

    def _on_begin(self, request_id: int, content: bytes) -> BeginRequest:
        if len(content) < _BEGIN_BODY.size:
            raise ProtocolError(f"BEGIN_REQUEST body is {len(content)} bytes, expected 8")
        role, flags = _BEGIN_BODY.unpack_from(content)
        self._params[request_id] = bytearray()
        return BeginRequest(request_id, role, bool(flags & KEEP_CONN))

    def stdout(self, request_id: int, data: bytes) -> bytes:
        """Return STDOUT record(s) for ``data``; empty data gives ``b""``."""
        return _encode_stream(STDOUT, request_id, data)

    def stderr(self, request_id: int, data: bytes) -> bytes:
        """Return STDERR record(s) for ``data``; empty data gives ``b""``."""
        return _encode_stream(STDERR, request_id, data)

    def end_stdout(self, request_id: int) -> bytes:
        """Return the empty STDOUT record that ends the response stream."""
        return encode_record(STDOUT, request_id, b"")

    def end_request(
        self, request_id: int, app_status: int = 0, protocol_status: int = REQUEST_COMPLETE
    ) -> bytes:
        """Return an END_REQUEST record and forget the request."""
        self._params.pop(request_id, None)
        body = _END_BODY.pack(app_status, protocol_status)
        return encode_record(END_REQUEST, request_id, body)

    def send_response(self, request_id: int, response: bytes, app_status: int = 0) -> bytes:
        """Return a whole response: STDOUT (CGI head and body), its end, END_REQUEST."""
        return (
            self.stdout(request_id, response)
            + self.end_stdout(request_id)
            + self.end_request(request_id, app_status)
        )
