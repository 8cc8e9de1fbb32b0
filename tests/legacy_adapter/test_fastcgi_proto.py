"""Sans-IO tests of the FastCGI codec: bytes in, records and events out, no event loop."""

from __future__ import annotations

import itertools
import re
import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from legacy_adapter import _fastcgi_proto
from legacy_adapter._fastcgi_proto import (
    ABORT_REQUEST,
    END_REQUEST,
    FCGI_VERSION_1,
    GET_VALUES_RESULT,
    OVERLOADED,
    PARAMS,
    REQUEST_COMPLETE,
    RESPONDER,
    STDERR,
    STDIN,
    STDOUT,
    UNKNOWN_TYPE,
    AbortRequest,
    BeginRequest,
    ClientConnection,
    ClientEvent,
    ConnectionClosed,
    EndRequest,
    Params,
    ProtocolError,
    Record,
    RecordReader,
    ResponseBody,
    ResponseHead,
    ServerConnection,
    Stderr,
    StdinData,
    StdinEnd,
    decode_pairs,
    encode_pairs,
    encode_record,
    head_end,
)

PARAMS_SENT = [(b"SCRIPT_FILENAME", b"/app/index.php"), (b"REQUEST_METHOD", b"GET")]


# ---------------------------------------------------------------- helpers


def _client(*, keep_conn: bool = True, max_header_bytes: int = 65536) -> ClientConnection:
    """A client that has sent a whole request (params and empty body)."""
    conn = ClientConnection(max_header_bytes=max_header_bytes)
    conn.start_request(PARAMS_SENT, keep_conn=keep_conn)
    conn.end_stdin()
    return conn


def _drain(conn: ClientConnection) -> list[ClientEvent]:
    events: list[ClientEvent] = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def _drain_until_error(conn: ClientConnection) -> list[ClientEvent]:
    events: list[ClientEvent] = []
    try:
        while (event := conn.next_event()) is not None:
            events.append(event)
    except ProtocolError:
        pass
    return events


def _response(*stdout: bytes, request_id: int = 1, protocol_status: int = 0) -> bytes:
    """Server bytes: one STDOUT record per argument, STDOUT end, END_REQUEST."""
    server = ServerConnection()
    records = b"".join(server.stdout(request_id, chunk) for chunk in stdout)
    return (
        records
        + server.end_stdout(request_id)
        + server.end_request(request_id, protocol_status=protocol_status)
    )


def _receive(stream: bytes, max_header_bytes: int = 65536) -> list[ClientEvent]:
    conn = _client(max_header_bytes=max_header_bytes)
    conn.receive_data(stream)
    return _drain(conn)


def _head(stream: bytes, max_header_bytes: int = 65536) -> ResponseHead:
    event = _receive(stream, max_header_bytes)[0]
    assert isinstance(event, ResponseHead)
    return event


def _assert_sticky_error(conn: ClientConnection, match: str | None = None) -> None:
    """The next event is a ProtocolError (matching ``match``), raised again after; no reuse."""
    with pytest.raises(ProtocolError, match=match) as first:
        conn.next_event()
    with pytest.raises(ProtocolError) as again:
        conn.next_event()
    assert again.value is first.value
    assert not conn.can_reuse


def _merge_bodies(events: list[ClientEvent]) -> list[ClientEvent]:
    merged: list[ClientEvent] = []
    for event in events:
        last = merged[-1] if merged else None
        if isinstance(event, ResponseBody) and isinstance(last, ResponseBody):
            merged[-1] = ResponseBody(last.data + event.data)
        else:
            merged.append(event)
    return merged


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


