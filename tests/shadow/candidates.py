"""Candidate handlers for the shadow tests: faithful ports and deliberately broken ones."""

from __future__ import annotations

import json

import anyio

from migrated import Context, Request, Response
from ops.demo.handlers.quote import quote as migrated_quote
from ops.demo.handlers.quote import quote_body
from ops.demo.handlers.validator import validate


def _quote(request: Request) -> dict[str, object]:
    query = request.query
    return quote_body(query.get("sku", ["A-1"])[0], max(1, int(query.get("qty", ["1"])[0] or 0)))


def _php_json(data: dict[str, object]) -> bytes:
    return (json.dumps(data, separators=(",", ":")) + "\n").encode()


quote = migrated_quote  # the faithful port is the demo's


async def quote_wrong_total(request: Request, ctx: Context) -> Response:
    """A bug: the total ignores the quantity."""
    data = _quote(request)
    data["total"] = data["unit_price"]
    return Response(200, [("content-type", "application/json")], _php_json(data))


async def validate_wrong_status(request: Request, ctx: Context) -> Response:
    """A bug: rejected events answer 400 instead of 422."""
    response = validate(request, ctx)
    if response.status == 422:
        response.status = 400
    return response


async def validate_no_content_type(request: Request, ctx: Context) -> Response:
    """A bug: the Content-Type header is missing."""
    response = validate(request, ctx)
    response.headers = [(k, v) for k, v in response.headers if k.lower() != "content-type"]
    return response


async def raises(request: Request, ctx: Context) -> Response:
    """A candidate that always fails."""
    raise RuntimeError("candidate bug")


async def sleeps(request: Request, ctx: Context) -> Response:
    """A candidate far slower than its timeout."""
    await anyio.sleep(2)
    return Response.text("late")


async def info(request: Request, ctx: Context) -> Response:
    """A migrated info page that answers differently from info.php (to see legacy's copy)."""
    return Response.json({"migrated": True})
