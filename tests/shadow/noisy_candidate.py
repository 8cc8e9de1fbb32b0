"""The candidate of the noisy corpus (``tests/apps/noisy``): a faithful port with planted bugs.

Each handler answers what the PHP script answers, making its own noise (its
own uuids, times, timings, tokens and shuffles), except when the request's
``case`` query parameter names a planted difference; the ground truth of
every one is ``tests/apps/noisy/manifest.toml``.  The session-bound CSRF
token of the page cannot be ported (the secret stays in legacy), so the
candidate makes a random one, as a real port would until it shares the key.
"""

from __future__ import annotations

import json
import random
import secrets
import unicodedata
import uuid
from datetime import UTC, datetime

from migrated import Context, Request, Response

TAGS = ["red", "green", "blue", "cyan", "plum", "teal"]
RESULTS = ["A-1", "B-2", "C-3", "D-4", "E-5", "F-6"]
JSON = ("Content-Type", "application/json")


def _case(request: Request) -> str:
    return request.query.get("case", [""])[0]


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _took_ms() -> float:
    return random.randint(100, 99999) / 1000


def _shuffled(items: list[str]) -> list[str]:
    return random.sample(items, len(items))


def _json(data: object, status: int = 200, ctype: str = "application/json") -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
    return Response(status, [("Content-Type", ctype)], body.encode())


async def order(request: Request, ctx: Context) -> Response:
    """``order.php``, with eight planted differences (three at noisy places)."""
    case = _case(request)
    order_id = max(1, int(request.query.get("id", ["1"])[0] or 0))
    data: dict[str, object] = {
        "id": order_id,
        "name": f"Zo\u00eb #{order_id}",
        "total": order_id * 7,
        "request_id": str(uuid.uuid4()),
        "created": _iso_now(),
        "epoch_us": int(datetime.now(UTC).timestamp() * 1_000_000),
        "took_ms": _took_ms(),
        "trace": secrets.token_hex(12),
        "tags": _shuffled(TAGS),
    }
    if case == "took-ms-string":
        data["took_ms"] = str(data["took_ms"])
    elif case == "no-request-id":
        del data["request_id"]
    elif case == "lost-tag":
        data["tags"] = _shuffled(TAGS)[1:]
    elif case == "total":
        data["total"] = order_id * 7 + 1
    elif case == "nfd-name":
        data["name"] = unicodedata.normalize("NFD", str(data["name"]))
    response = _json(data, ctype="text/plain; charset=utf-8" if case == "content-type" else JSON[1])
    if case == "created-201":
        response.status = 201
    if case == "cache-header":
        response.headers.append(("Cache-Control", "no-store"))
    return response


def page_html(case: str, qty: int) -> str:
    """The page as ``page.php`` writes it (layout aside), with two planted differences."""
    label = "E-mail" if case == "label" else "Email"
    total = qty * 10 + (1 if case == "total" else 0)
    return f"""<!doctype html>
<html><head>
<meta name="csrf-token" content="{secrets.token_hex(32)}">
<script nonce="{secrets.token_hex(16)}">window.ready = true;</script>
</head><body>
<form method="post" action="/subscribe.php">
<label for="email">{label}</label>
<input type="hidden" name="_token" value="{secrets.token_hex(16)}">
<input id="email" name="email" value=""><button>Subscribe</button>
</form>
<p>Total: {total} EUR</p>
<p class="footer">Generated at {_iso_now()} in {random.randint(1, 999)} ms</p>
</body></html>
"""


async def page(request: Request, ctx: Context) -> Response:
    """``page.php``: a changed label next to the form's token, a changed total."""
    qty = max(1, int(request.query.get("qty", ["1"])[0] or 0))
    body = page_html(_case(request), qty).encode()
    return Response(200, [("Content-Type", "text/html; charset=UTF-8")], body)


async def status(request: Request, ctx: Context) -> Response:
    """``status.php``: one planted difference, a lost line."""
    lines = [
        "status report",
        f"generated {_iso_now()}",
        f"request {secrets.token_hex(8)}",
        "workers 4",
        "queue depth 3",
        f"took {random.randint(1, 999)} ms",
    ]
    if _case(request) == "lost-line":
        lines.remove("queue depth 3")
    body = ("\n".join(lines) + "\n").encode()
    return Response(200, [("Content-Type", "text/plain; charset=UTF-8")], body)


async def search(request: Request, ctx: Context) -> Response:
    """``search.php`` (POST, declared idempotent): a lower-cased query, and a crash."""
    case = _case(request)
    query = str(request.json().get("q", ""))
    if case == "raise":
        raise KeyError("results")
    return _json(
        {
            "query": query.lower() if case == "lower-query" else query,
            "results": _shuffled(RESULTS),
            "took_ms": _took_ms(),
            "request_id": str(uuid.uuid4()),
        }
    )


async def vote(request: Request, ctx: Context) -> Response:
    """``vote.php`` (POST, not idempotent): faithful; its noise is never learned."""
    choice = str(request.json().get("choice", ""))
    return _json({"ok": True, "choice": choice, "vote_id": str(uuid.uuid4()), "at": _iso_now()})
