"""The FastCGI protocol as a pure codec: bytes in, records and events out.

Strategy: three layers, each usable on its own and none doing I/O.

* ``encode_record`` / ``RecordReader`` frame bytes into ``Record`` values.  The
  reader only ever looks at whole records, so however the transport splits the
  stream, the same records come out (``None`` means "feed me more").
* ``ClientConnection`` runs one request at a time (PHP-FPM never multiplexes)
  through IDLE -> HEAD -> BODY -> DONE.  In HEAD it buffers STDOUT until the
  blank line ending the CGI head, bounded by ``max_header_bytes``; in BODY it
  passes every STDOUT record straight out as ``ResponseBody`` so bodies stream.
  The first ``ProtocolError`` is sticky: the connection is unusable after it.
* ``ServerConnection`` is the mirror image, for tests and fake backends.

The layers stay in one module, longer than our usual, because other modules
import the whole wire vocabulary from here and the two sides share it.

A connection may be reused only when the server said REQUEST_COMPLETE, we asked
for KEEP_CONN, our STDIN was terminated and not a byte is left over; anything
else means the two ends may disagree about where the next request starts.
"""

from __future__ import annotations

import enum
import re
import struct
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FCGI_VERSION_1 = 1

BEGIN_REQUEST = 1
ABORT_REQUEST = 2
END_REQUEST = 3
PARAMS = 4
STDIN = 5
STDOUT = 6
STDERR = 7
DATA = 8
GET_VALUES = 9
GET_VALUES_RESULT = 10
UNKNOWN_TYPE = 11

RESPONDER = 1
KEEP_CONN = 1

REQUEST_COMPLETE = 0
CANT_MPX_CONN = 1
OVERLOADED = 2
UNKNOWN_ROLE = 3

MAX_CONTENT = 0xFFFF
_HEADER = struct.Struct(">BBHHBx")
_BEGIN_BODY = struct.Struct(">HB5x")
_END_BODY = struct.Struct(">IB3x")


class ProtocolError(Exception):
    """The peer sent bytes that are not valid FastCGI or not a valid CGI response."""


class ConnectionClosed(ProtocolError):
    """The peer closed the connection before the request was finished."""

    def __init__(self, detail: str = "connection closed before END_REQUEST") -> None:
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class Record:
    """One FastCGI record with its padding removed."""

    type: int
    request_id: int
    content: bytes


def encode_record(type: int, request_id: int, content: bytes) -> bytes:
    """Encode ``content`` as one or more records, each padded to a multiple of 8 bytes.

    Empty content gives exactly one empty record (a stream terminator).

    Raises:
        ValueError: ``type`` or ``request_id`` does not fit its field.
    """
    if not 0 <= type <= 0xFF or not 0 <= request_id <= 0xFFFF:
        raise ValueError(f"record type {type} / request id {request_id} out of range")
    if len(content) <= MAX_CONTENT:  # the common case, kept to one concatenation
        padding = -len(content) % 8
        header = _HEADER.pack(FCGI_VERSION_1, type, request_id, len(content), padding)
        return header + content + _PADDING[padding]
    view = memoryview(content)
    chunks = [view[i : i + MAX_CONTENT] for i in range(0, len(view), MAX_CONTENT)] or [view]
    out = bytearray()
    for chunk in chunks:
        padding = -len(chunk) % 8
        out += _HEADER.pack(FCGI_VERSION_1, type, request_id, len(chunk), padding)
        out += chunk
        out += bytes(padding)
    return bytes(out)


def _encode_stream(type: int, request_id: int, data: bytes) -> bytes:
    """Encode stream data; empty data gives nothing, so no terminator slips out."""
    return encode_record(type, request_id, data) if data else b""


_PADDING = [bytes(n) for n in range(8)]
_SHORT_LENGTHS = [bytes((n,)) for n in range(0x80)]


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    if length > 0x7FFFFFFF:
        raise ValueError(f"name-value length {length} exceeds 2**31 - 1")
    return struct.pack(">I", length | 0x80000000)


