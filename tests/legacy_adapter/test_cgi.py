"""FastCGI params and client identity, checked against nginx 1.22.1's own output."""

from __future__ import annotations

import ipaddress

import pytest

from legacy_adapter import Headers, LegacyRequest, iter_bytes
from legacy_adapter._cgi import basic_auth_user, build_params
from legacy_adapter._client import Client, host_variable, trusted_client
from legacy_adapter._resolve import RunScript

SCRIPT = RunScript("/foo.php", "/srv/root/foo.php", "/bar/baz", "/foo.php")


def make_request(headers: Headers, **changes: object) -> LegacyRequest:
    fields: dict[str, object] = {
        "method": "POST",
        "raw_path": b"/foo.php/bar/baz",
        "path": "/foo.php/bar/baz",
        "query_string": b"x=1",
        "headers": headers,
        "client": ("127.0.0.1", 53868),
        "server": ("127.0.0.1", 8802),
        "scheme": "http",
        "http_version": "1.1",
        "request_id": "r1",
        "body": iter_bytes(()),
        "server_name": "perpath.test",
    }
    fields.update(changes)
    return LegacyRequest(**fields)  # type: ignore[arg-type]


def params(request: LegacyRequest, **kwargs: object) -> list[tuple[bytes, bytes]]:
    options: dict[str, object] = {
        "document_root": "/srv/root/",
        "server_software": "nginx/1.22.1",
        "https": False,
        "remote": request.client,
    }
    options.update(kwargs)
    return build_params(request, SCRIPT, **options)  # type: ignore[arg-type]


# The request of the nginx experiment and the params nginx sent (Debian-style PATH_INFO).
NGINX_HEADERS: Headers = [
    (b"host", b"X.Test:8080"),
    (b"connection", b"close"),
    (b"x_under", b"1"),
    (b"x-dup", b"a"),
    (b"x-dup", b"b"),
    (b"cookie", b"c=1"),
    (b"cookie", b"d=2"),
    (b"proxy", b"evil"),
    (b"content-type", b"text/plain"),
    (b"content-length", b"3"),
    (b"x-lower-case", b"v"),
    (b"authorization", b"Basic dTpw"),
    (b"x.dot", b"1"),
    (b"x-empty", b""),
]
NGINX_PARAMS = [
    (b"QUERY_STRING", b"x=1"),
    (b"REQUEST_METHOD", b"POST"),
    (b"CONTENT_TYPE", b"text/plain"),
    (b"CONTENT_LENGTH", b"3"),
    (b"SCRIPT_NAME", b"/foo.php"),
    (b"REQUEST_URI", b"/foo.php/bar/baz?x=1"),
    (b"DOCUMENT_URI", b"/foo.php"),
    (b"DOCUMENT_ROOT", b"/srv/root"),
    (b"SERVER_PROTOCOL", b"HTTP/1.1"),
    (b"REQUEST_SCHEME", b"http"),
    (b"GATEWAY_INTERFACE", b"CGI/1.1"),
    (b"SERVER_SOFTWARE", b"nginx/1.22.1"),
    (b"REMOTE_ADDR", b"127.0.0.1"),
    (b"REMOTE_PORT", b"53868"),
    (b"REMOTE_USER", b"u"),
    (b"SERVER_ADDR", b"127.0.0.1"),
    (b"SERVER_PORT", b"8802"),
    (b"SERVER_NAME", b"perpath.test"),
    (b"REDIRECT_STATUS", b"200"),
    (b"HTTP_HOST", b"x.test"),
    (b"SCRIPT_FILENAME", b"/srv/root/foo.php"),
    (b"PATH_INFO", b"/bar/baz"),
    (b"HTTP_CONNECTION", b"close"),
    (b"HTTP_X_DUP", b"a"),
    (b"HTTP_X_DUP", b"b"),
    (b"HTTP_COOKIE", b"c=1"),
    (b"HTTP_COOKIE", b"d=2"),
    (b"HTTP_CONTENT_TYPE", b"text/plain"),
    (b"HTTP_CONTENT_LENGTH", b"3"),
    (b"HTTP_X_LOWER_CASE", b"v"),
    (b"HTTP_AUTHORIZATION", b"Basic dTpw"),
    (b"HTTP_X_EMPTY", b""),
]