# Large contents built by repeating a short seed keeps generation fast.
_big_bytes = st.tuples(st.integers(0, 200_000), st.binary(min_size=1, max_size=32)).map(
    lambda t: (t[1] * (t[0] // len(t[1]) + 1))[: t[0]]
)
_contents = st.one_of(st.binary(max_size=2000), _big_bytes)


# ---------------------------------------------------------------- records


def test_encode_record_pads_to_a_multiple_of_8() -> None:
    """A 3-byte record gets a header saying 5 padding bytes, then 5 zero bytes."""
    encoded = encode_record(STDOUT, 1, b"abc")
    assert encoded == bytes([1, STDOUT, 0, 1, 0, 3, 5, 0]) + b"abc" + bytes(5)


@pytest.mark.parametrize(
    ("size", "expected_records"),
    [
        pytest.param(0, 1, id="empty-is-one-terminator"),
        pytest.param(65535, 1, id="max-fits-one"),
        pytest.param(65536, 2, id="one-over-splits"),
        pytest.param(3 * 65535, 3, id="exact-multiple"),
    ],
)
def test_encode_record_splits_large_content(size: int, expected_records: int) -> None:
    """Content over 65535 bytes is split into several records of the same type and id."""
    reader = RecordReader()
    reader.feed(encode_record(STDIN, 7, b"x" * size))
    records = list(iter(reader.next_record, None))
    assert len(records) == expected_records
    assert {(r.type, r.request_id) for r in records} == {(STDIN, 7)}


@settings(deadline=None, max_examples=60)
@given(
    type_=st.integers(0, 255),
    request_id=st.integers(0, 0xFFFF),
    content=_contents,
    cuts=st.lists(st.integers(0, 1 << 20), max_size=8),
)
@example(type_=STDOUT, request_id=1, content=b"y" * 65536, cuts=[65543])
@example(type_=STDIN, request_id=0xFFFF, content=b"z" * 200_000, cuts=[1, 65540, 131080])
def test_records_round_trip_through_any_split(
    type_: int, request_id: int, content: bytes, cuts: list[int]
) -> None:
    """Encoded records read back to the same content however the stream is split."""
    encoded = encode_record(type_, request_id, content)
    assert len(encoded) % 8 == 0
    reader = RecordReader()
    records: list[Record] = []
    for chunk in _split(encoded, cuts):
        reader.feed(chunk)
        records.extend(iter(reader.next_record, None))
    assert b"".join(r.content for r in records) == content
    assert all(len(r.content) <= 65535 for r in records)
    assert {(r.type, r.request_id) for r in records} == {(type_, request_id)}
    assert reader.buffered == 0


@settings(deadline=None, max_examples=60)
@given(
    contents=st.lists(st.tuples(st.sampled_from([STDOUT, STDERR]), _contents), max_size=4),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=8),
)
def test_taking_every_record_gives_the_records_one_by_one(
    contents: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    """``take_records`` gives what ``next_record`` gives, however the stream is split."""
    stream = b"".join(encode_record(kind, 7, content) for kind, content in contents)
    one_by_one, taken = RecordReader(), RecordReader()
    expected: list[Record] = []
    got: list[tuple[int, int, bytes]] = []
    for chunk in _split(stream, cuts):
        one_by_one.feed(chunk)
        expected.extend(iter(one_by_one.next_record, None))
        taken.feed(chunk)
        got.extend(taken.take_records())
        assert taken.buffered == one_by_one.buffered
    assert got == [(r.type, r.request_id, r.content) for r in expected]
    assert taken.buffered == 0


def test_taking_records_stops_at_a_bad_version_and_raises_next() -> None:
    """The records before a bad version byte come out; the next call names the byte."""
    reader = RecordReader()
    reader.feed(encode_record(STDOUT, 1, b"hi") + b"\x02" + encode_record(STDOUT, 1, b"x")[1:])
    assert reader.take_records() == [(STDOUT, 1, b"hi")]
    with pytest.raises(ProtocolError, match="version byte 2"):
        reader.take_records()


@pytest.mark.parametrize("version", [pytest.param(0, id="zero"), pytest.param(2, id="two")])
def test_reader_rejects_bad_version(version: int) -> None:
    """A header whose version byte is not 1 is a protocol error naming the byte."""
    reader = RecordReader()
    reader.feed(bytes([version]) + encode_record(STDOUT, 1, b"hi")[1:])
    with pytest.raises(ProtocolError, match=f"version byte {version}"):
        reader.next_record()


def test_reader_waits_for_padding() -> None:
    """A record is not returned until its padding has arrived too."""
    encoded = encode_record(STDOUT, 1, b"abc")
    reader = RecordReader()
    reader.feed(encoded[:-1])
    assert reader.next_record() is None
    reader.feed(encoded[-1:])
    assert reader.next_record() == Record(STDOUT, 1, b"abc")


@pytest.mark.parametrize(
    ("type_", "request_id"),
    [pytest.param(256, 1, id="type"), pytest.param(1, 65536, id="request-id")],
)
def test_encode_record_rejects_out_of_range_fields(type_: int, request_id: int) -> None:
    """Fields that do not fit the header raise ValueError rather than wrapping."""
    with pytest.raises(ValueError, match="out of range"):
        encode_record(type_, request_id, b"")


# ---------------------------------------------------------------- name-value pairs

_names = st.one_of(st.binary(max_size=200), st.binary(min_size=120, max_size=1000))


@settings(deadline=None)
@given(st.lists(st.tuples(_names, _names), max_size=12))
@example([(b"a" * 127, b"b" * 128)])
@example([(b"", b"")])
def test_pairs_round_trip(pairs: list[tuple[bytes, bytes]]) -> None:
    """Any list of name-value pairs decodes back to itself, in order."""
    assert decode_pairs(encode_pairs(pairs)) == pairs


@pytest.mark.parametrize(
    ("length", "prefix"),
    [
        pytest.param(127, b"\x7f", id="127-one-byte"),
        pytest.param(128, b"\x80\x00\x00\x80", id="128-four-bytes"),
        pytest.param(1000, b"\x80\x00\x03\xe8", id="1000-four-bytes"),
    ],
)
def test_pair_length_encoding(length: int, prefix: bytes) -> None:
    """Lengths below 128 take one byte, larger ones four with the top bit set."""
    assert encode_pairs([(b"n" * length, b"")]).startswith(prefix)


@pytest.mark.parametrize("cut", range(1, 9))
def test_decode_pairs_rejects_truncation(cut: int) -> None:
    """Data that ends inside a length, name or value is a protocol error."""
    encoded = encode_pairs([(b"NAME", b"a" * 130)])
    with pytest.raises(ProtocolError, match=r"truncated|more bytes"):
        decode_pairs(encoded[: len(encoded) - cut])


# ---------------------------------------------------------------- client requests


def test_client_request_is_understood_by_the_server() -> None:
    """start_request, send_stdin and end_stdin produce the events the server expects."""
    conn = ClientConnection()
    data = conn.start_request(PARAMS_SENT, keep_conn=True, request_id=3)
    data += conn.send_stdin(b"body") + conn.send_stdin(b"") + conn.end_stdin()
    server = ServerConnection()
    server.receive_data(data)
    assert list(iter(server.next_event, None)) == [
        BeginRequest(3, RESPONDER, keep_conn=True),
        Params(3, PARAMS_SENT),
        StdinData(3, b"body"),
        StdinEnd(3),
    ]


@pytest.mark.parametrize("request_id", [1, 3])
@pytest.mark.parametrize("keep_conn", [True, False])
@pytest.mark.parametrize("body", [b"", b"body", b"x" * 70_000])
def test_a_whole_body_goes_with_the_params_as_sent_apart(
    request_id: int, keep_conn: bool, body: bytes
) -> None:
    """``start_request(stdin=...)`` gives the bytes of start, ``send_stdin`` and ``end_stdin``."""
    apart = ClientConnection()
    expected = apart.start_request(PARAMS_SENT, keep_conn=keep_conn, request_id=request_id)
    expected += apart.send_stdin(body) + apart.end_stdin()
    whole = ClientConnection()
    data = whole.start_request(PARAMS_SENT, keep_conn=keep_conn, request_id=request_id, stdin=body)
    assert data == expected
    server = ServerConnection()
    server.receive_data(data)
    assert list(iter(server.next_event, None))[-1] == StdinEnd(request_id)
    with pytest.raises(RuntimeError, match="STDIN is still open"):
        whole.send_stdin(b"more")


def test_empty_params_still_terminate_the_stream() -> None:
    """A request without params sends only the empty PARAMS terminator."""
    data = ClientConnection().start_request([], keep_conn=False)
    reader = RecordReader()
    reader.feed(data)
    records = list(iter(reader.next_record, None))
    assert [(r.type, r.content) for r in records[1:]] == [(PARAMS, b"")]


def test_send_stdin_with_empty_data_sends_nothing() -> None:
    """Empty stdin data gives no bytes, so the body is never terminated by accident."""
    conn = ClientConnection()
    conn.start_request([], keep_conn=True)
    assert conn.send_stdin(b"") == b""
    assert conn.end_stdin() == encode_record(STDIN, 1, b"")


def test_abort_is_understood_by_the_server() -> None:
    """abort() produces an ABORT_REQUEST record for the current request."""
    conn = ClientConnection()
    data = conn.start_request([], keep_conn=True, request_id=9) + conn.abort()
    server = ServerConnection()
    server.receive_data(data)
    assert list(iter(server.next_event, None))[-1] == AbortRequest(9)
    assert data.endswith(encode_record(ABORT_REQUEST, 9, b""))


def test_misuse_raises_runtime_error() -> None:
    """Sending stdin before a request or starting two requests is a programming error."""
    conn = ClientConnection()
    with pytest.raises(RuntimeError):
        conn.send_stdin(b"x")
    conn.start_request([], keep_conn=True)
    with pytest.raises(RuntimeError):
        conn.start_request([], keep_conn=True)


# ---------------------------------------------------------------- response heads


def test_simple_response() -> None:
    """A CRLF head and a body give ResponseHead, ResponseBody and EndRequest."""
    events = _receive(_response(b"Content-Type: text/html\r\nX-A: 1\r\n\r\nhello"))
    assert events == [
        ResponseHead(200, b"", [(b"content-type", b"text/html"), (b"x-a", b"1")]),
        ResponseBody(b"hello"),
        EndRequest(0, REQUEST_COMPLETE),
    ]


@pytest.mark.parametrize(
    ("head", "status", "reason"),
    [
        pytest.param(b"Status: 404 Not Found\r\n", 404, b"Not Found", id="status-and-reason"),
        pytest.param(b"status: 503\r\n", 503, b"", id="status-without-reason"),
        pytest.param(b"Location: /x\r\n", 302, b"", id="location-means-302"),
        pytest.param(b"Status: 301 Moved\r\nLocation: /y\r\n", 301, b"Moved", id="status-wins"),
        pytest.param(b"X-A: 1\r\n", 200, b"", id="default-200"),
    ],
)
def test_status_from_head(head: bytes, status: int, reason: bytes) -> None:
    """Status sets the status line, Location alone means 302, otherwise 200."""
    parsed = _head(_response(head + b"\r\n"))
    assert (parsed.status, parsed.reason) == (status, reason)
    assert all(name != b"status" for name, _ in parsed.headers)


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(b"Content-Type: text/plain\n\nbody", id="lf-only"),
        pytest.param(b"Content-Type: text/plain\r\n\nbody", id="crlf-then-lf"),
        pytest.param(b"Content-Type: text/plain\n\r\nbody", id="lf-then-crlf"),
    ],
)
def test_lf_line_endings_are_accepted(stream: bytes) -> None:
    """Heads with LF or mixed line endings parse like CRLF ones."""
    events = _receive(_response(stream))
    assert events[:2] == [
        ResponseHead(200, b"", [(b"content-type", b"text/plain")]),
        ResponseBody(b"body"),
    ]


