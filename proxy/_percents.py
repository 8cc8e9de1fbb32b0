"""Run-time canary percentages: set through the admin API, kept until the next config load.

Strategy: the supervisor holds the overrides (route name -> percent) and
writes them whole into ``percents.json`` in the run directory, in one rename
as the status files are written.  A worker applies that file on top of every
config it loads (at start, so a worker restarted later gets them too, and on
reload), and reads it again every ``POLL_INTERVAL`` while it runs, swapping in
a new state when a canary's percent differs: a request in flight keeps its
config, as on reload.  The file is the only channel, so no signal can reach a
worker before it is ready for it.

A config load clears the overrides: the supervisor empties the file before it
tells the workers to reload, and a new supervisor starts with a new run
directory.  Only ``percent`` changes, and the bucket function stays the same,
so raising it only moves keys from legacy to new (``proxy._canary``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import structlog

from ._config import Config, load_config
from ._routing import Canary, RouteTable
from ._state import State
from ._status import RUN_DIR_ENV

if TYPE_CHECKING:
    from ._engine import Engine

log = structlog.get_logger("strangler.percents")

PERCENTS_FILE: Final = "percents.json"
POLL_INTERVAL: Final = 0.5


def percents_path(run_dir: str) -> Path:
    """Where the supervisor writes the overrides."""
    return Path(run_dir) / PERCENTS_FILE


def write_percents(run_dir: str, percents: Mapping[str, float]) -> None:
    """Replace the overrides file in one rename, so a worker never reads half of it."""
    path = percents_path(run_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(percents)))
    os.replace(tmp, path)


def read_percents(run_dir: str | None = None) -> dict[str, float] | None:
    """The overrides (empty without a run directory or file); ``None`` when unreadable.

    ``run_dir`` defaults to the one the supervisor gave this process.
    """
    run_dir = run_dir if run_dir is not None else os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        return {}
    try:
        data = json.loads(percents_path(run_dir).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): float(v) for k, v in data.items() if _a_percent(v)}


def _a_percent(value: object) -> bool:
    """A finite number from 0 to 100 (the file is ours, but a worker trusts nothing)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        number = float(value)
    except OverflowError:  # a 400-digit integer
        return False
    return math.isfinite(number) and 0 <= number <= 100


def with_percents(config: Config, percents: Mapping[str, float]) -> Config:
    """``config`` with the named canary routes' percent replaced; other names are ignored."""
    if not percents:
        return config
    routes = tuple(
        dataclasses.replace(r, mode=dataclasses.replace(r.mode, percent=percents[r.name]))
        if isinstance(r.mode, Canary) and r.name in percents
        else r
        for r in config.routes.routes
    )
    return dataclasses.replace(config, routes=RouteTable(routes))


def load_config_with_percents(path: str) -> Config:
    """The file's config with the supervisor's run-time percentages applied.

    Raises:
        ConfigError: as ``load_config``.
    """
    return with_percents(load_config(path), read_percents() or {})


def percent_problem(config: Config, name: str, percent: Any) -> tuple[int, str] | None:
    """Why ``percent`` cannot be set on route ``name`` (status, reason), or ``None``."""
    route = next((r for r in config.routes.routes if r.name == name), None)
    if route is None:
        return 404, f"no route named {name!r}"
    if not isinstance(route.mode, Canary):
        return 409, f"route {name!r} is in {route.mode.name} mode; only a canary has a percent"
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        return 400, 'expected a JSON body {"percent": N}, N a number from 0 to 100'
    if not (math.isfinite(percent) and 0 <= percent <= 100):
        return 400, f"percent must be between 0 and 100, got {percent}"
    return None


def _differs(config: Config, percents: Mapping[str, float]) -> bool:
    return any(
        isinstance(r.mode, Canary) and r.name in percents and r.mode.percent != percents[r.name]
        for r in config.routes.routes
    )


async def follow_percents(engine: Engine) -> None:
    """Apply the overrides file whenever it asks for other percents than the engine has.

    Compared with the running config rather than with the last file read, so
    a state swapped in by a reload between two reads is corrected too.
    """
    while True:
        await anyio.sleep(POLL_INTERVAL)
        percents = read_percents()
        state = engine.state
        if percents and _differs(state.config, percents):
            await engine.swap(State(with_percents(state.config, percents), reuse=state))
            log.info("percents_applied", percents=percents)
