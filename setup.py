"""Build hook for the compiled build; everything else is in ``pyproject.toml``.

``STRANGLER_COMPILE=1`` compiles the request path's modules (listed in
``proxy/_build.py``) with mypyc into C extensions.  ``STRANGLER_COMPILE_EXTRA``
(comma-separated module names) adds modules outside the library to the same
build: ``ops.compile`` passes the demo's handlers so that the benchmark runs
them compiled, as a team's compiled handlers would run; a wheel never has them.  It needs mypy, a C
compiler and Python's headers in the build environment, so build it from the
development virtualenv without build isolation::

    STRANGLER_COMPILE=1 STRANGLER_PGO=1 .venv/bin/pip wheel --no-build-isolation --no-deps -w dist .

An editable install is never compiled: the extensions would shadow every later
edit of their source.

The extensions export only their module init functions
(``-fvisibility=hidden``, ``-fno-semantic-interposition``), so calls between
the compiled functions are direct, not through the symbol table.
``STRANGLER_PGO=1`` (GCC only) adds profile-guided optimisation: the
extensions are built once instrumented, ``ops/bench/engine_cpu.py`` drives
the request path through them (a pass-through, a shadowed and a migrated
request, in memory), and they are built again from that profile, so that GCC
lays out the hot paths together and moves error handling out of their way.
Both take CPU off every request under load, which ``ops/bench/run`` and
``ops/bench/cpu_per_request.py`` measure (``docs/operations.md``, "The
compiled build", links the figures).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
HIDDEN = ["-fvisibility=hidden", "-fno-semantic-interposition"]
PGO_GENERATE = ["-fprofile-generate", "-fprofile-update=atomic"]
# Untrained code (other runtimes, errors) is optimised as usual, not for size.
PGO_USE = ["-fprofile-use", "-fprofile-partial-training", "-Wno-missing-profile"]
TRAINING_SCRIPT = ROOT / "ops" / "bench" / "engine_cpu.py"
TRAINING = ((), ("--shadow",), ("--migrated",))  # its request kinds
TRAINING_REQUESTS = "2000"  # per run; engine_cpu.py makes five runs of each kind


def enabled(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}


def compiled_sources() -> list[str]:
    namespace: dict[str, object] = {}
    exec((ROOT / "proxy" / "_build.py").read_text(), namespace)  # data only, see its docstring
    modules = namespace["COMPILED_MODULES"]
    assert isinstance(modules, tuple)
    extra = os.environ.get("STRANGLER_COMPILE_EXTRA", "")
    names = [*modules, *(name.strip() for name in extra.split(",") if name.strip())]
    return [name.replace(".", "/") + ".py" for name in names]


def ext_modules() -> list[object]:
    if not enabled("STRANGLER_COMPILE"):
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
    extensions = list(mypycify(compiled_sources(), opt_level="3"))
    for extension in extensions:
        extension.extra_compile_args = [*extension.extra_compile_args, *HIDDEN]
    return extensions


class BuildExt(build_ext):
    """``build_ext``, built twice around a training run when ``STRANGLER_PGO=1``."""

    def run(self) -> None:
        if not enabled("STRANGLER_PGO"):
            super().run()
            return
        if not self.extensions:
            sys.exit(
                "setup.py: STRANGLER_PGO=1 applies to the compiled build: set STRANGLER_COMPILE=1"
            )
        self._check_gcc()
        if not TRAINING_SCRIPT.is_file():
            sys.exit(
                f"setup.py: STRANGLER_PGO=1 trains with {TRAINING_SCRIPT}, which this tree lacks "
                "(build from a checkout, or without STRANGLER_PGO)"
            )
        self.force = True  # the second build recompiles every source with the profile
        base = {
            id(e): (list(e.extra_compile_args), list(e.extra_link_args)) for e in self.extensions
        }
        compiler = self.compiler  # the option; run() replaces it by the compiler object
        self._flags(base, PGO_GENERATE, PGO_GENERATE)
        super().run()
        self._train()
        self._flags(base, PGO_USE, [])
        self.compiler = compiler
        super().run()

    def _flags(
        self, base: dict[int, tuple[list[str], list[str]]], compile_args: list[str], link: list[str]
    ) -> None:
        for extension in self.extensions:
            compile_base, link_base = base[id(extension)]
            extension.extra_compile_args = [*compile_base, *compile_args]
            extension.extra_link_args = [*link_base, *link]

    def _check_gcc(self) -> None:
        # The compiler setuptools will run: $CC, else the one Python was built with.
        compiler = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
        try:
            version = subprocess.run(
                [*shlex.split(compiler), "--version"], capture_output=True, text=True, check=False
            ).stdout
        except OSError as exc:
            sys.exit(f"setup.py: STRANGLER_PGO=1: cannot run the compiler {compiler!r}: {exc}")
        if "Free Software Foundation" not in version:
            sys.exit(
                f"setup.py: STRANGLER_PGO=1 needs GCC and {compiler!r} is not GCC; "
                "set CC=gcc, or build without STRANGLER_PGO"
            )

    def _train(self) -> None:
        """Run the request path through the instrumented extensions; fail if no profile came."""
        temp = Path(self.build_temp).resolve()
        for stale in temp.rglob("*.gcda"):  # counters add up across runs: start from zero
            stale.unlink()
        built = ROOT if self.inplace else Path(self.build_lib).resolve()
        # The compiled packages are imported first, from where they were built:
        # engine_cpu.py puts the source tree first on sys.path.
        run = (
            "import runpy, sys\n"
            f"sys.path[:0] = [{str(built)!r}, {str(ROOT)!r}]\n"
            "import legacy_adapter, migrated, proxy, shadow\n"
            "from proxy._build import build_kind\n"
            "if build_kind() != 'compiled':\n"
            "    sys.exit(f'the training imports a {build_kind()} build')\n"
            "sys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n"
        )
        env = {**os.environ, "PYTHONPATH": ""}
        for kind in TRAINING:
            arguments = ["--requests", TRAINING_REQUESTS, *kind]
            named = f"{TRAINING_SCRIPT.relative_to(ROOT)} {' '.join(arguments)}"
            print(f"setup.py: PGO training: {named}", flush=True)
            done = subprocess.run(
                [sys.executable, "-c", run, str(TRAINING_SCRIPT), *arguments],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
                sys.exit(f"setup.py: STRANGLER_PGO=1: the training run {named} failed:\n{tail}")
        if not any(temp.rglob("*.gcda")):
            sys.exit(f"setup.py: STRANGLER_PGO=1: the training left no profile in {temp}")


setup(ext_modules=ext_modules(), cmdclass={"build_ext": BuildExt})
