"""The Python port of the demo's ``quote.php``, run in shadow mode in the demo.

Its answer matches PHP's except for the quote id and the timestamp, which are
random and time-dependent on both sides: shadow mode learns those two fields
as noise (legacy answers differently to the same request twice) instead of
reporting them as mismatches.
"""

from __future__ import annotations

import json
import os
import time
import zlib

from migrated import Context, Request, Response


def quote_body(sku: str, qty: int) -> dict[str, object]:
    """The quote as quote.php computes it (``crc32`` of the SKU sets the price)."""
    unit = round(9.5 + (zlib.crc32(sku.encode()) % 1000) / 100, 2)
    return {
        "sku": sku,
        "qty": qty,
        "unit_price": unit,
        "total": round(unit * qty, 2),
        "quote_id": os.urandom(8).hex(),
        "quoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "000000",
    }


async def quote(request: Request, ctx: Context) -> Response:
    """GET /quote.php?sku=...&qty=...: a price quote as JSON."""
    query = request.query
    sku = query.get("sku", ["A-1"])[0]
    try:
        qty = max(1, int(query.get("qty", ["1"])[0] or 0))
    except ValueError:
        qty = 1  # PHP's (int) cast of a non-number is 0, then max(1, 0)
    body = json.dumps(quote_body(sku, qty), separators=(",", ":")) + "\n"
    return Response(200, [("content-type", "application/json")], body.encode())