def test_empty_head() -> None:
    """A stream that starts with the blank line has no headers and status 200."""
    assert _receive(_response(b"\r\nbody"))[:2] == [
        ResponseHead(200, b"", []),
        ResponseBody(b"body"),
    ]


def test_multiple_set_cookie_headers_keep_their_order() -> None:
    """Repeated headers are all kept, in the order the application sent them."""
    head = _head(_response(b"Set-Cookie: a=1\r\nX: y\r\nSet-Cookie: b=2\r\n\r\n"))
    assert head.headers == [(b"set-cookie", b"a=1"), (b"x", b"y"), (b"set-cookie", b"b=2")]


def test_a_repeated_head_gives_each_answer_its_own_headers() -> None:
    """A head seen before parses the same, and changing one answer's headers leaves the next."""
    stream = _response(b"Status: 201 Made\r\nX-Seen: again\r\n\r\nbody")
    for _ in range(3):
        head = _head(stream)
        assert head == ResponseHead(201, b"Made", [(b"x-seen", b"again")])
        head.headers.append((b"x-added", b"by this answer"))


def test_a_repeated_head_is_looked_up_not_parsed_again() -> None:
    """The second answer with a head gets the pairs the first parse made; a cookie's are new."""
    stream = _response(b"X-Kept: yes\r\n\r\nbody")
    assert _head(stream).headers[0] is _head(stream).headers[0]
    cookie = _response(b"Set-Cookie: session=1\r\n\r\nbody")
    first, second = _head(cookie), _head(cookie)
    assert first.headers == second.headers
    assert first.headers[0] is not second.headers[0]


