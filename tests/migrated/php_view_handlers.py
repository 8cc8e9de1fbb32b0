"""A handler answering what ``tests/apps/phpview`` answers, from ``Request.php``.

``echo`` writes the CGI params PHP would see and the ``json_last_error()``
of the body, as ``_echo.php`` does, so the two can be compared byte for
byte over the same requests.  Headers carry the other views of the request
(``X-Target``: ``Request.target``; ``X-Strict-Json``: what ``request.json()``
said).
"""

from __future__ import annotations

from migrated import Context, HandlerBadRequest, Request, Response, php

PARAMS = (
    "REQUEST_URI",
    "SCRIPT_NAME",
    "PATH_INFO",
    "SCRIPT_FILENAME",
    "DOCUMENT_URI",
    "QUERY_STRING",
)


def echo(request: Request, ctx: Context) -> Response:
    """The params PHP-FPM would get, and what PHP's json_decode says of the body."""
    view = request.php
    if view is None:
        return Response.text("legacy runs no script here", status=404)
    server = {name: view.param(name) for name in PARAMS}
    body = php.json_encode(
        {"server": server, "json_error": _json_error(request.body)}, php.JSON_UNESCAPED_SLASHES
    )
    headers = [
        ("content-type", "application/json"),
        ("x-target", request.target),
        ("x-raw-path", request.raw_path),
        ("x-path", request.path),
        ("x-strict-json", _strict(request)),
    ]
    return Response(200, headers, body.encode())


def _json_error(body: bytes) -> int | None:
    if not body:
        return None
    try:
        php.json_decode(body, False, 512)
    except php.JsonException as exc:
        return exc.code
    return php.JSON_ERROR_NONE


def _strict(request: Request) -> str:
    if not request.body:
        return "empty"
    try:
        request.json()
    except HandlerBadRequest as exc:
        return "refused: " + exc.reason
    return "ok"
