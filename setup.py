"""Build hook for the compiled build; everything else is in ``pyproject.toml``.

``STRANGLER_COMPILE=1`` compiles the request path's modules (listed in
``proxy/_build.py``) with mypyc into C extensions.  ``STRANGLER_COMPILE_EXTRA``
(comma-separated module names) adds modules outside the library to the same
build: ``ops.compile`` passes the demo's handlers so that the benchmark runs
them compiled, as a team's compiled handlers would run; a wheel never has them.  It needs mypy, a C
compiler and Python's headers in the build environment, so build it from the
development virtualenv without build isolation::

    STRANGLER_COMPILE=1 .venv/bin/pip wheel --no-build-isolation --no-deps -w dist .

An editable install is never compiled: the extensions would shadow every later
edit of their source.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent


def compiled_sources() -> list[str]:
    namespace: dict[str, object] = {}
    exec((ROOT / "proxy" / "_build.py").read_text(), namespace)  # data only, see its docstring
    modules = namespace["COMPILED_MODULES"]
    assert isinstance(modules, tuple)
    extra = os.environ.get("STRANGLER_COMPILE_EXTRA", "")
    names = [*modules, *(name.strip() for name in extra.split(",") if name.strip())]
    return [name.replace(".", "/") + ".py" for name in names]


def ext_modules() -> list[object]:
    if os.environ.get("STRANGLER_COMPILE", "").lower() not in {"1", "true", "yes"}:
        return []
    if any(arg.startswith("editable") for arg in sys.argv):
        sys.exit("setup.py: STRANGLER_COMPILE=1 does not apply to an editable install")
    try:
        from mypyc.build import mypycify
    except ImportError:
        sys.exit(
            "setup.py: STRANGLER_COMPILE=1 needs mypy in the build environment; "
            "build with --no-build-isolation from a virtualenv that has it (pip install -e .[dev])"
        )
    return list(mypycify(compiled_sources(), opt_level="3"))


setup(ext_modules=ext_modules())