@pytest.mark.parametrize(
    "body",
    [b"", b"\r\n\r\nX-Not: a header\r\n\r\n", b"\n\nmore", b"Status: 500\r\n\r\n"],
)
def test_an_answer_with_the_last_head_gets_it_whatever_its_body(body: bytes) -> None:
    """The last head kept is recognised by its bytes; a body that looks like a head stays body."""
    head = b"Status: 201 Made\r\nX-Last: 1\r\n\r\n"
    assert _head(_response(head + b"first")) == ResponseHead(201, b"Made", [(b"x-last", b"1")])
    assert _receive(_response(head + body))[:2] == [
        ResponseHead(201, b"Made", [(b"x-last", b"1")]),
        *([ResponseBody(body)] if body else [EndRequest(0, 0)]),
    ]
    longer = b"Status: 201 Made\r\nX-Last: 1\r\nX-More: 2\r\n\r\n"  # the last head's lines, and one
    assert _head(_response(longer + body)).headers == [(b"x-last", b"1"), (b"x-more", b"2")]


def test_the_last_head_still_counts_against_a_smaller_head_limit() -> None:
    """A head recognised by its bytes is still refused where it exceeds the connection's limit."""
    head = b"X-Long: " + b"v" * 100 + b"\r\n\r\n"
    assert _head(_response(head + b"body")).headers == [(b"x-long", b"v" * 100)]
    with pytest.raises(ProtocolError, match="exceeds 64 bytes"):
        _receive(_response(head + b"body"), max_header_bytes=64)


