"""Small migrated handlers that the proxy tests route to by import path."""

from __future__ import annotations

import anyio

from migrated import Context, Request, Response


async def hello(request: Request, ctx: Context) -> Response:
    """Answer with the path parameters and emit one message."""
    ctx.outbox.emit("greetings", f"hello {request.path}", key=request.request_id)
    return Response.json({"hello": dict(request.path_params), "method": request.method})


async def boom(request: Request, ctx: Context) -> Response:
    """Emit a message, then fail: nothing may be sent."""
    ctx.outbox.emit("greetings", "never sent")
    raise RuntimeError("handler bug")


async def slow(request: Request, ctx: Context) -> Response:
    """Take longer than any test timeout."""
    await anyio.sleep(30)
    return Response.text("late")


def not_async(request: Request, ctx: Context) -> Response:
    """A plain function: the loader refuses it."""
    return Response.text("sync")


async def no_context(request: Request) -> Response:
    """One parameter: the loader refuses it."""
    return Response.text("no ctx")


async def echo(request: Request, ctx: Context) -> Response:
    """Answer with what the handler saw, a cookie and a header; emit nothing."""
    return Response.json(
        {
            "method": request.method,
            "path": request.path,
            "params": dict(request.path_params),
            "query": request.query_string,
            "body": request.body.decode(),
            "request_id": request.request_id,
        },
        headers=[("set-cookie", "seen=1; Path=/"), ("x-handler", "echo")],
    )
