"""``LoopTimeout``: ``asyncio.timeout`` on the worker's ``TimerWheel``, as workers use it."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from migrated import HandlerFailed, LoopTimeout, Request, Response, TimerWheel, run_handler
from migrated._api import Context


def _request() -> Request:
    return Request(
        method="POST",
        path="/x",
        path_params={},
        query_string="",
        headers=(),
        body=b"",
        client=None,
        request_id="r1",
    )


async def _slow(seconds: float, request: Request, ctx: Context) -> Response:
    await asyncio.sleep(seconds)
    return Response.text("done")


def test_a_handler_past_its_timeout_fails_as_timed_out() -> None:
    async def main() -> HandlerFailed:
        limit = partial(LoopTimeout, TimerWheel(asyncio.get_running_loop()))
        with pytest.raises(HandlerFailed) as failed:
            await run_handler(
                "slow", partial(_slow, 5.0), _request(), None, timeout=0.05, time_limit=limit
            )
        return failed.value

    failed = asyncio.run(main())
    assert failed.timed_out
    assert failed.cause is None


def test_a_handler_within_its_timeout_answers_and_leaves_no_timer() -> None:
    async def main() -> tuple[bytes, int, bool]:
        wheel = TimerWheel(asyncio.get_running_loop())
        limit = partial(LoopTimeout, wheel)
        outcome = await run_handler(
            "quick", partial(_slow, 0.0), _request(), None, timeout=0.05, time_limit=limit
        )
        pending = wheel.pending()
        await asyncio.sleep(0.1)  # past the deadline: a timer left behind would cancel us here
        task = asyncio.current_task()
        assert task is not None
        return outcome.response.body, pending, task.cancelling() > 0

    body, pending, cancelled = asyncio.run(main())
    assert body == b"done"
    assert pending == 0
    assert not cancelled


def test_a_cancellation_from_outside_is_not_turned_into_a_timeout() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wheel = TimerWheel(loop)

        async def guarded() -> None:
            async with LoopTimeout(wheel, 5.0):
                await asyncio.sleep(5.0)

        task = loop.create_task(guarded())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_the_timeout_and_an_outside_cancellation_together_stay_a_cancellation() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wheel = TimerWheel(loop)
        entered = asyncio.Event()

        async def guarded() -> None:
            async with LoopTimeout(wheel, 0.02):
                entered.set()
                try:
                    await asyncio.sleep(5.0)
                finally:
                    asyncio.current_task().cancel()  # type: ignore[union-attr]  # both at once

        task = loop.create_task(guarded())
        await entered.wait()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_outside_a_task_of_its_loop_it_says_so() -> None:
    async def main() -> None:
        other = asyncio.new_event_loop()
        try:
            with pytest.raises(RuntimeError, match="inside a task of its wheel's loop"):
                async with LoopTimeout(TimerWheel(other), 1.0):
                    pass
        finally:
            other.close()

    asyncio.run(main())
