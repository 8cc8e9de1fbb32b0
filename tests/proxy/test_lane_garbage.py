"""A lane request's objects are freed by reference counting, never left to the cyclic GC.

A worker lives for weeks at thousands of requests per second.  When a
request's objects form a reference cycle (a cycle whose signal calls back into
it, an exchange and its sink pointing at each other), each one survives until
a collection finds it: about twenty objects per request, and the collections
to find them, were a measurable share of the lane's CPU.  This drives the real
lane (``ops/bench/lane_cpu.py``'s in-memory harness) and asks the collector
what it would have had to free.
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter

from ops.bench.lane_cpu import lane_in_memory

REQUESTS = 200
_REQUEST_TYPES = {"LaneCycle", "LaneExchange", "LegacyRequest", "ClientConnection", "_Signal"}


async def _garbage_of_requests() -> tuple[bytes, Counter[str]]:
    async with lane_in_memory() as send:
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection frees is kept here, to be counted
        try:
            for _ in range(REQUESTS):
                answer = await send()
            gc.collect()
            kinds = Counter(type(o).__name__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    return answer, kinds


def test_lane_requests_leave_no_cyclic_garbage() -> None:
    answer, kinds = asyncio.run(_garbage_of_requests())
    assert b" 422 " in answer  # the requests really went through the lane to "PHP"
    assert not _REQUEST_TYPES & kinds.keys(), kinds.most_common(10)
    assert sum(kinds.values()) < REQUESTS, kinds.most_common(10)
