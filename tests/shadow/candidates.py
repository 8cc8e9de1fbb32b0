"""Candidate handlers for the shadow tests: faithful ports and deliberately broken ones."""

from __future__ import annotations

import json
import os
import time
import zlib

import anyio

from migrated import Context, Request, Response
from migrated.validator import validate


def _quote(request: Request) -> dict[str, object]:
    """The Python port of quote.php (same fields, its own timestamp and id)."""
    query = request.query
    sku = query.get("sku", ["A-1"])[0]
    qty = max(1, int(query.get("qty", ["1"])[0] or 0))
    unit = round(9.5 + (zlib.crc32(sku.encode()) % 1000) / 100, 2)
    return {
        "sku": sku,
        "qty": qty,
        "unit_price": unit,
        "total": round(unit * qty, 2),
        "quote_id": os.urandom(8).hex(),
        "quoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "000000",
    }


def _php_json(data: dict[str, object]) -> bytes:
    return (json.dumps(data, separators=(",", ":")) + "\n").encode()


async def quote(request: Request, ctx: Context) -> Response:
    """Faithful port: only the timestamp and the random id differ from PHP."""
    return Response(200, [("content-type", "application/json")], _php_json(_quote(request)))


async def quote_wrong_total(request: Request, ctx: Context) -> Response:
    """A bug: the total ignores the quantity."""
    data = _quote(request)
    data["total"] = data["unit_price"]
    return Response(200, [("content-type", "application/json")], _php_json(data))


async def validate_wrong_status(request: Request, ctx: Context) -> Response:
    """A bug: rejected events answer 400 instead of 422."""
    response = await validate(request, ctx)
    if response.status == 422:
        response.status = 400
    return response


async def validate_no_content_type(request: Request, ctx: Context) -> Response:
    """A bug: the Content-Type header is missing."""
    response = await validate(request, ctx)
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
