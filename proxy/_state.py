"""A config and the live backends built from it, as one swappable value.

Strategy: backends are keyed by their settings (frozen dataclasses), so a
reload that leaves a backend's settings unchanged keeps its warm pool, and one
that changes them gets a fresh backend while requests already using the old one
finish on it.  ``retire`` waits for the old state's in-flight count to reach
zero before closing what the new state does not share.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc

from legacy_adapter import Backend, BackendSettings, make_backend
from migrated import Handler, HandlerNotFound, make_handler

from ._config import Config


class State:
    """The running configuration of one worker.

    Args:
        config: a validated configuration.
        reuse: a previous state whose unchanged backends are kept.
    """

    def __init__(self, config: Config, reuse: State | None = None) -> None:
        self.config = config
        self.in_flight = 0
        self._drained: anyio.Event | None = None
        previous: dict[BackendSettings, Backend] = reuse._by_settings if reuse else {}
        self._by_settings: dict[BackendSettings, Backend] = {
            s: previous.get(s) or make_backend(s) for s in config.backends
        }
        self.backends: dict[str, Backend] = {s.name: b for s, b in self._by_settings.items()}
        refs = {getattr(r.mode, "handler", None) for r in config.routes.routes} - {None}
        kept: dict[str, Handler] = reuse.handlers if reuse else {}
        # A service's pool or an ASGI app's lifespan is kept while its reference is.
        self.handlers: dict[str, Handler] = {
            ref: kept.get(ref) or make_handler(ref) for ref in refs if ref
        }
        self._tg: anyio.abc.TaskGroup | None = reuse._tg if reuse else None

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start background upkeep (idle-connection reaping) in ``tg``."""
        self._tg = tg
        for backend in self._by_settings.values():
            starter: Any = getattr(backend, "start", None)
            if starter is not None:
                await starter(tg)
        for handler in self.handlers.values():
            starter = getattr(handler, "start", None)  # an ASGI app's lifespan
            if starter is not None:
                await starter(tg)

    def enter(self) -> None:
        """A request starts on this state."""
        self.in_flight += 1

    def leave(self) -> None:
        """A request on this state finished."""
        self.in_flight -= 1
        if not self.in_flight and self._drained is not None:
            self._drained.set()

    async def prepare(self, new: State) -> None:
        """Start ``new`` in this state's task group before it takes requests.

        Raises:
            HandlerNotFound: a new side's startup failed or took over
                ``_START_TIMEOUT`` seconds; ``new`` is closed again.
        """
        if self._tg is None:
            return
        try:
            with anyio.fail_after(_START_TIMEOUT):
                await new.start(self._tg)
        except TimeoutError:
            failure: Exception = HandlerNotFound(
                f"a new side took over {_START_TIMEOUT:g}s to start"
            )
        except HandlerNotFound as exc:
            failure = exc
        else:
            return
        await _close_all([h for r, h in new.handlers.items() if self.handlers.get(r) is not h])
        raise failure

    async def stop_targets(self) -> None:
        """Run the new sides' shutdown (an ASGI app's lifespan) before the worker's tasks end."""
        await _close_all([h for h in self.handlers.values() if hasattr(h, "start")])

    async def retire(self, keep: State) -> None:
        """Close, once idle, the backends that ``keep`` does not use."""
        if self._tg is not None:
            await keep.start(self._tg)
        gone: list[Any] = [
            b for s, b in self._by_settings.items() if keep._by_settings.get(s) is not b
        ]
        gone += [h for r, h in self.handlers.items() if keep.handlers.get(r) is not h]
        if not gone:
            return
        if self._tg is None:
            await _close_all(gone)
        else:
            self._tg.start_soon(self._close_when_idle, gone)

    async def aclose(self) -> None:
        """Close every backend and new-side target (worker shutdown)."""
        await _close_all([*self._by_settings.values(), *self.handlers.values()])

    async def _close_when_idle(self, gone: list[Any]) -> None:
        if self.in_flight:
            self._drained = anyio.Event()
            await self._drained.wait()
        await _close_all(gone)


_START_TIMEOUT = 30.0  # a new side's startup (an ASGI lifespan) at a reload


async def _close_all(closing: list[Any]) -> None:
    """Close backends and targets; a handler function has nothing to close."""
    with anyio.CancelScope(shield=True):
        for item in closing:
            closer = getattr(item, "aclose", None)
            if closer is not None:
                await closer()


async def export_pool_gauges(app_state: Any, interval: float = 1.0) -> None:
    """Copy pool usage of the current state's backends into the metrics, forever."""
    from . import _metrics as m

    while True:
        for name, backend in app_state().backends.items():
            pool = getattr(backend, "pool", None)
            if pool is not None:
                m.POOL_IN_USE.labels(name).set(pool.in_use)
                m.POOL_IDLE.labels(name).set(pool.idle)
        await anyio.sleep(interval)