def test_heads_that_differ_every_time_keep_memory_bounded() -> None:
    """Heads unique to each answer (a redirect's token) never grow what is kept of them."""
    for n in range(1000):
        head = _head(_response(b"Location: /next?token=%d\r\n\r\n" % n))
        assert (head.status, head.headers) == (302, [(b"location", b"/next?token=%d" % n)])
    assert len(_fastcgi_proto._HEADS) <= _fastcgi_proto._CACHED_HEADS


def test_a_rejected_head_is_rejected_every_time() -> None:
    """A bad head is never remembered as a good one."""
    stream = _response(b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nbody")
    for _ in range(2):
        with pytest.raises(ProtocolError, match="more than one"):
            _receive(stream)


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"Content-Ty", b"pe: a\r\n\r\nbo", b"dy"], id="mid-name"),
        pytest.param([b"Content-Type: a\r", b"\n", b"\r", b"\nbody"], id="mid-blank-line"),
        pytest.param([b"Content-Type: a\r\n\r\n", b"body"], id="at-boundary"),
    ],
)
def test_head_split_across_stdout_records(chunks: list[bytes]) -> None:
    """A head spread over several STDOUT records parses once it is complete."""
    events = _merge_bodies(_receive(_response(*chunks)))
    assert events == [
        ResponseHead(200, b"", [(b"content-type", b"a")]),
        ResponseBody(b"body"),
        EndRequest(0, 0),
    ]


def test_body_streams_record_by_record() -> None:
    """Each STDOUT record after the head comes out at once, not buffered to the end."""
    conn = _client()
    server = ServerConnection()
    conn.receive_data(server.stdout(1, b"X: 1\r\n\r\n") + server.stdout(1, b"part1"))
    assert _drain(conn) == [ResponseHead(200, b"", [(b"x", b"1")]), ResponseBody(b"part1")]
    conn.receive_data(server.stdout(1, b"part2"))
    assert _drain(conn) == [ResponseBody(b"part2")]


