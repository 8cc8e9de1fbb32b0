"""The supervisor: binds the sockets, runs the workers, serves the admin listener.

Strategy: the supervisor process validates the config, binds every listen
address once (so a port in use is a startup error naming it), then starts
``server.workers`` worker processes that inherit the sockets by descriptor.
It restarts a worker that dies, forwards SIGTERM for a graceful stop, and on
SIGHUP or ``POST /reload`` validates the file first: a bad file is refused with
its error and the running config is kept; a good one is signalled to the
workers, which swap it in for new requests only.  A canary's percent may be
changed at run time (``set_percent``, ``POST /routes/NAME/percent``) until the
next config load, which drops such changes (``proxy._percents``).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from . import _metrics as m
from ._admin import AdminApp
from ._config import Config, load_config
from ._exceptions import ConfigError, StartupError
from ._logging import configure_logging
from ._percents import write_percents
from ._status import RUN_DIR_ENV, clear_status, read_status

log = structlog.get_logger("strangler.supervisor")


@dataclass
class Supervisor:
    """Owns the sockets, the worker processes and the current config."""

    config_path: str
    config: Config
    sockets: list[socket.socket] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    run_dir: str = ""
    stopping: bool = False
    failure: str = ""
    percents: dict[str, float] = field(default_factory=dict)  # run-time canary percents

    def bind(self) -> None:
        """Bind every listen address; raises ``StartupError`` naming the one that failed."""
        for address in self.config.server.listen:
            self.sockets.append(bind_socket(address))

    def spawn(self, index: int) -> subprocess.Popen[bytes]:
        """Start worker ``index`` on the shared sockets."""
        fds = [s.fileno() for s in self.sockets]
        cmd = [sys.executable, "-m", "proxy", "worker", "--config", self.config_path]
        cmd += ["--index", str(index), "--fds", ",".join(map(str, fds))]
        return subprocess.Popen(cmd, pass_fds=fds)

    def reload(self) -> tuple[bool, str]:
        """Validate the file again; on success signal the workers to swap it in."""
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            m.RELOADS.labels("refused").inc()
            log.error("reload_refused", error=str(exc))
            return False, str(exc)
        pending = restart_only_changes(self.config, config)
        if pending:
            log.warning("reload_needs_restart", keys=pending)
        self.config = config
        dropped = self._drop_percents()
        for proc in self.workers:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGHUP)
        m.RELOADS.labels("ok").inc()
        log.info("reloaded", config=self.config_path)
        message = "reloaded"
        if dropped:
            message += f"; run-time percents dropped, the file's apply: {', '.join(dropped)}"
        if pending:
            message += f"; these take effect on restart: {', '.join(pending)}"
        return True, message

    def set_percent(self, route: str, percent: float) -> None:
        """Send ``percent`` of the canary ``route``'s keys to its handler until the next load.

        Written where every worker reads it, a restarted one too (``proxy._percents``);
        the caller has checked the route and the value (``percent_problem``).
        """
        write_percents(self.run_dir, {**self.percents, route: percent})  # may fail: first
        self.percents[route] = percent
        log.info("percent_changed", route=route, percent=percent)

    def _drop_percents(self) -> list[str]:
        """Forget the run-time percents before the workers load the file; their routes."""
        dropped = sorted(self.percents)
        if dropped:
            self.percents.clear()
            write_percents(self.run_dir, {})
            log.info("percents_dropped", routes=dropped)
        return dropped

    def worker_status(self, index: int) -> dict[str, Any] | None:
        """Worker ``index``'s last fresh status (``None``: not ready or gone)."""
        proc = self.workers[index] if index < len(self.workers) else None
        if proc is None or proc.poll() is not None:
            return None
        return read_status(self.run_dir, index)

    async def wait_started(self) -> bool:
        """Wait until every worker reported ready; ``False`` if one exited first."""
        while True:
            for i, proc in enumerate(self.workers):
                if proc is not None and proc.poll() is not None:
                    self.failure = f"worker {i} failed to start (exit status {proc.returncode})"
                    return False
            if all(read_status(self.run_dir, i) for i in range(len(self.workers))):
                return True
            await anyio.sleep(0.05)

    async def watch_workers(self) -> None:
        """Restart workers that exit unexpectedly, backing off when they keep failing."""
        backoff = 0.5
        while not self.stopping:
            for i, proc in enumerate(self.workers):
                if proc is not None and proc.poll() is not None and not self.stopping:
                    log.error("worker_died", index=i, pid=proc.pid, code=proc.returncode)
                    clear_status(self.run_dir, i)
                    await anyio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    self.workers[i] = self.spawn(i)
            if all(self.worker_status(i) for i in range(len(self.workers))):
                backoff = 0.5
            await anyio.sleep(0.2)

    async def stop(self) -> None:
        """Stop listening, SIGTERM every worker, wait for the grace period, kill what is left.

        The listening sockets close here and in every worker at once (each
        worker closes its copies first thing), so a new connection is refused
        by the kernel instead of waiting in a backlog nobody accepts from.
        """
        self.stopping = True
        for sock in self.sockets:
            sock.close()
        live = [p for p in self.workers if p is not None and p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.config.server.graceful_timeout + 5
        # Child processes have no awaitable exit here; polling is the portable way.
        while any(p.poll() is None for p in live) and time.monotonic() < deadline:  # noqa: ASYNC110
            await anyio.sleep(0.05)
        for proc in live:
            if proc.poll() is None:
                log.error("worker_killed", pid=proc.pid)
                proc.kill()
                proc.wait()


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """The ``[server]`` keys that differ: the sockets and workers are made at start only."""
    return [
        f"server.{f.name}"
        for f in dataclasses.fields(old.server)
        if getattr(old.server, f.name) != getattr(new.server, f.name)
    ]


def bind_socket(address: str) -> socket.socket:
    """A listening socket for ``host:port`` or ``unix:/path``."""
    try:
        if address.startswith("unix:"):
            path = address[5:]
            if os.path.exists(path):
                os.unlink(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
        else:
            host, _, port = address.rpartition(":")
            host = host.strip("[]")
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((host, int(port)))
        sock.listen(1024)
        sock.set_inheritable(True)
        return sock
    except OSError as exc:
        raise StartupError(f"cannot listen on {address}: {exc.strerror or exc}") from None


def serve(config_path: str) -> int:
    """Run the proxy until SIGTERM/SIGINT; the entry of ``strangler serve``."""
    config = load_config(config_path)
    configure_logging(config.log.level, config.log.format)
    run_dir = tempfile.TemporaryDirectory(prefix="strangler-run-")
    os.environ[RUN_DIR_ENV] = run_dir.name
    sup = Supervisor(os.path.abspath(config_path), config, run_dir=run_dir.name)
    admin_sock = bind_socket(config.admin.listen)
    sup.bind()
    try:
        anyio.run(_main, sup, admin_sock, backend="trio")
    finally:
        for sock in [*sup.sockets, admin_sock]:
            sock.close()
        run_dir.cleanup()
    if sup.failure:
        raise StartupError(f"{sup.failure}; its error is logged above")
    return 0


async def _main(sup: Supervisor, admin_sock: socket.socket) -> None:
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.trio import serve as trio_serve

    for i in range(sup.config.server.workers):
        clear_status(sup.run_dir, i)
    sup.workers = [sup.spawn(i) for i in range(sup.config.server.workers)]
    log.info(
        "started",
        listen=list(sup.config.server.listen),
        admin=sup.config.admin.listen,
        workers=len(sup.workers),
        runtime=sup.config.server.runtime,
    )
    hc = HypercornConfig()
    hc.bind = [f"fd://{os.dup(admin_sock.fileno())}"]  # hypercorn closes what it is given
    hc.include_server_header = False
    hc.accesslog = None
    hc.errorlog = None
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_signals, sup, stop)
        tg.start_soon(lambda: trio_serve(AdminApp(sup), hc, shutdown_trigger=stop.wait))
        if not await sup.wait_started():
            log.error("startup_failed", error=sup.failure)
            stop.set()
        else:
            log.info("ready", workers=len(sup.workers))
            tg.start_soon(sup.watch_workers)
        await stop.wait()
        await sup.stop()
        tg.cancel_scope.cancel()
    log.info("stopped")


async def _signals(sup: Supervisor, stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                sup.reload()
            else:
                log.info("shutdown_requested", signal=signal.Signals(signum).name)
                stop.set()
                return
