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

The record layer lives in ``_fastcgi_records`` and the server side in
``_fastcgi_server``; this module re-exports both, so the rest of the adapter
(and the tests) import the whole wire vocabulary from one place.

A connection may be reused only when the server said REQUEST_COMPLETE, we asked
for KEEP_CONN, our STDIN was terminated and not a byte is left over; anything
else means the two ends may disagree about where the next request starts.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ._fastcgi_records import _BEGIN_BODY, _END_BODY, _encode_stream
from ._fastcgi_records import ABORT_REQUEST as ABORT_REQUEST
from ._fastcgi_records import BEGIN_REQUEST as BEGIN_REQUEST
from ._fastcgi_records import CANT_MPX_CONN as CANT_MPX_CONN
from ._fastcgi_records import DATA as DATA
from ._fastcgi_records import END_REQUEST as END_REQUEST
from ._fastcgi_records import FCGI_VERSION_1 as FCGI_VERSION_1
from ._fastcgi_records import GET_VALUES as GET_VALUES
from ._fastcgi_records import GET_VALUES_RESULT as GET_VALUES_RESULT
from ._fastcgi_records import KEEP_CONN as KEEP_CONN
from ._fastcgi_records import MAX_CONTENT as MAX_CONTENT
from ._fastcgi_records import OVERLOADED as OVERLOADED
from ._fastcgi_records import PARAMS as PARAMS
from ._fastcgi_records import REQUEST_COMPLETE as REQUEST_COMPLETE
from ._fastcgi_records import RESPONDER as RESPONDER
from ._fastcgi_records import STDERR as STDERR
from ._fastcgi_records import STDIN as STDIN
from ._fastcgi_records import STDOUT as STDOUT
from ._fastcgi_records import UNKNOWN_ROLE as UNKNOWN_ROLE
from ._fastcgi_records import UNKNOWN_TYPE as UNKNOWN_TYPE
from ._fastcgi_records import ConnectionClosed as ConnectionClosed
from ._fastcgi_records import ProtocolError as ProtocolError
from ._fastcgi_records import Record as Record
from ._fastcgi_records import RecordReader as RecordReader
from ._fastcgi_records import decode_pairs as decode_pairs
from ._fastcgi_records import encode_pairs as encode_pairs
from ._fastcgi_records import encode_record as encode_record
from ._fastcgi_server import AbortRequest as AbortRequest
from ._fastcgi_server import BeginRequest as BeginRequest
from ._fastcgi_server import Params as Params
from ._fastcgi_server import ServerConnection as ServerConnection
from ._fastcgi_server import StdinData as StdinData
from ._fastcgi_server import StdinEnd as StdinEnd

# ---------------------------------------------------------------- client side


