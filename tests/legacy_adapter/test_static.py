"""Static file answers checked against nginx 1.22.1 serving the same file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from legacy_adapter import FileChunks, Headers, LegacyRequest, iter_bytes
from legacy_adapter._mimetypes import content_type
from legacy_adapter._static import (
    StaticPlan,
    close_file,
    etag_listed,
    parse_http_date,
    plan_static,
    serve_static,
)

MTIME = 1709618828  # Tue, 05 Mar 2024 06:07:08 GMT
ETAG = '"65e6b68c-400"'
DATE = "Tue, 05 Mar 2024 06:07"
VALIDATORS = [(b"last-modified", b"Tue, 05 Mar 2024 06:07:08 GMT"), (b"etag", ETAG.encode())]
TYPE = (b"content-type", b"application/octet-stream")
FULL = [TYPE, (b"content-length", b"1024"), *VALIDATORS, (b"accept-ranges", b"bytes")]
DATA = bytes(range(256)) * 4


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """A 1024-byte file with the mtime used in the nginx experiment."""
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    os.utime(path, (MTIME, MTIME))
    return path


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run async tests on asyncio and trio."""
    return str(request.param)


def plan(path: Path, lines: Sequence[str] = (), method: str = "GET") -> StaticPlan:
    headers = [(n.lower().encode(), v.encode()) for n, _, v in (x.partition(": ") for x in lines)]
    return plan_static(str(path), os.stat(path), method, headers)


def partial(start: int, end: int) -> StaticPlan:
    length = end - start + 1
    headers = [TYPE, (b"content-length", str(length).encode()), *VALIDATORS]
    headers.append((b"content-range", f"bytes {start}-{end}/1024".encode()))
    return StaticPlan(206, headers, start, length)


OK = StaticPlan(200, FULL, 0, 1024)
NOT_MODIFIED = StaticPlan(304, VALIDATORS)
FAILED = StaticPlan(412, [], error_page=True)
UNSATISFIABLE = StaticPlan(416, [(b"content-range", b"bytes */1024")], error_page=True)

# (request header lines, what nginx 1.22.1 answered) from the loopback experiment.
NGINX_ANSWERS: list[tuple[str, list[str], StaticPlan]] = [
    ("plain", [], OK),
    ("ims-equal", [f"If-Modified-Since: {DATE}:08 GMT"], NOT_MODIFIED),
    ("ims-later", [f"If-Modified-Since: {DATE}:09 GMT"], OK),
    ("ims-earlier", [f"If-Modified-Since: {DATE}:07 GMT"], OK),
    ("ims-garbage", ["If-Modified-Since: garbage"], OK),
    ("ims-rfc850", ["If-Modified-Since: Tuesday, 05-Mar-24 06:07:08 GMT"], NOT_MODIFIED),
    ("ims-asctime", ["If-Modified-Since: Tue Mar  5 06:07:08 2024"], NOT_MODIFIED),
    ("inm", [f"If-None-Match: {ETAG}"], NOT_MODIFIED),
    ("inm-weak", [f"If-None-Match: W/{ETAG}"], NOT_MODIFIED),
    ("inm-list", [f'If-None-Match: "x", {ETAG}'], NOT_MODIFIED),
    ("inm-star", ["If-None-Match: *"], NOT_MODIFIED),
    ("inm-miss-ims-hit", ['If-None-Match: "x"', f"If-Modified-Since: {DATE}:08 GMT"], OK),
    ("inm-hit-ims-miss", [f"If-None-Match: {ETAG}", f"If-Modified-Since: {DATE}:07 GMT"], OK),
    ("im-miss", ['If-Match: "x"'], FAILED),
    ("im-hit", [f"If-Match: {ETAG}"], OK),
    ("im-weak", [f"If-Match: W/{ETAG}"], FAILED),
    ("im-star", ["If-Match: *"], OK),
    ("ius-earlier", [f"If-Unmodified-Since: {DATE}:07 GMT"], FAILED),
    ("ius-equal", [f"If-Unmodified-Since: {DATE}:08 GMT"], OK),
    ("ius-later", [f"If-Unmodified-Since: {DATE}:09 GMT"], OK),
    ("ius-garbage", ["If-Unmodified-Since: garbage"], FAILED),
    ("range", ["Range: bytes=0-9"], partial(0, 9)),
    ("range-open", ["Range: bytes=1000-"], partial(1000, 1023)),
    ("range-suffix", ["Range: bytes=-10"], partial(1014, 1023)),
    ("range-suffix-big", ["Range: bytes=-2000"], partial(0, 1023)),
    ("range-past-end", ["Range: bytes=1000-5000"], partial(1000, 1023)),
    ("range-at-end", ["Range: bytes=1024-"], UNSATISFIABLE),
    ("range-beyond", ["Range: bytes=2000-3000"], UNSATISFIABLE),
    ("range-reversed", ["Range: bytes=5-2"], UNSATISFIABLE),
    ("range-minus-zero", ["Range: bytes=-0"], UNSATISFIABLE),
    ("range-one-good", ["Range: bytes=0-1,2000-3000"], partial(0, 1)),
    ("range-good-last", ["Range: bytes=2000-3000,0-1"], partial(0, 1)),
    ("range-items", ["Range: items=0-1"], OK),
    ("range-spaced-unit", ["Range: bytes = 0-1"], OK),
    ("range-trailing-space", ["Range: bytes=0-1 "], partial(0, 1)),
    ("range-unit-case", ["Range: Bytes=0-1"], partial(0, 1)),
    ("range-letters", ["Range: bytes=a-b"], UNSATISFIABLE),
    ("range-inner-space", ["Range: bytes=0- 1"], partial(0, 1)),
    ("range-leading-space", ["Range: bytes= 0-1"], partial(0, 1)),
    ("range-trailing-comma", ["Range: bytes=0-1,"], UNSATISFIABLE),
    ("range-overflow", ["Range: bytes=0-99999999999999999999"], UNSATISFIABLE),
    ("if-range-etag", ["Range: bytes=0-9", f"If-Range: {ETAG}"], partial(0, 9)),
    ("if-range-other", ["Range: bytes=0-9", 'If-Range: "x"'], OK),
    ("if-range-weak", ["Range: bytes=0-9", f"If-Range: W/{ETAG}"], OK),
    ("if-range-date", ["Range: bytes=0-9", f"If-Range: {DATE}:08 GMT"], partial(0, 9)),
    ("if-range-later", ["Range: bytes=0-9", f"If-Range: {DATE}:09 GMT"], OK),
    ("range-and-inm", ["Range: bytes=0-9", f"If-None-Match: {ETAG}"], NOT_MODIFIED),
    ("bad-range-and-inm", ["Range: bytes=2000-", f"If-None-Match: {ETAG}"], NOT_MODIFIED),
    ("bad-range-and-im", ["Range: bytes=2000-", 'If-Match: "x"'], FAILED),
    ("multi-range", ["Range: bytes=0-1,5-6"], OK),  # nginx: multipart/byteranges
]


