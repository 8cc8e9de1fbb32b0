"""normalize_path against what nginx 1.22.1 made of the same request lines."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy_adapter._exceptions import BadRequest
from legacy_adapter._paths import normalize_path

# (raw path, nginx's $uri) as observed with `return 200 "$uri"` on nginx 1.22.1.
NGINX_URIS = [
    (b"/", "/"),
    (b"/a//b", "/a/b"),
    (b"//", "/"),
    (b"/a/./b", "/a/b"),
    (b"/./", "/"),
    (b"/.", "/"),
    (b"/a/../b", "/b"),
    (b"/a/..", "/"),
    (b"/a/.", "/a/"),
    (b"/a/b/..", "/a/"),
    (b"/a/%2e%2e/b", "/b"),
    (b"/%2e", "/"),
    (b"/a/%2e", "/a/"),
    (b"/a%2Fb", "/a/b"),
    (b"/a%2F%2Fb", "/a/b"),
    (b"/a%2f..%2fb", "/b"),
    (b"/...", "/..."),
    (b"/a/..b", "/a/..b"),
    (b"/a+b", "/a+b"),
    (b"/a%20b", "/a b"),
    (b"/a%25b", "/a%b"),
    (b"/a%23b", "/a#b"),
    (b"/a\\b", "/a\\b"),
    (b"/a%5c..%5cb", "/a\\..\\b"),
    (b"/%01", "/\x01"),
    (b"/%7f", "/\x7f"),
    (b"/%C3%A9", "/\u00e9"),
    (b"/a\xc3\xa9", "/a\u00e9"),
]

# Raw paths nginx 1.22.1 answered with 400 (plus CR/LF, which we reject on purpose).
NGINX_400 = [
    b"/..",
    b"/a/../..",
    b"/../x",
    b"/%2e%2e/x",
    b"/%2F..",
    b"/a/..%2f..",
    b"/a/%2E%2E%2F..%2Fb",
    b"/%zz",
    b"/%2",
    b"/a%",
    b"/%00",
    b"x/y",
    b"",
    b"/a\x01b",
    b"/a\x7fb",
    b"/a\tb",
    b"/a b",
    b"/%0A",
    b"/%0d",
]


@pytest.mark.parametrize(
    ("raw", "expected"), NGINX_URIS, ids=[r.decode("latin-1") for r, _ in NGINX_URIS]
)
def test_matches_nginx_uri(raw: bytes, expected: str) -> None:
    """The normalised path equals the $uri nginx built from the same raw path."""
    assert normalize_path(raw) == expected


@pytest.mark.parametrize("raw", NGINX_400, ids=[repr(r) for r in NGINX_400])
def test_rejects_what_nginx_rejects(raw: bytes) -> None:
    """Paths nginx answers with 400 (and encoded CR/LF) raise BadRequest for backend '-'."""
    with pytest.raises(BadRequest) as info:
        normalize_path(raw)
    assert info.value.backend == "-"


def test_non_utf8_bytes_round_trip() -> None:
    """A byte that is not UTF-8 survives as a surrogate and encodes back to itself."""
    path = normalize_path(b"/caf%E9/%FF")
    assert path.encode("utf-8", "surrogateescape") == b"/caf\xe9/\xff"


raw_paths = st.lists(
    st.one_of(
        st.sampled_from([b"/", b".", b"..", b"%2e", b"%2F", b"%", b"%zz", b"%00", b"a", b"%41"]),
        st.binary(max_size=4),
    ),
    max_size=12,
).map(lambda parts: b"/" + b"".join(parts))


@given(raw_paths)
def test_result_is_normal_or_bad_request(raw: bytes) -> None:
    """Any input gives BadRequest or an absolute path free of '//' and dot segments."""
    try:
        path = normalize_path(raw)
    except BadRequest:
        return
    assert path.startswith("/")
    assert "//" not in path
    assert not {".", ".."} & set(path.split("/"))


@given(raw_paths)
def test_idempotent(raw: bytes) -> None:
    """Re-encoding a normalised path and normalising it again changes nothing."""
    try:
        path = normalize_path(raw)
    except BadRequest:
        return
    again = quote(path.encode("utf-8", "surrogateescape"), safe="/")
    assert normalize_path(again.encode("ascii")) == path
