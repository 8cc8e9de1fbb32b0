"""Benchmark runtimes: a config runtime, or one with ``-compiled`` for the compiled build.

``uvicorn-compiled`` is ``runtime = "uvicorn"`` run from the compiled copy of
this tree (``ops.compile``, built once per benchmark process, in a directory
of its own so a test run's copy is never replaced under it).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from ops.compile import REPO_ROOT, CompileError, build_compiled

COMPILED = "-compiled"
_DEST = REPO_ROOT / "var" / "bench-compiled"


def split_runtime(name: str) -> tuple[str, Path | None]:
    """The config runtime of a benchmark runtime, and the source tree it runs from."""
    if name.endswith(COMPILED):
        return name.removesuffix(COMPILED), compiled_tree()
    return name, None


@functools.cache
def compiled_tree() -> Path:
    print(f"  building the compiled variant in {_DEST} (about half a minute)", flush=True)
    try:
        return build_compiled(_DEST)
    except CompileError as exc:
        sys.exit(f"bench: {exc}")
