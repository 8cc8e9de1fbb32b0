"""Static files answered as nginx's static, not-modified and range filters do.

Strategy: ``plan_static`` is pure (file name, stat result, method, headers in;
status, headers and byte range out); ``serve_static`` opens the file, plans
from its ``fstat`` and answers: a small body read at once, a large one as a
``FileSpan`` of the open file that the server sends with ``sendfile``, with
``FileChunks`` of the same descriptor as its body for a writer that cannot
(a shadowed route's copy).

Checks run in nginx's order: method (405 unless GET/HEAD), If-Unmodified-Since
and If-Match (412), If-Modified-Since and If-None-Match (304 only when every
one present says "not modified"), then Range.  Observed with nginx 1.22.1:

* ETag ``"%x-%x"`` of mtime seconds and size; 304 carries only Last-Modified
  and ETag; 412/405/416 are HTML error pages, 416 adds ``bytes */size``.
* If-Modified-Since is ``exact``: 304 only for the very mtime; RFC 850 dates
  are understood; garbage is ignored.  If-Unmodified-Since garbage gives 412.
* If-None-Match: ``*``, a list, and ``W/`` tags match; If-Match compares
  strongly (``W/"tag"`` -> 412), ``*`` passes.
* Range: ``bytes=`` (any case; ``bytes = 0-1`` is ignored), spaces allowed
  around numbers; ``5-2``, ``-0``, ``a-b``, ``0-1,``, overflow, or starting at
  or past the end -> 416; unsatisfiable parts of a list are dropped
  (``0-1,2000-3000`` -> 206 for 0-1); any range of an empty file -> 200; a
  failed If-Range (date or exact ETag, ``W/`` never matches) -> 200; a 206
  drops Accept-Ranges.  Several satisfiable ranges make nginx answer
  ``multipart/byteranges``; we answer 200 with the whole file (allowed by RFC
  9110, and its boundaries are nginx-specific anyway).
"""

from __future__ import annotations

import calendar
import datetime
import errno
import os
import re
import stat
from dataclasses import dataclass
from email.utils import formatdate
from typing import Literal

import structlog

from ._mimetypes import content_type
from ._pages import error_page
from ._streams import FileChunks, iter_bytes
from ._types import FileSpan, Headers, LegacyRequest, UpstreamResponse

log = structlog.get_logger("strangler.static")

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_DATE_822_850 = re.compile(r"[^ ]* (\d\d)[ -]([A-Za-z]{3})[ -](\d\d\d\d|\d\d) (\d\d):(\d\d):(\d\d)")
_DATE_ASCTIME = re.compile(r"[^ ]* ([A-Za-z]{3}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d\d\d\d)")
_RANGE_ITEM = re.compile(r" *(?:(\d+) *- *(\d*)|-(\d+)) *")
_MAX_OFF = 2**63 - 1
Unsatisfiable = Literal["unsatisfiable"]


@dataclass(frozen=True, slots=True)
class StaticPlan:
    """What to answer for a static file.

    Attributes:
        status: 200, 206, 304, 405, 412 or 416.
        headers: response headers (for error pages, only the extra ones).
        start: first byte of the file to send.
        length: number of bytes to send (0 when there is no body).
        error_page: the body is nginx's HTML error page for ``status``.
    """

    status: int
    headers: Headers
    start: int = 0
    length: int = 0
    error_page: bool = False


