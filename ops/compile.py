"""Build the compiled variant of this source tree in a directory of its own.

The compiled build (``setup.py``, ``STRANGLER_COMPILE=1``) turns the request
path's modules into C extensions with mypyc.  The test suite runs a second
time against it and the benchmark measures it next to the interpreted build,
so both need a copy of the tree with the extensions built in place: the
working tree itself stays pure Python, so an edit is never shadowed by a stale
extension.  The copy takes what git tracks plus untracked files that are not
ignored (the tree as it is being edited), and is rebuilt from scratch each
time.  The demo's handlers (``DEMO_MODULES``) are compiled in the same build,
outside the library's list, so that the benchmark's migrated rows run compiled
code.  The build is profile-guided (``STRANGLER_PGO=1``, see ``setup.py``), as
the production wheel is built; ``--no-pgo`` builds once, without the training
run (a third of the time, for a quick look: the compiled test run's
``tests/test_build.py`` fails on such a copy).

    .venv/bin/python -m ops.compile [--no-pgo] [DEST]    # default var/compiled

Exits non-zero, naming what failed, when the build fails or a listed module
did not come out compiled.  Stdlib only.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = REPO_ROOT / "var" / "compiled"
DEMO_MODULES = (
    "ops.demo.handlers._validator",
    "ops.demo.handlers.validator",
    "ops.demo.handlers._batch",
    "ops.demo.handlers.batch",
)
"""The demo handlers the benchmark routes to, compiled with the request path."""


class CompileError(RuntimeError):
    """The compiled build could not be made; the message says which step failed."""


def source_files(root: Path = REPO_ROOT) -> list[Path]:
    """The tree's files as they are being edited: tracked, plus untracked and not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        raise CompileError(f"git ls-files failed in {root}: {listed.stderr.decode().strip()}")
    names = [name for name in listed.stdout.decode().split("\0") if name]
    return [Path(name) for name in names if (root / name).is_file()]


def build_compiled(
    dest: Path = DEFAULT_DEST, python: str = sys.executable, *, pgo: bool = True
) -> Path:
    """Copy the tree to ``dest`` (replacing it), build the extensions there, check them."""
    if dest.resolve() == REPO_ROOT:
        raise CompileError("the compiled copy cannot be the working tree itself")
    if dest.exists():
        shutil.rmtree(dest)
    for name in source_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    env = {
        **os.environ,
        "STRANGLER_COMPILE": "1",
        "STRANGLER_COMPILE_EXTRA": ",".join(DEMO_MODULES),
        "STRANGLER_PGO": "1" if pgo else "0",
    }
    built = subprocess.run(
        [python, "setup.py", "--quiet", "build_ext", "--inplace"],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        tail = "\n".join((built.stdout + built.stderr).splitlines()[-30:])
        raise CompileError(f"the compiled build failed (setup.py build_ext):\n{tail}")
    kind = subprocess.run(
        [python, "-c", "from ops.compile import running_kind; print(running_kind())"],
        cwd=dest,
        env={**os.environ, "PYTHONPATH": str(dest)},
        capture_output=True,
        text=True,
        check=False,
    )
    if kind.stdout.strip() != "compiled":
        raise CompileError(
            f"the copy at {dest} does not run compiled: {kind.stdout.strip() or kind.stderr}"
        )
    return dest


def running_kind() -> str:
    """The build this process runs: ``proxy._build.build_kind``, the demo handlers included.

    Run inside the copy (``PYTHONPATH`` at it), so that the imports are the copy's.
    """
    from proxy._build import build_kind  # the tree on sys.path, not necessarily this one

    kind = build_kind()
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    files = [importlib.import_module(name).__file__ or "" for name in DEMO_MODULES]
    if kind == "compiled" and not all(name.endswith(suffixes) for name in files):
        return "compiled, demo handlers interpreted"
    return kind


def main() -> None:
    args = sys.argv[1:]
    pgo = "--no-pgo" not in args
    paths = [a for a in args if a != "--no-pgo"]
    if len(paths) > 1 or any(p.startswith("-") for p in paths):
        sys.exit(f"usage: python -m ops.compile [--no-pgo] [DEST]; got {' '.join(args)}")
    dest = Path(paths[0]) if paths else DEFAULT_DEST
    kind = "profile-guided" if pgo else "without a profile"
    print(f"compile: building the compiled variant in {dest} ({kind})", flush=True)
    try:
        build_compiled(dest.resolve(), pgo=pgo)
    except CompileError as exc:
        sys.exit(f"compile: {exc}")
    print(f"compile: {dest} runs compiled", flush=True)


if __name__ == "__main__":
    main()
