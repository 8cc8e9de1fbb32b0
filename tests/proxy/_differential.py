"""Helpers of the differential suite: send one request to nginx and to strangler, compare.

Strategy: an ``Answer`` is what a client can observe (status, every header in
order, the raw body bytes, no decompression).  ``comparable`` removes only what
legitimately differs between two servers in front of the same PHP-FPM, each
exception named here with its reason; everything else must be identical:

* ``Date``, ``Server``: the clock and the product name.
* Framing (``Transfer-Encoding``, ``Connection``, ``Keep-Alive``, and
  ``Content-Length`` when the other side sent none): how the bytes travel, not
  what they are; the body is compared after de-chunking.
* ``X-Request-Id``: strangler adds it to every answer (nginx has no such header).
* The server token of nginx's built-in error pages (``<center>nginx</center>``),
  and so their Content-Length (4 bytes longer with ``strangler``).
* The value of PHP's ``PHPSESSID`` cookie: random, new for every session.
* The port of an absolute ``Location``: each server listens on its own port.

Headers are compared as a multiset keyed by lower-case name, keeping the order
of headers that share a name (Set-Cookie order matters to browsers).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

Header = tuple[str, str]
BodyNormalizer = Callable[[bytes], bytes]

_FRAMING = frozenset({"date", "server", "transfer-encoding", "connection", "keep-alive"})
_LOOPBACK_ORIGIN = re.compile(r"^(https?)://127\.0\.0\.1:\d+(?=/|$)")
_NGINX_TOKEN = b"<hr><center>nginx</center>"
_OUR_TOKEN = b"<hr><center>strangler</center>"
_SESSION_COOKIE = re.compile(r"^PHPSESSID=[A-Za-z0-9,-]+")


@dataclass(frozen=True)
class Case:
    """One request of the corpus, sent byte-identically to both servers."""

    method: str
    target: str
    headers: tuple[Header, ...] = ()
    content: bytes = b""
    body: BodyNormalizer | None = field(default=None, compare=False)
    chunked: bool = False  # send the body with Transfer-Encoding: chunked


@dataclass(frozen=True)
class Answer:
    """Everything a client observes of one response."""

    status: int
    headers: tuple[Header, ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return next((v for k, v in self.headers if k == name.lower()), None)

    def cookies(self) -> str:
        """A Cookie header holding every cookie this answer sets (empty values skipped)."""
        pairs = [v.split(";", 1)[0] for k, v in self.headers if k == "set-cookie"]
        return "; ".join(p for p in pairs if not p.endswith("="))


def client(base_url: str) -> httpx.Client:
    """A client that never follows redirects, decompresses, or keeps cookies."""
    return httpx.Client(base_url=base_url, follow_redirects=False, timeout=10)


def fetch(http: httpx.Client, case: Case) -> Answer:
    """Send ``case`` and read the raw answer (``Accept-Encoding: identity`` unless set)."""
    http.cookies.clear()  # cookies travel only as the case's explicit Cookie headers
    headers = list(case.headers)
    if not any(k.lower() == "accept-encoding" for k, _ in headers):
        headers.append(("accept-encoding", "identity"))
    url = http.base_url.copy_with(raw_path=case.target.encode())  # sent as written
    content = iter([case.content]) if case.chunked else case.content or None
    request = http.build_request(case.method, url, headers=headers, content=content)
    response = http.send(request, stream=True)
    try:
        body = b"".join(response.iter_raw())
    finally:
        response.close()
    pairs = tuple(
        (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.headers.raw
    )
    return Answer(response.status_code, pairs, body)


def comparable(answer: Answer, other: Answer, *, ours: bool) -> Answer:
    """``answer`` without what may differ from ``other`` (see the module docstring).

    Args:
        answer: the answer to normalise.
        other: the other server's answer to the same request (for framing).
        ours: ``answer`` comes from strangler (its X-Request-Id is dropped).
    """
    other_has_length = any(k == "content-length" for k, _ in other.headers)
    headers = []
    for name, value in answer.headers:
        if name in _FRAMING or (ours and name == "x-request-id"):
            continue
        if name == "content-length" and not other_has_length:
            continue
        if name == "location":
            value = _LOOPBACK_ORIGIN.sub(r"\1://127.0.0.1:PORT", value)
        headers.append((name, value))
    headers.sort(key=lambda h: h[0])  # stable: same-name headers keep their order
    body = answer.body
    if not ours and _is_nginx_page(answer):
        body = body.replace(_NGINX_TOKEN, _OUR_TOKEN)
        grown = len(_OUR_TOKEN) - len(_NGINX_TOKEN)
        headers = [(k, str(int(v) + grown) if k == "content-length" else v) for k, v in headers]
    return same_session(Answer(answer.status, tuple(headers), body))


def _is_nginx_page(answer: Answer) -> bool:
    """An nginx built-in page: it names nginx, or is one answered to HEAD (no body).

    PHP's answers through nginx never carry a Content-Length unless the script
    sets one, so a bodiless text/html error with a length is nginx's own page.
    """
    if _NGINX_TOKEN in answer.body:
        return True
    return (
        not answer.body
        and answer.status >= 300
        and answer.header("content-type") == "text/html"
        and answer.header("content-length") is not None
    )


def assert_same(nginx: Answer, ours: Answer, body: BodyNormalizer | None = None) -> None:
    """Assert both answers are identical up to the documented differences."""
    expected = comparable(nginx, ours, ours=False)
    actual = comparable(ours, nginx, ours=True)
    if body is not None:
        expected = Answer(expected.status, expected.headers, body(expected.body))
        actual = Answer(actual.status, actual.headers, body(actual.body))
    assert actual.status == expected.status, (
        f"status: strangler {actual.status}, nginx {expected.status}"
    )
    assert actual.headers == expected.headers, _diff(expected.headers, actual.headers)
    assert actual.body == expected.body, _diff(expected.body, actual.body)


def _diff(nginx: object, ours: object) -> str:
    def lines(value: object) -> list[str]:
        if isinstance(value, bytes):
            return value.decode("utf-8", "backslashreplace").splitlines()[:200]
        return [repr(item) for item in value] if isinstance(value, tuple) else [repr(value)]

    diff = difflib.unified_diff(lines(nginx), lines(ours), "nginx", "strangler", lineterm="")
    return "\n" + "\n".join(diff)


def same_session(answer: Answer) -> Answer:
    """``answer`` with PHP's random session id replaced by a placeholder.

    Each server runs its own login, so PHP hands each a different random id;
    only its value may differ, never its attributes or position.
    """
    headers = tuple(
        (k, _SESSION_COOKIE.sub("PHPSESSID=<id>", v) if k == "set-cookie" else v)
        for k, v in answer.headers
    )
    return Answer(answer.status, headers, answer.body)


def info_json(body: bytes) -> bytes:
    """info.php's JSON with the only two values that legitimately differ masked.

    * ``SERVER_PORT``: each server listens on its own port.
    * ``HTTP_X_REQUEST_ID``: strangler passes its request id to PHP; nginx has none.

    ``HTTP_HOST`` is nginx's ``$host`` (no port), ``REMOTE_ADDR``/``SERVER_ADDR``
    are both 127.0.0.1, and info.php does not show REMOTE_PORT or
    SERVER_SOFTWARE, so nothing else needs masking.
    """
    if not body:  # HEAD
        return body
    data = json.loads(body)
    data["server"]["SERVER_PORT"] = "<port>"
    data["headers"].pop("HTTP_X_REQUEST_ID", None)
    return json.dumps(data, indent=1, ensure_ascii=False).encode()


def multipart(
    fields: Mapping[str, str], files: Mapping[str, tuple[str, str, bytes]]
) -> tuple[str, bytes]:
    """A multipart/form-data body with a fixed boundary: (Content-Type, body)."""
    boundary = "differential-boundary-7MA4YWxkTrZu0gW"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for name, (filename, ctype, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def deterministic_bytes(size: int, seed: bytes = b"strangler") -> bytes:
    """``size`` pseudo-random but reproducible bytes."""
    return hashlib.shake_256(seed).digest(size)