def encode_pairs(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Encode FastCGI name-value pairs (lengths take 1 byte below 128, else 4)."""
    parts: list[bytes] = []
    short = _SHORT_LENGTHS
    for name, value in pairs:
        n, v = len(name), len(value)
        parts.append(short[n] if n < 0x80 else _encode_length(n))
        parts.append(short[v] if v < 0x80 else _encode_length(v))
        parts.append(name)
        parts.append(value)
    return b"".join(parts)


def _decode_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise ProtocolError("name-value pair truncated in a length")
    if data[pos] < 0x80:
        return data[pos], pos + 1
    if pos + 4 > len(data):
        raise ProtocolError("name-value pair truncated in a 4-byte length")
    (length,) = struct.unpack_from(">I", data, pos)
    return length & 0x7FFFFFFF, pos + 4


def decode_pairs(data: bytes) -> list[tuple[bytes, bytes]]:
    """Decode FastCGI name-value pairs.

    Raises:
        ProtocolError: the data ends inside a length, name or value.
    """
    pairs: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos < len(data):
        name_len, pos = _decode_length(data, pos)
        value_len, pos = _decode_length(data, pos)
        end = pos + name_len + value_len
        if end > len(data):
            raise ProtocolError(f"name-value pair needs {end - len(data)} more bytes")
        pairs.append((data[pos : pos + name_len], data[pos + name_len : end]))
        pos = end
    return pairs


class RecordReader:
    """Incremental record parser: any split of the stream gives the same records."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a record."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buffer += data

    def next_record(self) -> Record | None:
        """Return the next whole record, or ``None`` when more data is needed.

        Raises:
            ProtocolError: the record header has a version other than 1.
        """
        if len(self._buffer) < _HEADER.size:
            return None
        version, type_, request_id, length, padding = _HEADER.unpack_from(self._buffer)
        if version != FCGI_VERSION_1:
            raise ProtocolError(f"bad FastCGI version byte {version} (expected 1)")
        end = _HEADER.size + length
        if len(self._buffer) < end + padding:
            return None
        content = bytes(self._buffer[_HEADER.size : end])
        del self._buffer[: end + padding]  # deleting a bytearray's front is O(1) amortised
        return Record(type_, request_id, content)


# ---------------------------------------------------------------- client side


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """The parsed CGI head; ``headers`` excludes ``Status`` and has lower-case names."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class ResponseBody:
    """Response body bytes, as they arrived."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Stderr:
    """Bytes the application wrote to its error stream."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndRequest:
    """The request is over; ``protocol_status`` other than 0 means it was refused."""

    app_status: int
    protocol_status: int


ClientEvent = ResponseHead | ResponseBody | Stderr | EndRequest

# The blank line ending the head: at the very start, or right after a line's "\n".
_HEAD_END = re.compile(rb"(?:\A|\n)\r?\n")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_STATUS = re.compile(rb"([1-5][0-9][0-9])(?:[ \t]+(.*))?")


def _parse_header_line(line: bytes) -> tuple[bytes, bytes]:
    if line[:1] in (b" ", b"\t"):
        raise ProtocolError("obsolete header line folding in CGI response head")
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        raise ProtocolError(f"malformed CGI header line {line[:80]!r}")
    value = value.strip(b" \t")
    if _BAD_VALUE.search(value):
        raise ProtocolError(f"NUL or CR in CGI header {name.decode('ascii')!r}")
    return name.lower(), value


def _parse_status(value: bytes) -> tuple[int, bytes]:
    match = _STATUS.fullmatch(value)
    if match is None:
        raise ProtocolError(f"malformed Status header {value[:80]!r}")
    return int(match[1]), match[2] or b""


def parse_cgi_head(head: bytes) -> ResponseHead:
    """Parse a CGI response head (without its blank line) the way nginx does.

    ``Status`` sets the status and is dropped from the headers; ``Location``
    without ``Status`` means 302; otherwise 200.  Lines may end in CRLF or LF.

    Raises:
        ProtocolError: a line has no colon, is folded, or holds NUL/CR; bad Status.
    """
    headers: list[tuple[bytes, bytes]] = []
    status: tuple[int, bytes] | None = None
    for raw in head.split(b"\n") if head else []:
        name, value = _parse_header_line(raw.removesuffix(b"\r"))
        if name != b"status":
            headers.append((name, value))
        elif status is None:
            status = _parse_status(value)
        else:
            raise ProtocolError("more than one Status header in CGI response head")
    if status is None:
        has_location = any(name == b"location" for name, _ in headers)
        status = (302, b"") if has_location else (200, b"")
    return ResponseHead(status[0], status[1], headers)


class _State(enum.Enum):
    IDLE = "idle"
    HEAD = "head"
    BODY = "body"
    DONE = "done"


class ClientConnection:
    """Client side of one FastCGI connection, one request at a time (PHP-FPM does not multiplex).

    Args:
        max_header_bytes: largest CGI response head accepted, blank line included.
    """

    def __init__(self, *, max_header_bytes: int = 64 * 1024) -> None:
        self._max_header_bytes = max_header_bytes
        self._reader = RecordReader()
        self._eof = False
        self._error: ProtocolError | None = None
        self._clear_request()

    def _clear_request(self) -> None:
        self._state = _State.IDLE
        self._request_id = 0
        self._keep_conn = False
        self._stdin_ended = False
        self._aborted = False
        self._head = bytearray()
        self._stdout_ended = False
        self._end: EndRequest | None = None
        self._events: deque[ClientEvent] = deque()

    # -- sending

    def start_request(
        self, params: Sequence[tuple[bytes, bytes]], *, keep_conn: bool, request_id: int = 1
    ) -> bytes:
        """Begin a RESPONDER request: BEGIN_REQUEST, PARAMS records, empty PARAMS.

        Raises:
            RuntimeError: a request is already in progress (call ``reset`` first).
            ValueError: ``request_id`` is not in 1..65535.
        """
        if self._state is not _State.IDLE or self._eof:
            raise RuntimeError("start_request() needs an idle, open connection")
        if not 1 <= request_id <= 0xFFFF:
            raise ValueError(f"request id {request_id} not in 1..65535")
        self._state, self._request_id, self._keep_conn = _State.HEAD, request_id, keep_conn
        begin = _BEGIN_BODY.pack(RESPONDER, KEEP_CONN if keep_conn else 0)
        return (
            encode_record(BEGIN_REQUEST, request_id, begin)
            + _encode_stream(PARAMS, request_id, encode_pairs(params))
            + encode_record(PARAMS, request_id, b"")
        )

    def _check_sending(self, what: str) -> None:
        if self._state is _State.IDLE or self._stdin_ended:
            raise RuntimeError(f"{what}() needs a started request whose STDIN is still open")

    def send_stdin(self, data: bytes) -> bytes:
        """Return STDIN record(s) for ``data``; empty data gives ``b""``."""
        self._check_sending("send_stdin")
        return _encode_stream(STDIN, self._request_id, data)

    def end_stdin(self) -> bytes:
        """Return the empty STDIN record that ends the request body."""
        self._check_sending("end_stdin")
        self._stdin_ended = True
        return encode_record(STDIN, self._request_id, b"")

    def abort(self) -> bytes:
        """Return an ABORT_REQUEST record; the connection will not be reused."""
        if self._state is _State.IDLE:
            raise RuntimeError("abort() needs a started request")
        self._aborted = True
        return encode_record(ABORT_REQUEST, self._request_id, b"")

    # -- receiving

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the peer; ``b""`` means the peer closed."""
        if self._eof:
            raise RuntimeError("receive_data() after EOF")
        if data:
            self._reader.feed(data)
        else:
            self._eof = True

    def next_event(self) -> ClientEvent | None:
        """Return the next event, or ``None`` when more data is needed.

        Raises:
            ConnectionClosed: EOF arrived before END_REQUEST.
            ProtocolError: the peer sent something invalid (raised again on later calls).
        """
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except ProtocolError as exc:
            self._error = exc
            raise

    def _next_event(self) -> ClientEvent | None:
        while not self._events:
            if self._state in (_State.IDLE, _State.DONE) and not self._reader.buffered:
                return None
            record = self._reader.next_record()
            if record is None:
                if self._eof and self._state is not _State.DONE:
                    raise ConnectionClosed()
                return None
            self._handle(record)
        return self._events.popleft()

    def _handle(self, record: Record) -> None:
        if self._state in (_State.IDLE, _State.DONE):
            raise ProtocolError(f"record type {record.type} while no request is active")
        if record.type == UNKNOWN_TYPE:
            raise ProtocolError(f"peer rejected a record type as unknown: {record.content!r}")
        if record.request_id != self._request_id:
            raise ProtocolError(
                f"record for request {record.request_id}, expected {self._request_id}"
            )
        if record.type == STDOUT:
            self._on_stdout(record.content)
        elif record.type == STDERR:
            if record.content:
                self._events.append(Stderr(record.content))
        elif record.type == END_REQUEST:
            self._on_end_request(record.content)
        else:
            raise ProtocolError(f"unexpected record type {record.type} from a FastCGI server")

    def _on_stdout(self, data: bytes) -> None:
        if self._stdout_ended and data:
            raise ProtocolError("STDOUT data after the STDOUT stream ended")
        if not data:
            # An incomplete head is judged at END_REQUEST: a refusal may follow.
            self._stdout_ended = True
        elif self._state is _State.BODY:
            self._events.append(ResponseBody(data))
        else:
            self._head += data
            self._try_parse_head()

    def _try_parse_head(self) -> None:
        match = _HEAD_END.search(self._head)
        end = match.end() if match else len(self._head)
        if end > self._max_header_bytes:
            raise ProtocolError(f"CGI response head exceeds {self._max_header_bytes} bytes")
        if match is None:
            return
        self._events.append(parse_cgi_head(bytes(self._head[: match.start()])))
        self._state = _State.BODY
        if rest := bytes(self._head[end:]):
            self._events.append(ResponseBody(rest))
        self._head = bytearray()

    def _on_end_request(self, content: bytes) -> None:
        if len(content) < _END_BODY.size:
            raise ProtocolError(f"END_REQUEST body is {len(content)} bytes, expected 8")
        end = EndRequest(*_END_BODY.unpack_from(content))
        # A refused request (OVERLOADED, ...) has no head; the transport decides.
        if self._state is _State.HEAD and end.protocol_status == REQUEST_COMPLETE:
            raise ProtocolError("STDOUT ended before the response head was complete")
        self._state, self._end = _State.DONE, end
        self._events.append(end)

    # -- reuse

    @property
    def can_reuse(self) -> bool:
        """True only after a delivered, clean EndRequest with nothing left over.

        An aborted request never qualifies: PHP-FPM ignores ABORT_REQUEST while a
        script runs, so the two ends could disagree about what comes next.
        """
        return (
            self._end is not None
            and self._end.protocol_status == REQUEST_COMPLETE
            and self._keep_conn
            and self._stdin_ended
            and not self._aborted
            and not self._events
            and not self._reader.buffered
            and not self._eof
            and self._error is None
        )

    def reset(self) -> None:
        """Make the connection ready for the next request.

        Raises:
            RuntimeError: ``can_reuse`` is false; close the connection instead.
        """
        if not self.can_reuse:
            raise RuntimeError("reset() on a connection that cannot be reused")
        self._clear_request()


# ---------------------------------------------------------------- server side


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
