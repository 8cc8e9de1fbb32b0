"""Shadow mode's candidate sees the request as the migrated route would (``Request.php``)."""

from __future__ import annotations

from pathlib import Path

from legacy_adapter import FastCGISettings, LegacyRequest, iter_bytes
from migrated import Context, PhpSite, Request, Response
from shadow._candidate import shadow_copy


def _legacy() -> LegacyRequest:
    return LegacyRequest(
        "GET",
        b"/v1//events",
        "/v1/events",
        b"",
        [(b"host", b"example.com")],
        ("127.0.0.1", 5555),
        ("127.0.0.1", 80),
        "http",
        "1.1",
        "rid-1",
        iter_bytes([]),
    )


def _echo_request_uri(request: Request, ctx: Context) -> Response:
    return Response.text(request.php.request_uri if request.php else "no php")


def test_the_candidate_copy_sees_php_through_the_shadow_routes_backend(tmp_path: Path) -> None:
    """The copy is made with the route's FastCGI backend, so ``php`` is what PHP would see."""
    (tmp_path / "index.php").write_text("<?php\n")
    site = PhpSite(FastCGISettings("php", "127.0.0.1:9000", str(tmp_path), "/index.php"))
    ctx: Context = None  # type: ignore[assignment]  # the handler does not use it
    without = shadow_copy(_legacy(), {}, b"")
    assert _echo_request_uri(without, ctx).body == b"no php"
    copy = shadow_copy(_legacy(), {}, b"", None, site)
    assert _echo_request_uri(copy, ctx).body == b"/v1//events"
    assert ("x-strangler-shadow", "1") in copy.headers  # still marked as a copy
