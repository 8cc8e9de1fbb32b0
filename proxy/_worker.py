"""One worker process: the engine behind its driver, on the chosen runtime.

The supervisor binds the listening sockets and passes them in by file
descriptor, so every worker accepts on the same sockets.  ``uvloop`` (the
default) and ``asyncio`` run the asyncio driver (``_protocol``) on that loop;
``trio`` runs the trio driver (``_trio``).  Both drive the same engine.

Signals: SIGTERM/SIGINT close the listening sockets, close idle connections
and let requests in flight finish within ``graceful_timeout``; SIGHUP re-reads
the config file (the supervisor has already validated it) and swaps it in
for new requests.

Shutdown order.  As the server stops, the producer stops waiting on the
broker (``_stop``): it gives what it holds a short grace to be acked, then
spools the rest, which answers the ``acked`` requests waiting on it, so they
finish within ``graceful_timeout`` even when the broker is frozen.  Only
then are the resources closed; by then nothing waits for a broker, so the
worker exits well before the supervisor's deadline (``graceful_timeout``
plus a margin) would kill it.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import sniffio
import structlog

from legacy_adapter import use_timers
from migrated import HandlerNotFound, TimerWheel

from ._build import build_kind
from ._config import Config
from ._engine import Engine
from ._exceptions import ConfigError
from ._limits import EdgeLimits, edge_limits
from ._logging import configure_logging
from ._percents import follow_percents, load_config_with_percents
from ._protocol import HttpProtocol, ServerState
from ._resources import make_resources
from ._shadow_mode import make_shadow
from ._state import State, export_pool_gauges
from ._status import report_status

log = structlog.get_logger("strangler.worker")


_BACKLOG = 1024
# How long the broker gets, at shutdown, to ack what the producer holds before it
# is spooled instead (at most a quarter of ``graceful_timeout``): a healthy broker
# acks well within it, and a frozen one delays the waiting answers by no more.
_BROKER_GRACE = 2.0


class Worker:
    """One worker's engine plus its upkeep: resources, reload on SIGHUP, status, gauges."""

    def __init__(
        self, config_path: str, config: Config, index: int, resources: Any | None = None
    ) -> None:
        self.engine = Engine(State(config), resources, make_shadow(config, resources))
        self.config_path = config_path
        self.index = index
        self.resources = resources

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the backends, the shared resources, then the upkeep tasks; raises on failure."""
        engine = self.engine
        await engine.start(tg)
        if self.resources is not None:
            await self.resources.start()
            await tg.start(self.resources.run)
        if engine.shadow is not None:
            await tg.start(engine.shadow.mirror.run)
            await tg.start(engine.shadow.sink.run)
        tg.start_soon(export_pool_gauges, lambda: engine.state)
        tg.start_soon(follow_percents, engine)  # run-time canary percents (_percents.py)
        await tg.start(self._reload_on_sighup)
        tg.start_soon(report_status, self.index, self._status)
        _freeze_startup_heap()

    async def stop_waiting(self, graceful_timeout: float) -> None:
        """Shutdown began: the producer answers what waits on the broker once it is spooled."""
        if self.resources is not None:
            await self.resources.stop_waiting(min(_BROKER_GRACE, graceful_timeout / 4))

    async def aclose(self) -> None:
        """Close the backends, then flush and close the resources (queued goes to the spool)."""
        await self.engine.aclose()
        if self.engine.shadow is not None:
            await self.engine.shadow.sink.aclose()  # what is queued is written (or sent) first
        if self.resources is not None:
            await self.resources.aclose()

    def _status(self) -> dict[str, Any]:
        extra = self.resources.status() if self.resources is not None else {}
        return {"ready": True, "index": self.index, **extra}

    async def _reload_on_sighup(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(signal.SIGHUP) as signals:
            task_status.started()
            async for _ in signals:
                await self.reload()

    async def reload(self) -> None:
        """Load the config file again; keep the running one when it is invalid."""
        try:
            config = load_config_with_percents(self.config_path)
        except ConfigError as exc:
            log.error("reload_refused", error=str(exc))
            return
        try:
            await self.engine.swap(State(config, reuse=self.engine.state))
        except HandlerNotFound as exc:  # a new ASGI app's startup failed: keep serving
            log.error("reload_refused", error=str(exc))
            return
        log.info("reloaded", config=self.config_path)


def run_worker(config_path: str, fds: list[int], index: int) -> None:
    """Serve on the inherited sockets until SIGTERM; the entry of ``proxy worker``."""
    config = load_config_with_percents(config_path)
    configure_logging(config.log.level, config.log.format)
    structlog.contextvars.bind_contextvars(worker=index)
    worker = Worker(config_path, config, index, make_resources(config))
    runtime = config.server.runtime
    limits = edge_limits(config)
    log.info(
        "worker_started",
        runtime=runtime,
        sockets=len(fds),
        build=build_kind(),
        max_connections=limits.max_connections,
    )
    sockets = [socket.socket(fileno=fd) for fd in fds]
    if runtime == "trio":
        import trio

        trio.run(_serve_trio, worker, config, limits, sockets)
    else:
        _name_the_async_library("asyncio")
        main = _serve_asyncio(worker, config, limits, sockets)
        if runtime == "uvloop":
            import uvloop

            uvloop.run(main)
        else:
            asyncio.run(main)
    log.info("worker_stopped")


async def _serve_asyncio(
    worker: Worker, config: Config, limits: EdgeLimits, sockets: list[socket.socket]
) -> None:
    """Run the engine under the asyncio driver until SIGTERM, then stop gracefully."""
    loop = asyncio.get_running_loop()
    wheel = TimerWheel(loop)
    worker.engine.use_timers(wheel)
    use_timers(loop, wheel)  # the backends' read timeouts too
    server = ServerState(worker.engine, limits, wheel)
    async with anyio.create_task_group() as tg:
        await _start(worker, tg)
        for sock in sockets:
            factory: Any = functools.partial(HttpProtocol, server)  # a protocol by its methods
            listening = await loop.create_server(factory, sock=sock, backlog=_BACKLOG)
            server.servers.append(listening)
        await _shutdown_signal()
        await _stop(worker, server.stop, config.server.graceful_timeout)
        tg.cancel_scope.cancel()
    await worker.aclose()


async def _serve_trio(
    worker: Worker, config: Config, limits: EdgeLimits, sockets: list[socket.socket]
) -> None:
    """Run the engine under the trio driver until SIGTERM, then stop gracefully."""
    import trio

    from ._trio import TrioServer

    server = TrioServer(worker.engine, limits)
    async with anyio.create_task_group() as tg:
        await _start(worker, tg)
        async with trio.open_nursery() as connections:
            connections.start_soon(server.serve, sockets, connections)
            await _shutdown_signal()
            await _stop(worker, server.stop, config.server.graceful_timeout)
        tg.cancel_scope.cancel()
    await worker.aclose()


async def _stop(
    worker: Worker, stop_server: Callable[[float], Awaitable[None]], graceful_timeout: float
) -> None:
    """Stop the server and, meanwhile, stop the answers in flight waiting on a broker.

    Then the new sides' own shutdown (an ASGI app's lifespan) runs, while the
    task group it lives in is still up: cancelled, its shutdown code would not.
    """
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.stop_waiting, graceful_timeout)
        await stop_server(graceful_timeout)
    await worker.engine.state.stop_targets()


async def _start(worker: Worker, tg: anyio.abc.TaskGroup) -> None:
    try:
        await worker.start(tg)
    except Exception as exc:  # the worker exits; the supervisor reports it
        log.error("startup_failed", error=str(exc))
        raise


def _name_the_async_library(name: str) -> None:
    """Tell sniffio which library runs this thread's event loop, as ``trio.run`` does.

    Every anyio call asks sniffio which backend runs; for asyncio it otherwise
    finds out by calling ``asyncio.current_task`` each time.  This thread runs
    nothing but the worker's loop, so the answer never changes
    (``ops/bench/cpu_per_request.py`` measures the shadow path it serves).
    """
    sniffio.thread_local.name = name


def _freeze_startup_heap() -> None:
    """Keep what startup made (modules, config, clients) out of every later collection.

    A worker's heap after startup is tens of thousands of long-lived objects
    (botocore's service models alone are most of them); a full collection walks
    them all, and the requests waiting meanwhile see it in their p99.  Frozen
    objects are still freed by reference counting; only reference cycles made
    at startup and dropped later are never collected, a bounded amount.
    """
    gc.collect()
    gc.freeze()
    log.debug("heap_frozen", objects=gc.get_freeze_count())


async def _shutdown_signal() -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            log.info("shutdown_requested")
            return