@pytest.mark.parametrize(
    ("lines", "expected"), [c[1:] for c in NGINX_ANSWERS], ids=[c[0] for c in NGINX_ANSWERS]
)
def test_matches_nginx(data_file: Path, lines: list[str], expected: StaticPlan) -> None:
    """The plan has the status and headers nginx sent for the same request."""
    assert plan(data_file, lines) == expected


@pytest.mark.parametrize(
    ("lines", "status"),
    [([], 200), (["Range: bytes=0-9"], 206), ([f"If-None-Match: {ETAG}"], 304)],
    ids=["full", "range", "not-modified"],
)
def test_head_has_headers_but_no_body(data_file: Path, lines: list[str], status: int) -> None:
    """HEAD gets GET's status and headers but zero bytes of body."""
    get, head = plan(data_file, lines), plan(data_file, lines, method="HEAD")
    assert (head.status, head.headers, head.length) == (status, get.headers, 0)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"], ids=str)
def test_other_methods_not_allowed(data_file: Path, method: str) -> None:
    """nginx answers 405 to anything but GET and HEAD on a static file."""
    assert plan(data_file, [f"If-None-Match: {ETAG}"], method) == StaticPlan(
        405, [], error_page=True
    )


@pytest.mark.parametrize("spec", ["bytes=0-9", "bytes=-5"], ids=["range", "suffix"])
def test_empty_file_ignores_range(tmp_path: Path, spec: str) -> None:
    """Any range of an empty file gives 200 with no body, as nginx does."""
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = plan(empty, [f"Range: {spec}"])
    assert (result.status, result.length, result.headers[0]) == (
        200,
        0,
        (b"content-type", b"text/plain"),
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.html", "text/html"),
        ("DATA.TXT", "text/plain"),
        ("x.tar.gz", "application/octet-stream"),
        ("pic.JPEG", "image/jpeg"),
        ("app.js", "application/javascript"),
        ("/a.b/noext", "application/octet-stream"),
        (".hidden", "application/octet-stream"),
        ("/x/.html", "application/octet-stream"),
        ("font.woff2", "font/woff2"),
    ],
    ids=str,
)
def test_content_type_from_nginx_table(name: str, expected: str) -> None:
    """Content types come from nginx's mime.types, extension lower-cased."""
    assert content_type(name) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 05 Mar 2024 06:07:08 GMT", MTIME),
        ("Tuesday, 05-Mar-24 06:07:08 GMT", MTIME),
        ("Tue Mar  5 06:07:08 2024", MTIME),
        ("Tue, 31 Feb 2024 06:07:08 GMT", None),
        ("Tue, 05 Mar 2024 24:07:08 GMT", None),
        ("Tue, 05 Foo 2024 06:07:08 GMT", None),
        ("", None),
    ],
    ids=["rfc1123", "rfc850", "asctime", "bad-day", "bad-hour", "bad-month", "empty"],
)
def test_parse_http_date(value: str, expected: int | None) -> None:
    """The three HTTP date formats parse; impossible dates do not."""
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("header", "weak", "expected"),
    [
        ("*", False, True),
        ('"a", "b"', False, True),
        ('W/"b"', False, False),
        ('W/"b"', True, True),
        ('"c"', True, False),
    ],
    ids=["star", "list", "weak-strong", "weak-weak", "miss"],
)
def test_etag_listed(header: str, weak: bool, expected: bool) -> None:
    """ETag lists match strongly for If-Match and weakly for If-None-Match."""
    assert etag_listed(header, '"b"', weak=weak) is expected


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("start", "length"),
    [(0, 1024), (1000, 24), (5, 0), (0, 200_000)],
    ids=["all", "tail", "none", "several-chunks"],
)
async def test_file_chunks_read_the_span(tmp_path: Path, start: int, length: int) -> None:
    """FileChunks gives exactly the span's bytes, in chunks of at most 64 KiB."""
    data = bytes(range(256)) * 1000
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        chunks = [c async for c in FileChunks(fd, start, length)]
    finally:
        os.close(fd)
    assert b"".join(chunks) == data[start : start + length]
    assert all(0 < len(c) <= 65536 for c in chunks)


