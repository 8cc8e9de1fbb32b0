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
import socket
import weakref
from collections import Counter
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from migrated import TimerWheel
from ops.bench.lane_cpu import APP, _FakeTransport, lane_in_memory
from ops.services import build_config
from proxy._app import ProxyApp
from proxy._config import parse_config
from proxy._fastlane import lane_protocol
from proxy._state import State

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


def test_a_closed_lane_connection_is_freed_without_the_collector() -> None:
    """A connection's protocol and its compiled parser hooks point at each other while it
    is open; once it is lost, reference counting alone frees them."""

    async def connect_and_lose() -> weakref.ref[Any]:
        loop = asyncio.get_running_loop()
        text = build_config("127.0.0.1:9", APP, runtime="uvicorn", pool_size=1)
        text = text.replace("{port}", "8080").replace("{admin_port}", "8081")
        app = ProxyApp(State(parse_config(text)))
        app.use_timers(TimerWheel(loop))
        server = uvicorn.Config(app, http=lane_protocol(app), lifespan="off", log_config=None)
        server.load()
        assert server.http_protocol_class is not None
        quiet, peer = socket.socketpair()
        with quiet, peer:
            protocol = server.http_protocol_class(  # type: ignore[call-arg]
                config=server, server_state=ServerState(), app_state={}, _loop=loop
            )
            protocol.connection_made(_FakeTransport(quiet, lambda _: None))
            assert type(protocol.parser).__name__ == "HttpRequestParser"
            gone = weakref.ref(protocol)
            protocol.connection_lost(None)
            del protocol
        return gone

    gc.collect()
    gc.disable()
    try:
        gone = asyncio.run(connect_and_lose())
        assert gone() is None
    finally:
        gc.enable()