@pytest.mark.parametrize(
    ("head", "match"),
    [
        pytest.param(b"NoColonHere\r\n", "malformed CGI header", id="no-colon"),
        pytest.param(b"X: a\r\n  folded\r\n", "folding", id="obs-fold"),
        pytest.param(b"X: a\x00b\r\n", "control byte", id="nul-in-value"),
        pytest.param(b"X: a\rb\r\n", "control byte", id="cr-in-value"),
        pytest.param(b"X: a\x01b\r\n", "control byte", id="soh-in-value"),
        pytest.param(b"X: a\x7fb\r\n", "control byte", id="del-in-value"),
        pytest.param(b"Content-Length: -1\r\n", "invalid Content-Length", id="negative-length"),
        pytest.param(b"Content-Length: 1e3\r\n", "invalid Content-Length", id="length-not-digits"),
        pytest.param(
            b"Content-Length: 3\r\nContent-Length: 4\r\n", "more than one", id="two-lengths"
        ),
        pytest.param(b": empty-name\r\n", "malformed CGI header", id="empty-name"),
        pytest.param(b"Bad Name: x\r\n", "malformed CGI header", id="space-in-name"),
        pytest.param(b"Status: abc\r\n", "malformed Status", id="status-not-a-number"),
        pytest.param(b"Status: 99 Low\r\n", "malformed Status", id="status-too-low"),
        pytest.param(b"Status: 200\r\nStatus: 404\r\n", "more than one", id="two-statuses"),
    ],
)
def test_malformed_heads_are_rejected(head: bytes, match: str) -> None:
    """Heads nginx would refuse are a protocol error saying what is wrong."""
    with pytest.raises(ProtocolError, match=match):
        _receive(_response(head + b"\r\nbody"))


@pytest.mark.parametrize(
    ("stream", "ok"),
    [
        pytest.param(b"X: " + b"a" * 93 + b"\r\n\r\n", True, id="exactly-at-limit"),
        pytest.param(b"X: " + b"a" * 94 + b"\r\n\r\n", False, id="one-over-limit"),
        pytest.param(b"X: " + b"a" * 500, False, id="unterminated"),
    ],
)
def test_head_size_limit(stream: bytes, ok: bool) -> None:
    """A head larger than max_header_bytes (blank line included) is rejected."""
    if ok:
        assert _head(_response(stream), max_header_bytes=100).headers[0][0] == b"x"
    else:
        with pytest.raises(ProtocolError, match="exceeds 100 bytes"):
            _receive(_response(stream), max_header_bytes=100)


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(_response(b"X: 1\r\n"), id="stdout-terminator"),
        pytest.param(ServerConnection().end_request(1), id="end-request-without-stdout"),
    ],
)
def test_stdout_ending_before_head_is_an_error(stream: bytes) -> None:
    """A response that ends before its head is complete is a protocol error."""
    with pytest.raises(ProtocolError, match="before the response head was complete"):
        _receive(stream)


# ---------------------------------------------------------------- records from the server


def test_stderr_records_become_events() -> None:
    """STDERR content is reported as Stderr events; the empty terminator is not."""
    server = ServerConnection()
    stream = server.stderr(1, b"PHP Notice: x") + encode_record(7, 1, b"") + _response(b"\r\nok")
    assert _receive(stream) == [
        Stderr(b"PHP Notice: x"),
        ResponseHead(200, b"", []),
        ResponseBody(b"ok"),
        EndRequest(0, 0),
    ]


def test_overloaded_gives_end_request_with_its_status() -> None:
    """END_REQUEST with OVERLOADED and no STDOUT is an event, not an error."""
    stream = ServerConnection().end_request(1, protocol_status=OVERLOADED)
    assert _receive(stream) == [EndRequest(0, OVERLOADED)]


def test_app_status_is_reported() -> None:
    """The application's exit status is passed on in EndRequest."""
    server = ServerConnection()
    stream = server.stdout(1, b"\r\n") + server.end_request(1, app_status=255)
    assert _receive(stream)[-1] == EndRequest(255, REQUEST_COMPLETE)


@pytest.mark.parametrize(
    ("record", "match"),
    [
        pytest.param(encode_record(STDOUT, 2, b"\r\n"), "request 2, expected 1", id="wrong-id"),
        pytest.param(encode_record(UNKNOWN_TYPE, 0, bytes(8)), "unknown", id="unknown-type"),
        pytest.param(encode_record(PARAMS, 1, b""), "unexpected record type", id="params"),
        pytest.param(encode_record(GET_VALUES_RESULT, 0, b""), "request 0", id="management"),
        pytest.param(encode_record(END_REQUEST, 1, b"\0"), "expected 8", id="short-end"),
    ],
)
def test_unexpected_records_are_rejected(record: bytes, match: str) -> None:
    """Records a FastCGI server must not send to this request are protocol errors."""
    with pytest.raises(ProtocolError, match=match):
        _receive(record)


def test_stdout_after_its_end_is_rejected() -> None:
    """STDOUT data after the empty STDOUT record is a protocol error."""
    server = ServerConnection()
    stream = server.stdout(1, b"\r\n") + server.end_stdout(1) + server.stdout(1, b"late")
    with pytest.raises(ProtocolError, match="after the STDOUT stream ended"):
        _receive(stream)


