"""A Starlette app mounted in process as a route's new side (``asgi = ...``).

Its lifespan puts a greeting in the app's state, so an answer that carries it
shows the worker ran the startup code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    yield {"greeting": "started by the lifespan"}


async def hello(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "who": request.path_params["who"],
            "greeting": request.state.greeting,
            "query": request.url.query,
        }
    )


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="text/plain", status_code=201)


async def broken(request: Request) -> Response:
    raise RuntimeError("the app fails")


app = Starlette(
    routes=[
        Route("/api/hello/{who}", hello),
        Route("/api/echo", echo, methods=["POST"]),
        Route("/api/broken", broken),
    ],
    lifespan=lifespan,
)
