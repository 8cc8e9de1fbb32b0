"""CPU per request of the engine's Python path, without sockets or PHP.

Throughput on a shared 2-core machine is noisy, and even CPU per request under
``wrk`` moves with what else runs.  This drives the asyncio runtime's real
protocol (``proxy._protocol``) and engine with in-memory transports: a fixed
``POST /validate.php`` goes in, a fixed PHP-FPM answer comes back from a fake
FastCGI connection sitting in the real pool, and the process CPU time per
request is reported (best of five runs).  No syscall is made per request, so
the figure is the Python work alone and repeats to within a few percent:

    .venv/bin/python ops/bench/engine_cpu.py [--requests 20000] [--migrated | --shadow]

Run it from the compiled copy (``python -m ops.compile var/compiled``, then
``PYTHONPATH=var/compiled``) for the compiled build's figure.

It is also the profile-guided build's training run (``setup.py``,
``STRANGLER_PGO=1``): its three request kinds, ``--requests`` and its needing
no service (PHP-FPM, the broker) are what the build relies on.  A compiled
figure from it is measured on the workload the build was trained on.

``--shadow`` sends the pass-through's request to the route in shadow mode
as the benchmark's ``shadow`` row sets it (``_shadow``: every request
mirrored to the validator's port, compared, and recorded in a SQLite store
in a temporary directory): each run ends when the mirror has run every job,
so the figure is what a shadowed request costs, the comparison and the
store's writer thread included.

``--migrated`` sends the benchmark's migrated request instead: the
validator's port answers it (rules from the file cache, the worker's timer
wheel for its timeout, as a worker sets them up), and its event goes to an
in-memory publisher that acknowledges it one loop turn later, as a delivery
report would: the migrated path without librdkafka.

When the machine's speed drifts, count instructions instead, which repeat to
within about 1% (the loop's timers still run by the clock): run it under
``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0``, once with
``--requests 200`` and once with ``--requests 1200``, and divide the
difference of the two totals by the requests between them: 5,000, as each
makes five runs (``callgrind_annotate`` on both files shows where they go).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import socket
import struct
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import anyio
import sniffio
import structlog
import uvloop

from legacy_adapter import FastCGIBackend, use_timers
from legacy_adapter._asyncio_stream import AsyncioStream, _Protocol
from migrated import Message, TimerWheel
from migrated._runner import Delivery
from ops.bench import _migrated, _shadow
from ops.services import build_config
from proxy._config import parse_config
from proxy._engine import Engine
from proxy._limits import EdgeLimits
from proxy._protocol import HttpProtocol, ServerState
from proxy._resources import make_resources
from proxy._shadow_mode import make_shadow
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
VALID_ANSWER = (  # validate.php's answer to VALID, which its port gives byte for byte
    b'{"ok":true,"id":"evt_fd77cdb8952a47a14d5c","type":"signup","normalized":{"user_id":4711,'
    b'"email":"ada.lovelace@example.org","age":36,"country":"GB","referral_code":"ABC123XYZ",'
    b'"marketing_opt_in":true}}'
)
SHADOW_REQUEST = (
    b"POST /validate.php HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (len(VALID), VALID)
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
PHP_VALID_REPLY = (
    _record(6, b"Content-type: application/json\r\n\r\n" + VALID_ANSWER)
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
    migrated: bool = False, shadow: bool = False
) -> AsyncIterator[tuple[Callable[[], Awaitable[bytes]], Callable[[], Awaitable[None]]]]:
    """The real engine with in-memory ends: yields ``send()`` and ``drained()``.

    ``send()`` puts one request in and returns its answer; ``drained()``
    returns once the shadow mirror, if any, has run every job offered.

    The client is a fake transport of the real protocol class; PHP-FPM
    is a fake FastCGI connection, sitting in the real pool, that answers every
    request with ``PHP_REPLY``.  ``migrated``: the request is the migrated
    route's, answered by its handler, its event sent to ``_AckingPublisher``.
    """
    named = sniffio.thread_local.name
    sniffio.thread_local.name = "asyncio"  # as the worker does; given back at the end
    loop = asyncio.get_running_loop()
    routes = _migrated.migrated_route() if migrated else ""
    if shadow:
        routes = _shadow.shadow_route(next(c for c in _shadow.CASES if c.name == "shadow"))
    text = build_config("127.0.0.1:9", APP, runtime="uvloop", pool_size=1, extra_routes=routes)
    text = text.replace("{port}", "8080").replace("{admin_port}", "8081")
    rules = APP.parent / "rules.json"
    tmp = Path(tempfile.mkdtemp(prefix="strangler-engine-cpu-"))
    if migrated:
        text += _migrated.resources("127.0.0.1:9", Path("/nonexistent"), rules)
    if shadow:
        text += _shadow.shadow_resources("127.0.0.1:9", tmp, rules)
    config = parse_config(text + "\n[log]\naccess_log = false\n")
    resources = make_resources(config)
    publisher = _AckingPublisher(loop)
    if resources is not None:
        resources.publisher = publisher  # type: ignore[assignment]
        assert resources.caches is not None
        await resources.caches.start()
    engine = Engine(State(config), resources, make_shadow(config, resources))
    wheel = TimerWheel(loop)
    engine.use_timers(wheel)
    use_timers(loop, wheel)
    request, expected, reply = (REQUEST, b" 422 ", PHP_REPLY)
    if migrated:
        request, expected = MIGRATED_REQUEST, b" 200 "
    if shadow:
        request, expected, reply = SHADOW_REQUEST, b" 200 ", PHP_VALID_REPLY
    backend = engine.state.backends["php"]
    assert isinstance(backend, FastCGIBackend)
    quiet, peer = socket.socketpair()  # never written to: the pooled connection looks alive
    php = _Protocol()
    php.connection_made(_FakeTransport(quiet, lambda _: loop.call_soon(php.data_received, reply)))
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

    mirror = engine.shadow.mirror if engine.shadow is not None else None

    async def drained() -> None:
        while mirror is not None and (mirror.waiting or mirror.running):  # noqa: ASYNC110
            # (the mirror has no event for idle; a millisecond's poll costs no CPU)
            await asyncio.sleep(0.001)

    try:
        async with anyio.create_task_group() as tg:
            if engine.shadow is not None:
                await tg.start(engine.shadow.mirror.run)
                await tg.start(engine.shadow.sink.run)
            for _ in range(20):
                answer = await send()
            await drained()
            if backend.client.pool.idle != 1 or expected not in answer:
                raise RuntimeError(f"the engine did not answer as expected: {answer!r}")
            if migrated and publisher.sent != 20:
                raise RuntimeError(f"the handler published {publisher.sent} events for 20 requests")
            yield send, drained
            tg.cancel_scope.cancel()
        if engine.shadow is not None:
            await engine.shadow.sink.aclose()
            [stored] = _stored(tmp)
            if stored.compared == 0 or stored.matched != stored.compared:
                raise RuntimeError(f"the port's answers differ from VALID_ANSWER's: {stored}")
    finally:
        quiet.close()
        peer.close()
        sniffio.thread_local.name = named
        shutil.rmtree(tmp, ignore_errors=True)


def _stored(tmp: Path) -> list[Any]:
    from shadow import StoreReader

    with StoreReader.open(tmp / "shadow.sqlite") as reader:
        return list(reader.routes())


async def measure(requests: int, migrated: bool = False, shadow: bool = False) -> float:
    """µs of process CPU per request through the engine, best of five runs."""
    async with engine_in_memory(migrated, shadow) as (send, drained):
        for _ in range(2000):  # warm-up
            await send()
        best = float("inf")
        for _ in range(5):
            started = time.process_time()
            for _ in range(requests):
                await send()
            await drained()
            best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--migrated", action="store_true", help="the migrated route's request")
    parser.add_argument("--shadow", action="store_true", help="the pass-through, shadowed")
    args = parser.parse_args()
    if args.migrated and args.shadow:
        parser.error("--migrated and --shadow measure different routes: give one")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    what = "migrated route" if args.migrated else "legacy pass-through"
    what += ", shadowed" if args.shadow else ""
    cpu = uvloop.run(measure(args.requests, args.migrated, args.shadow))
    print(f"engine, {what}: {cpu:.1f} µs of CPU per request")


if __name__ == "__main__":
    main()