def test_matches_nginx_params() -> None:
    """The params equal nginx's, pair for pair, except the deliberately dropped HTTP_PROXY."""
    assert params(make_request(NGINX_HEADERS)) == NGINX_PARAMS


def test_https_and_http2() -> None:
    """HTTPS=on appears only over TLS, and HTTP/2 is reported as HTTP/2.0."""
    result = dict(params(make_request([], http_version="2"), https=True))
    assert result[b"HTTPS"] == b"on"
    assert result[b"REQUEST_SCHEME"] == b"https"
    assert result[b"SERVER_PROTOCOL"] == b"HTTP/2.0"
    assert b"HTTPS" not in dict(params(make_request([])))


def test_no_host_no_body_headers() -> None:
    """Without Host, HTTP_HOST is the server name; absent body headers give empty values."""
    result = dict(params(make_request([], http_version="1.0")))
    assert result[b"HTTP_HOST"] == b"perpath.test"
    assert result[b"CONTENT_TYPE"] == result[b"CONTENT_LENGTH"] == b""
    assert result[b"REMOTE_USER"] == b""
    assert result[b"SERVER_PROTOCOL"] == b"HTTP/1.0"


def test_measured_content_length_wins() -> None:
    """A body length measured by the proxy (chunked upload) becomes CONTENT_LENGTH."""
    request = make_request([(b"transfer-encoding", b"chunked")])
    assert dict(params(request, content_length=42))[b"CONTENT_LENGTH"] == b"42"


def test_extra_params_replace_and_hide() -> None:
    """Extra params replace same-named ones, append new ones and hide their headers."""
    request = make_request([(b"x-secret", b"client"), (b"accept", b"*/*")])
    extra = {"SERVER_SOFTWARE": "legacy", "APP_ENV": "prod", "HTTP_X_SECRET": "ours"}
    result = params(request, extra=extra)
    assert dict(result)[b"SERVER_SOFTWARE"] == b"legacy"
    assert (b"HTTP_X_SECRET", b"ours") in result
    assert (b"HTTP_X_SECRET", b"client") not in result
    names = [name for name, _ in result]
    assert names.index(b"APP_ENV") < names.index(b"HTTP_ACCEPT")


def test_unix_socket_addresses() -> None:
    """A unix-socket client and server show as nginx shows them: 'unix:' and no port."""
    result = dict(params(make_request([], server=None), remote=None))
    assert (result[b"REMOTE_ADDR"], result[b"REMOTE_PORT"]) == (b"unix:", b"")
    assert (result[b"SERVER_ADDR"], result[b"SERVER_PORT"]) == (b"unix:", b"")


def test_unix_socket_listener_as_asgi_servers_give_it() -> None:
    """uvicorn and hypercorn give a unix listener as (path, None): still 'unix:' and no port."""
    request = make_request([], server=("/run/strangler.sock", None))  # type: ignore[arg-type]
    result = dict(params(request, remote=None))
    assert (result[b"SERVER_ADDR"], result[b"SERVER_PORT"]) == (b"unix:", b"")


def test_non_utf8_path_bytes_round_trip() -> None:
    """A non-UTF-8 byte in the path reaches SCRIPT_NAME as the original byte."""
    name = b"/caf\xe9.php".decode("utf-8", "surrogateescape")
    script = RunScript(name, "/srv" + name, "", name)
    result = dict(
        build_params(make_request([]), script, document_root="/srv", https=False, remote=None)
    )
    assert result[b"SCRIPT_NAME"] == b"/caf\xe9.php"


@pytest.mark.parametrize(
    ("header", "user"),
    [
        ("Basic dTpw", "u"),
        ("basic dTpw", "u"),
        ("Basic   dTpwOnE=garbage", "u"),
        ("Basic dTp", "u"),
        ("Basic dQ==", ""),
        ("Basic Ont1", ""),
        ("Basic d(Rw", ""),
        ("Basic dTpwO", ""),
        ("Bearer abc", ""),
        (None, ""),
    ],
    ids=[
        "plain",
        "lower",
        "spaces-pad",
        "unpadded",
        "no-colon",
        "empty-user",
        "bad-char",
        "bad-len",
        "bearer",
        "none",
    ],
)
def test_remote_user(header: str | None, user: str) -> None:
    """REMOTE_USER follows nginx's $remote_user decoding, as observed case by case."""
    assert basic_auth_user(header) == user


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("X.Test:8080", "x.test"),
        ("Example.COM.", "example.com"),
        ("[::1]:80", "[::1]"),
        (None, "srv"),
        ("", "srv"),
    ],
    ids=["port", "case-dot", "ipv6", "missing", "empty"],
)
def test_host_variable(header: str | None, expected: str) -> None:
    """HTTP_HOST is nginx's $host: lower case, no port, no final dot, else the server name."""
    assert host_variable(header, "srv") == expected


