"""Timeouts that are set and cleared on every request: one loop timer per tick, not per timeout.

Why: a worker sets timeouts on every request and almost never lets one
fire: the handler's time budget (``LoopTimeout``) and the asyncio driver's
connection timeouts (``proxy._protocol``: the request head, the body, the
send, and the keep-alive idle time once the answer is out).  A loop timer
each, ``call_at`` then ``cancel``, puts a handle and a libuv timer into the
loop's heap and takes them out again, every request; here it is two set
operations (``ops/bench/engine_cpu.py`` runs the request path on a wheel, as
a worker does, and ``--migrated`` the handler's timeout too).

How: time is cut into ticks (``tick`` seconds, 10 ms by default).  A timeout
joins the set of the tick its deadline falls in (rounded up), and clearing it
takes it out of that set again: two set operations.  The first timeout of a
tick arms one loop timer for the tick's end; when it fires, whatever is still
in the tick's set is called.  So a timeout fires up to one tick after its
deadline (libuv's own timers are already millisecond-grained), and however
many requests run, the loop holds at most one timer per tick in use.

One wheel per event loop; not thread-safe (like the loop's own timers).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any, Final

DEFAULT_TICK: Final = 0.01
# Timeouts of a second or more (keep-alive, header, body, read, handler budgets) are
# rounded to a coarser tick: a 60 s timeout set on every request would otherwise keep
# a slot and a loop timer alive for each 10 ms of the next minute.
_COARSE_FROM: Final = 1.0
_COARSE_TICK: Final = 0.1


class Timer:
    """One pending timeout; ``cancel()`` clears it (as ``asyncio.TimerHandle.cancel``)."""

    __slots__ = ("_callback", "_slot")

    def __init__(self, callback: Callable[[], Any], slot: set[Timer]) -> None:
        self._callback = callback
        self._slot: set[Timer] | None = slot

    def cancel(self) -> None:
        """Clear the timeout; nothing happens if it already fired or was cleared."""
        slot = self._slot
        if slot is not None:
            self._slot = None
            slot.discard(self)

    def cancelled(self) -> bool:
        """Whether it was cleared or has fired (it will not be called)."""
        return self._slot is None


class TimerWheel:
    """Timeouts on ``loop``, rounded up to ``tick`` seconds, with one loop timer per tick."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float = DEFAULT_TICK) -> None:
        if tick <= 0:
            raise ValueError(f"tick must be positive, not {tick!r}")
        self.loop = loop
        self.tick = tick
        self._coarse = max(tick, _COARSE_TICK)
        self._slots: dict[float, set[Timer]] = {}

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Timer:
        """Call ``callback()`` on the loop ``delay`` seconds from now.

        Up to a tick later; for a delay of a second or more, up to a coarse tick
        (a tenth of a second) later.
        """
        tick = self.tick if delay < _COARSE_FROM else self._coarse
        key = math.ceil((self.loop.time() + delay) / tick) * tick
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = set()
            self.loop.call_at(key, self._fire, key)
        timer = Timer(callback, slot)
        slot.add(timer)
        return timer

    def pending(self) -> int:
        """How many timeouts are set and not yet cleared or fired."""
        return sum(len(slot) for slot in self._slots.values())

    def _fire(self, key: float) -> None:
        slot = self._slots.pop(key, None)
        if not slot:
            return
        for timer in list(slot):  # a callback may clear timeouts of the same tick
            if timer._slot is not slot:
                continue
            timer._slot = None
            try:
                timer._callback()
            except Exception as exc:  # one failing callback must not keep the tick's others
                self.loop.call_exception_handler(
                    {"message": "timer wheel callback failed", "exception": exc}
                )
