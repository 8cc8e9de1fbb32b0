"""Benchmark runtimes: which tree, which interpreter and which config runtime each one runs.

A benchmark runtime is a config runtime (``uvloop``, ``asyncio``, ``trio``),
with ``-compiled`` for the compiled copy of this tree (``ops.compile``, built
once per benchmark process in a directory of its own, so a test run's copy is
never replaced under it), or ``baseline-<runtime>`` for an older build of the
project measured in the same run (``_baseline``: its own worktree,
virtualenv and compiled copy, started with its own interpreter).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ops.compile import REPO_ROOT, CompileError, build_compiled
from ops.services import Strangler

COMPILED = "-compiled"
BASELINE = "baseline-"
DEFAULT_RUNTIME = "uvloop"  # the config's default: what a plain install runs
# the default row set, in the order they are measured
RUNTIMES = ("uvloop", "uvloop-compiled", "asyncio", "trio", "trio-compiled")
_DEST = REPO_ROOT / "var" / "bench-compiled"


@dataclass(frozen=True)
class Build:
    """What one benchmark runtime starts: a config runtime, from a tree, by an interpreter.

    ``source`` None runs this working tree; ``python`` None runs this
    benchmark's interpreter.
    """

    name: str
    runtime: str
    source: Path | None = None
    python: Path | None = None

    @property
    def has_batch_handler(self) -> bool:
        """Whether the build has the batch validator's port (a baseline's tree may not)."""
        if self.python is None or self.source is None:  # this tree, or its compiled copy
            return True
        return any(
            any((self.source / folder).glob("batch.*"))  # batch.py, or compiled only
            for folder in ("ops/demo/handlers", "migrated")
        )

    def to_json(self) -> dict[str, str]:
        """A plain dict for the JSON report."""
        return {
            "name": self.name,
            "runtime": self.runtime,
            "source": str(self.source or REPO_ROOT),
            "python": str(self.python or sys.executable),
        }


def is_baseline(name: str) -> bool:
    """Whether a benchmark runtime is a baseline build's."""
    return name.startswith(BASELINE)


def family(name: str) -> str:
    """The config runtime of a benchmark runtime of this build (``uvloop-compiled``: uvloop)."""
    return name.removesuffix(COMPILED)


def is_compiled(name: str) -> bool:
    """Whether a benchmark runtime runs a compiled copy."""
    return name.endswith(COMPILED)


def resolve(name: str, baselines: Sequence[Build] = ()) -> Build:
    """The build of a benchmark runtime (a baseline's must be among ``baselines``).

    Raises:
        KeyError: ``name`` is a baseline runtime that was not prepared.
    """
    if is_baseline(name):
        found = {b.name: b for b in baselines}
        return found[name]
    if is_compiled(name):
        return Build(name, family(name), compiled_tree())
    return Build(name, name)


def prepare(names: Sequence[str]) -> None:
    """Build the compiled copy now when a runtime needs it, before any service starts."""
    if any(is_compiled(n) and not is_baseline(n) for n in names):
        compiled_tree()


@functools.cache
def compiled_tree() -> Path:
    print(f"  building the compiled variant in {_DEST}, profile-guided (a few minutes)", flush=True)
    try:
        return build_compiled(_DEST)
    except CompileError as exc:
        sys.exit(f"bench: {exc}")


def strangler(build: Build, config_text: str, env: Mapping[str, str] | None = None) -> Strangler:
    """A ``Strangler`` service that runs ``config_text`` on ``build``."""
    if build.python is None:
        return Strangler(config_text=config_text, env=env, source=build.source)
    assert build.source is not None
    return OtherPython(build.python, build.source, config_text, env)


class OtherPython(Strangler):
    """strangler started by another interpreter, from its tree alone.

    The baseline's virtualenv holds its own dependencies (uvicorn among
    them); ``PYTHONPATH`` names only its tree and whatever the benchmark adds
    (the profile hook), never this tree, so no module of the new build leaks
    into the old one.
    """

    def __init__(
        self, python: Path, source: Path, config_text: str, env: Mapping[str, str] | None
    ) -> None:
        if not (source / "ops" / "demo" / "handlers").is_dir():
            # Before the demo's handlers left the library they were migrated.validator & co.
            config_text = config_text.replace('"ops.demo.handlers.', '"migrated.')
        super().__init__(config_text=config_text, env=env, source=source)
        self.python = python

    def _prepare(self) -> list[str]:
        command = super()._prepare()  # this interpreter, maybe behind a wrapper (prlimit)
        return [str(self.python) if part == sys.executable else part for part in command]

    def _env(self) -> dict[str, str]:
        env = super()._env()
        paths = [str(self.source), self.extra_env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        env["VIRTUAL_ENV"] = str(self.python.parent.parent)
        return env
