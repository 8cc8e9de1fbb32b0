"""``Request.raw_path``, ``target`` and ``php``: views of the proxied request, made when read."""

from __future__ import annotations

from pathlib import Path

from legacy_adapter import FastCGISettings, LegacyRequest, iter_bytes
from migrated import PhpSite, PhpView, handler_request
from migrated._api import Request


def _legacy(raw_path: bytes, path: str, query: bytes = b"") -> LegacyRequest:
    return LegacyRequest(
        method="GET",
        raw_path=raw_path,
        path=path,
        query_string=query,
        headers=[(b"host", b"example.com"), (b"x-user", b"7")],
        client=("127.0.0.1", 5555),
        server=("127.0.0.1", 80),
        scheme="http",
        http_version="1.1",
        request_id="rid-1",
        body=iter_bytes([]),
    )


class CountingSite:
    """A ``PhpSite`` that counts the views asked of it."""

    def __init__(self, site: PhpSite) -> None:
        self.site = site
        self.views = 0

    def view(self, request: LegacyRequest) -> PhpView | None:
        self.views += 1
        return self.site.view(request)


def _site(root: Path, front_controller: str | None = "/index.php") -> PhpSite:
    (root / "index.php").write_text("<?php\n")
    return PhpSite(FastCGISettings("php", "127.0.0.1:9000", str(root), front_controller))


def test_raw_path_and_target_are_the_request_as_sent(tmp_path: Path) -> None:
    """The normalised path for routing; the raw path and target as the client wrote them."""
    request = handler_request(_legacy(b"/v1/./%65vents//x", "/v1/events/x", b"a=1&b"), {}, b"")
    assert request.path == "/v1/events/x"
    assert request.raw_path == "/v1/./%65vents//x"
    assert request.target == "/v1/./%65vents//x?a=1&b"


def test_php_is_computed_on_first_read_and_once(tmp_path: Path) -> None:
    """A handler that never reads ``php`` costs no script lookup; one that does, one."""
    site = CountingSite(_site(tmp_path))
    request = handler_request(_legacy(b"//v1/events", "/v1/events"), {}, b"", php_site=site)  # type: ignore[arg-type]
    assert site.views == 0
    view = request.php
    assert request.php is view
    assert site.views == 1
    assert view is not None
    assert (view.request_uri, view.script_name, view.path_info) == ("//v1/events", "/index.php", "")
    assert view.script_filename == f"{tmp_path}/index.php"
    assert view.param("HTTP_X_USER") == "7"


def test_php_is_none_where_no_script_would_run(tmp_path: Path) -> None:
    """Per-path scripts: a path naming no script gets no view; one naming it gets PATH_INFO."""
    site = _site(tmp_path, front_controller=None)
    missing = handler_request(_legacy(b"/v1/events", "/v1/events"), {}, b"", php_site=site)
    assert missing.php is None
    script = handler_request(_legacy(b"/index.php/a//b", "/index.php/a/b"), {}, b"", php_site=site)
    assert script.php is not None
    assert (script.php.script_name, script.php.path_info) == ("/index.php", "/a/b")


def test_a_request_made_by_hand_has_its_path_and_no_php() -> None:
    """Without an origin (tests, offline replay) the raw path is the path and php is None."""
    request = Request("GET", "/x", {}, "q=1", (), b"", None, "r1")
    assert (request.raw_path, request.target, request.php) == ("/x", "/x?q=1", None)
