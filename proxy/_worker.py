"""One worker process: the proxy app on an ASGI server, on the chosen runtime.

The supervisor binds the listening sockets and passes them in by file
descriptor, so every worker accepts on the same sockets.  ``trio``, ``asyncio``
and ``uvloop`` run hypercorn (HTTP/1.1 and h2c); ``uvicorn`` runs uvicorn with
uvloop and the httptools C parser, for when hypercorn's pure-Python parsing is
the bottleneck (see the README's benchmark table).

Signals: SIGTERM/SIGINT stop accepting and let in-flight requests finish within
``graceful_timeout``; SIGHUP re-reads the config file (the supervisor has
already validated it) and swaps it in for new requests.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from collections.abc import Awaitable
from typing import Any

import anyio
import anyio.abc
import sniffio
import structlog

from migrated import TimerWheel

from ._app import ProxyApp
from ._build import build_kind
from ._config import Config, load_config
from ._exceptions import ConfigError
from ._logging import configure_logging
from ._resources import make_resources
from ._shadow_runtime import make_shadow
from ._state import State, export_pool_gauges
from ._status import report_status

log = structlog.get_logger("strangler.worker")


class WorkerApp(ProxyApp):
    """The proxy app plus this worker's upkeep: resources, reload on SIGHUP, status, gauges."""

    def __init__(
        self, config_path: str, config: Config, index: int, resources: Any | None = None
    ) -> None:
        super().__init__(State(config), resources, make_shadow(config, resources))
        self.config_path = config_path
        self.index = index

    async def background(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the shared resources, then the upkeep tasks; raises if resources fail."""
        if self.resources is not None:
            await self.resources.start()
            await tg.start(self.resources.run)
        if self.shadow is not None:
            await tg.start(self.shadow.mirror.run)
            await tg.start(self.shadow.sink.run)
        tg.start_soon(export_pool_gauges, lambda: self.state)
        await tg.start(self._reload_on_sighup)
        tg.start_soon(report_status, self.index, self._status)
        _freeze_startup_heap()

    async def aclose_resources(self) -> None:
        """Flush and close the shared resources (messages still queued go to the spool)."""
        if self.shadow is not None:
            await self.shadow.sink.aclose()  # what is queued is written (or sent) first
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
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload_refused", error=str(exc))
            return
        await self.swap(State(config, reuse=self.state))
        log.info("reloaded", config=self.config_path)


def run_worker(config_path: str, fds: list[int], index: int) -> None:
    """Serve on the inherited sockets until SIGTERM; the entry of ``proxy worker``."""
    config = load_config(config_path)
    configure_logging(config.log.level, config.log.format)
    structlog.contextvars.bind_contextvars(worker=index)
    app = WorkerApp(config_path, config, index, make_resources(config))
    runtime = config.server.runtime
    fast_lane = runtime == "uvicorn" and config.server.fast_lane
    log.info(
        "worker_started",
        runtime=runtime,
        sockets=len(fds),
        fast_lane=fast_lane,
        build=build_kind(),
    )
    if runtime != "trio":
        _name_the_async_library("asyncio")
    if runtime == "uvicorn":
        _run_uvicorn(app, config, fds)
    else:
        _run_hypercorn(app, config, fds, runtime)
    log.info("worker_stopped")


def _name_the_async_library(name: str) -> None:
    """Tell sniffio which library runs this thread's event loop, as ``trio.run`` does.

    Every anyio call (cancel scopes, ``fail_after``, locks, memory streams)
    asks sniffio which backend runs; for asyncio it otherwise finds out by
    importing and calling ``asyncio.current_task`` each time, measured at
    about a fifth of a shadow mirror job's CPU.  This thread runs nothing but
    the worker's loop, so the answer never changes.
    """
    sniffio.thread_local.name = name


def _freeze_startup_heap() -> None:
    """Keep what startup made (modules, config, clients) out of every later collection.

    A worker's heap after startup is tens of thousands of long-lived objects
    (botocore's service models alone are most of them); a full collection walks
    them all, 15-45 ms measured, and the requests waiting meanwhile see it in
    their p99.  Work that keeps objects alive for a while (shadow candidates
    waiting on their timeout, slow uploads) makes full collections frequent.
    Frozen objects are still freed by reference counting; only reference cycles
    made at startup and dropped later are never collected, a bounded amount.
    """
    gc.collect()
    gc.freeze()
    log.debug("heap_frozen", objects=gc.get_freeze_count())


def _hypercorn_config(config: Config, fds: list[int]) -> Any:
    from hypercorn.config import Config as HypercornConfig

    hc = HypercornConfig()
    hc.bind = [f"fd://{fd}" for fd in fds]
    hc.graceful_timeout = config.server.graceful_timeout
    hc.keep_alive_timeout = config.server.keep_alive_timeout
    hc.include_server_header = False
    hc.accesslog = None
    hc.errorlog = None
    hc.h11_max_incomplete_size = 64 * 1024
    hc.backlog = 1024
    if not config.server.http2:
        hc.alpn_protocols = ["http/1.1"]
    return hc


def _run_hypercorn(app: Any, config: Config, fds: list[int], runtime: str) -> None:
    # ``app`` is a WorkerApp; hypercorn types its app parameter with its own ASGI TypedDicts.
    hc = _hypercorn_config(config, fds)
    if runtime == "trio":
        import trio
        from hypercorn.trio import serve as trio_serve

        trio.run(lambda: trio_serve(app, hc, shutdown_trigger=_shutdown_signal))
        return
    from hypercorn.asyncio import serve as asyncio_serve

    coro = _with_loop_timeouts(app, asyncio_serve(app, hc, shutdown_trigger=_shutdown_signal))
    if runtime == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


def _run_uvicorn(app: WorkerApp, config: Config, fds: list[int]) -> None:
    import uvicorn
    import uvloop

    from ._fastlane import lane_protocol

    uc = uvicorn.Config(
        app,
        loop="none",
        http=lane_protocol(app) if config.server.fast_lane else "httptools",
        ws="none",  # a WebSocket handshake is answered as HTTP, as nginx answers it for PHP-FPM
        lifespan="on",
        server_header=False,
        proxy_headers=False,  # trusted proxies are the proxy's own setting, not uvicorn's
        access_log=False,
        log_config=None,
        timeout_keep_alive=int(config.server.keep_alive_timeout),
        timeout_graceful_shutdown=int(config.server.graceful_timeout),
    )
    server = uvicorn.Server(uc)
    sockets = [socket.socket(fileno=fd) for fd in fds]
    uvloop.run(_with_loop_timeouts(app, server.serve(sockets=sockets)))


async def _with_loop_timeouts(app: WorkerApp, main: Awaitable[None]) -> None:
    """Run ``main`` with this loop's timer wheel for handlers, candidates and keep-alives.

    An anyio cancel scope per run costs several times more on asyncio, and
    ``asyncio.timeout`` looks the loop up and sets a loop timer of its own
    (see ``LoopTimeout`` and ``TimerWheel``).
    """
    app.use_timers(TimerWheel(asyncio.get_running_loop()))
    await main


async def _shutdown_signal() -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            log.info("shutdown_requested")
            return
