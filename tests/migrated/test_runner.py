"""Inline handlers (a plain ``def``): called by ``start_handler``, run by ``run_handler``."""

from __future__ import annotations

import asyncio
import time

import pytest

from migrated import (
    HandlerBadRequest,
    HandlerFailed,
    Outcome,
    Request,
    Response,
    Running,
    run_handler,
    start_handler,
)
from migrated._api import Context


def _request() -> Request:
    return Request("POST", "/x", {}, "", (), b"body", None, "r1")


def _emits(request: Request, ctx: Context) -> Response:
    ctx.outbox.emit("events", request.body, key=ctx.request_id)
    return Response.text("ok")


def _refuses(request: Request, ctx: Context) -> Response:
    ctx.outbox.emit("events", "never sent")
    raise HandlerBadRequest("field x is missing")


def _raises(request: Request, ctx: Context) -> Response:
    ctx.outbox.emit("events", "never sent")
    raise ValueError("inline bug")


def _blocks(request: Request, ctx: Context) -> Response:
    ctx.outbox.emit("events", "never sent")
    time.sleep(0.06)
    return Response.text("late")


def _wrong_type(request: Request, ctx: Context) -> object:
    return {"not": "a response"}


async def _awaits(request: Request, ctx: Context) -> Response:
    ctx.outbox.emit("events", b"async")
    return Response.text("async")


def test_an_inline_handler_has_answered_when_the_call_returns() -> None:
    """Its response and outbox come back at once, no event loop needed."""
    outcome = start_handler("emits", _emits, _request(), None, timeout=1.0)
    assert isinstance(outcome, Outcome)
    assert (outcome.response.status, outcome.response.body) == (200, b"ok")
    assert [(m.topic, m.key, m.value) for m in outcome.messages] == [("events", b"r1", b"body")]


def test_an_inline_bad_request_is_a_400_without_messages() -> None:
    """``HandlerBadRequest`` from an inline handler answers 400 with the reason."""
    outcome = start_handler("refuses", _refuses, _request(), None, timeout=1.0)
    assert isinstance(outcome, Outcome)
    assert (outcome.response.status, outcome.response.body) == (400, b"field x is missing\n")
    assert outcome.messages == ()


@pytest.mark.parametrize(
    ("handler", "timed_out", "cause"),
    [
        pytest.param(_raises, False, "ValueError('inline bug')", id="raises"),
        pytest.param(_blocks, True, "None", id="overran-its-timeout"),
        pytest.param(_wrong_type, False, "returned dict, not a Response", id="not-a-response"),
    ],
)
def test_a_failed_inline_handler_is_handler_failed(
    handler: object, timed_out: bool, cause: str
) -> None:
    """Raising, taking longer than the timeout, or returning a non-Response fails the run."""
    with pytest.raises(HandlerFailed) as failed:
        start_handler("h", handler, _request(), None, timeout=0.05)  # type: ignore[arg-type]
    assert failed.value.timed_out is timed_out
    assert cause in repr(failed.value.cause) or cause in str(failed.value.cause)


def test_an_async_handler_is_only_called() -> None:
    """An ``async def`` is not run by ``start_handler``; ``Running.outcome`` runs it."""
    ran: list[str] = []

    async def records(request: Request, ctx: Context) -> Response:
        ran.append(request.request_id)
        return Response.text("async")

    started = start_handler("records", records, _request(), None, timeout=1.0)
    assert isinstance(started, Running)
    assert ran == []
    outcome = asyncio.run(started.outcome(None, None))
    assert (ran, outcome.response.body) == (["r1"], b"async")


@pytest.mark.anyio
async def test_run_handler_runs_both_kinds() -> None:
    """``run_handler`` gives the same ``Outcome`` shape for inline and async handlers."""
    inline = await run_handler("emits", _emits, _request(), None, timeout=1.0)
    awaited = await run_handler("awaits", _awaits, _request(), None, timeout=1.0)
    assert [m.value for m in inline.messages] == [b"body"]
    assert [m.value for m in awaited.messages] == [b"async"]
    assert (inline.response.body, awaited.response.body) == (b"ok", b"async")