TRUSTED = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8")]
PEER = ("127.0.0.1", 52006)


@pytest.mark.parametrize(
    ("xff", "expected"),
    [
        ([b"1.2.3.4"], ("1.2.3.4", 0)),
        ([b"1.2.3.4, 10.0.0.1"], ("1.2.3.4", 0)),
        ([b"9.9.9.9, 1.2.3.4, 10.0.0.1"], ("1.2.3.4", 0)),
        ([b"10.0.0.2, 10.0.0.1"], ("10.0.0.2", 0)),
        ([b"9.9.9.9", b"1.2.3.4, 10.0.0.1"], ("1.2.3.4", 0)),
        ([b"1.2.3.4:5555"], ("1.2.3.4", 5555)),
        ([b"garbage, 10.0.0.1"], ("10.0.0.1", 0)),
        ([b"1.2.3.4, garbage"], PEER),
        ([b"2001:db8::1"], ("2001:db8::1", 0)),
        ([b"[2001:db8::1]:80"], ("2001:db8::1", 80)),
        ([b"1.2.3.4,10.0.0.1"], ("1.2.3.4", 0)),
        ([b""], PEER),
        ([b"1.2.3.4 , 10.0.0.1"], ("1.2.3.4", 0)),
        ([b"1.2.3.4,"], ("1.2.3.4", 0)),
        ([], PEER),
    ],
    ids=[
        "one",
        "proxy",
        "chain",
        "all-trusted",
        "two-headers",
        "port",
        "garbage-left",
        "garbage-right",
        "ipv6",
        "ipv6-port",
        "no-space",
        "empty",
        "spaces",
        "trailing-comma",
        "none",
    ],
)
def test_forwarded_for_like_realip(xff: list[bytes], expected: tuple[str, int]) -> None:
    """X-Forwarded-For from a trusted peer resolves as nginx realip (recursive) did."""
    headers = [(b"x-forwarded-for", value) for value in xff]
    client = trusted_client(PEER, headers, TRUSTED)
    assert (client.addr, client.port) == expected


def test_untrusted_peer_ignores_forwarded_headers() -> None:
    """An untrusted peer's X-Forwarded-* headers are ignored entirely."""
    headers = [
        (b"host", b"real.example"),
        (b"x-forwarded-for", b"1.2.3.4"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"evil.example"),
    ]
    client = trusted_client(("8.8.8.8", 1234), headers, TRUSTED)
    assert client == Client("8.8.8.8", 1234, "http", "real.example")


def test_trusted_peer_sets_scheme_and_host() -> None:
    """A trusted peer's last X-Forwarded-Proto/Host values are believed; odd schemes are not."""
    headers = [
        (b"host", b"internal"),
        (b"x-forwarded-proto", b"HTTPS"),
        (b"x-forwarded-host", b"a.example, shop.example"),
    ]
    assert trusted_client(PEER, headers, TRUSTED) == Client(
        "127.0.0.1", 52006, "https", "shop.example"
    )
    odd = trusted_client(PEER, [(b"x-forwarded-proto", b"gopher")], TRUSTED, scheme="https")
    assert odd.scheme == "https"


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (None, Client("", 0, "http", None)),
        (("::ffff:10.1.2.3", 9), Client("1.2.3.4", 0, "http", None)),
    ],
    ids=["unix-socket", "ipv4-mapped"],
)
def test_peer_edge_cases(peer: tuple[str, int] | None, expected: Client) -> None:
    """A unix-socket peer is never trusted; an IPv4-mapped peer matches IPv4 networks."""
    assert trusted_client(peer, [(b"x-forwarded-for", b"1.2.3.4")], TRUSTED) == expected


def test_with_body_keeps_every_other_field() -> None:
    """``with_body`` is ``dataclasses.replace`` for the body, compiled: nothing else moves."""
    import dataclasses

    request = make_request([(b"host", b"x")], content_length=3)
    body = iter_bytes((b"abc",))
    assert request.with_body(body) == dataclasses.replace(request, body=body)