def plan_static(
    filename: str, st: os.stat_result, method: str, request_headers: Headers
) -> StaticPlan:
    """Decide status, headers and byte range for ``filename`` (see module docstring).

    Args:
        filename: the file's path; its extension picks the Content-Type.
        st: ``os.stat`` of the file (size and mtime).
        method: request method; HEAD gets the GET headers and no body.
        request_headers: request headers with lower-case names.
    """
    if method not in ("GET", "HEAD"):
        return StaticPlan(405, [], error_page=True)
    mtime, size = st.st_mtime_ns // 1_000_000_000, st.st_size
    etag = f'"{mtime:x}-{size:x}"'
    validators = [
        (b"last-modified", formatdate(mtime, usegmt=True).encode()),
        (b"etag", etag.encode()),
    ]
    status = _preconditions(_HeaderView(request_headers), etag, mtime)
    if status == 412:
        return StaticPlan(412, [], error_page=True)
    if status == 304:
        return StaticPlan(304, validators)
    ctype = (b"content-type", content_type(filename).encode())
    byte_range = _range(_HeaderView(request_headers), etag, mtime, size)
    body = method == "GET"
    if byte_range is None:
        length = (b"content-length", str(size).encode())
        headers = [ctype, length, *validators, (b"accept-ranges", b"bytes")]
        return StaticPlan(200, headers, 0, size if body else 0)
    if isinstance(byte_range, str):
        return StaticPlan(416, [(b"content-range", f"bytes */{size}".encode())], error_page=True)
    start, end = byte_range
    content_range = (b"content-range", f"bytes {start}-{end - 1}/{size}".encode())
    headers = [ctype, (b"content-length", str(end - start).encode()), *validators, content_range]
    return StaticPlan(206, headers, start, end - start if body else 0)


class _HeaderView:
    """First value of a request header by lower-case name (nginx 1.22 keeps the first)."""

    def __init__(self, headers: Headers) -> None:
        self._values: dict[bytes, str] = {}
        for name, value in headers:
            self._values.setdefault(name.lower(), value.decode("latin-1"))

    def get(self, name: bytes) -> str | None:
        return self._values.get(name)


def _preconditions(headers: _HeaderView, etag: str, mtime: int) -> int:
    """412, 304 or 200 from the conditional headers, in nginx's order."""
    unmodified_since = headers.get(b"if-unmodified-since")
    if unmodified_since is not None:
        since = parse_http_date(unmodified_since)
        if since is None or since < mtime:
            return 412
    if_match = headers.get(b"if-match")
    if if_match is not None and not etag_listed(if_match, etag, weak=False):
        return 412
    modified_since = headers.get(b"if-modified-since")
    if_none_match = headers.get(b"if-none-match")
    if modified_since is None and if_none_match is None:
        return 200
    if modified_since is not None and parse_http_date(modified_since) != mtime:
        return 200
    if if_none_match is not None and not etag_listed(if_none_match, etag, weak=True):
        return 200
    return 304