@pytest.mark.anyio
async def test_file_chunks_stop_where_the_file_ends(data_file: Path) -> None:
    """A file shorter than its span ends the chunks early instead of looping."""
    fd = os.open(data_file, os.O_RDONLY)
    try:
        chunks = [c async for c in FileChunks(fd, 1000, 500)]
    finally:
        os.close(fd)
    assert b"".join(chunks) == DATA[1000:]


def _request(method: str, headers: Headers) -> LegacyRequest:
    return LegacyRequest(
        method,
        b"/data.bin",
        "/data.bin",
        b"",
        headers,
        None,
        None,
        "http",
        "1.1",
        "r",
        iter_bytes(()),
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "headers", "status", "body"),
    [
        ("GET", [(b"range", b"bytes=0-3")], 206, DATA[:4]),
        ("HEAD", [], 200, b""),
        ("GET", [(b"range", b"bytes=5000-")], 416, None),
        ("GET", [(b"if-match", b'"x"')], 412, None),
    ],
    ids=["partial", "head", "unsatisfiable", "precondition"],
)
async def test_serve_static(
    data_file: Path, method: str, headers: Headers, status: int, body: bytes | None
) -> None:
    """serve_static turns the plan into a response; errors get nginx's HTML page."""
    response = await serve_static(str(data_file), _request(method, headers))
    received = b"".join([c async for c in response.body])
    assert response.status == status
    if body is None:
        assert b"<html>" in received
        assert (b"content-type", b"text/html") in response.headers
    else:
        assert received == body


@pytest.mark.anyio
async def test_serve_static_vanished_file(tmp_path: Path) -> None:
    """A file deleted after resolution gets a 404 page."""
    response = await serve_static(str(tmp_path / "gone"), _request("GET", []))
    assert response.status == 404


@pytest.mark.anyio
async def test_a_large_file_is_a_span_of_the_open_file(tmp_path: Path) -> None:
    """Over 64 KiB the body is the open file itself, closed by ``close_file``."""
    data = bytes(range(256)) * 1024
    (tmp_path / "big").write_bytes(data)
    response = await serve_static(str(tmp_path / "big"), _request("GET", []))
    span = response.file
    assert span is not None
    assert (span.offset, span.count) == (0, len(data))
    assert os.pread(span.fd, 10, 100) == data[100:110]
    assert b"".join([c async for c in response.body]) == data  # for a writer without sendfile
    close_file(response)
    assert span.fd == -1
    close_file(response)  # twice is harmless


@pytest.mark.anyio
async def test_a_fifo_in_place_of_a_file_is_404_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    response = await serve_static(str(tmp_path / "pipe"), _request("GET", []))
    assert response.status == 404


@pytest.mark.anyio
async def test_a_symlink_loop_is_403_as_nginx_answers_it(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    response = await serve_static(str(tmp_path / "a"), _request("GET", []))
    assert response.status == 403


def test_out_of_descriptors_is_500_not_404(data_file: Path) -> None:
    """A file that exists but cannot be opened for want of descriptors is no 404 to cache."""
    script = f"""
import anyio, os, resource
from tests.legacy_adapter.test_static import _request
from legacy_adapter._static import serve_static
async def main():
    fds = len(os.listdir("/proc/self/fd"))  # the listing's own descriptor is closed again
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (fds - 1, hard))
    response = await serve_static({str(data_file)!r}, _request("GET", []))
    print(response.status)
anyio.run(main)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.stdout.splitlines()[-1:] == ["500"], done.stderr
    assert "static_open_failed" in done.stdout  # and the reason is logged
