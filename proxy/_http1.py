"""HTTP/1.1 on the server side, sans-IO: bytes in, request events out; answers framed here.

Strategy: ``Http1Parser`` wraps one connection's ``httptools`` parser (llhttp,
strict: it refuses a request with both ``Content-Length`` and
``Transfer-Encoding``, two Content-Lengths, bad tokens and bare LFs) and turns
its callbacks into events queued in ``events``: a ``RequestHead``, body
chunks (``bytes``), ``END`` when the message is complete, or one
``Refusal`` after which the connection is unusable.  It never does I/O and
never looks at the clock: the drivers (``_protocol`` on asyncio, ``_trio``
on trio) feed it bytes, pop events, run timers and write what
``response_head``, ``chunk`` and ``LAST_CHUNK`` make.

What nginx refuses before a request reaches a location is refused here, with
nginx's status: a request line longer than 8 KiB (414), a header line longer
than 8 KiB or a head over 32 KiB (400, ``large_client_header_buffers``), a
``Transfer-Encoding`` other than ``chunked`` (501).  What needs the route or
the config (``Host``, the body limit) is the engine's (``_request``), so
every driver and the ASGI adapter share it.
"""

from __future__ import annotations

import http
from collections import deque
from email.utils import formatdate
from time import time
from typing import Final

import httptools
import structlog

from legacy_adapter import page_html

Headers = list[tuple[bytes, bytes]]
log = structlog.get_logger("strangler.http")

MAX_LINE: Final = 8 * 1024  # nginx: large_client_header_buffers 4 8k
MAX_HEAD: Final = 4 * MAX_LINE
END: Final = b""  # the event after the last body chunk (a body chunk is never empty)


class RequestHead:
    """A request's line and headers, as parsed (names lower-case, values as sent)."""

    __slots__ = ("expect_continue", "headers", "http_version", "keep_alive", "method", "target")

    def __init__(
        self,
        method: str,
        target: bytes,
        headers: Headers,
        http_version: str,
        keep_alive: bool,
        expect_continue: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.http_version = http_version
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue


class Refusal:
    """The connection's input cannot be parsed: answer ``status`` with ``reason`` and close."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


Event = RequestHead | bytes | Refusal


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the refusal is already queued."""


class Http1Parser:
    """One connection's request parser (see the module docstring).

    ``receiving_head`` says whether a request head has begun and is not complete
    (the drivers' header timeout runs then); ``failed`` whether a ``Refusal``
    was queued (the parser takes no more bytes).
    """

    def __init__(self) -> None:
        self.events: deque[Event] = deque()
        self.receiving_head = False
        self.failed = False
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: Headers = []
        self._head_size = 0
        self._unparsed = 0  # bytes fed since the head being received began (an upper bound)
        self._chunked = False

    def feed(self, data: bytes) -> None:
        """Parse ``data``; what it completes is appended to ``events``."""
        if self.failed:
            return
        self._unparsed += len(data)
        try:
            self._parser.feed_data(data)
        except _Refused:
            pass
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _Refused):
                raise
        except httptools.HttpParserUpgrade as exc:
            # Served as plain HTTP (FastCGI has no upgrade), as nginx does for PHP:
            # what followed the upgrading request is the next request.
            self.feed(data[exc.args[0] :])
        except httptools.HttpParserError as exc:
            self._refuse(400, f"invalid HTTP request: {exc}")
        if self.receiving_head and self._unparsed > MAX_HEAD + MAX_LINE:
            # httptools reports a header only once its line ends: a line that never
            # ends would otherwise grow (and be copied) without bound.
            self._refuse(400, "request header or cookie too large")

    def _refuse(self, status: int, reason: str) -> None:
        if not self.failed:
            self.failed = True
            self.receiving_head = False
            self.events.append(Refusal(status, reason))

    # httptools' callbacks

    def on_message_begin(self) -> None:
        self.receiving_head = True
        self._unparsed = 0
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._chunked = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_LINE:
            self._refuse(414, "request line too long")
            raise _Refused()

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4
        self._head_size += size
        if size > MAX_LINE or self._head_size > MAX_HEAD:
            self._refuse(400, "request header or cookie too large")
            raise _Refused()
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.receiving_head = False
        self._unparsed = 0
        parser = self._parser
        headers = self._headers
        expect = False
        for name, value in headers:
            if name == b"transfer-encoding":
                if value.lower() != b"chunked":
                    self._refuse(501, f"unsupported Transfer-Encoding {value!r}")
                    raise _Refused()
            elif name == b"expect":
                expect = value.lower() == b"100-continue"
        self.events.append(
            RequestHead(
                parser.get_method().decode("ascii"),
                self._url,
                headers,
                parser.get_http_version(),
                parser.should_keep_alive(),
                expect,
            )
        )

    def on_body(self, body: bytes) -> None:
        if body:
            self.events.append(body)

    def on_message_complete(self) -> None:
        self.events.append(END)


_REASONS: Final = {s.value: s.phrase.encode() for s in http.HTTPStatus}
_date = b""
_date_second = 0


def date_header() -> bytes:
    """Today's ``Date`` value, formatted once per second."""
    global _date, _date_second
    now = int(time())
    if now != _date_second:
        _date_second = now
        _date = formatdate(now, usegmt=True).encode()
    return _date


def status_line(status: int) -> bytes:
    """``HTTP/1.1 200 OK\\r\\n`` for ``status`` (a bare code when it has no phrase)."""
    reason = _REASONS.get(status, b"")
    return b"HTTP/1.1 %d %s\r\n" % (status, reason)