def etag_listed(header: str, etag: str, *, weak: bool) -> bool:
    """Whether ``etag`` is in an If-Match/If-None-Match list (``ngx_http_test_if_match``)."""
    if header == "*":
        return True
    for item in header.split(","):
        item = item.strip(" \t")
        if weak and item.startswith("W/"):
            item = item[2:]
        if item == etag:
            return True
    return False


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch for an RFC 1123, RFC 850 or asctime date; ``None`` if invalid."""
    if match := _DATE_822_850.match(value):
        day, month, year, hour, minute, second = match.groups()
    elif match := _DATE_ASCTIME.match(value):
        month, day, hour, minute, second, year = match.groups()
    else:
        return None
    number = int(year)
    if len(year) == 2:
        number += 2000 if number < 70 else 1900
    try:
        fields = (number, _MONTHS[month], int(day), int(hour), int(minute), int(second))
        if fields[3] > 23 or fields[4] > 59 or fields[5] > 59:
            return None
        datetime.date(*fields[:3])
    except (KeyError, ValueError):
        return None
    return calendar.timegm((*fields, 0, 0, 0))


def _range(
    headers: _HeaderView, etag: str, mtime: int, size: int
) -> tuple[int, int] | Unsatisfiable | None:
    """One ``(start, end)`` range, ``"unsatisfiable"``, or ``None`` for a 200."""
    value = headers.get(b"range")
    if value is None or len(value) < 7 or value[:6].lower() != "bytes=":
        return None
    if_range = headers.get(b"if-range")
    if if_range is not None and not _if_range_holds(if_range, etag, mtime):
        return None
    ranges = parse_ranges(value[6:], size)
    if ranges is None or isinstance(ranges, str):
        return ranges
    return ranges[0] if len(ranges) == 1 else None


def _if_range_holds(value: str, etag: str, mtime: int) -> bool:
    if len(value) >= 2 and value.endswith('"'):
        return value == etag
    return parse_http_date(value) == mtime


def parse_ranges(spec: str, size: int) -> list[tuple[int, int]] | Unsatisfiable | None:
    """Ranges after ``bytes=`` as ``ngx_http_range_parse`` reads them.

    Returns:
        Satisfiable ``(start, end_exclusive)`` pairs; ``"unsatisfiable"`` (416);
        or ``None`` when nginx ignores the header (empty file, ranges larger
        than the file).
    """
    ranges: list[tuple[int, int]] = []
    for item in spec.split(","):
        match = _RANGE_ITEM.fullmatch(item)
        if match is None:
            return "unsatisfiable"
        first, last, suffix = match.groups()
        if any(g is not None and g != "" and int(g) > _MAX_OFF for g in match.groups()):
            return "unsatisfiable"
        if suffix is not None:
            start, end = max(size - int(suffix), 0), size
        else:
            start = int(first)
            end = size if last == "" else min(int(last) + 1, size)
        if start < end:
            ranges.append((start, end))
        elif start == 0:
            return None
    if not ranges:
        return "unsatisfiable"
    return ranges if sum(e - s for s, e in ranges) <= size else None


# A body up to this size is read and sent with its head in one write, which costs
# less than a head and a sendfile; above it, sendfile costs less than the copy
# (``ops/bench/run``'s ``static`` and ``static-large`` rows measure both sides).
_READ_INLINE = 64 * 1024


# A file that cannot be opened: nginx's status for each reason (ngx_http_static_handler).
_OPEN_STATUS = {
    errno.ENOENT: 404,
    errno.ENOTDIR: 404,
    errno.ENAMETOOLONG: 404,
    errno.EACCES: 403,
    errno.ELOOP: 403,
    errno.EMLINK: 403,
}


async def serve_static(filename: str, request: LegacyRequest) -> UpstreamResponse:
    """Answer ``request`` from ``filename`` as nginx's static module would.

    The file is opened first and its own ``fstat`` plans the answer, as nginx
    does, so the file described is the file sent.  A large body is a
    ``FileSpan`` of the open file (the caller closes it, ``close_file``), which
    a server sends with ``sendfile``; its ``body`` reads the file for any other.
    A file that vanished since it was resolved, or is not a regular file,
    gets nginx's 404 page; one that cannot be opened, nginx's status for why.
    """
    head = request.method == "HEAD"
    try:
        # O_NONBLOCK: a FIFO put where a file was must not block the worker on open.
        fd = os.open(filename, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        status = _OPEN_STATUS.get(exc.errno or 0, 500)  # out of descriptors: 500, not 404
        if status == 500:
            log.error("static_open_failed", error=exc.strerror)
        return error_page(status, head=head)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return error_page(404, head=head)
        plan = plan_static(filename, st, request.method, request.headers)
        if plan.length > _READ_INLINE:
            body = FileChunks(fd, plan.start, plan.length)
            response = UpstreamResponse(plan.status, plan.headers, body, "static")
            response.file = FileSpan(fd, plan.start, plan.length)
            return response
        # Small files come from the page cache without waiting for a disk: reading
        # them on the loop (as nginx does without aio) costs less than three thread
        # hops per request (the ``static`` row of ``ops/bench/run`` measures it).
        data = os.pread(fd, plan.length, plan.start) if plan.length else b""
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    if plan.error_page:
        response = error_page(plan.status, head=head)
        response.headers.extend(plan.headers)
        return response
    response = UpstreamResponse(plan.status, plan.headers, iter_bytes((data,)), "static")
    if len(data) == plan.length or head:
        response.content = data
    return response


def close_file(response: UpstreamResponse) -> None:
    """Close the file a static answer holds open, once it has been sent."""
    span = response.file
    if span is not None and span.fd >= 0:
        os.close(span.fd)
        span.fd = -1