def test_records_before_a_request_are_rejected() -> None:
    """Bytes arriving on an idle connection are a protocol error."""
    conn = ClientConnection()
    conn.receive_data(encode_record(STDOUT, 1, b"x"))
    with pytest.raises(ProtocolError, match="no request is active"):
        conn.next_event()


def test_an_error_after_events_in_the_same_read_comes_after_them() -> None:
    """A head and body followed by a bad record, all in one read: events first, then the error.

    As when the records arrive one by one, so the proxy relays what PHP sent
    before the stream broke.
    """
    server = ServerConnection()
    conn = _client()
    conn.receive_data(server.stdout(1, b"X: 1\r\n\r\nbody") + server.stdout(2, b"stray"))
    assert conn.next_event() == ResponseHead(200, b"", [(b"x", b"1")])
    assert not conn.can_reuse
    assert conn.next_event() == ResponseBody(b"body")
    _assert_sticky_error(conn, "request 2, expected 1")


@pytest.mark.parametrize(
    "before",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(encode_record(STDERR, 1, b""), id="empty-stderr"),
        pytest.param(encode_record(STDOUT, 1, b"X: 1\r\n"), id="part-of-a-head"),
    ],
)
def test_a_bad_version_after_records_without_events_is_an_error_at_once(before: bytes) -> None:
    """Records that make no event do not hide a bad version byte behind them until more bytes."""
    conn = _client()
    conn.receive_data(before + b"\x02" + encode_record(STDOUT, 1, b"zz")[1:])
    with pytest.raises(ProtocolError, match="version byte 2"):
        conn.next_event()


def test_errors_are_sticky() -> None:
    """After a protocol error every later next_event raises it again."""
    conn = _client()
    conn.receive_data(b"\x09" * 8)
    _assert_sticky_error(conn)


@pytest.mark.parametrize(
    ("before_eof", "events"),
    [
        pytest.param(b"", [], id="nothing"),
        pytest.param(_response(b"X: 1\r\n\r\nbody")[:20], [], id="partial-record"),
        pytest.param(
            ServerConnection().stdout(1, b"X: 1\r\n\r\nbo"),
            [ResponseHead(200, b"", [(b"x", b"1")]), ResponseBody(b"bo")],
            id="whole-records",
        ),
    ],
)
def test_eof_before_end_request(before_eof: bytes, events: list[ClientEvent]) -> None:
    """EOF before END_REQUEST raises ConnectionClosed, a ProtocolError, after earlier events."""
    conn = _client()
    if before_eof:
        conn.receive_data(before_eof)
    conn.receive_data(b"")
    assert _drain_until_error(conn) == events
    with pytest.raises(ConnectionClosed, match="connection closed before END_REQUEST") as info:
        conn.next_event()
    assert isinstance(info.value, ProtocolError)


def test_eof_after_end_request_is_fine() -> None:
    """EOF after END_REQUEST is the normal end of a non-kept connection."""
    conn = _client(keep_conn=False)
    conn.receive_data(_response(b"\r\n"))
    conn.receive_data(b"")
    assert _drain(conn)[-1] == EndRequest(0, 0)
    assert conn.next_event() is None


# ---------------------------------------------------------------- reuse


def test_clean_response_allows_reuse_and_reset() -> None:
    """After a clean EndRequest the connection resets and carries a second request."""
    conn = _client()
    conn.receive_data(_response(b"\r\none"))
    assert not conn.can_reuse  # EndRequest not delivered yet
    _drain(conn)
    assert conn.can_reuse
    conn.reset()
    conn.start_request(PARAMS_SENT, keep_conn=True, request_id=2)
    conn.end_stdin()
    conn.receive_data(_response(b"\r\ntwo", request_id=2))
    assert _drain(conn)[1] == ResponseBody(b"two")


def _not_reusable_cases() -> list[object]:
    server = ServerConnection()
    return [
        pytest.param(False, _response(b"\r\n"), b"", id="no-keep-conn"),
        pytest.param(True, _response(protocol_status=OVERLOADED), b"", id="overloaded"),
        pytest.param(True, _response(b"\r\n") + server.stdout(1, b"x"), b"", id="leftover"),
        pytest.param(True, _response(b"\r\n") + b"\x01", b"", id="leftover-partial"),
        pytest.param(True, _response(b"\r\n"), None, id="eof-after-end"),
    ]


