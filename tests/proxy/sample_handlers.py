"""Small migrated handlers that the proxy tests route to by import path."""

from __future__ import annotations

import time
from collections.abc import Iterator

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


def generator(request: Request, ctx: Context) -> Iterator[Response]:
    """A generator function: the loader refuses it."""
    yield Response.text("never")


async def no_context(request: Request) -> Response:
    """One parameter: the loader refuses it."""
    return Response.text("no ctx")


async def echo(request: Request, ctx: Context) -> Response:
    """Answer with what the handler saw, a cookie and a header; emit nothing."""
    return _echo(request)


def echo_inline(request: Request, ctx: Context) -> Response:
    """``echo`` as an inline handler (a plain ``def``): it answers without a task."""
    return _echo(request)


def _echo(request: Request) -> Response:
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


def boom_inline(request: Request, ctx: Context) -> Response:
    """``boom`` as an inline handler: emits a message, then fails."""
    ctx.outbox.emit("greetings", "never sent")
    raise RuntimeError("inline handler bug")


def slow_inline(request: Request, ctx: Context) -> Response:
    """An inline handler that blocks past its route's timeout (100 ms), then answers."""
    ctx.outbox.emit("greetings", "never sent")
    time.sleep(0.3)
    return Response.text("late")


def not_a_response(request: Request, ctx: Context) -> dict[str, str]:
    """An inline handler returning a dict instead of a ``Response``."""
    return {"oops": "a dict"}
