"""CPU per request of the engine's Python path, without sockets or PHP.

Throughput on a shared 2-core machine is noisy, and even CPU per request under
``wrk`` moves with what else runs.  This drives the asyncio runtime's real
protocol (``proxy._protocol``) and engine with in-memory transports: a fixed
``POST /validate.php`` goes in, a fixed PHP-FPM answer comes back from a fake
FastCGI connection sitting in the real pool, and the process CPU time per
request is reported (best of five runs).  No syscall is made per request, so
the figure is the Python work alone and repeats to within a few percent:

    .venv/bin/python ops/bench/engine_cpu.py [--requests 20000] [--migrated]

Run it from the compiled copy (``python -m ops.compile var/compiled``, then
``PYTHONPATH=var/compiled``) for the compiled build's figure.

``--migrated`` sends the benchmark's migrated request instead: the
validator's port answers it (rules from the file cache, the worker's timer
wheel for its timeout, as a worker sets them up), and its event goes to an
in-memory publisher that acknowledges it one loop turn later, as a delivery
report would: the migrated path without librdkafka.

When the machine's speed drifts, count instructions instead, which repeat to
within about 1% (the loop's timers still run by the clock): run it under
``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0``, once with
``--requests 200`` and once with ``--requests 1200``, and divide the
difference of the two totals by the requests between them
(``callgrind_annotate`` on both files shows where they go).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import sniffio
import structlog
import uvloop

from legacy_adapter import FastCGIBackend, use_timers
from legacy_adapter._asyncio_stream import AsyncioStream, _Protocol
from migrated import Message, TimerWheel
from migrated._runner import Delivery
from ops.bench import _migrated
from ops.services import build_config
from proxy._config import parse_config
from proxy._engine import Engine
from proxy._limits import EdgeLimits
from proxy._protocol import HttpProtocol, ServerState
from proxy._resources import make_resources
from proxy._state import State

APP = Path(__file__).resolve().parents[1] / "demo" / "app" / "public"
BODY = b'{"type":"signup","user_id":4711,"email":"ada@example.org","age":36,"country":"gb"}'
REQUEST = (
    b"POST /validate.php HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (len(BODY), BODY)
)
ANSWER = b'{"ok":false,"errors":[{"field":"type","rule":"required","message":"is required"}]}'
VALID = (  # the body of post_validate.lua: it passes every rule, so the event is published
    b'{"type":"signup","user_id":4711,"email":"  Ada.Lovelace@Example.org ","age":36,'
    b'"country":"gb","referral_code":"abc123xyz","marketing_opt_in":true}'
)
MIGRATED_REQUEST = (
    b"POST %b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
    % (_migrated.PATH.encode(), len(VALID), VALID)
)


def _record(kind: int, content: bytes) -> bytes:
    return struct.pack("!BBHHBx", 1, kind, 1, len(content), 0) + content


PHP_REPLY = (
    _record(6, b"Status: 422 Unprocessable Entity\r\nContent-type: application/json\r\n\r\n")
    + _record(6, ANSWER)
    + _record(6, b"")
    + _record(3, bytes(8))
)


class _FakeTransport(asyncio.Transport):
    """Enough of a transport for the protocols; ``sock`` answers the pool's liveness poll."""

    def __init__(self, sock: socket.socket, on_write: Any) -> None:
        super().__init__()
        self._sock = sock
        self._on_write = on_write

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._on_write(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        extra = {"socket": self._sock, "sockname": ("127.0.0.1", 8080)}
        return extra.get(name, ("127.0.0.1", 5555) if name == "peername" else default)


class _AckingPublisher:
    """Acknowledges every send one loop turn later, as a served delivery report would."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.sent = 0

    async def send(self, messages: Sequence[Message], *, wait: Delivery) -> None:
        acked = self._loop.create_future()
        self._loop.call_soon(acked.set_result, None)
        await acked
        self.sent += len(messages)

    def submit(self, messages: Sequence[Message], acked: Callable[[Any], object]) -> None:
        self._loop.call_soon(acked, None)
        self.sent += len(messages)


@contextlib.asynccontextmanager
async def engine_in_memory(
    migrated: bool = False,
) -> AsyncIterator[Callable[[], Awaitable[bytes]]]:
    """The real engine with in-memory ends: yields ``send()``, one request in, its answer out.

    The client is a fake transport of the real protocol class; PHP-FPM
    is a fake FastCGI connection, sitting in the real pool, that answers every
    request with ``PHP_REPLY``.  ``migrated``: the request is the migrated
    route's, answered by its handler, its event sent to ``_AckingPublisher``.
    """
    named = sniffio.thread_local.name
    sniffio.thread_local.name = "asyncio"  # as the worker does; given back at the end
    loop = asyncio.get_running_loop()
    routes = _migrated.migrated_route() if migrated else ""
    text = build_config("127.0.0.1:9", APP, runtime="uvloop", pool_size=1, extra_routes=routes)
    text = text.replace("{port}", "8080").replace("{admin_port}", "8081")
    if migrated:
        rules = APP.parent / "rules.json"
        text += _migrated.resources("127.0.0.1:9", Path("/nonexistent"), rules)
    config = parse_config(text + "\n[log]\naccess_log = false\n")
    resources = make_resources(config)
    publisher = _AckingPublisher(loop)
    if resources is not None:
        resources.publisher = publisher  # type: ignore[assignment]
        assert resources.caches is not None
        await resources.caches.start()
    engine = Engine(State(config), resources=resources)
    wheel = TimerWheel(loop)
    engine.use_timers(wheel)
    use_timers(loop, wheel)
    request, expected = (MIGRATED_REQUEST, b" 200 ") if migrated else (REQUEST, b" 422 ")
    backend = engine.state.backends["php"]
    assert isinstance(backend, FastCGIBackend)
    quiet, peer = socket.socketpair()  # never written to: the pooled connection looks alive
    php = _Protocol()
    php.connection_made(
        _FakeTransport(quiet, lambda _: loop.call_soon(php.data_received, PHP_REPLY))
    )
    backend.client.pool._idle.append((AsyncioStream(php.transport, php), time.monotonic() + 1e9))  # type: ignore[arg-type]

    answered: list[asyncio.Future[None]] = []
    last: list[bytes] = []

    def client_write(data: bytes | bytearray | memoryview) -> None:
        last[:] = [bytes(data)]
        if answered and not answered[-1].done():
            answered[-1].set_result(None)

    protocol = HttpProtocol(ServerState(engine, EdgeLimits(), wheel))
    protocol.connection_made(_FakeTransport(quiet, client_write))

    async def send() -> bytes:
        answered.append(loop.create_future())
        protocol.data_received(request)
        await answered[-1]
        answered.clear()
        return last[0]

    try:
        for _ in range(20):
            answer = await send()
        if backend.client.pool.idle != 1 or expected not in answer:
            raise RuntimeError(f"the engine did not answer as expected: {answer!r}")
        if migrated and publisher.sent != 20:
            raise RuntimeError(f"the handler published {publisher.sent} events for 20 requests")
        yield send
    finally:
        quiet.close()
        peer.close()
        sniffio.thread_local.name = named


async def measure(requests: int, migrated: bool = False) -> float:
    """µs of process CPU per request through the engine, best of five runs."""
    async with engine_in_memory(migrated) as send:
        for _ in range(2000):  # warm-up
            await send()
        best = float("inf")
        for _ in range(5):
            started = time.process_time()
            for _ in range(requests):
                await send()
            best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--migrated", action="store_true", help="the migrated route's request")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    what = "migrated route" if args.migrated else "legacy pass-through"
    cpu = uvloop.run(measure(args.requests, args.migrated))
    print(f"engine, {what}: {cpu:.1f} µs of CPU per request")


if __name__ == "__main__":
    main()
