"""FastCGI records and name-value pairs: the wire format, as pure functions.

``encode_record`` / ``RecordReader`` frame bytes into ``Record`` values.  The
reader only ever looks at whole records, so however the transport splits the
stream, the same records come out (``None`` means "feed me more").  The client
(``_fastcgi_proto``) and the test server (``_fastcgi_server``) build on this.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

FCGI_VERSION_1: Final = 1

BEGIN_REQUEST: Final = 1
ABORT_REQUEST: Final = 2
END_REQUEST: Final = 3
PARAMS: Final = 4
STDIN: Final = 5
STDOUT: Final = 6
STDERR: Final = 7
DATA: Final = 8
GET_VALUES: Final = 9
GET_VALUES_RESULT: Final = 10
UNKNOWN_TYPE: Final = 11

RESPONDER: Final = 1
KEEP_CONN: Final = 1

REQUEST_COMPLETE: Final = 0
CANT_MPX_CONN: Final = 1
OVERLOADED: Final = 2
UNKNOWN_ROLE: Final = 3

MAX_CONTENT: Final = 0xFFFF
_HEADER: Final = struct.Struct(">BBHHBx")
_BEGIN_BODY: Final = struct.Struct(">HB5x")
_END_BODY: Final = struct.Struct(">IB3x")


class ProtocolError(Exception):
    """The peer sent bytes that are not valid FastCGI or not a valid CGI response."""


class ConnectionClosed(ProtocolError):
    """The peer closed the connection before the request was finished."""

    def __init__(self, detail: str = "connection closed before END_REQUEST") -> None:
        super().__init__(detail)


@dataclass(frozen=True, slots=True, init=False)
class Record:
    """One FastCGI record with its padding removed."""

    type: int
    request_id: int
    content: bytes

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(self, type: int, request_id: int, content: bytes) -> None:
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "request_id", request_id)
        object.__setattr__(self, "content", content)


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


_PADDING: Final = [bytes(n) for n in range(8)]
_SHORT_LENGTHS: Final = [bytes((n,)) for n in range(0x80)]


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    if length > 0x7FFFFFFF:
        raise ValueError(f"name-value length {length} exceeds 2**31 - 1")
    return struct.pack(">I", length | 0x80000000)


def encode_pairs(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Encode FastCGI name-value pairs (lengths take 1 byte below 128, else 4)."""
    parts: list[bytes] = []
    for name, value in pairs:
        put_pair(parts, name, value)
    return b"".join(parts)


def put_pair(parts: list[bytes], name: bytes, value: bytes) -> None:
    """Append one encoded name-value pair to ``parts``, to be joined with the others."""
    n, v = len(name), len(value)
    parts.append(_SHORT_LENGTHS[n] if n < 0x80 else _encode_length(n))
    parts.append(_SHORT_LENGTHS[v] if v < 0x80 else _encode_length(v))
    parts.append(name)
    parts.append(value)


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
        buffer = self._buffer
        if len(buffer) < 8:
            return None
        # The 8-byte header read byte by byte: on every record of every answer,
        # and cheaper compiled than a Struct's tuple.
        if buffer[0] != FCGI_VERSION_1:
            raise ProtocolError(f"bad FastCGI version byte {buffer[0]} (expected 1)")
        length = buffer[4] << 8 | buffer[5]
        end = 8 + length
        if len(buffer) < end + buffer[6]:
            return None
        record = Record(buffer[1], buffer[2] << 8 | buffer[3], bytes(buffer[8:end]))
        del buffer[: end + buffer[6]]  # deleting a bytearray's front is O(1) amortised
        return record

    def take_records(self) -> list[tuple[int, int, bytes]]:
        """Every whole record buffered, as ``(type, request_id, content)``, in order.

        ``next_record`` in one pass: no ``Record`` per record and one cut of
        the buffer, since PHP's answer usually arrives whole
        (``ops/bench/engine_cpu.py``).  Records before a bad version byte are
        returned; the next call raises.

        Raises:
            ProtocolError: the first record buffered has a version other than 1.
        """
        records: list[tuple[int, int, bytes]] = []
        buffer = self._buffer
        if len(buffer) < 8:
            return records
        if buffer[0] != FCGI_VERSION_1:
            raise ProtocolError(f"bad FastCGI version byte {buffer[0]} (expected 1)")
        if len(buffer) < 8 + (buffer[4] << 8 | buffer[5]) + buffer[6]:
            return records  # not one whole record yet: nothing copied while a large one comes
        data = bytes(buffer)  # one copy; compiled, a bytes' bytes and slices are direct
        size = len(data)
        start = 0
        while size - start >= 8:
            if data[start] != FCGI_VERSION_1:
                if not records:
                    raise ProtocolError(f"bad FastCGI version byte {data[start]} (expected 1)")
                break
            content = start + 8
            end = content + (data[start + 4] << 8 | data[start + 5])
            after = end + data[start + 6]
            if size < after:
                break
            request_id = data[start + 2] << 8 | data[start + 3]
            records.append((data[start + 1], request_id, data[content:end]))
            start = after
        if start:
            del self._buffer[:start]
        return records