def response_head(status: int, headers: Headers, framing: bytes) -> bytes:
    """The response head: status line, Date, ``headers`` as given, then ``framing`` lines."""
    lines = [status_line(status), b"date: ", date_header(), b"\r\n"]
    for name, value in headers:
        lines += (name, b": ", value, b"\r\n")
    lines.append(framing)
    lines.append(b"\r\n")
    return b"".join(lines)


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK: Final = b"0\r\n\r\n"
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


def body_forbidden(method: str, status: int) -> bool:
    """Whether the answer has no body whatever its headers say (HEAD, 1xx, 204, 304)."""
    return method == "HEAD" or status < 200 or status == 204 or status == 304


class Response:
    """How one answer is framed: its head's framing lines, its body's chunks, its end.

    A body is held to the Content-Length its head declares, as nginx holds an
    upstream's: bytes past it are dropped (else they would reach the client
    as the start of the next answer), and a body that ends short makes the
    connection close after it (the client cannot tell where the next answer
    starts).  ``short`` says which happened; ``tests/proxy/test_edge.py``
    compares both with nginx.

    Args:
        head: the request answered (method, version, whether it asked to keep alive).
        keep_alive: whether the connection may stay open after the answer.
    """

    __slots__ = (
        "body_bytes",
        "chunked",
        "excess",
        "head",
        "keep_alive",
        "no_body",
        "remaining",
        "short",
        "started",
    )

    def __init__(self, head: RequestHead, keep_alive: bool) -> None:
        self.head = head
        self.keep_alive = keep_alive
        self.chunked = False
        self.no_body = False
        self.started = False
        self.remaining = -1  # body bytes the head still owes the client; -1: no length
        self.short = False
        self.excess = False
        self.body_bytes = 0  # of the body, framing aside: what the client is sent

    def start(self, status: int, headers: Headers, *, closing: bool) -> bytes:
        """The head of an answer whose body follows; chunked unless a length is given."""
        length = declared_length(headers)
        data = self._head(status, headers, length != _NO_LENGTH, closing)
        if not self.no_body:
            self.remaining = max(length, -1)
        return data

    def whole(self, status: int, headers: Headers, body: bytes, *, closing: bool) -> bytes:
        """The whole answer: a Content-Length is added when it has none (not for HEAD)."""
        if body_forbidden(self.head.method, status):
            return self._head(status, headers, True, closing)
        length = declared_length(headers)
        if length == _NO_LENGTH:
            headers.append((b"content-length", b"%d" % len(body)))
        elif length < 0:
            pass  # a length that is no number bounds nothing (the backends refuse one)
        elif len(body) > length:
            _excess(len(body) - length)
            body = body[:length]
        elif len(body) < length:
            _short(length - len(body))
            self.short = closing = True
        self.body_bytes = len(body)
        return self._head(status, headers, True, closing) + body

    def body(self, data: bytes) -> bytes:
        """``data`` framed for the wire (``b""`` when the answer has no body)."""
        if self.no_body or not data:
            return b""
        remaining = self.remaining
        if remaining >= 0:
            if len(data) > remaining:
                if not self.excess:  # logged once per answer
                    _excess(len(data) - remaining)
                self.excess = True
                data = data[:remaining]
            self.remaining = remaining - len(data)
            self.body_bytes += len(data)
            return data
        self.body_bytes += len(data)
        return chunk(data) if self.chunked else data

    def sent(self, count: int) -> None:
        """``count`` bytes of the body went out by another path (``sendfile``)."""
        self.body_bytes += count
        if self.remaining >= 0:
            self.remaining = max(self.remaining - count, 0)

    def end(self) -> bytes:
        """What ends the body on the wire; a body short of its length closes the connection."""
        if self.remaining > 0:
            _short(self.remaining)
            self.short = True
            self.keep_alive = False
        return LAST_CHUNK if self.chunked else b""

    def _head(self, status: int, headers: Headers, length_known: bool, closing: bool) -> bytes:
        framing = b""
        head = self.head
        self.no_body = body_forbidden(head.method, status)
        if not length_known and not self.no_body:
            if head.http_version == "1.1":
                self.chunked = True
                framing = b"transfer-encoding: chunked\r\n"
            else:
                self.keep_alive = False  # the end of the body is the end of the connection
        if closing:
            self.keep_alive = False
        if not self.keep_alive:
            framing += b"connection: close\r\n"
        elif head.http_version == "1.0":
            framing += b"connection: keep-alive\r\n"
        self.started = True
        return response_head(status, headers, framing)


def _excess(count: int) -> None:
    log.warning("upstream_sent_more_data_than_content_length", dropped=count)


def _short(count: int) -> None:
    log.warning("upstream_body_shorter_than_content_length", missing=count)


_NO_LENGTH: Final = -1
_BAD_LENGTH: Final = -2


def declared_length(headers: Headers) -> int:
    """The Content-Length ``headers`` declare; -1 when there is none, -2 when it is no number.

    The backends refuse a head with a bad or repeated length (502) before it
    gets here; a value that is not digits frames nothing, so it bounds nothing.
    """
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else _BAD_LENGTH
    return _NO_LENGTH


def address(value: object) -> tuple[str, int] | None:
    """A socket's ``getpeername``/``getsockname`` as ``(host, port)``; ``None`` for unix sockets."""
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def refusal_answer(refusal: Refusal, request_id: str) -> bytes:
    """The whole answer to an unparseable request: nginx's page, then the connection closes."""
    body = page_html(refusal.status)
    headers = [
        (b"content-type", b"text/html"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"x-strangler-error", refusal.reason.encode("ascii", "replace")[:200]),
    ]
    return response_head(refusal.status, headers, b"connection: close\r\n") + body