@pytest.mark.parametrize(("keep_conn", "stream", "after"), _not_reusable_cases())
def test_can_reuse_is_false_unless_clean(
    keep_conn: bool, stream: bytes, after: bytes | None
) -> None:
    """Without KEEP_CONN, after a refusal, leftover bytes or EOF the connection is not reused."""
    conn = _client(keep_conn=keep_conn)
    conn.receive_data(stream)
    while not isinstance(event := conn.next_event(), EndRequest):
        assert event is not None
    if after is None:
        conn.receive_data(b"")
    assert not conn.can_reuse
    with pytest.raises(RuntimeError):
        conn.reset()


@pytest.mark.parametrize(
    "abort", [pytest.param(True, id="aborted"), pytest.param(False, id="stdin-open")]
)
def test_can_reuse_needs_finished_stdin_and_no_abort(abort: bool) -> None:
    """An aborted request, or one whose STDIN was never ended, is not reusable."""
    conn = ClientConnection()
    conn.start_request([], keep_conn=True)
    if abort:
        conn.abort()
    conn.receive_data(_response(b"\r\n"))
    _drain(conn)
    assert not conn.can_reuse


# ---------------------------------------------------------------- any split


_CONTROL_BYTES = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])  # refused in values
_header_lines = st.lists(
    st.tuples(
        st.sampled_from([b"Content-Type", b"Set-Cookie", b"X-Thing", b"Status", b"Location"]),
        st.binary(max_size=20).map(lambda v: v.translate(None, _CONTROL_BYTES).strip(b" \t")),
    ),
    max_size=6,
    unique_by=lambda kv: kv[0] if kv[0] == b"Status" else kv,
).map(lambda pairs: [(n, b"200 OK" if n == b"Status" else v) for n, v in pairs])


@st.composite
def _response_streams(draw: st.DrawFn) -> bytes:
    """A full server response: a head, stderr noise and a body over several records."""
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    head = b"".join(n + b": " + v + eol for n, v in draw(_header_lines)) + eol
    stdout = head + draw(_contents)
    cuts = sorted(draw(st.lists(st.integers(0, len(stdout)), max_size=6)))
    bounds = [0, *cuts, len(stdout)]
    server = ServerConnection()
    stream = b""
    for a, b in itertools.pairwise(bounds):
        if draw(st.booleans()):
            stream += server.stderr(1, draw(st.binary(min_size=1, max_size=10)))
        stream += server.stdout(1, stdout[a:b])
    return stream + server.end_stdout(1) + server.end_request(1)


@settings(deadline=None, max_examples=80)
@given(stream=_response_streams(), cuts=st.lists(st.integers(0, 1 << 20), max_size=12))
def test_any_split_of_the_stream_gives_the_same_events(stream: bytes, cuts: list[int]) -> None:
    """Feeding a response in arbitrary chunks gives the events of feeding it in one piece."""
    whole = _receive(stream)
    conn = _client()
    chunked: list[ClientEvent] = []
    for chunk in _split(stream, cuts):
        conn.receive_data(chunk)
        chunked.extend(_drain(conn))
    assert _merge_bodies(chunked) == _merge_bodies(whole)
    assert whole[-1] == EndRequest(0, 0)
    assert conn.can_reuse


def test_version_constant() -> None:
    """The only FastCGI version is 1, and headers carry it in their first byte."""
    assert FCGI_VERSION_1 == 1
    assert struct.unpack_from(">B", encode_record(STDOUT, 1, b""))[0] == FCGI_VERSION_1


_BLANK_LINE = re.compile(rb"(?:\A|\n)\r?\n")  # the CGI head's end, as a regular expression


@given(st.lists(st.sampled_from([b"\r", b"\n", b"a", b": ", b"\r\n"]), max_size=40).map(b"".join))
@example(b"Status: 200\r\n\r\nbody")
@example(b"\r\nbody")
@example(b"a\n\r\r\n\nb")
@example(b"a\n\n\r\nb")
def test_head_end_finds_the_first_blank_line_as_the_expression_does(data: bytes) -> None:
    match = _BLANK_LINE.search(data)
    expected = (match.start(), match.end()) if match else (-1, -1)
    assert head_end(data) == expected
    assert head_end(bytearray(data)) == expected