@dataclass(frozen=True, slots=True, init=False)
class ResponseHead:
    """The parsed CGI head; ``headers`` excludes ``Status`` and has lower-case names."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "headers", headers)


@dataclass(frozen=True, slots=True, init=False)
class ResponseBody:
    """Response body bytes, as they arrived."""

    data: bytes

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(self, data: bytes) -> None:
        object.__setattr__(self, "data", data)


@dataclass(frozen=True, slots=True, init=False)
class Stderr:
    """Bytes the application wrote to its error stream."""

    data: bytes

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(self, data: bytes) -> None:
        object.__setattr__(self, "data", data)


@dataclass(frozen=True, slots=True, init=False)
class EndRequest:
    """The request is over; ``protocol_status`` other than 0 means it was refused."""

    app_status: int
    protocol_status: int

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(self, app_status: int, protocol_status: int) -> None:
        object.__setattr__(self, "app_status", app_status)
        object.__setattr__(self, "protocol_status", protocol_status)


ClientEvent = ResponseHead | ResponseBody | Stderr | EndRequest

# The blank line ending the head: at the very start, or right after a line's "\n".
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # control bytes; a tab is allowed
_STATUS: Final = re.compile(rb"([1-5][0-9][0-9])(?:[ \t]+(.*))?")


def _parse_header_line(line: bytes) -> tuple[bytes, bytes]:
    if line[:1] in (b" ", b"\t"):
        raise ProtocolError("obsolete header line folding in CGI response head")
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        raise ProtocolError(f"malformed CGI header line {line[:80]!r}")
    value = value.strip(b" \t")
    if _BAD_VALUE.search(value):
        raise ProtocolError(f"control byte in CGI header {name.decode('ascii')!r}")
    return name.lower(), value


def _parse_status(value: bytes) -> tuple[int, bytes]:
    match = _STATUS.fullmatch(value)
    if match is None:
        raise ProtocolError(f"malformed Status header {value[:80]!r}")
    return int(match[1]), match[2] or b""


def _check_length(headers: list[tuple[bytes, bytes]]) -> None:
    """One Content-Length at most, of digits only: anything else would frame the answer wrong."""
    lengths = [value for name, value in headers if name == b"content-length"]
    if len(lengths) > 1:
        raise ProtocolError("more than one Content-Length in CGI response head")
    if lengths and not (lengths[0].isdigit() and len(lengths[0]) <= 18):
        raise ProtocolError(f"invalid Content-Length {lengths[0][:40]!r} in CGI response head")


_CR: Final = 0x0D
_LF: Final = 0x0A


# The records every request of id 1 (the only id the client uses) starts and ends with.
_BEGIN_ONE: Final = {
    keep: encode_record(BEGIN_REQUEST, 1, _BEGIN_BODY.pack(RESPONDER, KEEP_CONN if keep else 0))
    for keep in (False, True)
}
_EMPTY_ONE: Final = {kind: encode_record(kind, 1, b"") for kind in (PARAMS, STDIN)}


def _begin_record(request_id: int, keep_conn: bool) -> bytes:
    if request_id == 1:
        return _BEGIN_ONE[keep_conn]
    begin = _BEGIN_BODY.pack(RESPONDER, KEEP_CONN if keep_conn else 0)
    return encode_record(BEGIN_REQUEST, request_id, begin)


def _empty_record(kind: int, request_id: int) -> bytes:
    """A stream's terminator: an empty record of ``kind``."""
    return _EMPTY_ONE[kind] if request_id == 1 else encode_record(kind, request_id, b"")


def _pairs_bytes(params: bytes | Sequence[tuple[bytes, bytes]]) -> bytes:
    return params if isinstance(params, bytes) else encode_pairs(params)


def head_end(data: bytes | bytearray) -> tuple[int, int]:
    """Where a CGI head ends: the blank line's start and the body's start, or ``(-1, -1)``.

    The blank line is ``\\n`` or ``\\r\\n`` at the start or after a newline; the
    head is ``data[:start]``.  Found line by line with ``find``: a regular
    expression tries every byte of the head (``ops/bench/engine_cpu.py``).
    """
    size = len(data)
    if size and data[0] == _LF:
        return 0, 1
    if size > 1 and data[0] == _CR and data[1] == _LF:
        return 0, 2
    newline = data.find(b"\n")
    while 0 <= newline < size - 1:
        after = newline + 1
        if data[after] == _LF:
            return newline, after + 1
        if data[after] == _CR and after + 1 < size and data[after + 1] == _LF:
            return newline, after + 2
        newline = data.find(b"\n", after)
    return -1, -1


def parse_cgi_head(head: bytes) -> ResponseHead:
    """Parse a CGI response head (without its blank line) the way nginx does.

    ``Status`` sets the status and is dropped from the headers; ``Location``
    without ``Status`` means 302; otherwise 200.  Lines may end in CRLF or LF.
    A script sends the same head answer after answer, so heads parsed before
    are looked up by their bytes (``ops/bench/engine_cpu.py``); each answer
    gets a list of its own.

    Raises:
        ProtocolError: a line has no colon, is folded, or holds a control byte; a
            bad Status; a Content-Length repeated or not a number.
    """
    known = _HEADS.get(head)
    if known is not None:
        return ResponseHead(known.status, known.reason, list(known.headers))
    parsed = _parse_cgi_head(head)
    if len(head) <= _CACHED_HEAD_BYTES and not any(n == b"set-cookie" for n, _ in parsed.headers):
        if len(_HEADS) >= _CACHED_HEADS:
            del _HEADS[next(iter(_HEADS))]  # the oldest goes
        _HEADS[head] = ResponseHead(parsed.status, parsed.reason, list(parsed.headers))
    return parsed


