"""An older build of strangler, set up to be measured beside this one in the same run.

``--baseline REF`` measures the project as it was at ``REF`` (a commit, tag
or branch) through the same rows as this tree's runtimes, so each row shows
both builds' ratios to nginx from the same rounds on the same machine.  The
old tree is set up the way it set itself up, under ``var/bench-baseline/<commit>/``:

* ``tree``: a detached git worktree of ``REF``;
* ``venv``: a virtualenv of its own with ``pip install -e 'tree[fast]'`` (the
  old build's optional dependencies: the uvicorn its fast lane was pinned
  to), plus the mypy that compiles this tree, so both builds are compiled by
  the same mypyc;
* ``compiled``: its compiled copy, made by its own ``ops/compile.py``.

Each step leaves a stamp when it has finished; a later run reuses every
stamped step, so only the first run with a given commit pays for the
install and the compile.  Delete the directory to start over.

A baseline runtime is named ``baseline-<runtime>`` after the old tree's
runtime (``baseline-uvicorn-compiled``: ``runtime = "uvicorn"`` on the old
compiled copy).  The config is this benchmark's, which the old loader reads
as long as it uses only keys both builds know.

    .venv/bin/python -m ops.bench._baseline REF [RUNTIME ...]   # prepare only
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ops.bench._build import BASELINE, COMPILED, Build
from ops.compile import REPO_ROOT

CACHE = REPO_ROOT / "var" / "bench-baseline"
DEFAULT_RUNTIMES = ("uvicorn-compiled",)  # the old build's fastest
_STAMP = ".bench-ready"


class BaselineError(RuntimeError):
    """The baseline build could not be set up; the message names the step."""


def names(runtimes: Sequence[str]) -> tuple[str, ...]:
    """The benchmark runtimes of the old tree's ``runtimes``."""
    return tuple(BASELINE + r for r in runtimes)


def prepare(ref: str, runtimes: Sequence[str] = DEFAULT_RUNTIMES) -> tuple[Build, ...]:
    """The old tree at ``ref``, installed and (when a runtime asks) compiled; cached.

    Raises:
        BaselineError: a git, pip or compile step failed.
    """
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()
    home = CACHE / commit[:12]
    print(f"  baseline {ref} ({commit[:12]}) in {home}", flush=True)
    tree = _worktree(home / "tree", commit)
    python = _virtualenv(home / "venv", tree)
    compiled = _compiled(home / "compiled", tree, python) if _wants_compiled(runtimes) else None
    builds = []
    for runtime in runtimes:
        source = compiled if runtime.endswith(COMPILED) else tree
        assert source is not None
        builds.append(Build(BASELINE + runtime, runtime.removesuffix(COMPILED), source, python))
    return tuple(builds)


def describe(ref: str, builds: Sequence[Build]) -> dict[str, object]:
    """What the baseline was, for the JSON report."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()
    subject = _git("log", "-1", "--format=%s", commit).strip()
    return {
        "ref": ref,
        "commit": commit,
        "subject": subject,
        "builds": [b.to_json() for b in builds],
    }


def _wants_compiled(runtimes: Sequence[str]) -> bool:
    return any(r.endswith(COMPILED) for r in runtimes)


def _worktree(tree: Path, commit: str) -> Path:
    if (tree / ".git").exists():
        head = _git("rev-parse", "HEAD", cwd=tree).strip()
        if head == commit:
            return tree
        raise BaselineError(f"{tree} holds {head[:12]}, not {commit[:12]}: remove it to rebuild")
    _git("worktree", "prune")
    tree.parent.mkdir(parents=True, exist_ok=True)
    print(f"  baseline: git worktree add --detach {tree} {commit[:12]}", flush=True)
    _git("worktree", "add", "--detach", str(tree), commit)
    return tree


def _virtualenv(venv: Path, tree: Path) -> Path:
    python = venv / "bin" / "python"
    if (venv / _STAMP).is_file():
        return python
    base = shutil.which("python3.11")
    if base is None:
        raise BaselineError("python3.11 not found on PATH (the baseline's virtualenv needs it)")
    if venv.exists():
        shutil.rmtree(venv)  # a half-made one from an interrupted run
    print(f"  baseline: virtualenv {venv}, pip install -e '{tree}[fast]' (a minute or two)")
    _run([base, "-m", "venv", str(venv)], "python3.11 -m venv")
    packages = [f"{tree}[fast]", _mypy_requirement(), "setuptools>=70.1"]
    _run([str(python), "-m", "pip", "install", "--quiet", "-e", *packages], "pip install")
    (venv / _STAMP).write_text(" ".join(packages) + "\n")
    return python


def _mypy_requirement() -> str:
    """This tree's mypy, so the old build is compiled by the same mypyc."""
    try:
        return f"mypy=={importlib.metadata.version('mypy')}"
    except importlib.metadata.PackageNotFoundError:
        return "mypy"


def _compiled(dest: Path, tree: Path, python: Path) -> Path:
    if (dest / _STAMP).is_file():
        return dest
    print(f"  baseline: compiling with its own ops/compile.py into {dest} (a few minutes)")
    _run([str(python), "-m", "ops.compile", str(dest)], "its ops.compile", cwd=tree)
    (dest / _STAMP).write_text(f"{tree}\n")
    return dest


def _git(*args: str, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BaselineError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _run(command: list[str], step: str, cwd: Path | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise BaselineError(f"baseline: {step} failed:\n{tail}")


def main() -> None:
    """Prepare the baseline of ``argv[1]`` for the runtimes that follow (default: its best)."""
    if len(sys.argv) < 2:
        sys.exit("usage: python -m ops.bench._baseline REF [RUNTIME ...]")
    try:
        builds = prepare(sys.argv[1], sys.argv[2:] or DEFAULT_RUNTIMES)
    except BaselineError as exc:
        sys.exit(str(exc))
    for build in builds:
        print(f"  {build.name}: runtime {build.runtime!r} from {build.source} by {build.python}")


if __name__ == "__main__":
    main()
