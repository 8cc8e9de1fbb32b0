"""``TimerWheel``: the worker's timeouts, one loop timer per tick in use."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from migrated import TimerWheel


def test_a_timeout_fires_after_its_delay_never_before() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        wheel = TimerWheel(loop)
        fired = loop.create_future()
        started = loop.time()
        wheel.call_later(0.05, lambda: fired.set_result(loop.time()))
        return started, await fired

    started, fired_at = asyncio.run(main())
    assert fired_at - started >= 0.05 - 1e-6


def test_a_cleared_timeout_never_fires_and_is_no_longer_pending() -> None:
    async def main() -> tuple[list[str], int, int, bool]:
        wheel = TimerWheel(asyncio.get_running_loop())
        calls: list[str] = []
        kept = wheel.call_later(0.02, lambda: calls.append("kept"))
        cleared = wheel.call_later(0.02, lambda: calls.append("cleared"))
        cleared.cancel()
        pending = wheel.pending()
        await asyncio.sleep(0.1)
        kept.cancel()  # after it fired: nothing happens
        return calls, pending, wheel.pending(), cleared.cancelled()

    calls, pending, left, cancelled = asyncio.run(main())
    assert calls == ["kept"]
    assert (pending, left) == (1, 0)
    assert cancelled


def test_many_timeouts_of_one_tick_share_one_loop_timer() -> None:
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        wheel = TimerWheel(loop, tick=1.0)
        before = len(loop._scheduled)  # type: ignore[attr-defined]
        timers = [wheel.call_later(5.0, lambda: None) for _ in range(1000)]
        armed = len(loop._scheduled) - before  # type: ignore[attr-defined]
        for timer in timers:
            timer.cancel()
        return armed, wheel.pending()

    armed, pending = asyncio.run(main())
    assert 1 <= armed <= 2  # one tick, or two if the thousand straddled a tick's edge
    assert pending == 0


def test_a_failing_callback_is_reported_and_the_tick_goes_on() -> None:
    async def main() -> tuple[list[str], list[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        wheel = TimerWheel(loop, tick=0.05)
        calls: list[str] = []

        def boom() -> None:
            raise ValueError("boom")

        wheel.call_later(0.01, boom)
        wheel.call_later(0.01, lambda: calls.append("after"))
        await asyncio.sleep(0.15)
        return calls, reported

    calls, reported = asyncio.run(main())
    assert calls == ["after"]
    assert [type(c["exception"]) for c in reported] == [ValueError]


def test_a_callback_may_clear_another_timeout_of_its_tick() -> None:
    async def main() -> list[str]:
        wheel = TimerWheel(asyncio.get_running_loop(), tick=0.05)
        calls: list[str] = []
        timers: dict[str, Any] = {}

        def first(name: str) -> None:
            calls.append(name)
            other = "b" if name == "a" else "a"
            timers[other].cancel()

        timers["a"] = wheel.call_later(0.01, lambda: first("a"))
        timers["b"] = wheel.call_later(0.01, lambda: first("b"))
        await asyncio.sleep(0.15)
        return calls

    calls = asyncio.run(main())
    assert len(calls) == 1  # whichever ran first cleared the other


def test_a_tick_must_be_positive() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="tick must be positive"):
            TimerWheel(loop, tick=0)
    finally:
        loop.close()


class _SteppingLoop:
    """A loop stand-in whose clock moves a millisecond at each reading."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.armed: list[float] = []

    def time(self) -> float:
        self.now += 0.001
        return self.now

    def call_at(self, when: float, callback: object, *args: object) -> None:
        self.armed.append(when)


def test_long_timeouts_share_coarse_slots() -> None:
    """Timeouts of a second or more, set every millisecond, keep a slot per tenth of a second."""
    loop = _SteppingLoop()
    wheel = TimerWheel(loop)  # type: ignore[arg-type]
    for _ in range(1000):  # one second of requests, each setting a 60 s timeout
        wheel.call_later(60.0, lambda: None)
    assert len(loop.armed) <= 11
    short = _SteppingLoop()
    fine = TimerWheel(short)  # type: ignore[arg-type]
    for _ in range(1000):
        fine.call_later(0.5, lambda: None)
    assert len(short.armed) >= 99  # short timeouts keep the 10 ms tick