# Heads parsed before, by their bytes: bounded in count and in each head's size.
# Heads that set a cookie differ from answer to answer, and are not kept after it.
_HEADS: Final[dict[bytes, ResponseHead]] = {}
_CACHED_HEADS: Final = 256
_CACHED_HEAD_BYTES: Final = 1024
# The last head kept, with its blank line, and what it parses to (``_try_parse_head``).
_LAST_HEAD: Final[list[tuple[bytes, ResponseHead]]] = [(b"", ResponseHead(200, b"", []))]


def _parse_cgi_head(head: bytes) -> ResponseHead:
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
    _check_length(headers)
    if status is None:
        has_location = any(name == b"location" for name, _ in headers)
        status = (302, b"") if has_location else (200, b"")
    return ResponseHead(status[0], status[1], headers)


# The states of a connection's request, as ints: compared on every record.
_IDLE: Final = 0
_HEAD: Final = 1
_BODY: Final = 2
_DONE: Final = 3


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
        self._pending: ProtocolError | None = None  # found after events not yet taken
        self._clear_request()

    def _clear_request(self) -> None:
        self._state: int = _IDLE
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
        self,
        params: bytes | Sequence[tuple[bytes, bytes]],
        *,
        keep_conn: bool,
        request_id: int = 1,
        stdin: bytes | None = None,
    ) -> bytes:
        """Begin a RESPONDER request: BEGIN_REQUEST, PARAMS records, empty PARAMS.

        ``params`` are name-value pairs, or the pairs already encoded.
        ``stdin``, when given, is the whole body: its STDIN records and the
        empty one that ends them follow, as ``send_stdin`` and ``end_stdin``
        would give them, in one piece for one write.

        Raises:
            RuntimeError: a request is already in progress (call ``reset`` first).
            ValueError: ``request_id`` is not in 1..65535.
        """
        if self._state != _IDLE or self._eof:
            raise RuntimeError("start_request() needs an idle, open connection")
        if not 1 <= request_id <= 0xFFFF:
            raise ValueError(f"request id {request_id} not in 1..65535")
        self._state, self._request_id, self._keep_conn = _HEAD, request_id, keep_conn
        parts = [
            _begin_record(request_id, keep_conn),
            _encode_stream(PARAMS, request_id, _pairs_bytes(params)),
            _empty_record(PARAMS, request_id),
        ]
        if stdin is not None:
            parts.append(_encode_stream(STDIN, request_id, stdin))
            parts.append(_empty_record(STDIN, request_id))
            self._stdin_ended = True
        return b"".join(parts)

    def _check_sending(self, what: str) -> None:
        if self._state == _IDLE or self._stdin_ended:
            raise RuntimeError(f"{what}() needs a started request whose STDIN is still open")

    def send_stdin(self, data: bytes) -> bytes:
        """Return STDIN record(s) for ``data``; empty data gives ``b""``."""
        self._check_sending("send_stdin")
        return _encode_stream(STDIN, self._request_id, data)

    def end_stdin(self) -> bytes:
        """Return the empty STDIN record that ends the request body."""
        self._check_sending("end_stdin")
        self._stdin_ended = True
        return _empty_record(STDIN, self._request_id)

    def abort(self) -> bytes:
        """Return an ABORT_REQUEST record; the connection will not be reused."""
        if self._state == _IDLE:
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
        events = self._events
        if not events:
            if self._pending is not None:
                raise self._pending
            if (self._state == _IDLE or self._state == _DONE) and not self._reader.buffered:
                return None
            while self._take_records() and not events:
                pass  # records that make no event (an empty STDERR, part of a head)
            if not events:
                if self._eof and self._state != _DONE:
                    raise ConnectionClosed()
                return None
        return events.popleft()

    def _take_records(self) -> bool:
        """Turn every whole record buffered into events, in order; whether there was any.

        An error after some events waits until they are taken, so a peer that
        breaks the stream mid-answer is seen at the same point as when its
        records arrive one by one.
        """
        try:
            records = self._reader.take_records()
            for kind, request_id, content in records:
                self._handle(kind, request_id, content)
        except ProtocolError as exc:
            if not self._events:
                raise
            self._pending = exc
            return False
        return bool(records)

    def _handle(self, kind: int, request_id: int, content: bytes) -> None:
        if self._state == _IDLE or self._state == _DONE:
            raise ProtocolError(f"record type {kind} while no request is active")
        if kind == UNKNOWN_TYPE:
            raise ProtocolError(f"peer rejected a record type as unknown: {content!r}")
        if request_id != self._request_id:
            raise ProtocolError(f"record for request {request_id}, expected {self._request_id}")
        if kind == STDOUT:
            self._on_stdout(content)
        elif kind == STDERR:
            if content:
                self._events.append(Stderr(content))
        elif kind == END_REQUEST:
            self._on_end_request(content)
        else:
            raise ProtocolError(f"unexpected record type {kind} from a FastCGI server")

    def _on_stdout(self, data: bytes) -> None:
        if self._stdout_ended and data:
            raise ProtocolError("STDOUT data after the STDOUT stream ended")
        if not data:
            # An incomplete head is judged at END_REQUEST: a refusal may follow.
            self._stdout_ended = True
        elif self._state == _BODY:
            self._events.append(ResponseBody(data))
        elif self._head:
            self._head += data
            self._try_parse_head(self._head)
        else:
            self._try_parse_head(data)  # the usual head: whole in its first record

    def _try_parse_head(self, data: bytes | bytearray) -> None:
        """Parse the head if ``data`` (the STDOUT so far) holds its end, else keep it.

        An answer that starts with the last head kept, its blank line
        included, has that head: its first blank line is the same one.  A
        script sends the same head answer after answer, so that test usually
        spares the search and the lookup (``ops/bench/engine_cpu.py``).
        """
        last, known = _LAST_HEAD[0]
        end = len(last)
        if end and end <= self._max_header_bytes and data.startswith(last):
            self._events.append(ResponseHead(known.status, known.reason, list(known.headers)))
        else:
            start, end = head_end(data)
            if (end if start >= 0 else len(data)) > self._max_header_bytes:
                raise ProtocolError(f"CGI response head exceeds {self._max_header_bytes} bytes")
            if start < 0:
                if data is not self._head:
                    self._head += data
                return
            head = bytes(data[:start])
            self._events.append(parse_cgi_head(head))
            kept = _HEADS.get(head)
            if kept is not None:
                _LAST_HEAD[0] = (bytes(data[:end]), kept)
        self._state = _BODY
        if end < len(data):
            self._events.append(ResponseBody(bytes(data[end:])))
        if self._head:
            self._head = bytearray()

    def _on_end_request(self, content: bytes) -> None:
        if len(content) < _END_BODY.size:
            raise ProtocolError(f"END_REQUEST body is {len(content)} bytes, expected 8")
        end = EndRequest(*_END_BODY.unpack_from(content))
        # A refused request (OVERLOADED, ...) has no head; the transport decides.
        if self._state == _HEAD and end.protocol_status == REQUEST_COMPLETE:
            raise ProtocolError("STDOUT ended before the response head was complete")
        self._state, self._end = _DONE, end
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
            and self._pending is None
        )

    def reset(self) -> None:
        """Make the connection ready for the next request.

        Raises:
            RuntimeError: ``can_reuse`` is false; close the connection instead.
        """
        if not self.can_reuse:
            raise RuntimeError("reset() on a connection that cannot be reused")
        self._clear_request()
