"""A new-side HTTP service for the target tests: plain ASGI, served by hypercorn.

``/echo...`` answers what it received as JSON; ``/v2/...`` answers another
body than legacy would; ``/fail`` answers 503; ``/status/N`` answers N;
``/slow...`` answers after a second;
``/_seen`` lists the request ids it has answered (so a test sees what a
shadow copy delivered).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

SEEN: list[str] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    path: str = scope["path"]
    if path != "/_seen":
        SEEN.append(headers.get("x-request-id", ""))
    status, payload = 200, b""
    if path == "/_seen":
        payload = json.dumps(SEEN).encode()
    elif path == "/fail":
        status, payload = 503, b"down for maintenance\n"
    elif path.startswith("/status/"):
        status, payload = int(path.removeprefix("/status/")), b"as asked\n"
    elif path.startswith("/slow"):
        await asyncio.sleep(1.0)
        payload = b"late\n"
    elif path.startswith("/v2/"):
        payload = b'{"answer":"the new service"}'
    else:
        echoed = {
            "method": scope["method"],
            "path": path,
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "body": body.decode("utf-8", "replace"),
            "headers": headers,
        }
        payload = json.dumps(echoed, sort_keys=True).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-served-by", b"service"),
                (b"connection", b"keep-alive"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
