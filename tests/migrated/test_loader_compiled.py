"""A handler compiled with mypyc loads by reference like any other.

A compiled function shows an empty signature, so the loader cannot count its
parameters; it must accept it rather than refuse a valid handler.  The module
is compiled here, for real, with the mypyc that the compiled build uses.
"""

from __future__ import annotations

import importlib.machinery
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from migrated._loader import load_handler

HANDLER = """
from typing import Any


async def handle(request: Any, ctx: Any) -> Any:
    return ("compiled", request, ctx)


def handle_inline(request: Any, ctx: Any) -> Any:
    return ("compiled inline", request, ctx)
"""


def test_a_compiled_handler_loads_and_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "compiled_handler_mod.py").write_text(HANDLER)
    built = subprocess.run(
        [sys.executable, "-m", "mypyc", "compiled_handler_mod.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (tmp_path / "compiled_handler_mod.py").unlink()  # only the extension is left to import
    monkeypatch.syspath_prepend(str(tmp_path))

    handler: Any = load_handler("compiled_handler_mod:handle")

    module = sys.modules["compiled_handler_mod"]
    assert str(module.__file__).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert anyio.run(handler, "req", "ctx") == ("compiled", "req", "ctx")
    inline: Any = load_handler("compiled_handler_mod:handle_inline")  # a plain def, compiled
    assert inline("req", "ctx") == ("compiled inline", "req", "ctx")
